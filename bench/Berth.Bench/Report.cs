using System.Text.Json;
using System.Text.Json.Serialization;

namespace Berth.Bench;

/// <summary>Why a cell has, or lacks, a number.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<CellState>))]
public enum CellState
{
    /// <summary>Samples were taken.</summary>
    Measured,
    /// <summary>Berth's side of the scenario does not exist yet ("n/a: not built yet").</summary>
    NotBuilt,
    /// <summary>A peer could not be installed or started on this machine.</summary>
    Unavailable,
    /// <summary>The system exists but the scenario failed on it.</summary>
    Failed,
}

/// <summary>One system's result in one metric.</summary>
public sealed class Cell
{
    public required string System { get; init; }
    public bool IsBerth { get; init; }
    public CellState State { get; set; } = CellState.Measured;
    public string? Reason { get; set; }
    public List<double> Samples { get; init; } = [];
    public Summary? Summary { get; set; }

    public static Cell NotBuilt(string system) => new() { System = system, IsBerth = true, State = CellState.NotBuilt, Reason = "not built yet" };
    public static Cell Unavailable(string system, string reason, bool isBerth = false) => new() { System = system, IsBerth = isBerth, State = CellState.Unavailable, Reason = reason };

    /// <summary>Fills <see cref="Summary"/> from the samples; a measured cell without samples failed.</summary>
    public void Summarise()
    {
        if (State != CellState.Measured) return;
        if (Samples.Count == 0) { State = CellState.Failed; Reason ??= "no samples"; return; }
        Summary = Summary.Of(Samples);
    }
}

/// <summary>How a goal compares Berth's median: to a peer's median times a factor, or to a fixed value.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<GoalKind>))]
public enum GoalKind { AtMostTimesPeer, AtLeastTimesPeer, AtMost, AtLeast }

/// <summary>A goal from the issues, e.g. "≤ 1/3 of runc" or "≤ 1.5 MB".</summary>
public sealed record Goal(string Text, GoalKind Kind, double Value, string? Peer = null)
{
    public static Goal FractionOf(string peer, int denominator) => new($"≤ 1/{denominator} of {peer}", GoalKind.AtMostTimesPeer, 1.0 / denominator, peer);
    public static Goal AtLeastAs(string peer) => new($"≥ {peer}", GoalKind.AtLeastTimesPeer, 1.0, peer);
    public static Goal AtMostValue(double value, string unit) => new($"≤ {Format.Value(value, unit)}", GoalKind.AtMost, value);

    /// <summary>Whether Berth meets the goal; null while Berth or the peer has no number.</summary>
    public bool? IsMet(MetricResult metric)
    {
        var berth = metric.Berth?.Summary?.Median;
        if (berth is null) return null;
        if (Kind is GoalKind.AtMost) return berth <= Value;
        if (Kind is GoalKind.AtLeast) return berth >= Value;
        var peer = metric.Cells.FirstOrDefault(c => c.System == Peer)?.Summary?.Median;
        if (peer is null) return null;
        return Kind is GoalKind.AtMostTimesPeer ? berth <= Value * peer : berth >= Value * peer;
    }
}

/// <summary>Berth's median divided by one peer's; <paramref name="Of"/> names a second way of running Berth
/// (e.g. "berth (docker CLI)") whose ratio this is, null for Berth's main column.</summary>
public sealed record Ratio(string Peer, double Value, string? Of = null);

/// <summary>One measured quantity of a scenario (a scenario may yield several, e.g. daemon RSS and PSS).</summary>
public sealed class MetricResult
{
    public required string Key { get; init; }
    public required string Title { get; init; }
    public required string Unit { get; init; }
    public bool HigherIsBetter { get; init; }
    public Goal? Goal { get; init; }
    public List<Cell> Cells { get; init; } = [];
    public List<Ratio> Ratios { get; set; } = [];
    public bool? GoalMet { get; set; }

    /// <summary>Berth's main column: the first Berth cell (others are variants, e.g. the docker CLI against berthd).</summary>
    [JsonIgnore] public Cell? Berth => Cells.FirstOrDefault(c => c.IsBerth);

