using System.Xml.Linq;
using Berth.Bench;

namespace Berth.Bench.Tests;

public class ReportTests
{
    /// <summary>A report with each kind of cell: measured, not built, unavailable, failed.</summary>
    internal static BenchReport Sample()
    {
        var runtime = new MetricResult
        {
            Key = "runtime", Title = "runtime create→start→wait→delete", Unit = "ms", Goal = Goal.FractionOf("runc", 3),
            Cells =
            [
                new Cell { System = "berth-runtime", IsBerth = true, Samples = [9, 10, 11, 10] },
                new Cell { System = "runc", Samples = [30, 31, 32, 29, 33] },
                Cell.Unavailable("crun", "crun 1.8 refuses cgroup hybrid mode"),
            ],
        };
        var runRm = new MetricResult
        {
            Key = "run-rm", Title = "run --rm true", Unit = "ms", Goal = Goal.FractionOf("docker", 10),
            Cells = [Cell.NotBuilt("berth"), new Cell { System = "docker", Samples = [250, 260] }, new Cell { System = "podman", State = CellState.Failed, Reason = "oops" }],
        };
        var throughput = new MetricResult
        {
            Key = "port-throughput", Title = "throughput", Unit = "MB/s", HigherIsBetter = true, Goal = Goal.AtLeastAs("docker"),
            Cells = [new Cell { System = "berth", IsBerth = true, Samples = [900] }, new Cell { System = "docker", Samples = [600] }],
        };
        foreach (var m in new[] { runtime, runRm, throughput }) m.Complete();
        return new BenchReport
        {
            Date = new DateTimeOffset(2026, 11, 30, 14, 0, 0, TimeSpan.Zero), Mode = "quick",
            Machine = new Machine(2, 23.5, "6.18.44", "Debian GNU/Linux 12 (bookworm)"),
            Systems = [new SystemInfo("runc", "available", "1.1.5")],
            Metrics = [runtime, runRm, throughput],
        };
    }

    [Fact]
    public void RatiosAreBerthsMedianOverEachMeasuredPeer()
    {
        var runtime = Sample().Metrics[0];
        var ratio = Assert.Single(runtime.Ratios);
        Assert.Equal("runc", ratio.Peer);
        Assert.Equal(10.0 / 31.0, ratio.Value, 9);
        Assert.True(runtime.GoalMet); // 10 ≤ 31 / 3
    }

    [Fact]
    public void NoRatioAndNoVerdictWhileBerthIsNotBuilt()
    {
        var runRm = Sample().Metrics[1];
        Assert.Empty(runRm.Ratios);
        Assert.Null(runRm.GoalMet);
        Assert.Equal(CellState.NotBuilt, runRm.Cells[0].State);
    }

    [Fact]
    public void HigherIsBetterGoalsCompareTheOtherWay()
    {
        var throughput = Sample().Metrics[2];
        Assert.True(throughput.GoalMet);
        Assert.Equal(1.5, Assert.Single(throughput.Ratios).Value, 9);
    }

    [Fact]
    public void TableShowsMediansRatiosAndWhyACellIsEmpty()
    {
        var rows = ReportTable.Rows(Sample());
        Assert.Equal(["runtime create→start→wait→delete (ms)", "berth-runtime", "10.0 ms", "9.75–10.3 ms", "", "≤ 1/3 of runc ✔ met"], rows[0]);
        Assert.Equal(["", "runc", "31.0 ms", "30.0–32.0 ms", "0.32×", ""], rows[1]);
        Assert.Equal("unavailable: crun 1.8 refuses cgroup hybrid mode", rows[2][2]);
        Assert.Equal(["run --rm true (ms)", "berth", "n/a: not built yet", "", "", "≤ 1/10 of docker"], rows[3]);
        Assert.Equal("255 ms", rows[4][2]);
        Assert.Equal("250–260 ms (min–max)", rows[4][3]);
        Assert.Equal("failed: oops", rows[5][2]);
        Assert.Equal("throughput (MB/s, higher is better)", rows[6][0]);
        Assert.Equal("1.5×", rows[7][4]);
    }

    [Fact]
    public void TextTableAlignsColumnsAndMarkdownBoldsBerth()
    {
        var text = ReportTable.Text(Sample()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var systemColumn = text[0].IndexOf("System", StringComparison.Ordinal);
        Assert.All(text.Skip(2), line => Assert.NotEqual(' ', line.Length > systemColumn ? line[systemColumn] : 'x'));
        var markdown = ReportTable.Markdown(Sample());
        Assert.Contains("| **berth-runtime** | 10.0 ms |", markdown);
        Assert.Contains("|  | runc | 31.0 ms |", markdown);
        Assert.Equal(ReportTable.Rows(Sample()).Count + 2, markdown.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public void JsonRoundTripKeepsEverything()
    {
        var report = Sample();
        var json = report.ToJson();
        Assert.Contains("\"≤ 1/3 of runc\"", json);
        Assert.Contains("\"state\": \"NotBuilt\"", json);
        var back = BenchReport.FromJson(json);
        Assert.Equal(report.Date, back.Date);
        Assert.Equal(report.Machine, back.Machine);
        Assert.Equal(report.Systems, back.Systems);
        Assert.Equal(report.Metrics.Count, back.Metrics.Count);
        for (var m = 0; m < report.Metrics.Count; m++)
        {
            Assert.Equal(report.Metrics[m].Goal, back.Metrics[m].Goal);
            Assert.Equal(report.Metrics[m].Ratios, back.Metrics[m].Ratios);
            Assert.Equal(report.Metrics[m].GoalMet, back.Metrics[m].GoalMet);
            Assert.Equal(report.Metrics[m].Cells.Select(c => (c.System, c.IsBerth, c.State, c.Reason, c.Summary)),
                back.Metrics[m].Cells.Select(c => (c.System, c.IsBerth, c.State, c.Reason, c.Summary)));
            Assert.Equal(report.Metrics[m].Cells.SelectMany(c => c.Samples), back.Metrics[m].Cells.SelectMany(c => c.Samples));
        }
        Assert.Equal(ReportTable.Text(report), ReportTable.Text(back));
    }

    [Fact]
    public void SvgIsWellFormedWithOneBarGroupPerMetric()
    {
        var report = Sample();
        report.Metrics[0].Cells[2].Reason = "a <reason> & more"; // must be escaped
        var svg = XDocument.Parse(SvgChart.Render(report));
        XNamespace ns = "http://www.w3.org/2000/svg";
        var groups = svg.Descendants(ns + "g").Where(g => (string?)g.Attribute("class") == "scenario").ToList();
        Assert.Equal(report.Metrics.Select(m => m.Key), groups.Select(g => (string?)g.Attribute("data-metric")));
        // Bars for measured cells only; the others are named in words.
        Assert.Equal(2, groups[0].Elements(ns + "rect").Count());
        Assert.Contains(groups[0].Elements(ns + "text"), t => t.Value == "unavailable: a <reason> & more");
        Assert.Contains(groups[1].Elements(ns + "text"), t => t.Value == "n/a: not built yet");
        // Each group is scaled to its own largest median.
        var widths = groups[0].Elements(ns + "rect").Select(r => double.Parse((string)r.Attribute("width")!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        // Each group is scaled to its longest bar or whisker: runc's p75 of 32 here.
        Assert.Equal(520 * 31.0 / 32.0, widths.Max(), 1);
        Assert.Equal(520 * 10.0 / 32.0, widths.Min(), 0);
        Assert.Equal(2, groups[0].Elements(ns + "path").Count()); // a whisker for each measured cell with several samples
    }
}
