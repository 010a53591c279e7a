using System.Diagnostics;
using System.Globalization;

namespace Berth.Testing;

/// <summary>
/// Debian's dockerd (docker.io) started by a test with its own data root, exec root, socket and containerd
/// namespaces, off the host's network (no bridge, no iptables), on vfs. Null from <see cref="StartAsync"/> when
/// dockerd is not installed or the test is not root. Disposing stops it and unmounts whatever it left under
/// its directory.
/// </summary>
public sealed class PrivateDockerd : IAsyncDisposable
{
    public const string DockerdPath = "/usr/sbin/dockerd";
    public const string DockerCli = "/usr/local/bin/docker";
    private readonly Process process;
    private readonly TempDir dir;

    public string Socket { get; }
    public string Host => "unix://" + Socket;

    private PrivateDockerd(Process process, TempDir dir, string socket) { this.process = process; this.dir = dir; Socket = socket; }

    public static async Task<PrivateDockerd?> StartAsync(TempDir dir, string tag)
    {
        if (!File.Exists(DockerdPath) || !File.Exists(DockerCli) || Environment.UserName != "root") return null;
        var socket = dir.Combine("docker.sock");
        var psi = new ProcessStartInfo(DockerdPath) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[]
                 {
                     "--data-root", dir.Combine("data"), "--exec-root", dir.Combine("exec"), "-H", "unix://" + socket, "--pidfile", dir.Combine("docker.pid"),
                     "--containerd-namespace", tag, "--containerd-plugins-namespace", tag + "-plugins", "--bridge", "none",
                     "--iptables=false", "--ip-masq=false", "--storage-driver", "vfs",
                 })
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var daemon = new PrivateDockerd(process, dir, socket);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!daemon.Answers())
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                await daemon.DisposeAsync();
                throw new InvalidOperationException("dockerd did not start");
            }
            await Task.Delay(100);
        }
        return daemon;
    }

    private bool Answers()
    {
        using var version = Process.Start(new ProcessStartInfo(DockerCli, ["-H", Host, "version", "--format", "{{.Server.Version}}"])
        { RedirectStandardOutput = true, RedirectStandardError = true })!;
        version.WaitForExit();
        return version.ExitCode == 0;
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            // SIGTERM, as its service manager stops it: SIGKILL would leave its containerd behind.
            BusyboxRootfs.Run("kill", "-TERM", process.Id.ToString(CultureInfo.InvariantCulture));
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try { await process.WaitForExitAsync(grace.Token); }
            catch (OperationCanceledException) { process.Kill(entireProcessTree: true); await process.WaitForExitAsync(); }
        }
        process.Dispose();
        try { BusyboxRootfs.Run("sh", "-c", $"grep -o ' {dir.Path}[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l"); }
        catch (InvalidOperationException) { }
    }
}
