using System.Net.Sockets;
using System.Text;
using Berth.Testing;

namespace Berth.Cli.Tests;

/// <summary>
/// The CLI sends its requests on the newest API version it speaks without pinging first, and negotiates only when the
/// daemon refuses that version: against a scripted daemon on a unix socket that records every request line.
/// </summary>
public sealed class VersionNegotiationTests : IDisposable
{
    private readonly TempDir dir = new();
    private readonly List<string> requests = [];
    private readonly CancellationTokenSource stop = new();
    private Socket? listener;

    private string SocketPath => dir.Combine("d.sock");

    /// <summary>Serves each request with <paramref name="answer"/> (request line → status, extra headers, body).</summary>
    private void Serve(Func<string, (int Status, string Headers, string Body)> answer)
    {
        listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        listener.Listen(16);
        _ = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                Socket connection;
                try { connection = await listener.AcceptAsync(stop.Token); }
                catch (Exception) { return; }
                _ = Task.Run(async () =>
                {
                    using var c = connection;
                    var head = new StringBuilder();
                    var buffer = new byte[4096];
                    while (!head.ToString().Contains("\r\n\r\n"))
                    {
                        var n = await c.ReceiveAsync(buffer);
                        if (n == 0) return;
                        head.Append(Encoding.ASCII.GetString(buffer, 0, n));
                    }
                    var line = head.ToString()[..head.ToString().IndexOf("\r\n", StringComparison.Ordinal)];
                    lock (requests) requests.Add(line);
                    var (status, headers, body) = answer(line);
                    var bytes = Encoding.UTF8.GetBytes(body);
                    var reply = $"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{headers}Content-Length: {bytes.Length}\r\nConnection: close\r\n\r\n";
                    await c.SendAsync(Encoding.ASCII.GetBytes(reply).Concat(bytes).ToArray());
                });
            }
        });
    }

    private async Task<(int Code, string Out, string Err)> BerthAsync(params string[] args)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        var cli = new BerthCli(output, errors, name => name == "BERTH_HOST" ? "unix://" + SocketPath : null) { RawStdout = new MemoryStream(), RawStderr = new MemoryStream() };
        var code = await cli.RunAsync(args);
        return (code, output.ToString(), errors.ToString());
    }

    private List<string> Requests()
    {
        lock (requests) return [.. requests];
    }

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

    public void Dispose()
    {
        stop.Cancel();
        listener?.Dispose();
        dir.Dispose();
    }
}
