using System.Xml.Linq;
using Berth.Bench;

namespace Berth.Bench.Tests;

/// <summary>Second ways of running Berth in one scenario (the docker CLI against berthd, Berth against
/// distribution), what "not built yet" says, and the machine's load beside the numbers.</summary>
public class VariantAndLoadTests
{
    private static MetricResult RunRm()
    {
        var metric = new MetricResult
        {
            Key = "run-rm", Title = "run --rm true", Unit = "ms", Goal = Goal.FractionOf("docker", 10),
            Cells =
            [
                new Cell { System = "berth", IsBerth = true, Samples = [50, 60, 70] },
                new Cell { System = "berth (docker CLI)", IsBerth = true, Samples = [100, 120] },
                new Cell { System = "docker", Samples = [1000, 1200, 1100] },
                new Cell { System = "podman", Samples = [500] },
            ],
        };
        metric.Complete();
        return metric;
    }

    [Fact]
    public void EveryBerthCellGetsRatiosButOnlyTheMainColumnJudgesTheGoal()
    {
        var metric = RunRm();
        Assert.Equal([("docker", null), ("podman", null), ("docker", "berth (docker CLI)"), ("podman", "berth (docker CLI)")],
            metric.Ratios.Select(r => (r.Peer, r.Of)));
        Assert.Equal([60.0 / 1100, 60.0 / 500, 110.0 / 1100, 110.0 / 500], metric.Ratios.Select(r => r.Value));
        Assert.Equal(60.0 / 1100, metric.RatioTo("docker")!.Value, 9);
        Assert.Equal("berth", metric.Berth!.System);
        Assert.True(metric.GoalMet); // 60 ≤ 1100 / 10, judged by the berth CLI's column
    }

    [Fact]
    public void AVariantRowShowsItsOwnRatiosAndPeerRowsShowTheMainColumns()
    {
        var report = new BenchReport { Machine = new Machine(2, 23.5, "6.18", "Debian"), Metrics = [RunRm()] };
        var rows = ReportTable.Rows(report);
        Assert.Equal(["run --rm true (ms)", "berth", "60.0 ms", "50.0–70.0 ms (min–max)", "", "≤ 1/10 of docker ✔ met"], rows[0]);
        Assert.Equal(["", "berth (docker CLI)", "110 ms", "100–120 ms (min–max)", "0.10× docker, 0.22× podman", ""], rows[1]);
        Assert.Equal("0.05×", rows[2][4]);
        Assert.Equal("0.12×", rows[3][4]);
        Assert.Contains("| **berth (docker CLI)** | 110 ms |", ReportTable.Markdown(report));
    }

    [Fact]
    public void AVariantThatCannotRunInheritsTheMainColumnsReasonAndHasNoRatio()
    {
        var metric = new MetricResult
        {
            Key = "push", Title = "push", Unit = "ms",
            Cells = [Cell.NotBuilt("berth"), Cell.NotBuilt("berth → distribution"), new Cell { System = "docker", Samples = [4000] }],
        };
        metric.Complete();
        Assert.Empty(metric.Ratios);
        var rows = ReportTable.Rows(new BenchReport { Machine = new Machine(2, 1, "k", "os"), Metrics = [metric] });
        Assert.Equal("n/a: not built yet", rows[1][2]);
        Assert.Equal("", rows[1][4]);
    }

    [Fact]
    public void SvgLabelsPeersWithTheMainRatioAndColoursVariantsLighter()
    {
        var report = new BenchReport { Machine = new Machine(2, 23.5, "6.18", "Debian"), Metrics = [RunRm()] };
        var svg = XDocument.Parse(SvgChart.Render(report));
        XNamespace ns = "http://www.w3.org/2000/svg";
        var texts = svg.Descendants(ns + "text").Select(t => t.Value).ToList();
        Assert.Contains("1.10 s  (Berth ÷ docker = 0.05×)", texts);
        Assert.Contains("110 ms", texts); // the variant's bar: its value, no "Berth ÷ berth" label
        var fills = svg.Descendants(ns + "rect").Where(r => r.Element(ns + "title") is not null)
            .ToDictionary(r => r.Element(ns + "title")!.Value.Split(':')[0], r => (string?)r.Attribute("fill"));
        Assert.Equal("#1f77b4", fills["berth"]);
        Assert.Equal("#6baed6", fills["berth (docker CLI)"]);
    }

    [Theory]
    [InlineData("berth: Error response from daemon: networks is not implemented yet", "networks is not implemented yet")]
    [InlineData("Error response from daemon: build is not implemented yet (network room)", "build is not implemented yet")]
    [InlineData("berth: unknown command: berth network\n\nRun 'berth --help'", "no `berth network` command")]
    public void MissingFeaturesAreNotBuiltWithWhatTheySaid(string stderr, string detail)
    {
        var failure = Shell.Failure(["/bin/berth", "network", "create"], new CommandResult(1, "", stderr, 3));
        var notBuilt = Assert.IsType<NotBuiltException>(failure);
        Assert.Equal(detail, notBuilt.Detail);
        var cell = new Cell { System = "berth", IsBerth = true, State = CellState.NotBuilt, Reason = notBuilt.Detail };
        Assert.Equal($"n/a: not built yet ({detail})", Format.Median(cell, "ms"));
    }

    [Fact]
    public void AnOrdinaryFailureIsNotMistakenForAMissingFeature()
    {
        var failure = Shell.Failure(["/bin/berth", "run"], new CommandResult(125, "", "berth: Error response from daemon: No such image: x", 3));
        Assert.IsNotType<NotBuiltException>(failure);
        Assert.Contains("No such image: x", failure.Message);
    }

    [Fact]
    public void LoadIsSummarisedInOrderAndJudgedAgainstTheCores()
    {
        var load = LoadSummary.Of([0.5, 3.0, 9.0, 4.5]);
        Assert.Equal(new LoadSummary(0.5, 4.25, 9.0, 4.5, 4), load);
        Assert.Equal("load average 4.3 mean, 9.0 max, on 2 cores: busy (other work competed for the cores)", load.Describe(2));
        Assert.EndsWith(": idle", LoadSummary.Of([0.2, 0.9]).Describe(2));
        Assert.EndsWith(": loaded", LoadSummary.Of([2.0, 2.4]).Describe(2));
        Assert.Throws<ArgumentException>(() => LoadSummary.Of([]));
    }

    [Fact]
    public void TheHeadingNamesDateMachineAndLoadAndTheJsonKeepsTheLoad()
    {
        var report = ReportTests.Sample();
        report.Load = LoadSummary.Of([1.0, 5.0]);
        var heading = ReportTable.Heading(report);
        Assert.StartsWith("Measured 2026-11-30 14:00 UTC (quick run) on 2 cores, 23.5 GiB", heading);
        Assert.Contains("load average 3.0 mean, 5.0 max, on 2 cores: busy", heading);
        Assert.Equal(report.Load, BenchReport.FromJson(report.ToJson()).Load);
        Assert.Contains("load average 3.0 mean", SvgChart.Render(report));
    }
}
