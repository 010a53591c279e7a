using System.Diagnostics;
using Berth.Oci.Content;
using Berth.Testing;

namespace Berth.Storage.Tests;

public sealed class CrashSafetyTests
{
    [RootFact]
    public void AProcessKilledMidUnpackLeavesAStoreThatRepairs()
    {
        using var temp = new TempDir();
        var dataRoot = temp.Combine("data");
        var big = new byte[32 << 20];
        new Random(7).NextBytes(big);
        var tar = new LayerTar().Dir("d").File("d/small", "s").File("d/big", big).Bytes();

        var helper = Path.Combine(AppContext.BaseDirectory, "Berth.Storage.CrashHelper.dll");
        var psi = new ProcessStartInfo("dotnet", [helper, dataRoot, "overlay2"]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using (var process = Process.Start(psi)!)
        {
            try
            {
                var stdin = process.StandardInput.BaseStream;
                stdin.Write(tar, 0, tar.Length / 2); // half the layer, then the writer stalls
                stdin.Flush();
                var snapshots = Path.Combine(dataRoot, "overlay2", "snapshots");
                var deadline = Stopwatch.StartNew();
                while (!Directory.Exists(snapshots) || !Directory.EnumerateFiles(snapshots, "big", SearchOption.AllDirectories).Any(f => new FileInfo(f).Length > 0))
                {
                    Assert.False(process.HasExited, "the helper died early: " + process.StandardError.ReadToEnd());
                    Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(60), "the unpack never started");
                    Thread.Sleep(20);
                }
                process.Kill(); // SIGKILL, mid-unpack
                process.WaitForExit();
            }
            finally { if (!process.HasExited) process.Kill(); }
        }

        var store = StorageRoot.Open(dataRoot, "overlay2");
        var check = store.Layers.Check();
        Assert.False(check.IsClean);
        Assert.Contains(check.Problems, p => p.Contains("interrupted unpack"));
        Assert.Contains(check.Problems, p => p.Contains("unfinished layer"));
        var repair = store.Repair();
        Assert.NotEmpty(repair.Removed);
        Assert.True(store.Layers.Check().IsClean, string.Join("; ", store.Layers.Check().Problems));
        Assert.Empty(store.Snapshots.Walk());
        Assert.Empty(Directory.GetDirectories(Path.Combine(dataRoot, "overlay2", "snapshots")));

        var layer = store.Layers.Register(new MemoryStream(tar), Compression.None, null);
        Assert.Equal(Digest.Sha256(tar), layer.DiffId);
        Assert.Single(store.Layers.List());
    }

    [RootFact]
    public void HalfCommittedLayersAreRemoved()
    {
        using var store = new TestStore("overlay2");
        var good = store.Register(new LayerTar().File("ok", "1").Bytes());
        var s = store.Root.Snapshots;
        // killed between committing the snapshot and publishing the layer record
        s.Prepare("extract-dead", null);
        var orphanChain = Digest.Sha256("orphan"u8).ToString();
        s.Commit(orphanChain, "extract-dead");
        // a layer record whose snapshot is gone
        var lost = Digest.Sha256("lost"u8);
        Directory.CreateDirectory(store.Temp.Combine("data", "layers", "sha256", lost.Hex));
        File.WriteAllText(store.Temp.Combine("data", "layers", "sha256", lost.Hex, "diff"), lost.ToString());
        File.WriteAllText(store.Temp.Combine("data", "layers", "sha256", lost.Hex, "size"), "0");
        // snapshot storage with no record, and a dangling l/ link
        Directory.CreateDirectory(store.Temp.Combine("data", "overlay2", "snapshots", "0123456789abcdef"));
        File.CreateSymbolicLink(store.Temp.Combine("data", "overlay2", "l", "DANGLING"), "../snapshots/none/diff");

        var check = store.Layers.Check();
        Assert.Equal(4, check.Problems.Count);
        var reopened = StorageRoot.Open(store.Temp.Combine("data"), "overlay2");
        var repair = reopened.Repair();
        Assert.Equal(4, repair.Removed.Count);
        Assert.True(reopened.Layers.Check().IsClean);
        Assert.Equal([good], reopened.Layers.List());
        Assert.Null(s.Stat(orphanChain));
        using var diff = reopened.Layers.OpenDiff(good.ChainId);
        Assert.Equal(good.DiffId, Digest.Sha256(diff));
    }
}
