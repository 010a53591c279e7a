using System.Globalization;
using Berth.Engine.Models;
using Berth.Oci;
using Berth.Oci.Runtime;
using OciMount = Berth.Oci.Runtime.Mount;
using OciSpec = Berth.Oci.Runtime.Spec;

namespace Berth.Engine.RuntimeSpec;

/// <summary>
/// Turns a Docker create request, its image's config and the daemon's settings into the OCI runtime spec that
/// berth-runtime (or runc) runs, with Docker's default confinement (moby daemon/oci_linux.go createSpec).
/// </summary>
public static class ContainerSpecBuilder
{
    /// <summary>Where the init binary appears in a container with --init (Docker's path, so tools that look for it find it).</summary>
    public const string InContainerInitPath = "/sbin/docker-init";

    /// <summary>
    /// The spec for <paramref name="inputs"/>. Reads the rootfs's /etc/passwd and /etc/group, creates the working
    /// directory in the rootfs and missing -v host directories, and writes hostname, hosts and resolv.conf into
    /// the container directory, all through <see cref="SpecInputs.Files"/>.
    /// </summary>
    /// <exception cref="InvalidParameterException">A request Docker refuses with 400 (bad capability, mount, security option…).</exception>
    /// <exception cref="EngineFailureException">Docker's start-time errors (unknown user or group, a working directory that is a file).</exception>
    public static OciSpec Build(SpecInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var host = inputs.HostConfig;
        var daemon = inputs.Daemon;
        var files = inputs.Files;

        // Docker merges at create; merging again is harmless, so a stored merged config is fine too.
        var config = ConfigMerge.Copy(inputs.Config);
        ConfigMerge.Apply(config, inputs.ImageConfig);

        var security = SecurityOptions.Parse(host.SecurityOpt, daemon.NoNewPrivileges);
        var capabilities = Capabilities.Resolve(host.CapAdd, host.CapDrop, host.Privileged, daemon.LastCapability);

        var hostNetwork = inputs.Network.Kind == NetworkNamespaceKind.Host;
        var hostname = !string.IsNullOrEmpty(config.Hostname) ? config.Hostname
            : hostNetwork ? daemon.HostHostname
            : inputs.ContainerId.Length > 12 ? inputs.ContainerId[..12] : inputs.ContainerId;

        var spec = new OciSpec
        {
            Root = new Root { Path = inputs.RootfsPath, Readonly = host.ReadonlyRootfs },
            Hostname = IsHost(host.UTSMode) ? null : hostname,
            Domainname = string.IsNullOrEmpty(config.Domainname) || IsHost(host.UTSMode) ? null : config.Domainname,
            Mounts = DefaultMounts(),
            Annotations = host.Annotations is { Count: > 0 } a ? new Dictionary<string, string>(a) : null,
        };

        // Process.
        var user = UserResolver.Resolve(config.User, files.ReadInRoot(inputs.RootfsPath, "/etc/passwd"),
            files.ReadInRoot(inputs.RootfsPath, "/etc/group"), host.GroupAdd);
        var cwd = string.IsNullOrEmpty(config.WorkingDir) ? "/" : SlashPath.Clean(config.WorkingDir);
        if (!cwd.StartsWith('/')) throw new InvalidParameterException($"the working directory '{config.WorkingDir}' is invalid, it needs to be an absolute path");
        if (cwd != "/" && !files.CreateDirectoryInRoot(inputs.RootfsPath, cwd))
            throw new EngineFailureException($"Cannot mkdir: {config.WorkingDir} is not a directory");

        var args = ConfigMerge.Args(config);
        var useInit = (host.Init ?? daemon.Init) && !IsHost(host.PidMode) && !IsContainer(host.PidMode);
        if (useInit)
        {
            if (daemon.InitBinary is null) throw new EngineFailureException("docker-init binary not found");
            args = [InContainerInitPath, "--", .. args];
        }

        spec.Process = new Process
        {
            Terminal = config.Tty,
            Args = args,
            Env = ConfigMerge.Environment(config, hostname),
            Cwd = cwd,
            User = new User { Uid = user.Uid, Gid = user.Gid, AdditionalGids = [.. user.AdditionalGids] },
            Capabilities = new Berth.Oci.Runtime.Capabilities
            {
                Bounding = [.. capabilities], Effective = [.. capabilities], Permitted = [.. capabilities],
            },
            NoNewPrivileges = security.NoNewPrivileges,
            OomScoreAdj = host.OomScoreAdj,
            Rlimits = Rlimits(host.Ulimits, daemon.Ulimits),
        };
        if (config.Tty && host.ConsoleSize is [var height, var width] && (height > 0 || width > 0))
            spec.Process.ConsoleSize = new Box { Height = (uint)height, Width = (uint)width };

        // Linux.
        var linux = new Berth.Oci.Runtime.Linux
        {
            Namespaces = Namespaces(host, inputs),
            MaskedPaths = host.Privileged ? null : host.MaskedPaths is { } masked ? [.. masked] : [.. DefaultMaskedPaths],
            ReadonlyPaths = host.Privileged ? null : host.ReadonlyPaths is { } ro ? [.. ro] : [.. DefaultReadonlyPaths],
            CgroupsPath = CgroupsPath(string.IsNullOrEmpty(host.CgroupParent) ? inputs.CgroupParent : host.CgroupParent, inputs.ContainerId),
            Resources = ResourceSpecs.From(host),
            Sysctl = Sysctls(host, inputs),
            Devices = [],
        };
        linux.Resources.Devices = host.Privileged ? [new DeviceCgroup { Allow = true, Access = "rwm" }] : DeviceRules.Default(host.DeviceCgroupRules);
        linux.Seccomp = Seccomp(security.Seccomp, host.Privileged, daemon, capabilities, files);
        spec.Linux = linux;

        // Mounts: Docker's defaults, minus those a user mount replaces, then the user's (parents first).
        var userMounts = UserMounts.Parse(host, config.Volumes);
        var shmSize = host.ShmSize > 0 ? host.ShmSize : daemon.ShmSize;
        ApplyDefaultMountRules(spec, userMounts, host, shmSize, inputs);

        var placed = new List<OciMount>();
        foreach (var m in userMounts)
        {
            switch (m.Type)
            {
                case "tmpfs":
                    placed.Add(UserMounts.ToOci(m, "tmpfs"));
                    break;
                case "bind":
                    var kind = files.Stat(m.Source!);
                    if (kind == HostPathKind.Missing)
                    {
                        if (!m.CreateSourceIfMissing)
                            throw new InvalidParameterException($"invalid mount config for type \"bind\": bind source path does not exist: {m.Source}");
                        files.CreateHostDirectory(m.Source!);
                    }
                    placed.Add(UserMounts.ToOci(m, m.Source!));
                    break;
                case "volume":
                    if (inputs.Volumes is null)
                        throw new InvalidParameterException($"volumes are not supported yet: cannot mount {(m.VolumeName ?? "an anonymous volume")} at {m.Destination}");
                    var (_, path) = inputs.Volumes.Resolve(m.VolumeName, inputs.ContainerId, m.Destination, m.VolumeOptions);
                    placed.Add(UserMounts.ToOci(m with { Type = "bind" }, path));
                    break;
            }
        }

        // /etc/hostname, /etc/hosts, /etc/resolv.conf unless the user mounts them.
        var userDestinations = new HashSet<string>(userMounts.Select(m => m.Destination), StringComparer.Ordinal);
        placed.AddRange(NetworkFileMounts(inputs, host, hostname, config.Domainname, hostNetwork, userDestinations));

        if (useInit)
            placed.Add(new OciMount { Destination = InContainerInitPath, Type = "bind", Source = daemon.InitBinary!.InitPath, Options = ["bind", "ro"] });

        // Parents before children, so a mount below another is not hidden by it (moby sortMounts).
        spec.Mounts!.AddRange(placed.OrderBy(m => Depth(m.Destination)));
        if (useInit) spec.Mounts.AddRange(daemon.InitBinary!.SupportMounts());

        if (host.ReadonlyRootfs)
            foreach (var m in spec.Mounts)
            {
                if (m.Destination is "/proc" or "/dev/pts" or "/dev/shm" or "/dev/mqueue" or "/dev") continue;
                if (userDestinations.Contains(m.Destination)) continue;
                m.Options ??= [];
                if (!m.Options.Contains("ro")) m.Options.Add("ro");
            }

        if (host.Privileged)
            foreach (var m in spec.Mounts)
                if (m.Destination == "/sys" || m.Type == "cgroup") m.Options?.Remove("ro");

        if (placed.Any(m => m.Options?.Any(o => o is "shared" or "rshared") == true)) linux.RootfsPropagation = "shared";
        else if (placed.Any(m => m.Options?.Any(o => o is "slave" or "rslave") == true)) linux.RootfsPropagation = "rslave";

        return spec;
    }

