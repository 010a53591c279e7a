using System.Diagnostics;
using Berth.Testing;

namespace Berth.Cli.Tests;

/// <summary>
/// berth against real Docker: Debian's dockerd (docker.io 20.10, API 1.41) started with its own data root,
/// exec root, socket and containerd namespaces, no bridge and no iptables, so it touches nothing else.
/// </summary>
public sealed class RealDockerdTests : IAsyncLifetime
{
    private const string Dockerd = "/usr/sbin/dockerd";
    private readonly TempDir dir = new();
    private Process? dockerd;
    private readonly string tag = "berth-test-" + Guid.NewGuid().ToString("N")[..8];
    private string Socket => dir.Combine("docker.sock");
    private string Host => "unix://" + Socket;

    public async Task InitializeAsync()
    {
        if (!File.Exists(Dockerd) || Environment.UserName != "root") return;
        var psi = new ProcessStartInfo(Dockerd) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[]
                 {
                     "--data-root", dir.Combine("data"), "--exec-root", dir.Combine("exec"), "-H", Host, "--pidfile", dir.Combine("docker.pid"),
                     "--containerd-namespace", tag, "--containerd-plugins-namespace", tag + "-plugins", "--bridge", "none",
                     "--iptables=false", "--ip-masq=false", "--storage-driver", "vfs",
                 })
            psi.ArgumentList.Add(a);
        dockerd = Process.Start(psi)!;
        dockerd.OutputDataReceived += (_, _) => { };
        dockerd.ErrorDataReceived += (_, _) => { };
        dockerd.BeginOutputReadLine();
        dockerd.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, token) =>
            {
                var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                await s.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(Socket), token);
                return new System.Net.Sockets.NetworkStream(s, true);
            },
        });
        while (true)
        {
            try
            {
                using var ping = await http.GetAsync("http://docker/_ping");
                if (ping.IsSuccessStatusCode) break;
            }
            catch (HttpRequestException) { }
            if (dockerd.HasExited || DateTime.UtcNow > deadline) throw new InvalidOperationException("dockerd did not start");
            await Task.Delay(100);
        }
        // busybox:latest for this daemon, imported from the test rootfs as `tar -C rootfs -c . | docker import - NAME`.
        var rootfs = dir.Combine("rootfs");
        BusyboxRootfs.CopyTo(rootfs);
        BusyboxRootfs.Run("sh", "-c", $"tar -C '{rootfs}' -c . | /usr/local/bin/docker -H '{Host}' import - {tag}:latest");
    }

    public async Task DisposeAsync()
    {
        if (dockerd is not null)
        {
            try
            {
                BusyboxRootfs.Run("sh", "-c", $"/usr/local/bin/docker -H '{Host}' rm -f $(/usr/local/bin/docker -H '{Host}' ps -aq) 2>/dev/null || true");
            }
            catch (InvalidOperationException) { }
            if (!dockerd.HasExited)
            {
                // SIGTERM, as its service manager stops it (SIGKILL would leave its containerd behind).
                BusyboxRootfs.Run("kill", "-TERM", dockerd.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                try { await dockerd.WaitForExitAsync(grace.Token); }
                catch (OperationCanceledException) { dockerd.Kill(entireProcessTree: true); await dockerd.WaitForExitAsync(); }
            }
            dockerd.Dispose();
            try { BusyboxRootfs.Run("sh", "-c", $"grep -o ' {dir.Path}[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l"); } catch (InvalidOperationException) { }
        }
        dir.Dispose();
    }

    private async Task<(int Code, string Out, string Err, string ContainerOut)> BerthAsync(params string[] args)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        var containerOut = new MemoryStream();
        var cli = new BerthCli(output, errors, _ => null) { RawStdout = containerOut, RawStderr = containerOut };
        var code = await cli.RunAsync(["-H", Host, .. args]);
        return (code, output.ToString(), errors.ToString(), System.Text.Encoding.UTF8.GetString(containerOut.ToArray()));
    }

    [RootFact]
    public async Task Berth_talks_to_real_dockerd()
    {
        if (dockerd is null) return; // no docker.io on this machine
        var version = await BerthAsync("version");
        Assert.True(version.Code == 0, version.Err);
        Assert.Contains("API version:       1.41", version.Out); // negotiated down to Debian's dockerd
        Assert.Contains("20.10", version.Out);

        var info = await BerthAsync("info", "--format", "{{.Driver}} {{.DockerRootDir}}");
        Assert.Equal($"vfs {dir.Combine("data")}\n", info.Out);

        var images = await BerthAsync("images", "--format", "{{.Repository}}:{{.Tag}}");
        Assert.Equal(0, images.Code);
        Assert.Contains($"{tag}:latest", images.Out);

        var name = tag + "-c";
        var run = await BerthAsync("run", "--network", "none", "--name", name, tag, "sh", "-c", "echo hello from busybox; echo oops >&2; exit 3");
        Assert.True(run.Code == 3, run.Err);
        Assert.Contains("hello from busybox", run.ContainerOut);
        Assert.Contains("oops", run.ContainerOut);

        var ps = await BerthAsync("ps", "-a", "--format", "{{.Names}} {{.Status}}");
        Assert.Contains($"{name} Exited (3)", ps.Out);

        var logs = await BerthAsync("logs", name);
        Assert.Equal(0, logs.Code);
        Assert.Contains("hello from busybox", logs.ContainerOut);

        var inspect = await BerthAsync("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}} {{.Name}}", name);
        Assert.Equal($"exited 3 /{name}\n", inspect.Out);

        var rm = await BerthAsync("rm", name);
        Assert.Equal((0, name + "\n"), (rm.Code, rm.Out));
        Assert.DoesNotContain(name, (await BerthAsync("ps", "-a")).Out);

        var detached = await BerthAsync("run", "-d", "--rm", "--network", "none", tag, "sleep", "30");
        Assert.True(detached.Code == 0, detached.Err);
        var id = detached.Out.Trim();
        Assert.Equal(64, id.Length);
        Assert.Equal(0, (await BerthAsync("kill", id)).Code);

        var missing = await BerthAsync("rm", "no-such-container-" + tag);
        Assert.Equal(1, missing.Code);
        Assert.Contains("Error response from daemon: No such container", missing.Err);
    }
}
