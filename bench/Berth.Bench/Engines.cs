using System.Net.Sockets;

namespace Berth.Bench;

/// <summary>
/// A container engine driven through its docker-compatible CLI: Docker (a private dockerd), Podman
/// (private --root/--runroot, no daemon) or Berth (a private berthd and the berth CLI).
/// </summary>
public abstract class Engine(string name, bool isBerth, Workspace workspace)
{
    public const string Busybox = "localhost/bench-busybox:latest";
    public const string Debian = "localhost/bench-debian:latest";

    public string Name { get; } = name;
    public bool IsBerth { get; } = isBerth;
    protected Workspace Workspace { get; } = workspace;
    protected string Home => Workspace.Dir(Name);

    /// <summary>Why this engine cannot be measured (not installed, did not start); null when it runs.</summary>
    public string? Unavailable { get; protected set; }
    /// <summary>Berth's engine is not built yet.</summary>
    public bool NotBuilt { get; protected set; }
    public string? Version { get; protected set; }
    public bool Usable => Unavailable is null && !NotBuilt;

    /// <summary>The CLI and its global flags.</summary>
    protected abstract string[] Cli { get; }
    protected virtual IReadOnlyDictionary<string, string>? Environment => null;
    /// <summary>Flags every `run`/`create`/`build` needs on this machine.</summary>
    public virtual string[] ContainerFlags => [];
    /// <summary>Flags every `build` needs on this machine.</summary>
    public virtual string[] BuildFlags => [];

    protected abstract void StartCore();
    protected abstract void StopCore();
    /// <summary>The engine's long-lived processes (dockerd and containerd, berthd); none for podman.</summary>
    public virtual IEnumerable<int> DaemonPids() => [];
    /// <summary>The per-container processes the engine adds beside the container's own (shims, conmon).</summary>
    public abstract IEnumerable<int> ShimPids();

    public CommandResult Do(params string[] args) => Shell.Run([.. Cli, .. args], environment: Environment, timeout: TimeSpan.FromMinutes(10), label: $"{Name} {args[0]}");
    public CommandResult Try(params string[] args) => Shell.Run([.. Cli, .. args], environment: Environment, check: false, timeout: TimeSpan.FromMinutes(2), label: $"{Name} {args[0]}");
    public double Time(params string[] args) => Do(args).Milliseconds;

    private bool _debianImported;
    private bool _started;

    /// <summary>Starts the engine and imports busybox; on failure the engine is marked unavailable, never thrown.</summary>
    public void Start(string busyboxTar)
    {
        if (!Usable) return;
        try
        {
            _started = true;
            StartCore();
            Do("import", busyboxTar, Busybox);
        }
        catch (NotBuiltException) { NotBuilt = true; }
        catch (BenchException e) { Unavailable = "did not start: " + e.Message; }
    }

    /// <summary>Imports the Debian base once, untimed, for the scenarios built on it.</summary>
    public void EnsureDebian(string debianTar)
    {
        if (_debianImported) return;
        Do("import", debianTar, Debian);
        _debianImported = true;
    }

    public void Stop()
    {
        if (!_started) return;
        try
        {
            var ids = Try("ps", "-aq").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (ids.Length > 0) Try([.. ForceRemove, .. ids]);
        }
        catch (BenchException) { }
        try { StopCore(); } catch (BenchException e) { Console.Error.WriteLine($"bench: stopping {Name}: {e.Message}"); }
    }

    /// <summary>`network …` through this engine (Berth's may go through the docker CLI while the berth CLI lacks the verb).</summary>
    public virtual CommandResult TryNetwork(params string[] args) => Try(["network", .. args]);

    /// <summary>Removes every container (untimed cleanup between samples).</summary>
    public void RemoveAllContainers()
    {
        var ids = Try("ps", "-aq").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (ids.Length > 0) Do([.. ForceRemove, .. ids]);
    }

    /// <summary>`rm -f` that kills at once (podman's waits 10 s for SIGTERM first, which sleep ignores as pid 1).</summary>
    protected virtual string[] ForceRemove => ["rm", "-f"];

