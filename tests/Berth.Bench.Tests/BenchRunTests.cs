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
        var berth = Assert.Single(report.Metrics).Cells.Single(c => c.IsBerth);
        Assert.True(berth.State is Berth.Bench.CellState.Measured or Berth.Bench.CellState.NotBuilt, $"{berth.State}: {berth.Reason}");
        if (berth.State == Berth.Bench.CellState.Measured) Assert.Single(berth.Samples);
        Assert.True(File.Exists(output.Combine("latest.svg")));
    }
}