    /// <summary>Summarises every cell, then computes each Berth cell's ratios to every measured peer and whether
    /// the goal is met (by the main Berth column).</summary>
    public void Complete()
    {
        foreach (var cell in Cells) cell.Summarise();
        var main = Berth;
        var peers = Cells.Where(c => !c.IsBerth && c.Summary is { Median: > 0 }).ToList();
        Ratios = [.. Cells.Where(c => c.IsBerth && c.Summary is not null)
            .SelectMany(b => peers.Select(p => new Ratio(p.System, b.Summary!.Median / p.Summary!.Median, ReferenceEquals(b, main) ? null : b.System)))];
        GoalMet = Goal?.IsMet(this);
    }

    /// <summary>The main Berth column's ratio to <paramref name="peer"/>, or null.</summary>
    public Ratio? RatioTo(string peer) => Ratios.FirstOrDefault(r => r.Peer == peer && r.Of is null);
}

public sealed record Machine(int Cores, double MemoryGiB, string Kernel, string Os)
{
    public static Machine Current()
    {
        double memoryGiB = 0;
        foreach (var line in File.ReadLines("/proc/meminfo"))
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
                memoryGiB = Math.Round(double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / (1024 * 1024), 1);
        var kernel = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        var os = "Linux";
        if (File.Exists("/etc/os-release"))
            foreach (var line in File.ReadLines("/etc/os-release"))
                if (line.StartsWith("PRETTY_NAME=", StringComparison.Ordinal)) os = line["PRETTY_NAME=".Length..].Trim('"');
        return new Machine(Environment.ProcessorCount, memoryGiB, kernel, os);
    }

    public override string ToString() => $"{Cores} cores, {MemoryGiB:0.#} GiB, Linux {Kernel}, {Os}";
}

/// <summary>The one-minute load average over a run: at the start, its mean and maximum over samples, at the end.</summary>
public sealed record LoadSummary(double Start, double Mean, double Max, double End, int Samples)
{
    /// <summary>Summarises load samples taken in order (the first at the start, the last at the end).</summary>
    public static LoadSummary Of(IReadOnlyList<double> samples)
    {
        if (samples.Count == 0) throw new ArgumentException("no load samples", nameof(samples));
        return new LoadSummary(samples[0], samples.Average(), samples.Max(), samples[^1], samples.Count);
    }

    /// <summary>"load 3.1 mean (1.2–9.8) on 2 cores: busy": how to read the numbers beside it.</summary>
    public string Describe(int cores)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var verdict = Mean <= cores * 0.5 ? "idle" : Mean <= cores * 1.25 ? "loaded" : "busy (other work competed for the cores)";
        return string.Format(inv, "load average {0:0.0} mean, {1:0.0} max, on {2} cores: {3}", Mean, Max, cores, verdict);
    }

    /// <summary>The current one-minute load average (/proc/loadavg).</summary>
    public static double Now() =>
        double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A peer or Berth component and what became of it in this run.</summary>
public sealed record SystemInfo(string Name, string Status, string? Version = null);

/// <summary>Everything one run measured: what bench/results/latest.json holds.</summary>
public sealed class BenchReport
{
    public DateTimeOffset Date { get; init; } = DateTimeOffset.UtcNow;
    public string Mode { get; init; } = "full";
    public required Machine Machine { get; init; }
    /// <summary>The machine's load while the run took its samples (others may share the machine).</summary>
    public LoadSummary? Load { get; set; }
    public List<SystemInfo> Systems { get; init; } = [];
    public List<MetricResult> Metrics { get; init; } = [];

    // Readable JSON: "≤" and "→" as themselves, not \u escapes (the file is committed and read by people).
    private static readonly ReportJson Json = new(new JsonSerializerOptions(ReportJson.Default.Options) { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    public string ToJson() => JsonSerializer.Serialize(this, Json.BenchReport);
    public static BenchReport FromJson(string json) =>
        JsonSerializer.Deserialize(json, Json.BenchReport) ?? throw new JsonException("empty report");
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(BenchReport))]
internal sealed partial class ReportJson : JsonSerializerContext;
