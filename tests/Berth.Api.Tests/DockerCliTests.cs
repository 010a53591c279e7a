using System.Diagnostics;

namespace Berth.Api.Tests;

/// <summary>The real docker CLI (v28, /usr/local/bin/docker) negotiates down to API 1.47 and talks to Berth's API.</summary>
public sealed class DockerCliTests(ApiServerFixture server) : IClassFixture<ApiServerFixture>
{
    private const string Docker = "/usr/local/bin/docker";

    private async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var psi = new ProcessStartInfo(Docker) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-H");
        psi.ArgumentList.Add("unix://" + server.Socket);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOCKER_CONFIG"] = Path.Combine(Path.GetTempPath(), "berth-test-docker-config");
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task Docker_version_shows_Berths_engine_and_negotiated_API()
    {
        if (!File.Exists(Docker)) return;
        var (code, stdout, stderr) = await RunAsync("version");
        Assert.True(code == 0, stderr);
        Assert.Contains("Server: Berth Engine", stdout);
        Assert.Contains("0.1.0-test", stdout);
        Assert.Contains("1.47 (minimum version 1.24)", stdout);
        var (_, formatted, _) = await RunAsync("version", "--format", "{{.Server.APIVersion}} {{.Client.APIVersion}}");
        Assert.Equal("1.47 1.47", formatted.Trim());
    }

    [Fact]
    public async Task Docker_info_shows_our_values()
    {
        if (!File.Exists(Docker)) return;
        var (code, stdout, stderr) = await RunAsync("info", "--format", "{{.ID}}|{{.ServerVersion}}|{{.DefaultRuntime}}|{{.LiveRestoreEnabled}}|{{.NCPU}}");
        Assert.True(code == 0, stderr);
        Assert.Equal($"TEST-DAEMON-ID|0.1.0-test|berth|true|{Environment.ProcessorCount}", stdout.Trim());
        var (plainCode, plain, _) = await RunAsync("info");
        Assert.Equal(0, plainCode);
        Assert.Contains("Server Version: 0.1.0-test", plain);
        Assert.Contains("Default Runtime: berth", plain);
    }

    [Fact]
    public async Task Docker_ps_shows_the_engines_containers_and_errors_come_through()
    {
        if (!File.Exists(Docker)) return;
        var (code, stdout, stderr) = await RunAsync("ps", "--format", "{{.ID}} {{.Names}} {{.Status}}");
        Assert.True(code == 0, stderr);
        Assert.Equal("4f1c3b2a9d8e web Up 5 seconds", stdout.Trim());
        var (missingCode, _, missing) = await RunAsync("inspect", "--type", "container", "nosuch");
        Assert.Equal(1, missingCode);
        Assert.Contains("No such container: nosuch", missing);
    }
}
