using System.Diagnostics;
using System.Text.Json;
using Berth.Oci.Runtime;
using Berth.Testing;
using OciProcess = Berth.Oci.Runtime.Process;

namespace Berth.Runtime.Tests;

/// <summary>
/// Runs the real rootfs and process setup on the real kernel: a busybox bundle, and Berth.RootfsProbe (a
/// minimal container init: RootfsSetup.Prepare, ProcessSetup.Finalize, execve) started by util-linux's
/// unshare in new mount (propagation private), uts, ipc, net and pid namespaces. Every mount lives in that
/// mount namespace and is gone when the probe's processes exit; the bundle is a temp dir removed on dispose.
/// </summary>
public sealed class RootfsProbeHarness : IDisposable
{
    private readonly TempDir bundle = new();
    public string BundleDir => bundle.Path;
    public string Rootfs => bundle.Path + "/rootfs";
    public Spec Spec { get; }

    public RootfsProbeHarness(params string[] shellScript)
    {
        BusyboxRootfs.CopyTo(Rootfs);
        Spec = DefaultSpec(string.Join('\n', shellScript));
    }

    public void Dispose() => bundle.Dispose();

    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
    }

    /// <summary>Writes config.json and runs the probe; <paramref name="userNamespace"/> adds unshare's
    /// --user --map-root-user (uid 0 inside is this uid outside, mknod denied).</summary>
    public Result Run(bool noPivot = false, bool userNamespace = false)
    {
        File.WriteAllText(Path.Combine(BundleDir, "config.json"), JsonSerializer.Serialize(Spec, RuntimeJsonContext.Default.Spec));
        var psi = new ProcessStartInfo("unshare") { RedirectStandardOutput = true, RedirectStandardError = true };
        if (userNamespace) { psi.ArgumentList.Add("--user"); psi.ArgumentList.Add("--map-root-user"); }
        foreach (var a in new[] { "--mount", "--uts", "--ipc", "--net", "--pid", "--fork", "--propagation", "private", "--", "dotnet", ProbePath, BundleDir })
            psi.ArgumentList.Add(a);
        if (noPivot) psi.ArgumentList.Add("--no-pivot");
        using var process = System.Diagnostics.Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(60_000))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    private static string ProbePath
    {
        get
        {
            var besideTests = Path.Combine(AppContext.BaseDirectory, "Berth.RootfsProbe.dll");
            if (File.Exists(besideTests)) return besideTests;
            var built = Path.Combine(Repo.Root, "tests", "Berth.RootfsProbe", "bin", "Release", "net10.0", "Berth.RootfsProbe.dll");
            return File.Exists(built) ? built : throw new FileNotFoundException("Berth.RootfsProbe.dll is not built", built);
        }
    }

    /// <summary>What `runc spec` writes (its mounts, masked and read-only paths), without a terminal.</summary>
    public static Spec DefaultSpec(string script) => new()
    {
        Root = new Root { Path = "rootfs" },
        Hostname = "probe",
        Process = new OciProcess
        {
            Args = ["sh", "-c", script],
            Env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            Cwd = "/",
            Capabilities = new Capabilities
            {
                Bounding = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                Effective = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                Permitted = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            },
            Rlimits = [new Rlimit { Type = "RLIMIT_NOFILE", Hard = 1024, Soft = 1024 }],
            NoNewPrivileges = true,
        },
        Mounts =
        [
            new Mount { Destination = "/proc", Type = "proc", Source = "proc" },
            new Mount { Destination = "/dev", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            new Mount { Destination = "/dev/pts", Type = "devpts", Source = "devpts", Options = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            new Mount { Destination = "/dev/shm", Type = "tmpfs", Source = "shm", Options = ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            new Mount { Destination = "/dev/mqueue", Type = "mqueue", Source = "mqueue", Options = ["nosuid", "noexec", "nodev"] },
            new Mount { Destination = "/sys", Type = "sysfs", Source = "sysfs", Options = ["nosuid", "noexec", "nodev", "ro"] },
            new Mount { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup", Options = ["nosuid", "noexec", "nodev", "relatime", "ro"] },
        ],
        Linux = new Berth.Oci.Runtime.Linux
        {
            Namespaces = [new() { Type = "pid" }, new() { Type = "network" }, new() { Type = "ipc" }, new() { Type = "uts" }, new() { Type = "mount" }],
            MaskedPaths = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            ReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    };
}