    protected static void WaitForSocket(string socket, Func<bool> stillRunning, string what, Func<string> log)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !Shell.Stopping.IsCancellationRequested)
        {
            if (File.Exists(socket))
            {
                try
                {
                    using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    probe.Connect(new UnixDomainSocketEndPoint(socket));
                    return;
                }
                catch (SocketException) { }
            }
            if (!stillRunning()) throw new BenchException($"{what} exited: {Shell.Shorten(LastLine(log()))}");
            Thread.Sleep(50); // start-up is not measured; the daemon has no readiness event to wait on
        }
        throw new BenchException($"{what} did not listen on {socket} within 60 s: {Shell.Shorten(LastLine(log()))}");
    }

    /// <summary>SIGTERM, so a daemon stops what it started (dockerd its containerd); SIGKILL after 20 s.</summary>
    protected static void Terminate(System.Diagnostics.Process? daemon)
    {
        if (daemon is null || daemon.HasExited) return;
        Shell.Run(["kill", "-TERM", daemon.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)], check: false);
        if (!daemon.WaitForExit(20000)) daemon.Kill(entireProcessTree: true);
        daemon.WaitForExit();
    }

    protected static string LastLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";

    protected static string ReadLog(string path) => File.Exists(path) ? File.ReadAllText(path) : "";
}

/// <summary>Debian's dockerd with its own data root, exec root, socket, containerd namespace and cgroup
/// parent, off the host's network (no docker0, no iptables).</summary>
public sealed class DockerEngine : Engine
{
    private System.Diagnostics.Process? _daemon;
    private readonly string _socket;
    private readonly string _cli;

    public DockerEngine(Workspace workspace) : base("docker", false, workspace)
    {
        _socket = Path.Combine(Home, "docker.sock");
        // Debian's CLI matches Debian's daemon (20.10); the newer CLI in /usr/local/bin works too.
        _cli = File.Exists("/usr/bin/docker") ? "/usr/bin/docker" : Shell.Which("docker") ?? "docker";
        if (!File.Exists("/usr/sbin/dockerd")) Unavailable = "not installed (apt-get install docker.io)";
        else if (!Shell.Exists(_cli)) Unavailable = "docker CLI not installed";
    }

    protected override string[] Cli => [_cli, "-H", "unix://" + _socket];
    protected override IReadOnlyDictionary<string, string>? Environment => new Dictionary<string, string> { ["DOCKER_BUILDKIT"] = "0", ["DOCKER_CONFIG"] = Workspace.Dir(Name, "config") };

    protected override void StartCore()
    {
        var log = Path.Combine(Home, "dockerd.log");
        var psi = new System.Diagnostics.ProcessStartInfo("/usr/sbin/dockerd")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[]
                 {
                     "--data-root", Workspace.Dir(Name, "data"), "--exec-root", Workspace.Dir(Name, "exec"), "-H", "unix://" + _socket,
                     "--pidfile", Path.Combine(Home, "dockerd.pid"), "--containerd-namespace", Workspace.Tag,
                     "--containerd-plugins-namespace", Workspace.Tag + "-plugins", "--cgroup-parent", Workspace.Tag + "-docker",
                     "--bridge", "none", "--iptables=false", "--ip-masq=false", "--ip6tables=false",
                 })
            psi.ArgumentList.Add(a);
        _daemon = System.Diagnostics.Process.Start(psi)!;
        var writer = new StreamWriter(log) { AutoFlush = true };
        _daemon.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (writer) writer.WriteLine(e.Data); };
        _daemon.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (writer) writer.WriteLine(e.Data); };
        _daemon.BeginOutputReadLine();
        _daemon.BeginErrorReadLine();
        WaitForSocket(_socket, () => !_daemon.HasExited, "dockerd", () => { lock (writer) return ReadLog(log); });
        Version = Do("version", "--format", "{{.Server.Version}}").Stdout.Trim();
    }

    protected override void StopCore()
    {
        foreach (var network in Try("network", "ls", "-q", "--filter", "label=" + Workspace.Tag).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            Try("network", "rm", network);
        Terminate(_daemon);
        // dockerd's containerd and any shim carry the exec root or our namespace in their command line.
        Procfs.Kill(Procfs.PidsWith(Workspace.Dir(Name, "exec")).Concat(Procfs.PidsWith("-namespace " + Workspace.Tag)));
        Workspace.RemoveCgroups(Workspace.Tag + "-docker");
    }

    public override IEnumerable<int> DaemonPids() =>
        _daemon is { HasExited: false } ? Procfs.PidsWith(Workspace.Dir(Name, "exec") + "/containerd/containerd.toml").Append(_daemon.Id) : [];

    public override IEnumerable<int> ShimPids() => Procfs.PidsWith("-namespace " + Workspace.Tag).Where(p => Procfs.CommandLine(p).Contains("containerd-shim", StringComparison.Ordinal));
}

