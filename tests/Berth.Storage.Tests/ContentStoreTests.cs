using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Berth.Oci.Content;
using Berth.Testing;

namespace Berth.Storage.Tests;

public sealed class ContentStoreTests : IDisposable
{
    private readonly TempDir temp = new();
    private readonly IContentStore store;

    public ContentStoreTests() => store = new ContentStore(temp.Combine("content"));
    public void Dispose() => temp.Dispose();

    private static byte[] Bytes(int n, int seed = 1) { var b = new byte[n]; new Random(seed).NextBytes(b); return b; }

    [Fact]
    public async Task PutStoresUnderItsDigestAndReadsBack()
    {
        var data = Bytes(100_000);
        var digest = await store.PutAsync(new MemoryStream(data));
        Assert.Equal(Digest.Sha256(data), digest);
        Assert.True(File.Exists(Path.Combine(temp.Path, "content", "blobs", "sha256", digest.Hex)));
        Assert.True(store.Exists(digest));
        Assert.Equal(100_000, store.Info(digest)!.Size);
        using (var read = store.OpenRead(digest)) Assert.Equal(digest, Digest.Sha256(read));
        Assert.Contains(store.List(), i => i.Digest == digest);
        Assert.Empty(Directory.GetDirectories(Path.Combine(temp.Path, "content", "ingest")));
    }

    [Fact]
    public async Task Sha512IsAccepted()
    {
        var data = Bytes(1000);
        var expected = Digest.FromHash("sha512", SHA512.HashData(data));
        Assert.Equal(expected, await store.PutAsync(new MemoryStream(data), expected));
        Assert.True(store.Exists(expected));
    }

    [Fact]
    public void MissingContentIsAClearError()
    {
        var missing = Digest.Sha256("nothing"u8);
        var e = Assert.Throws<ContentNotFoundException>(() => store.OpenRead(missing));
        Assert.Contains(missing.ToString(), e.Message);
        Assert.Null(store.Info(missing));
    }

    [Fact]
    public async Task DigestMismatchStoresNothing()
    {
        var wrong = Digest.Sha256("other"u8);
        var e = await Assert.ThrowsAsync<ContentDigestMismatchException>(() => store.PutAsync(new MemoryStream(Bytes(5000)), wrong));
        Assert.Contains("digest mismatch", e.Message);
        Assert.Empty(store.List());
        Assert.Empty(Directory.GetDirectories(Path.Combine(temp.Path, "content", "ingest")));
    }

    [Fact]
    public async Task SizeMismatchStoresNothing()
    {
        var data = Bytes(5000);
        await Assert.ThrowsAsync<ContentSizeMismatchException>(() => store.PutAsync(new MemoryStream(data), Digest.Sha256(data), 4999));
        await Assert.ThrowsAsync<ContentSizeMismatchException>(() => store.PutAsync(new MemoryStream(data), Digest.Sha256(data), 5001));
        Assert.Empty(store.List());
    }

    [Fact]
    public void IngestResumesAtItsOffset()
    {
        var data = Bytes(300_000);
        var digest = Digest.Sha256(data);
        using (var first = store.OpenWriter("pull-x", digest, data.Length))
        {
            Assert.Equal(0, first.Offset);
            first.Stream.Write(data, 0, 120_000);
        } // dropped connection: disposed without commit
        using var second = store.OpenWriter("pull-x", digest, data.Length);
        Assert.Equal(120_000, second.Offset);
        second.Stream.Write(data, 120_000, data.Length - 120_000);
        Assert.Equal(digest, second.Commit());
        Assert.True(store.Exists(digest));
    }

    [Fact]
    public void OneLiveWriterPerReference()
    {
        using var first = store.OpenWriter("pull-y");
        Assert.Throws<ContentLockedException>(() => store.OpenWriter("pull-y"));
    }

