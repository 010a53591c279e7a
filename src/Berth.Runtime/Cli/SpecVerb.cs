using System.Text.Json;
using Berth.Oci.Runtime;

namespace Berth.Runtime.Cli;

/// <summary>`spec`: the default config.json runc writes (busybox-ready), or its rootless variant.</summary>
public static class SpecVerb
{
    public static void Write(string bundle, bool rootless)
    {
        var path = Path.Combine(bundle, "config.json");
        if (File.Exists(path)) throw new RuntimeException("File config.json exists. Remove it first");
        var json = JsonSerializer.Serialize(Default(rootless), RuntimeJsonContext.Default.Spec);
        File.WriteAllText(path, json + "\n");
    }

    public static Spec Default(bool rootless = false)
    {
        List<string> caps() => ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
        var spec = new Spec
        {
            OciVersion = "1.1.0",
            Process = new Process
            {
                Terminal = true, User = new User { Uid = 0, Gid = 0 }, Args = ["sh"],
                Env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"], Cwd = "/",
                Capabilities = new Capabilities { Bounding = caps(), Effective = caps(), Permitted = caps(), Ambient = caps() },
                Rlimits = [new Rlimit { Type = "RLIMIT_NOFILE", Hard = 1024, Soft = 1024 }],
                NoNewPrivileges = true,
            },
            Root = new Root { Path = "rootfs", Readonly = true },
            Hostname = "berth",
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
            Linux = new Oci.Runtime.Linux
            {
                Resources = new Resources { Devices = [new DeviceCgroup { Allow = false, Access = "rwm" }] },
                Namespaces = [new() { Type = "pid" }, new() { Type = "network" }, new() { Type = "ipc" }, new() { Type = "uts" }, new() { Type = "mount" }],
                MaskedPaths = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                    "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
                ReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
            },
        };
        if (rootless) MakeRootless(spec);
        return spec;
    }

    /// <summary>runc's rootless changes: a user namespace mapping the caller, no network namespace, /sys bound from the host,
    /// no cgroup mount, no gid=5 on devpts, no resources.</summary>
    private static void MakeRootless(Spec spec)
    {
        Oci.Runtime.Linux linux = spec.Linux!;
        linux.Resources = null;
        linux.Namespaces!.RemoveAll(n => n.Type == "network");
        linux.Namespaces.Add(new LinuxNamespace { Type = "user" });
        linux.UidMappings = [new IdMapping { ContainerId = 0, HostId = GetUid(), Size = 1 }];
        linux.GidMappings = [new IdMapping { ContainerId = 0, HostId = GetGid(), Size = 1 }];
        spec.Mounts!.RemoveAll(m => m.Type == "cgroup");
        foreach (var m in spec.Mounts)
        {
            if (m.Type == "devpts") m.Options!.Remove("gid=5");
            if (m.Type == "sysfs") { m.Type = "none"; m.Source = "/sys"; m.Options = ["rbind", "nosuid", "noexec", "nodev", "ro"]; }
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "getuid")] private static extern uint GetUid();
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "getgid")] private static extern uint GetGid();
}
