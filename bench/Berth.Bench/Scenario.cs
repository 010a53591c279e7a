namespace Berth.Bench;

public enum Mode { Check, Quick, Full }

/// <summary>What a scenario measures in one of its metrics.</summary>
public sealed record MetricSpec(string Key, string Title, string Unit, bool HigherIsBetter = false, Goal? Goal = null);

/// <summary>One system taking part in a scenario: setup, one sample per call, teardown.</summary>
public sealed class Contender
{
    public required string System { get; init; }
    public bool IsBerth { get; init; }
    public CellState State { get; set; } = CellState.Measured;
    public string? Reason { get; set; }
    public Action? Setup { get; init; }
    /// <summary>Takes one sample (one value per metric); the argument is the iteration, -1 for the warm-up.</summary>
    public Func<int, double[]>? Measure { get; init; }
    public Action? Teardown { get; init; }

    public static Contender NotBuilt(string system, string? reason = null) => new() { System = system, IsBerth = true, State = CellState.NotBuilt, Reason = reason ?? "not built yet" };
    public static Contender Unavailable(string system, string reason, bool isBerth = false) => new() { System = system, IsBerth = isBerth, State = CellState.Unavailable, Reason = reason };
}

public abstract class Scenario
{
    public abstract string Key { get; }
    public abstract IReadOnlyList<MetricSpec> Metrics { get; }
    /// <summary>Samples per system: --check always takes one.</summary>
    protected abstract (int Quick, int Full) Samples { get; }
    /// <summary>Whether one unrecorded sample comes first (caches, lazy start-up).</summary>
    public virtual bool WarmUp => true;
    public int Iterations(Mode mode) => mode switch { Mode.Check => 1, Mode.Quick => Samples.Quick, _ => Samples.Full };
    public abstract IEnumerable<Contender> Contenders(BenchContext context);
}

/// <summary>Runs a scenario: every system's samples interleaved (A B C A B C …), so drift in the machine's
/// load spreads over all systems alike.</summary>
public static class ScenarioRunner
{
    public static List<MetricResult> Run(Scenario scenario, BenchContext context, Action<string>? log = null)
    {
        var contenders = scenario.Contenders(context).ToList();
        var samples = contenders.ToDictionary(c => c, _ => new List<double[]>());
        try
        {
            foreach (var contender in contenders.Where(Active))
                Attempt(contender, () =>
                {
                    contender.Setup?.Invoke();
                    if (scenario.WarmUp && context.Mode != Mode.Check) contender.Measure!(-1);
                });
            var iterations = scenario.Iterations(context.Mode);
            for (var i = 0; i < iterations; i++)
                foreach (var contender in contenders.Where(Active))
                {
                    context.Stopping.ThrowIfCancellationRequested();
                    Attempt(contender, () => samples[contender].Add(contender.Measure!(i)));
                }
        }
        finally
        {
            foreach (var contender in contenders.Where(c => c.Teardown is not null && c.State != CellState.NotBuilt && c.State != CellState.Unavailable))
                try { contender.Teardown!(); }
                catch (Exception e) when (e is BenchException or IOException) { log?.Invoke($"{scenario.Key}: {contender.System}: cleanup: {e.Message}"); }
        }

        var results = new List<MetricResult>();
        for (var m = 0; m < scenario.Metrics.Count; m++)
        {
            var spec = scenario.Metrics[m];
            var metric = new MetricResult { Key = spec.Key, Title = spec.Title, Unit = spec.Unit, HigherIsBetter = spec.HigherIsBetter, Goal = spec.Goal };
            foreach (var contender in contenders)
            {
                var cell = new Cell { System = contender.System, IsBerth = contender.IsBerth, State = contender.State, Reason = contender.Reason };
                if (contender.State == CellState.Measured)
                    cell.Samples.AddRange(samples[contender].Select(s => s[m]).Where(v => !double.IsNaN(v)));
                metric.Cells.Add(cell);
            }
            metric.Complete();
            results.Add(metric);
        }
        return results;

        static bool Active(Contender c) => c.State == CellState.Measured;

        void Attempt(Contender contender, Action action)
        {
            try { action(); }
            catch (NotBuiltException e) when (contender.IsBerth) { contender.State = CellState.NotBuilt; contender.Reason = e.Detail ?? "not built yet"; }
            catch (Exception e) when (e is BenchException or IOException or System.Net.Http.HttpRequestException or System.Net.Sockets.SocketException)
            {
                if (context.Stopping.IsCancellationRequested) throw new OperationCanceledException(context.Stopping);
                contender.State = CellState.Failed;
                contender.Reason = e.Message;
                log?.Invoke($"{scenario.Key}: {contender.System} failed: {e.Message}");
            }
        }
    }
}
