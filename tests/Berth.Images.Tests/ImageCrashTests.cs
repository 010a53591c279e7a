using System.Diagnostics;
using System.Formats.Tar;
using Berth.Oci.Content;
using Berth.Storage;
using Berth.Testing;

namespace Berth.Images.Tests;

/// <summary>
/// Crash safety of the image store: a process SIGKILLed in the middle of an import, a blob ingest, or between a
/// layer and its image leaves a store that opens, shows no partial blob or image, and whose consistency pass and
/// garbage collection remove every leftover.
/// </summary>
public sealed class ImageCrashTests
{
    private static byte[] RootfsTar(int bigBytes)
    {
        var big = new byte[bigBytes];
        new Random(11).NextBytes(big);
        using var buffer = new MemoryStream();
        using (var tar = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "etc/") { Mode = (UnixFileMode)0b111_101_101 });
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "etc/hostname") { DataStream = new MemoryStream("crash\n"u8.ToArray()) });
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "big") { DataStream = new MemoryStream(big) });
        }
        return buffer.ToArray();
    }

    private sealed class Helper : IDisposable
    {
        public Process Process { get; }

        public Helper(params string[] args)
        {
            var dll = Path.Combine(AppContext.BaseDirectory, "Berth.Storage.CrashHelper.dll");
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add(dll);
            foreach (var a in args) psi.ArgumentList.Add(a);
            Process = Process.Start(psi)!;
        }

        public void Feed(byte[] data, int count)
        {
            Process.StandardInput.BaseStream.Write(data, 0, count);
            Process.StandardInput.BaseStream.Flush();
        }

        /// <summary>Waits (bounded) until <paramref name="underWay"/> says the work started, then SIGKILLs.</summary>
        public void KillWhen(Func<bool> underWay)
        {
            var clock = Stopwatch.StartNew();
            while (!underWay())
            {
                Assert.False(Process.HasExited, "the helper ended early: " + Process.StandardError.ReadToEnd());
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "the work never started");
                Thread.Sleep(20);
            }
            Process.Kill();
            Process.WaitForExit();
        }

        public void Dispose()
        {
            if (!Process.HasExited) { Process.Kill(); Process.WaitForExit(); }
            Process.Dispose();
        }
    }

    private static bool AnyFileLargerThan(string dir, long size)
        => Directory.Exists(dir) && Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Any(f => new FileInfo(f).Length > size);

    /// <summary>After the crash: the store opens, shows no image, and its passes leave nothing behind.</summary>
    private static void AssertRecovers(string dataRoot, string driver)
    {
        var storage = StorageRoot.Open(dataRoot, driver);
        var images = ImageStore.Open(Path.Combine(dataRoot, "images"), storage);
        Assert.Empty(images.Ids);
        Assert.False(images.TryResolve("crash:latest", out _));
        foreach (var blob in storage.Content.List()) // whatever is visible is whole
        {
            using var stream = storage.Content.OpenRead(blob.Digest);
            Assert.Equal(blob.Digest, Digest.Sha256(stream));
        }
        storage.Repair();
        Assert.Empty(images.Repair());
        images.RemoveUnusedLayers();
        images.CollectContent();
        Assert.True(storage.Content.Check(rehash: true).IsClean);
        Assert.True(storage.Layers.Check().IsClean, string.Join("; ", storage.Layers.Check().Problems));
        Assert.Empty(storage.Layers.List());
        Assert.Empty(storage.Content.List());
        Assert.Empty(storage.Snapshots.Walk());
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(dataRoot, "content", "ingest")));

        // And it still works: the same import now completes.
        var id = new ImageCreation(images).Import(new MemoryStream(RootfsTar(1 << 20)), new ImportOptions { Reference = "crash:latest" });
        Assert.True(images.TryResolve("crash:latest", out var resolved));
        Assert.Equal(id, resolved);
    }

    [RootFact]
    public void KilledMidImport()
    {
        using var temp = new TempDir();
        var dataRoot = temp.Combine("data");
        var tar = RootfsTar(32 << 20);
        using (var helper = new Helper("import", dataRoot, "vfs"))
        {
            helper.Feed(tar, tar.Length / 2); // half the tarball, then the writer stalls
            helper.KillWhen(() => AnyFileLargerThan(Path.Combine(dataRoot, "vfs"), 1 << 20));
        }
        Assert.False(StorageRoot.Open(dataRoot, "vfs").Layers.Check().IsClean); // the half unpack is seen…
        AssertRecovers(dataRoot, "vfs"); // …and removed
    }

    [RootFact]
    public void KilledMidIngestShowsNoPartialBlob()
    {
        using var temp = new TempDir();
        var dataRoot = temp.Combine("data");
        var data = RootfsTar(8 << 20);
        using (var helper = new Helper("ingest", dataRoot, "vfs"))
        {
            helper.Feed(data, data.Length / 2);
            helper.KillWhen(() => AnyFileLargerThan(Path.Combine(dataRoot, "content", "ingest"), 1 << 20));
        }
        var storage = StorageRoot.Open(dataRoot, "vfs");
        Assert.Empty(storage.Content.List());
        Assert.False(storage.Content.Exists(Digest.Sha256(data)));
        Assert.Contains(storage.Content.Check().Problems, p => p.Contains("abandoned ingest"));
        AssertRecovers(dataRoot, "vfs");
    }

    [RootFact]
    public void KilledBetweenTheLayerAndTheImage()
    {
        using var temp = new TempDir();
        var dataRoot = temp.Combine("data");
        var tar = RootfsTar(1 << 20);
        using (var helper = new Helper("half-commit", dataRoot, "vfs"))
        {
            helper.Feed(tar, tar.Length);
            helper.Process.StandardInput.Close();
            var ready = helper.Process.StandardOutput.ReadLineAsync();
            Assert.True(ready.Wait(60_000), "the helper never got there: " + (helper.Process.HasExited ? helper.Process.StandardError.ReadToEnd() : ""));
            Assert.StartsWith("ready", ready.Result);
            helper.KillWhen(() => true);
        }
        var storage = StorageRoot.Open(dataRoot, "vfs");
        Assert.Single(storage.Layers.List()); // consistent but unreferenced: only GC can tell
        Assert.Single(storage.Content.List());
        AssertRecovers(dataRoot, "vfs");
    }
}
