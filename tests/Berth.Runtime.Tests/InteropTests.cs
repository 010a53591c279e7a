using System.Diagnostics;
using Berth.Testing;

namespace Berth.Runtime.Tests;

/// <summary>berth-runtime as a drop-in for runc under real peers: Debian's dockerd (docker.io) and podman.
/// Each test starts its peer with private roots and sockets, and removes everything in finally.</summary>
public class InteropTests
{
    private static string Runtime => Path.Combine(Repo.Bin, "berth-runtime");

    private static (int Code, string Output) Sh(string script, int timeoutMs = 120_000)
    {
        var psi = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs)) { p.Kill(true); return (-1, "timed out: " + script); }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    private static void MakeRootfs(string dir) => BusyboxRootfs.CopyTo(dir);

    /// <summary>Needs Debian's docker.io (dockerd 20.10) and the docker CLI.</summary>
    [RootFact]
    public void DockerdRunsAContainerWithBerthRuntime()
    {
        using var tmp = new TempDir();
        var tag = Guid.NewGuid().ToString("N")[..10];
        var sock = tmp.Combine("d.sock");
        var pidFile = tmp.Combine("d.pid");
        MakeRootfs(tmp.Combine("rootfs"));
        var dockerd = Process.Start(new ProcessStartInfo("dockerd",
        [
            "--data-root", tmp.Combine("data"), "--exec-root", "/run/bt-" + tag, "-H", "unix://" + sock, "--pidfile", pidFile,
            "--containerd-namespace", "bt-" + tag, "--containerd-plugins-namespace", "btp-" + tag,
            "--bridge", "none", "--iptables=false", "--ip-masq=false", "--add-runtime", "berth=" + Runtime,
        ]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        dockerd.OutputDataReceived += (_, _) => { };
        dockerd.ErrorDataReceived += (_, _) => { };
        dockerd.BeginOutputReadLine();
        dockerd.BeginErrorReadLine();
        try
        {
            var docker = $"docker -H unix://{sock}";
            var deadline = Environment.TickCount64 + 60_000;
            while (Sh($"{docker} version >/dev/null 2>&1").Code != 0)
            {
                Assert.True(Environment.TickCount64 < deadline, "dockerd did not come up");
                Thread.Sleep(250);
            }
            var import = Sh($"tar -C {tmp.Combine("rootfs")} -c . | {docker} import - busybox-test");
            Assert.True(import.Code == 0, import.Output);
            var run = Sh($"{docker} run --runtime berth --rm --network none busybox-test echo ok");
            Assert.True(run.Code == 0, run.Output);
            Assert.Equal("ok", run.Output.Trim());
            var inside = Sh($"{docker} run --runtime berth --rm --network none busybox-test sh -c 'echo $$; ls /sys/class/net'");
            Assert.Equal("1\nlo", inside.Output.Trim());
            var code = Sh($"{docker} run --runtime berth --rm --network none busybox-test sh -c 'exit 3'");
            Assert.Equal(3, code.Code);
        }
        finally
        {
            try { dockerd.Kill(); dockerd.WaitForExit(30_000); } catch (InvalidOperationException) { }
            Sh($"umount -R {tmp.Combine("data")} 2>/dev/null; umount -R /run/bt-{tag} 2>/dev/null; rm -rf /run/bt-{tag}");
        }
    }

    /// <summary>Needs podman 4.3 (cgroupfs manager, private --root/--runroot).</summary>
    [RootFact]
    public void PodmanRunsAContainerWithBerthRuntime()
    {
        using var tmp = new TempDir();
        MakeRootfs(tmp.Combine("rootfs"));
        var podman = $"podman --root {tmp.Combine("root")} --runroot {tmp.Combine("run")} --runtime {Runtime} --cgroup-manager cgroupfs --events-backend file";
        try
        {
            var import = Sh($"tar -C {tmp.Combine("rootfs")} -c . | {podman} import - busybox-test");
            Assert.True(import.Code == 0, import.Output);
            var run = Sh($"{podman} run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 busybox-test echo ok");
            Assert.True(run.Code == 0, run.Output);
            Assert.Equal("ok", run.Output.Trim());
            var code = Sh($"{podman} run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 busybox-test sh -c 'exit 5'");
            Assert.Equal(5, code.Code);
        }
        finally
        {
            Sh($"{podman} rm -af >/dev/null 2>&1; {podman} system reset -f >/dev/null 2>&1; umount -R {tmp.Combine("root")} 2>/dev/null; umount -R {tmp.Combine("run")} 2>/dev/null");
        }
    }
}
