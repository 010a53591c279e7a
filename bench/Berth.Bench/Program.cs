using System.Runtime.InteropServices;
namespace Berth.Bench;

internal static class BenchProgram
{
    private const string Usage = "usage: bench/run [--quick] [--check] [--out DIR] [SCENARIO…]";

    public static int Main(string[] args)
    {
        var mode = Mode.Full;
        string? outDirectory = null;
        var selected = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick": if (mode != Mode.Check) mode = Mode.Quick; break;
                case "--check": mode = Mode.Check; break;
                case "--out" when i + 1 < args.Length: outDirectory = args[++i]; break;
                case "-h" or "--help":
                    Console.WriteLine($"{Usage}\nscenarios: {string.Join(' ', Scenarios.All.Select(s => s.Key))}");
                    return 0;
                case var option when option.StartsWith('-'):
                    Console.Error.WriteLine($"bench: unknown option {option}; {Usage}");
                    return 2;
                case var key when Scenarios.All.Any(s => s.Key == key): selected.Add(key); break;
                case var key:
                    Console.Error.WriteLine($"bench: unknown scenario {key}; scenarios: {string.Join(' ', Scenarios.All.Select(s => s.Key))}");
                    return 2;
            }
        }
        var scenarios = Scenarios.All.Where(s => selected.Count == 0 || selected.Contains(s.Key)).ToList();
        var repo = Environment.GetEnvironmentVariable("BERTH_REPO_ROOT") is { Length: > 0 } r ? r : FindRepo();
        var bin = Environment.GetEnvironmentVariable("BERTH_BIN") is { Length: > 0 } b ? b : Path.Combine(repo, "artifacts", "bin");
        // --check and partial runs must not overwrite the committed results of a full run.
        outDirectory ??= mode == Mode.Check || selected.Count > 0 ? Path.Combine("/var/tmp/berth-bench", "last-" + mode.ToString().ToLowerInvariant()) : Path.Combine(repo, "bench", "results");

        using var stopping = new CancellationTokenSource();
        void Stop(PosixSignalContext signal)
        {
            signal.Cancel = true; // keep running long enough to clean up
            Console.Error.WriteLine($"bench: {signal.Signal}: stopping and cleaning up");
            stopping.Cancel();
        }
        using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var onHangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, Stop);
        Shell.Stopping = stopping.Token;

        var started = DateTimeOffset.UtcNow;
        using var workspace = new Workspace();
        var engines = new List<Engine>();
        var report = new BenchReport { Date = started, Mode = mode.ToString().ToLowerInvariant(), Machine = Machine.Current() };
        var interrupted = false;
        // The load while samples are taken: the lead may re-run the bench idle, and readers should know which it was.
        var loadSamples = new List<double> { LoadSummary.Now() };
        using var loadSampler = new Timer(_ => { lock (loadSamples) loadSamples.Add(LoadSummary.Now()); }, null, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
        try
        {
            var rootfs = Path.Combine(workspace.Root, "busybox-rootfs");
            Shell.Run([Path.Combine(repo, "scripts", "make-busybox-rootfs"), rootfs]);
            var busyboxTar = Path.Combine(workspace.Root, "busybox.tar");
            Shell.Run(["tar", "-C", rootfs, "--numeric-owner", "-cf", busyboxTar, "."]);

            var skipped = new Dictionary<string, string>();
            if (mode == Mode.Check)
                foreach (var peer in new[] { "runc", "crun", "docker", "podman", "distribution" }) skipped[peer] = "--check runs no peers";

            engines.Add(new BerthEngine(workspace, bin));
            if (mode != Mode.Check) { engines.Add(new DockerEngine(workspace)); engines.Add(new PodmanEngine(workspace)); }
            var runtimes = new List<OciRuntime>
            {
                new("berth-runtime", Path.Combine(bin, "berth-runtime"), isBerth: true, workspace),
                new("runc", Shell.Which("runc") ?? "/usr/sbin/runc", isBerth: false, workspace),
                new("crun", Shell.Which("crun") ?? "/usr/bin/crun", isBerth: false, workspace, OciRuntime.CrunUnavailable(Shell.Which("crun") ?? "/usr/bin/crun")),
            };
            var context = new BenchContext
            {
                Mode = mode, Workspace = workspace, RepoRoot = repo, Bin = bin, Stopping = stopping.Token, Engines = engines, Runtimes = runtimes,
                Skipped = skipped, BusyboxRootfs = rootfs, BusyboxTar = busyboxTar,
            };

            var needsEngines = scenarios.Any(s => s is not RuntimeScenario and not RegistryThroughputScenario);
            if (needsEngines)
                foreach (var engine in engines)
                {
                    Console.Error.WriteLine($"bench: starting {engine.Name}");
                    engine.Start(busyboxTar);
                }
            report.Systems.AddRange(engines.Select(e => new SystemInfo(e.Name, Status(e.NotBuilt, e.Unavailable, needsEngines), e.Version)));
            report.Systems.AddRange(runtimes.Select(rt => new SystemInfo(rt.Name,
                skipped.TryGetValue(rt.Name, out var why) ? "unavailable: " + why : Status(rt.NotBuilt, rt.Unavailable, true), rt.Unavailable is null && !rt.NotBuilt ? rt.Version() : null)));

            foreach (var scenario in scenarios)
            {
                Console.Error.WriteLine($"bench: {scenario.Key}: {scenario.Iterations(mode)} sample(s) per system");
                var clock = System.Diagnostics.Stopwatch.StartNew();
                var metrics = ScenarioRunner.Run(scenario, context);
                Console.Error.WriteLine($"bench: {scenario.Key}: done in {clock.Elapsed.TotalSeconds:0} s");
                report.Metrics.AddRange(metrics);
                foreach (var metric in metrics)
                    Console.Error.WriteLine($"bench: {metric.Title}: " + string.Join("; ", metric.Cells.Select(c => $"{c.System} {Format.Median(c, metric.Unit)}")));
            }
        }
        catch (OperationCanceledException) { interrupted = true; }
        catch (BenchException e) when (stopping.IsCancellationRequested) { interrupted = true; Console.Error.WriteLine($"bench: {e.Message}"); }
        finally
        {
            Shell.Stopping = CancellationToken.None; // cleanup runs to the end, interrupted or not
            foreach (var engine in engines)
            {
                Console.Error.WriteLine($"bench: stopping {engine.Name}");
                engine.Stop();
            }
        }

        if (interrupted) { Console.Error.WriteLine("bench: interrupted; everything it started is stopped"); return 130; }
        loadSampler.Dispose();
        lock (loadSamples)
        {
            loadSamples.Add(LoadSummary.Now());
            report.Load = LoadSummary.Of(loadSamples);
        }

        Directory.CreateDirectory(outDirectory);
        File.WriteAllText(Path.Combine(outDirectory, "latest.json"), report.ToJson());
        File.WriteAllText(Path.Combine(outDirectory, "latest.svg"), SvgChart.Render(report));
        File.WriteAllText(Path.Combine(outDirectory, "latest.md"),
            ReportTable.Heading(report) + "\n\n" + ReportTable.Markdown(report));
        Console.WriteLine();
        Console.WriteLine(ReportTable.Heading(report));
        Console.WriteLine();
        Console.Write(ReportTable.Text(report));
        Console.WriteLine();
        Console.WriteLine($"results: {outDirectory}/latest.json, latest.svg, latest.md ({(DateTimeOffset.UtcNow - started).TotalSeconds:0} s)");
        // --check is for CI: anything that exists and failed is an error; "not built yet" is not.
        var failed = report.Metrics.SelectMany(m => m.Cells).Where(c => c.State == CellState.Failed).ToList();
        return mode == Mode.Check && failed.Count > 0 ? 1 : 0;
    }

    private static string Status(bool notBuilt, string? unavailable, bool used) =>
        notBuilt ? "n/a: not built yet" : unavailable is not null ? "unavailable: " + unavailable : used ? "available" : "not used";

    private static string FindRepo()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Berth.slnx"))) dir = Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("repository root not found; set BERTH_REPO_ROOT");
    }
}
