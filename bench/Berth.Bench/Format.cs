using System.Globalization;
using System.Text;

namespace Berth.Bench;

/// <summary>Numbers as people read them: about three significant digits, milliseconds as seconds past 1 s.</summary>
public static class Format
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public static string Value(double value, string unit)
    {
        var (number, shownUnit) = Split(value, unit);
        return $"{number} {shownUnit}";
    }

    /// <summary>"30.1–33.0 ms": both ends in the unit of the upper one.</summary>
    public static string Range(double low, double high, string unit)
    {
        var (highNumber, shownUnit) = Split(high, unit);
        var scale = shownUnit == unit ? 1 : 1000;
        return $"{Number(low / scale)}–{highNumber} {shownUnit}";
    }

    private static (string Number, string Unit) Split(double value, string unit) =>
        unit == "ms" && value >= 1000 ? (Number(value / 1000), "s") : (Number(value), unit);

    public static string Number(double value)
    {
        var magnitude = Math.Abs(value);
        var format = magnitude >= 1000 ? "#,0" : magnitude >= 100 ? "0" : magnitude >= 10 ? "0.0" : "0.00";
        return value.ToString(format, Invariant);
    }

    public static string Ratio(double ratio) => ratio.ToString(ratio >= 10 ? "0" : ratio >= 1 ? "0.0" : "0.00", Invariant) + "×";

    /// <summary>What a cell shows: the median, or why there is none.</summary>
    public static string Median(Cell cell, string unit) => cell.State switch
    {
        CellState.Measured when cell.Summary is { } s => Value(s.Median, unit),
        CellState.NotBuilt => cell.Reason is null or "not built yet" ? "n/a: not built yet" : $"n/a: not built yet ({cell.Reason})",
        CellState.Unavailable => $"unavailable: {cell.Reason}",
        _ => $"failed: {cell.Reason}",
    };

    /// <summary>The spread: p25–p75 from four samples on, min–max below that, nothing for one sample.</summary>
    public static string Spread(Cell cell, string unit) => cell.Summary switch
    {
        null or { Count: 1 } => "",
        { Count: >= 4 } s => Range(s.P25, s.P75, unit),
        var s => Range(s.Min, s.Max, unit) + " (min–max)",
    };
}

/// <summary>The results as a table: one row per system of each metric, Berth first.</summary>
public static class ReportTable
{
    public static readonly string[] Header = ["Scenario", "System", "Median", "Spread (p25–p75)", "Berth ÷ system", "Goal"];

    public static List<string[]> Rows(BenchReport report)
    {
        var rows = new List<string[]>();
        foreach (var metric in report.Metrics)
        {
            var first = true;
            foreach (var cell in metric.Cells.OrderByDescending(c => c.IsBerth))
            {
                rows.Add([
                    first ? $"{metric.Title} ({metric.Unit}{(metric.HigherIsBetter ? ", higher is better" : "")})" : "",
                    cell.System,
                    Format.Median(cell, metric.Unit),
                    Format.Spread(cell, metric.Unit),
                    RatioText(metric, cell),
                    first ? GoalText(metric) : "",
                ]);
                first = false;
            }
        }
        return rows;
    }

    /// <summary>A peer's row: Berth's main column over this peer. A Berth variant's row: the variant over each
    /// peer ("0.10× docker"). Berth's main row: nothing (its ratios are on the peers' rows).</summary>
    private static string RatioText(MetricResult metric, Cell cell)
    {
        if (!cell.IsBerth) return metric.RatioTo(cell.System) is { } ratio ? Format.Ratio(ratio.Value) : "";
        return string.Join(", ", metric.Ratios.Where(r => r.Of == cell.System && !ReferenceEquals(cell, metric.Berth)).Select(r => $"{Format.Ratio(r.Value)} {r.Peer}"));
    }

    private static string GoalText(MetricResult metric) => metric.Goal is null ? "" : metric.GoalMet switch
    {
        true => $"{metric.Goal.Text} ✔ met",
        false => $"{metric.Goal.Text} ✘ not yet",
        null => metric.Goal.Text,
    };

    /// <summary>What a table is: when, which run, on what machine under what load, and how to read the spread.</summary>
    public static string Heading(BenchReport report)
    {
        var load = report.Load is { } l ? "; " + l.Describe(report.Machine.Cores) : "";
        return $"Measured {report.Date:yyyy-MM-dd HH:mm} UTC ({report.Mode} run) on {report.Machine}{load}. " +
               "Median of the samples; spread p25–p75 (min–max under four samples).";
    }

    /// <summary>Aligned columns for a terminal.</summary>
    public static string Text(BenchReport report)
    {
        var rows = Rows(report);
        var widths = Header.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        var text = new StringBuilder();
        void Line(string[] cells) => text.AppendLine(string.Join("  ", cells.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
        Line(Header);
        Line([.. widths.Select(w => new string('-', w))]);
        foreach (var row in rows) Line(row);
        return text.ToString();
    }

    /// <summary>A GitHub-flavoured Markdown table, as the README shows it.</summary>
    public static string Markdown(BenchReport report)
    {
        static string Escape(string cell) => cell.Replace("|", "\\|");
        var text = new StringBuilder();
        text.AppendLine("| " + string.Join(" | ", Header) + " |");
        text.AppendLine("|" + string.Concat(Header.Select(_ => "---|")));
        foreach (var row in Rows(report))
            text.AppendLine("| " + string.Join(" | ", row.Select((c, i) => i == 1 && c.StartsWith("berth", StringComparison.Ordinal) ? $"**{c}**" : Escape(c))) + " |");
        return text.ToString();
    }
}