    /// <summary>
    /// Docker's choice (moby WithSeccomp): none when unconfined; a privileged container gets only a profile it names;
    /// else the named profile, the daemon's, or the built-in default, filtered for the container's capabilities.
    /// </summary>
    private static Seccomp? Seccomp(SeccompChoice choice, bool privileged, DaemonDefaults daemon, List<string> capabilities, ISpecFileSystem files)
    {
        switch (choice)
        {
            case SeccompChoice.Unconfined:
                return null;
            case SeccompChoice.Custom custom:
                var text = custom.JsonOrPath.TrimStart().StartsWith('{') ? custom.JsonOrPath
                    : files.ReadHostFile(custom.JsonOrPath) ?? throw new InvalidParameterException($"opening seccomp profile ({custom.JsonOrPath}) failed: no such file or directory");
                return SeccompProfiles.FromDocker(text, capabilities);
        }
        if (privileged) return null;
        if (choice is SeccompChoice.Default && daemon.SeccompProfileJson is { } daemonProfile)
            return daemonProfile == "unconfined" ? null : SeccompProfiles.FromDocker(daemonProfile, capabilities);
        return DefaultSeccompProfile.Create(capabilities);
    }

    /// <summary>Docker's masked /proc and /sys paths.</summary>
    public static readonly IReadOnlyList<string> DefaultMaskedPaths =
    [
        "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ];

    /// <summary>Docker's read-only /proc paths.</summary>
    public static readonly IReadOnlyList<string> DefaultReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

    private static List<OciMount> DefaultMounts() =>
    [
        new() { Destination = "/proc", Type = "proc", Source = "proc", Options = ["nosuid", "noexec", "nodev"] },
        new() { Destination = "/dev", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "strictatime", "mode=755", "size=65536k"] },
        new() { Destination = "/dev/pts", Type = "devpts", Source = "devpts", Options = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
        new() { Destination = "/sys", Type = "sysfs", Source = "sysfs", Options = ["nosuid", "noexec", "nodev", "ro"] },
        new() { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup", Options = ["ro", "nosuid", "noexec", "nodev"] },
        new() { Destination = "/dev/mqueue", Type = "mqueue", Source = "mqueue", Options = ["nosuid", "noexec", "nodev"] },
        new() { Destination = "/dev/shm", Type = "tmpfs", Source = "shm", Options = ["nosuid", "noexec", "nodev", "mode=1777"] },
    ];

    /// <summary>
    /// Drops defaults a user mount replaces (and all of /dev/* under a user /dev), sizes /dev/shm, drops it for --ipc
    /// none. /dev/shm is Docker's: a tmpfs of the container's own (private), or a host directory bound there —
    /// the host's /dev/shm (host), a tmpfs the daemon mounts in the container's directory for others to share
    /// (shareable), or that of the donor (container:X, which must be shareable or host).
    /// </summary>
    private static void ApplyDefaultMountRules(OciSpec spec, List<UserMount> userMounts, HostConfig host, long shmSize, SpecInputs inputs)
    {
        var destinations = userMounts.Select(m => m.Destination).ToHashSet(StringComparer.Ordinal);
        var userDev = destinations.Contains("/dev");
        var ipc = host.IpcMode ?? "";
        string? sharedMemory = null;
        if (!userDev && !destinations.Contains("/dev/shm"))
        {
            if (ipc == "host") sharedMemory = "/dev/shm";
            else if (ipc == "shareable") sharedMemory = inputs.Files.MountSharedMemory(SharedMemory.PathIn(inputs.ContainerDirectory), shmSize);
            else if (IsContainer(ipc))
                sharedMemory = inputs.JoinNamespaces?.GetValueOrDefault(SharedMemory.JoinKey) is { } donor && (donor == "/dev/shm" || inputs.Files.IsMountPoint(donor))
                    ? donor
                    : throw new InvalidParameterException($"can't join IPC of container {ipc["container:".Length..]}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)");
        }
        spec.Mounts!.RemoveAll(m => destinations.Contains(m.Destination) || (userDev && m.Destination.StartsWith("/dev/", StringComparison.Ordinal))
            || (m.Destination == "/dev/shm" && (ipc == "none" || sharedMemory is not null)));
        foreach (var m in spec.Mounts)
            if (m.Destination == "/dev/shm") m.Options!.Add("size=" + shmSize.ToString(CultureInfo.InvariantCulture));
        if (sharedMemory is not null)
            spec.Mounts.Add(new OciMount { Destination = "/dev/shm", Type = "bind", Source = sharedMemory, Options = ["rbind", "rprivate"] });
    }

    private static IEnumerable<OciMount> NetworkFileMounts(SpecInputs inputs, HostConfig host, string hostname, string? domainname, bool hostNetwork, HashSet<string> userDestinations)
    {
        var files = inputs.Files;
        var daemon = inputs.Daemon;
        var joined = inputs.Network.Kind == NetworkNamespaceKind.Join;
        var writable = !host.ReadonlyRootfs;

        string Write(string name, string text)
        {
            var path = Path.Combine(inputs.ContainerDirectory, name);
            files.WriteHostFile(path, text);
            return path;
        }
        OciMount Bind(string destination, string source) => new()
        {
            Destination = destination, Type = "bind", Source = source,
            Options = writable ? ["rbind", "rprivate"] : ["rbind", "ro", "rprivate"],
        };

        if (!userDestinations.Contains("/etc/hostname"))
            yield return Bind("/etc/hostname", Write("hostname", NetworkFiles.Hostname(hostname)));
        if (!userDestinations.Contains("/etc/hosts"))
        {
            var hosts = NetworkFiles.Hosts(hostNetwork ? files.ReadHostFile(daemon.HostHostsPath) : null, host.ExtraHosts,
                joined ? null : inputs.ContainerAddresses, hostname, domainname, daemon.HostGatewayIp);
            yield return Bind("/etc/hosts", Write("hosts", hosts));
        }
        if (!userDestinations.Contains("/etc/resolv.conf"))
        {
            var resolv = NetworkFiles.ResolvConf(files.ReadHostFile(daemon.HostResolvConfPath), hostNetwork, host.Dns, host.DnsSearch,
                host.DnsOptions, inputs.NetworkNameservers);
            yield return Bind("/etc/resolv.conf", Write("resolv.conf", resolv));
        }
    }

    private static List<LinuxNamespace> Namespaces(HostConfig host, SpecInputs inputs)
    {
        var result = new List<LinuxNamespace> { new() { Type = "mount" } };
        switch (inputs.Network.Kind)
        {
            case NetworkNamespaceKind.New: result.Add(new() { Type = "network" }); break;
            case NetworkNamespaceKind.Join: result.Add(new() { Type = "network", Path = inputs.Network.Path }); break;
        }
        void Add(string type, string? mode)
        {
            if (IsHost(mode)) return;
            if (IsContainer(mode))
            {
                if (inputs.JoinNamespaces?.TryGetValue(type, out var path) != true)
                    throw new InvalidParameterException($"cannot join the {type} namespace of {mode}: the container is not running");
                result.Add(new() { Type = type, Path = path });
                return;
            }
            result.Add(new() { Type = type });
        }
        Add("uts", host.UTSMode);
        Add("pid", host.PidMode);
        Add("ipc", host.IpcMode);
        if (host.CgroupnsMode == "private") result.Add(new() { Type = "cgroup" });
        return result;
    }

    private static Dictionary<string, string>? Sysctls(HostConfig host, SpecInputs inputs)
    {
        var sysctls = new Dictionary<string, string>(StringComparer.Ordinal);
        if (inputs.Network.Kind == NetworkNamespaceKind.New)
        {
            // Docker's safe defaults for a container with a network namespace of its own: ping without
            // CAP_NET_RAW, and ports below 1024 without CAP_NET_BIND_SERVICE.
            if (inputs.Files.Stat("/proc/sys/net/ipv4/ping_group_range") != HostPathKind.Missing)
                sysctls["net.ipv4.ping_group_range"] = "0 2147483647";
            if (inputs.Files.Stat("/proc/sys/net/ipv4/ip_unprivileged_port_start") != HostPathKind.Missing)
                sysctls["net.ipv4.ip_unprivileged_port_start"] = "0";
        }
        foreach (var (k, v) in host.Sysctls ?? []) sysctls[k] = v;
        return sysctls.Count == 0 ? null : sysctls;
    }

    private static List<Rlimit>? Rlimits(List<Ulimit>? ulimits, IReadOnlyList<Ulimit>? daemonUlimits)
    {
        var merged = new List<Ulimit>(ulimits ?? []);
        foreach (var d in daemonUlimits ?? [])
            if (!merged.Any(u => u.Name == d.Name)) merged.Add(d);
        if (merged.Count == 0) return null;
        return [.. merged.Select(u => new Rlimit { Type = "RLIMIT_" + (u.Name ?? "").ToUpperInvariant(), Soft = (ulong)u.Soft, Hard = (ulong)u.Hard })];
    }

    /// <summary>PARENT/ID for cgroupfs, or "slice:berth:ID" for a systemd parent ending in ".slice".</summary>
    public static string CgroupsPath(string parent, string containerId)
    {
        if (parent.EndsWith(".slice", StringComparison.Ordinal)) return $"{parent}:berth:{containerId}";
        return SlashPath.Clean("/" + parent.TrimStart('/') + "/" + containerId);
    }

    private static bool IsHost(string? mode) => mode == "host";
    private static bool IsContainer(string? mode) => mode?.StartsWith("container:", StringComparison.Ordinal) == true;

    private static int Depth(string destination) => destination.Count(c => c == '/');
}
