using Berth.Testing;

namespace Berth.Bench.Tests;

public class BenchRunTests
{
    /// <summary>`bench/run --check runtime` (what CI runs): no peers, one sample, results written.</summary>
    [RootFact]
    public void CheckRunsTheRuntimeScenarioWithoutPeers()
    {
        using var output = new TempDir();
        var stdout = BusyboxRootfs.Run(Path.Combine(Repo.Root, "bench", "run"), "--no-build", "--check", "--out", output.Path, "runtime");
        Assert.Contains("runtime create→start→wait→delete", stdout);
        Assert.Contains("--check runs no peers", stdout);
        var report = Berth.Bench.BenchReport.FromJson(File.ReadAllText(output.Combine("latest.json")));
        Assert.Equal("check", report.Mode);
        Assert.Equal(["runtime", "runtime-rss"], report.Metrics.Select(m => m.Key));
        var berth = report.Metrics[0].Cells.Single(c => c.IsBerth);
        Assert.True(berth.State is Berth.Bench.CellState.Measured or Berth.Bench.CellState.NotBuilt, $"{berth.State}: {berth.Reason}");
        if (berth.State == Berth.Bench.CellState.Measured)
        {
            Assert.Single(berth.Samples);
            // The peak resident set of the runtime's own processes: a few MB (its data and heap), never zero.
            var rss = Assert.Single(report.Metrics[1].Cells.Single(c => c.IsBerth).Samples);
            Assert.InRange(rss, 1, 64);
        }
        Assert.True(File.Exists(output.Combine("latest.svg")));
    }
}