/// <summary>Podman with a private store, runc and cgroupfs (crun 1.8 refuses cgroup hybrid mode here),
/// and the rlimits this kernel lets a container set.</summary>
public sealed class PodmanEngine : Engine
{
    public PodmanEngine(Workspace workspace) : base("podman", false, workspace)
    {
        if (!Shell.Exists("/usr/bin/podman")) Unavailable = "not installed (apt-get install podman)";
        else if (Shell.Which("runc") is null) Unavailable = "runc not installed";
    }

    protected override string[] Cli =>
    [
        "/usr/bin/podman", "--root", Workspace.Dir(Name, "root"), "--runroot", Workspace.Dir(Name, "run"), "--tmpdir", Workspace.Dir(Name, "tmp"),
        "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--storage-driver", "overlay",
        "--network-config-dir", Workspace.Dir(Name, "networks"),
    ];

    protected override IReadOnlyDictionary<string, string>? Environment => new Dictionary<string, string> { ["XDG_RUNTIME_DIR"] = Workspace.Dir(Name, "xdg"), ["CONTAINERS_CONF"] = ContainersConf };

    private string ContainersConf
    {
        get
        {
            var path = Path.Combine(Home, "containers.conf");
            if (!File.Exists(path))
                File.WriteAllText(path, $"[containers]\ncgroupns = \"private\"\n[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nevents_logfile_path = \"{Home}/events.log\"\n");
            return path;
        }
    }

    public override string[] ContainerFlags => [.. BuildFlags, "--cgroup-parent", "/" + Workspace.Tag + "-podman"];
    // Not --cgroup-parent: buildah runs a step's container in that cgroup itself, and cgroup v1 refuses
    // "deny all devices" in a cgroup that has children (EINVAL on devices.deny).
    public override string[] BuildFlags => ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

    protected override void StartCore() => Version = Do("version", "--format", "{{.Client.Version}}").Stdout.Trim();

    protected override string[] ForceRemove => ["rm", "-f", "-t", "0"];

    protected override void StopCore()
    {
        Procfs.Kill(Procfs.PidsWith(Home));
        Workspace.RemoveCgroups(Workspace.Tag + "-podman");
        Workspace.UnmountBelow(Home);
    }

    public override IEnumerable<int> ShimPids() => Procfs.PidsWith(Home).Where(p => Procfs.CommandLine(p).StartsWith("/usr/bin/conmon", StringComparison.Ordinal));
}

/// <summary>berthd with its own data root, exec root, socket and bridge (never docker0 or 172.17.0.0/16),
/// driven by the berth CLI, and by the docker CLI for the scenarios' "docker CLI → berthd" variant.</summary>
public sealed class BerthEngine : Engine
{
    private readonly string _bin;
    private System.Diagnostics.Process? _daemon;
    private readonly string _socket;

    /// <summary>The docker CLI that drives berthd in the variant rows (the newest one on the machine).</summary>
    public string? DockerCli { get; } = File.Exists("/usr/local/bin/docker") ? "/usr/local/bin/docker" : Shell.Which("docker");

    public BerthEngine(Workspace workspace, string bin) : base("berth", true, workspace)
    {
        _bin = bin;
        _socket = Path.Combine(Home, "berth.sock");
        if (!File.Exists(Path.Combine(bin, "berthd")) || !File.Exists(Path.Combine(bin, "berth"))) NotBuilt = true;
    }

