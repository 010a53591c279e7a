using System.Globalization;
using System.Security;
using System.Text;

namespace Berth.Bench;

/// <summary>
/// A horizontal bar chart: one group per metric, one bar per system. Each group is scaled to its own
/// largest median (metrics have different units), and every bar is labelled with its value, so the
/// lengths compare systems within a scenario and the labels give the absolute numbers.
/// </summary>
public static class SvgChart
{
    private const int Width = 900, LabelWidth = 150, BarArea = 520, BarHeight = 16, BarGap = 4, GroupGap = 18, TitleHeight = 20;

    private static readonly Dictionary<string, string> Colours = new()
    {
        ["berth"] = "#1f77b4", ["berth-runtime"] = "#1f77b4", ["berth-registry"] = "#1f77b4",
        ["runc"] = "#ff7f0e", ["crun"] = "#bcbd22", ["docker"] = "#2ca02c", ["podman"] = "#9467bd", ["distribution"] = "#8c564b",
    };

    public static string Render(BenchReport report)
    {
        var body = new StringBuilder();
        var y = 64;
        foreach (var metric in report.Metrics)
        {
            var cells = metric.Cells.OrderByDescending(c => c.IsBerth).ToList();
            // The scale reaches the longest bar or whisker, so nothing runs past the chart.
            var largest = cells.Where(c => c.Summary is not null).Select(c => Math.Max(c.Summary!.Median, SpreadOf(c.Summary).High)).DefaultIfEmpty(0).Max();
            body.Append(CultureInfo.InvariantCulture, $"<g class=\"scenario\" data-metric=\"{Escape(metric.Key)}\">");
            var title = $"{metric.Title} ({metric.Unit}, {(metric.HigherIsBetter ? "higher" : "lower")} is better)";
            if (metric.Goal is not null) title += $" — goal: {metric.Goal.Text}";
            body.Append(CultureInfo.InvariantCulture, $"<text x=\"10\" y=\"{y + 14}\" class=\"title\">{Escape(title)}</text>");
            y += TitleHeight + 2;
            foreach (var cell in cells)
            {
                body.Append(CultureInfo.InvariantCulture, $"<text x=\"{LabelWidth - 8}\" y=\"{y + 12}\" class=\"system\">{Escape(cell.System)}</text>");
                if (cell.Summary is { } s && largest > 0)
                {
                    var length = Math.Max(1, s.Median / largest * BarArea);
                    var colour = Colours.GetValueOrDefault(cell.System, cell.IsBerth ? "#6baed6" : "#7f7f7f");
                    body.Append(CultureInfo.InvariantCulture,
                        $"<rect x=\"{LabelWidth}\" y=\"{y}\" width=\"{length:0.#}\" height=\"{BarHeight}\" fill=\"{colour}\"><title>{Escape(cell.System)}: {Escape(Format.Value(s.Median, metric.Unit))}</title></rect>");
                    if (s.Count > 1)
                    {
                        // The spread as a whisker: p25–p75, or min–max below four samples (as the table).
                        var (low, high) = SpreadOf(s);
                        var x1 = LabelWidth + low / largest * BarArea;
                        var x2 = LabelWidth + high / largest * BarArea;
                        var middle = y + BarHeight / 2.0;
                        body.Append(CultureInfo.InvariantCulture,
                            $"<path class=\"spread\" d=\"M{x1:0.#},{middle:0.#}H{x2:0.#}M{x1:0.#},{middle - 4:0.#}V{middle + 4:0.#}M{x2:0.#},{middle - 4:0.#}V{middle + 4:0.#}\"/>");
                        length = Math.Max(length, x2 - LabelWidth);
                    }
                    var label = Format.Value(s.Median, metric.Unit);
                    var ratio = cell.IsBerth ? null : metric.RatioTo(cell.System);
                    if (ratio is not null) label += $"  (Berth ÷ {cell.System} = {Format.Ratio(ratio.Value)})";
                    body.Append(CultureInfo.InvariantCulture, $"<text x=\"{LabelWidth + length + 6:0.#}\" y=\"{y + 12}\" class=\"value\">{Escape(label)}</text>");
                }
                else
                {
                    body.Append(CultureInfo.InvariantCulture, $"<text x=\"{LabelWidth}\" y=\"{y + 12}\" class=\"missing\">{Escape(Shell.Shorten(Format.Median(cell, metric.Unit), 110))}</text>");
                }
                y += BarHeight + BarGap;
            }
            body.Append("</g>");
            y += GroupGap;
        }

        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{y}\" viewBox=\"0 0 {Width} {y}\" font-family=\"sans-serif\" font-size=\"12\">");
        svg.Append("<style>.title{font-weight:bold}.system{text-anchor:end}.value{fill:#222}.missing{fill:#888;font-style:italic}.spread{stroke:#222;stroke-width:1.2;fill:none}</style>");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width=\"{Width}\" height=\"{y}\" fill=\"white\"/>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">Berth vs Docker, Podman, runc — median per scenario, bars scaled per scenario</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"10\" y=\"40\" fill=\"#555\">{Escape($"{report.Date:yyyy-MM-dd HH:mm} UTC · {report.Mode} run · {report.Machine}")}</text>");
        if (report.Load is { } load)
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"10\" y=\"54\" fill=\"#555\">{Escape(load.Describe(report.Machine.Cores))}</text>");
        svg.Append(body);
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static (double Low, double High) SpreadOf(Summary s) => s.Count >= 4 ? (s.P25, s.P75) : (s.Min, s.Max);

    private static string Escape(string text) => SecurityElement.Escape(text) ?? "";
}
