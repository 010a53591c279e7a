namespace Berth.Bench;

/// <summary>What the scenarios share: the mode, the workspace, the engines and runtimes, the images.</summary>
public sealed class BenchContext
{
    public required Mode Mode { get; init; }
    public required Workspace Workspace { get; init; }
    public required string RepoRoot { get; init; }
    public required string Bin { get; init; }
    public CancellationToken Stopping { get; init; }
    public List<Engine> Engines { get; init; } = [];
    public List<OciRuntime> Runtimes { get; init; } = [];
    /// <summary>Peers that are left out of this run (--check), with the reason shown in their cells.</summary>
    public Dictionary<string, string> Skipped { get; init; } = [];
    public required string BusyboxRootfs { get; init; }
    public required string BusyboxTar { get; init; }
    public Action<string> Log { get; init; } = Console.Error.WriteLine;

    private string? _debianTar;

    /// <summary>The base image for import, build and push/pull: the Debian minbase, or busybox under --check
    /// (which must run without network, and debootstrap needs the Debian mirror).</summary>
    public string BaseTar
    {
        get
        {
            if (Mode == Mode.Check) return BusyboxTar;
            if (_debianTar is not null) return _debianTar;
            var rootfs = Path.Combine(Workspace.Root, "debian-rootfs");
            Log("bench: preparing the Debian minbase (scripts/make-debian-rootfs; cached after the first run)");
            Shell.Run([Path.Combine(RepoRoot, "scripts", "make-debian-rootfs"), rootfs], timeout: TimeSpan.FromMinutes(20));
            var tar = Path.Combine(Workspace.Root, "debian.tar");
            Shell.Run(["tar", "-C", rootfs, "--numeric-owner", "-cf", tar, "."], timeout: TimeSpan.FromMinutes(5));
            Shell.Run(["rm", "-rf", "--one-file-system", rootfs], check: false);
            return _debianTar = tar;
        }
    }

    /// <summary>The image name the base tar is imported under in each engine.</summary>
    public string BaseImage => Mode == Mode.Check ? Engine.Busybox : Engine.Debian;

    public void EnsureBase(Engine engine)
    {
        if (Mode != Mode.Check) engine.EnsureDebian(BaseTar);
    }

    /// <summary>One contender per engine, in order (Berth first), with the engines that cannot run shown
    /// as not built or unavailable.</summary>
    public IEnumerable<Contender> PerEngine(Func<Engine, Contender> make, Func<Engine, string?>? unsupported = null)
    {
        foreach (var engine in Engines)
        {
            if (engine.NotBuilt) yield return Contender.NotBuilt(engine.Name);
            else if (engine.Unavailable is not null) yield return Contender.Unavailable(engine.Name, engine.Unavailable, engine.IsBerth);
            else if (unsupported?.Invoke(engine) is { } reason) yield return Contender.Unavailable(engine.Name, reason, engine.IsBerth);
            else yield return make(engine);
        }
        foreach (var (name, reason) in Skipped.Where(s => s.Key is "docker" or "podman")) yield return Contender.Unavailable(name, reason);
    }

    /// <summary>
    /// The "docker CLI → berthd" variant of Berth's contender: the same berthd, driven by the real docker CLI, shown
    /// as its own row beside Berth's (it has what <paramref name="berth"/> has when Berth cannot run).
    /// </summary>
    public Contender DockerCliOnBerth(Contender berth, Func<BerthEngine, Func<double>> measure)
    {
        const string System = "berth (docker CLI)";
        if (berth.State != CellState.Measured) return new Contender { System = System, IsBerth = true, State = berth.State, Reason = berth.Reason };
        var engine = Engines.OfType<BerthEngine>().First();
        if (engine.DockerCli is null) return Contender.Unavailable(System, "docker CLI not installed", isBerth: true);
        var sample = measure(engine);
        return new Contender { System = System, IsBerth = true, Measure = _ => [sample()] };
    }

    public string Id(string what, int iteration) => $"{Workspace.Tag}-{what}-{(iteration < 0 ? "w" : iteration.ToString(System.Globalization.CultureInfo.InvariantCulture))}";
}