    [Fact]
    public async Task CollectKeepsWhatIsReferencedOrBeingIngested()
    {
        var kept = await store.PutAsync(new MemoryStream(Bytes(10, 1)));
        var garbage = await store.PutAsync(new MemoryStream(Bytes(10, 2)));
        var ingesting = await store.PutAsync(new MemoryStream(Bytes(10, 3)));
        using var writer = store.OpenWriter("pull-z", ingesting);
        var dry = store.Collect(new HashSet<Digest> { kept }, dryRun: true);
        Assert.Equal([garbage], dry);
        Assert.True(store.Exists(garbage));
        Assert.Equal([garbage], store.Collect(new HashSet<Digest> { kept }));
        Assert.False(store.Exists(garbage));
        Assert.True(store.Exists(kept));
        Assert.True(store.Exists(ingesting));
    }

    [Fact]
    public async Task RepairRemovesWhatACrashLeft()
    {
        var good = await store.PutAsync(new MemoryStream(Bytes(4096)));
        // What a process killed mid-ingest leaves: an ingest directory with partial data and no writer.
        var half = Path.Combine(temp.Path, "content", "ingest", "deadbeef");
        Directory.CreateDirectory(half);
        File.WriteAllBytes(Path.Combine(half, "data"), Bytes(1000));
        File.WriteAllText(Path.Combine(half, "ref"), "pull-killed");
        // A torn blob (renamed before its data reached the disk) and a corrupted one.
        var torn = Digest.Sha256("torn"u8);
        File.WriteAllBytes(Path.Combine(temp.Path, "content", "blobs", "sha256", torn.Hex), []);
        var corrupt = Digest.Sha256("corrupt"u8);
        File.WriteAllBytes(Path.Combine(temp.Path, "content", "blobs", "sha256", corrupt.Hex), "not it"u8.ToArray());
        using var live = store.OpenWriter("pull-live");
        live.Stream.Write(Bytes(10));

        var check = store.Check(rehash: true);
        Assert.Equal(3, check.Problems.Count);
        Assert.True(Directory.Exists(half)); // Check only looks
        var repair = store.Repair(rehash: true);
        Assert.Equal(3, repair.Removed.Count);
        Assert.False(Directory.Exists(half));
        Assert.False(store.Exists(torn));
        Assert.False(store.Exists(corrupt));
        Assert.True(store.Exists(good));
        Assert.True(store.Check(rehash: true).IsClean);
        live.Stream.Write(Bytes(10, 2)); // the live ingest was left alone
        live.Commit();
    }

    [Fact]
    public void AWriterKilledWithSigkillIsDetectedAndRemoved()
    {
        // A process with no children (bash builtins only, so the lock dies with it) holds the ingest's data file locked as a live writer does (flock, what FileShare.None takes),
        // writes into it, and is killed with SIGKILL mid-write.
        var dir = Path.Combine(temp.Path, "content", "ingest", "killed");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "ref"), "pull-killed");
        var data = Path.Combine(dir, "data");
        var psi = new ProcessStartInfo("bash", ["-c", $"exec 3>>'{data}'; flock -x 3; printf '%4096s' x >&3; echo locked; while :; do printf '%65536s' x >&3; done"])
            { RedirectStandardOutput = true };
        using var writer = Process.Start(psi)!;
        try
        {
            Assert.Equal("locked", writer.StandardOutput.ReadLine());
            Assert.True(store.Check().IsClean, "a live writer in another process is not a problem");
            writer.Kill(); // SIGKILL
            writer.WaitForExit();
            Assert.True(new FileInfo(data).Length > 0);
            var repair = store.Repair();
            Assert.Single(repair.Removed);
            Assert.False(Directory.Exists(dir));
            Assert.True(store.Check().IsClean);
            using var next = store.OpenWriter("pull-killed");
            Assert.Equal(0, next.Offset);
            next.Stream.Write(Encoding.UTF8.GetBytes("fresh"));
            Assert.Equal(Digest.Sha256("fresh"u8), next.Commit());
        }
        finally
        {
            if (!writer.HasExited) writer.Kill();
        }
    }
}