    protected override string[] Cli => [Path.Combine(_bin, "berth"), "-H", "unix://" + _socket];
    protected override IReadOnlyDictionary<string, string>? Environment => new Dictionary<string, string> { ["BERTH_CONFIG"] = Workspace.Dir(Name, "config"), ["DOCKER_CONFIG"] = Workspace.Dir(Name, "docker-config") };

    /// <summary>The same command through the docker CLI against berthd.</summary>
    public CommandResult DoWithDockerCli(params string[] args) =>
        Shell.Run([DockerCli ?? throw new BenchException("docker CLI not installed"), "-H", "unix://" + _socket, .. args], environment: Environment, timeout: TimeSpan.FromMinutes(10), label: $"docker→berthd {args[0]}");

    private bool? _cliHasNetwork;

    public override CommandResult TryNetwork(params string[] args)
    {
        _cliHasNetwork ??= Try("network", "ls").ExitCode == 0;
        return _cliHasNetwork == true || DockerCli is null
            ? Try(["network", .. args])
            : Shell.Run([DockerCli, "-H", "unix://" + _socket, "network", .. args], environment: Environment, check: false, timeout: TimeSpan.FromMinutes(2), label: "docker→berthd network");
    }

    protected override void StartCore()
    {
        var log = Path.Combine(Home, "berthd.log");
        var psi = new System.Diagnostics.ProcessStartInfo(Path.Combine(_bin, "berthd"))
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        // A default bridge of its own: a name and a 10.214.x.0/24 subnet that no host route uses.
        var routes = Shell.Run(["ip", "-4", "route"], check: false).Stdout;
        var octet = Enumerable.Range(0, 250).Select(n => (System.Environment.ProcessId + n) % 250 + 1).First(o => !routes.Contains($"10.214.{o}.", StringComparison.Ordinal));
        foreach (var a in new[]
                 {
                     "--data-root", Workspace.Dir(Name, "data"), "--exec-root", Workspace.Dir(Name, "exec"), "-H", "unix://" + _socket,
                     "--pidfile", Path.Combine(Home, "berthd.pid"), "--bridge", $"bb{System.Environment.ProcessId % 1000000}d", "--bip", $"10.214.{octet}.1/24",
                     // Named after the run (as dockerd's), so the run's cgroup clean-up removes it; berthd's default parent
                     // "berth" outlived the bench.
                     "--cgroup-parent", Workspace.Tag + "-berth",
                 })
            psi.ArgumentList.Add(a);
        _daemon = System.Diagnostics.Process.Start(psi)!;
        var output = new System.Text.StringBuilder();
        _daemon.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        _daemon.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        _daemon.BeginOutputReadLine();
        _daemon.BeginErrorReadLine();
        try { WaitForSocket(_socket, () => !_daemon.HasExited, "berthd", () => { lock (output) return output.ToString(); }); }
        catch (BenchException) when (output.ToString().Contains("not built yet", StringComparison.OrdinalIgnoreCase)) { throw new NotBuiltException("berthd"); }
        finally { lock (output) File.WriteAllText(log, output.ToString()); }
        Version = Try("version", "--format", "{{.Server.Version}}").Stdout.Trim();
    }

    protected override void StopCore()
    {
        foreach (var network in TryNetwork("ls", "-q", "--filter", "label=" + Workspace.Tag).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            TryNetwork("rm", network);
        Terminate(_daemon);
        Procfs.Kill(Procfs.PidsWith(Home));
        Shell.Run(["ip", "link", "delete", $"bb{System.Environment.ProcessId % 1000000}d"], check: false);
        Workspace.RemoveCgroups(Workspace.Tag + "-berth");
    }

    public override IEnumerable<int> DaemonPids() => _daemon is { HasExited: false } ? [_daemon.Id] : [];

    /// <summary>berth-shim, one per container (what Berth adds beside the container's own processes).</summary>
    public override IEnumerable<int> ShimPids() =>
        Procfs.PidsWith(Home).Where(p => _daemon is null || p != _daemon.Id).Where(p => Procfs.CommandLine(p).Contains("berth-shim", StringComparison.Ordinal));
}
