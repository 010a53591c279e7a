namespace Berth.Cli.Tests;

/// <summary>
/// The CLI sends its requests on the newest API version it speaks without pinging first, and negotiates only when the
/// daemon refuses that version: against a scripted daemon on a unix socket that records every request line.
/// </summary>
public sealed class VersionNegotiationTests : IDisposable
{
    private readonly ScriptedDaemon daemon = new();

    private void Serve(Func<string, (int Status, string Headers, string Body)> answer) => daemon.Serve(answer);
    private Task<(int Code, string Out, string Err)> BerthAsync(params string[] args) => daemon.BerthAsync(args);
    private List<string> Requests() => daemon.Requests();

    private const string OneContainer = """[{"Id":"4f1c3b2a9d8e7f6a","Names":["/web"],"Image":"busybox","Command":"true","Created":0,"State":"running","Status":"Up"}]""";

    [Fact]
    public async Task Requests_go_out_on_the_newest_version_without_a_ping()
    {
        Serve(line => line.StartsWith("GET /v1.47/containers/json", StringComparison.Ordinal) ? (200, "", OneContainer) : (404, "", """{"message":"page not found"}"""));
        var (code, output, errors) = await BerthAsync("ps", "-q");
        Assert.True(code == 0, errors);
        Assert.Equal("4f1c3b2a9d8e\n", output);
        Assert.Equal(["GET /v1.47/containers/json HTTP/1.1"], Requests());
    }

    [Fact]
    public async Task A_refused_version_is_retried_on_the_version_the_daemon_names()
    {
        // Debian's dockerd 20.10: API 1.41 at most, and its words for a newer client.
        Serve(line => line.StartsWith("GET /v1.41/", StringComparison.Ordinal) ? (200, "", OneContainer)
            : (400, "", """{"message":"client version 1.47 is too new. Maximum supported API version is 1.41"}"""));
        var (code, output, errors) = await BerthAsync("ps", "-q");
        Assert.True(code == 0, errors);
        Assert.Equal("4f1c3b2a9d8e\n", output);
        Assert.Equal(["GET /v1.47/containers/json HTTP/1.1", "GET /v1.41/containers/json HTTP/1.1"], Requests());
    }

    [Fact]
    public async Task A_refusal_that_names_no_version_is_negotiated_through_ping()
    {
        Serve(line => line.StartsWith("GET /_ping", StringComparison.Ordinal) ? (200, "API-Version: 1.30\r\n", "OK")
            : line.StartsWith("POST /v1.30/", StringComparison.Ordinal) ? (204, "", "")
            : (400, "", """{"message":"client is newer than server (client API version: 1.47, server API version: 1.30)"}"""));
        var (code, output, errors) = await BerthAsync("kill", "web");
        Assert.True(code == 0, errors);
        Assert.Equal("web\n", output);
        Assert.Equal(["POST /v1.47/containers/web/kill HTTP/1.1", "GET /_ping HTTP/1.1", "POST /v1.30/containers/web/kill HTTP/1.1"], Requests());
    }

    [Fact]
    public async Task Other_errors_are_not_retried()
    {
        Serve(_ => (400, "", """{"message":"bad parameter"}"""));
        var (code, _, errors) = await BerthAsync("kill", "web");
        Assert.Equal(1, code);
        Assert.Contains("Error response from daemon: bad parameter", errors);
        Assert.Single(Requests());
    }

    [Theory]
    [InlineData(400, "client version 1.47 is too new. Maximum supported API version is 1.41", true, "1.41")]
    [InlineData(400, "client version 1.47 is too old. Minimum supported API version is 1.50, please upgrade your client to a newer version", true, null)]
    [InlineData(400, "client is newer than server (client API version: 1.47, server API version: 1.30)", true, null)]
    [InlineData(400, "client version 1.47 is too new. Maximum supported API version is 1.99", true, null)] // not below ours: ask /_ping
    [InlineData(400, "invalid reference format", false, null)]
    [InlineData(404, "client version 1.47 is too new. Maximum supported API version is 1.41", false, null)]
    public void Version_refusals_are_recognised(int status, string message, bool refusal, string? maximum)
    {
        Assert.Equal(refusal, DaemonClient.IsVersionRefusal(status, message, out var named));
        Assert.Equal(maximum, named);
    }

    public void Dispose() => daemon.Dispose();
}
