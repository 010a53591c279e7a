using System.Diagnostics;

namespace Berth.Bench;

/// <summary>An OCI runtime with runc's command line: berth-runtime, runc, crun.</summary>
public sealed class OciRuntime
{
    public string Name { get; }
    public string Binary { get; }
    public bool IsBerth { get; }
    public string? Unavailable { get; }
    /// <summary>Berth's runtime is not published to artifacts/bin yet.</summary>
    public bool NotBuilt => IsBerth && !File.Exists(Binary);
    private readonly string _root, _scratch;

    public OciRuntime(string name, string binary, bool isBerth, Workspace workspace, string? unavailable = null)
    {
        Name = name;
        Binary = binary;
        IsBerth = isBerth;
        _root = workspace.Dir("runtime-state", name);
        _scratch = workspace.Dir("runtime-rss", name);
        Unavailable = unavailable ?? (File.Exists(binary) ? null : isBerth ? null : $"not installed ({binary} missing)");
    }

    /// <summary>
    /// create → start → wait → delete, timed as one. The container's stdout and stderr are pipes to us:
    /// `create` hands them to the container (runc's pass-through mode) and closes its own copies, so end of
    /// file on them is the event that the container has exited — no polling of `state`. Each command is started
    /// with posix_spawn and waited for on this thread (<see cref="SpawnedProcess"/>), the same for every runtime.
    /// </summary>
    public double CreateStartWaitDelete(string bundle, string id) => Cycle(bundle, id, rss: null);

    /// <summary>
    /// The largest peak resident set, in MB, of the runtime's own processes (create, start, delete; not the container's)
    /// in one untimed cycle. Each command runs under GNU time (`-f %M`): its ru_maxrss is right only for a process whose
    /// parent is small, since a posix_spawn child shares the spawner's memory until it execs and the kernel carries that
    /// memory's peak over the exec (from the bench itself, 40-odd MB for every runtime alike).
    /// </summary>
    public double PeakRssMegabytes(string bundle, string id)
    {
        if (!File.Exists("/usr/bin/time")) return double.NaN;
        var rss = new PeakRss(Path.Combine(_scratch, "maxrss"));
        Cycle(bundle, id, rss);
        return rss.Kilobytes / 1024.0;
    }

    private sealed class PeakRss(string file)
    {
        public long Kilobytes { get; private set; }
        public string[] Prefix => ["/usr/bin/time", "-o", file, "-f", "%M"];

        public void Record()
        {
            if (File.Exists(file) && long.TryParse(File.ReadAllText(file).Trim().Split('\n')[^1], out var kb)) Kilobytes = Math.Max(Kilobytes, kb);
            File.Delete(file);
        }
    }

    private double Cycle(string bundle, string id, PeakRss? rss)
    {
        var clock = Stopwatch.StartNew();
        using var create = SpawnedProcess.Start([.. rss?.Prefix ?? [], Binary, "--root", _root, "create", "--bundle", bundle, id]);
        var code = create.WaitForExit(CommandLimit, $"{Name} create");
        rss?.Record();
        if (code != 0)
        {
            create.ReadToEnd(TimeSpan.FromSeconds(5));
            Delete(id, force: true);
            throw Shell.Failure([Binary, "create"], new CommandResult(code, "", create.Output, 0));
        }
        try
        {
            Run(["start", id], check: true, rss);
            if (!create.ReadToEnd(CommandLimit)) throw new BenchException($"{Name}: container {id} did not exit within 30 s");
            Delete(id, force: false, rss);
        }
        catch
        {
            Delete(id, force: true);
            throw;
        }
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>How long any one command, or the container, may take before the cycle fails.</summary>
    private static readonly TimeSpan CommandLimit = TimeSpan.FromSeconds(30);

    private CommandResult Run(string[] verb, bool check, PeakRss? rss = null)
    {
        using var process = SpawnedProcess.Start([.. rss?.Prefix ?? [], Binary, "--root", _root, .. verb]);
        var code = process.WaitForExit(CommandLimit, $"{Name} {verb[0]}");
        rss?.Record();
        process.ReadToEnd(TimeSpan.FromSeconds(5));
        var result = new CommandResult(code, "", process.Output, 0);
        if (check && code != 0) throw Shell.Failure([Binary, .. verb], result);
        return result;
    }

    private void Delete(string id, bool force, PeakRss? rss = null)
    {
        if (force) { Run(["delete", "--force", id], check: false); return; }
        // End of file on the pipes comes as the process closes its files, a moment before it is a zombie
        // that the runtime sees as stopped: within that moment `delete` says "running", so try again.
        for (var attempt = 0; ; attempt++)
        {
            var result = Run(["delete", id], check: false, rss);
            if (result.ExitCode == 0) return;
            if (attempt >= 200 || !result.Stderr.Contains("running", StringComparison.OrdinalIgnoreCase))
                throw Shell.Failure([Binary, "delete", id], result);
            Thread.Sleep(1);
        }
    }

    public string? Version()
    {
        try { return Shell.Run([Binary, "--version"], check: false, timeout: TimeSpan.FromSeconds(10)).Stdout.Split('\n')[0].Trim(); }
        catch (BenchException) { return null; }
    }

    /// <summary>Why crun cannot run here, or null: Debian 12's crun 1.8 refuses cgroup v1/v2 hybrid mode.</summary>
    public static string? CrunUnavailable(string binary)
    {
        if (!File.Exists(binary)) return HybridCgroups() ? "crun 1.8 (Debian 12) refuses this machine's cgroup hybrid mode" : "not installed";
        return null;
    }

    /// <summary>cgroup v1 controllers with a unified v2 mount beside them.</summary>
    public static bool HybridCgroups() => Directory.Exists("/sys/fs/cgroup/unified") || (Directory.Exists("/sys/fs/cgroup/memory") && !File.Exists("/sys/fs/cgroup/cgroup.controllers"));
}

/// <summary>An OCI bundle of the busybox rootfs whose process is `true`: the same config.json for every runtime.</summary>
public static class Bundle
{
    public static string Create(string directory, string busyboxRootfs, string cgroupParent)
    {
        Directory.CreateDirectory(directory);
        var rootfs = Path.Combine(directory, "rootfs");
        if (!Directory.Exists(rootfs)) Shell.Run(["cp", "-a", busyboxRootfs, rootfs]);
        File.WriteAllText(Path.Combine(directory, "config.json"), Config(["/bin/true"], cgroupParent));
        return directory;
    }

    /// <summary>A runtime-spec 1.0 configuration like `runc spec`'s default, with a read-only root.</summary>
    public static string Config(IReadOnlyList<string> args, string cgroupsPath)
    {
        var argv = string.Join(", ", args.Select(a => System.Text.Json.JsonSerializer.Serialize(a, BundleJson.Default.String)));
        return $$"""
        {
          "ociVersion": "1.0.2",
          "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": [ {{argv}} ],
            "env": [ "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm" ],
            "cwd": "/",
            "capabilities": {
              "bounding": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
              "effective": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
              "permitted": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ]
            },
            "rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
            "noNewPrivileges": true
          },
          "root": { "path": "rootfs", "readonly": true },
          "hostname": "bench",
          "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": [ "nosuid", "strictatime", "mode=755", "size=65536k" ] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": [ "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" ] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": [ "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" ] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": [ "nosuid", "noexec", "nodev" ] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": [ "nosuid", "noexec", "nodev", "ro" ] }
          ],
          "linux": {
            "cgroupsPath": "{{cgroupsPath}}",
            "resources": { "devices": [ { "allow": false, "access": "rwm" } ] },
            "namespaces": [ { "type": "pid" }, { "type": "network" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" } ],
            "maskedPaths": [ "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                             "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi" ],
            "readonlyPaths": [ "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger" ]
          }
        }
        """;
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class BundleJson : System.Text.Json.Serialization.JsonSerializerContext;
