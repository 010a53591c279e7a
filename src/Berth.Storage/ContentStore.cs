using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Berth.Linux;
using Berth.Oci.Content;
using Microsoft.Win32.SafeHandles;

namespace Berth.Storage;

/// <summary>
/// Blobs at blobs/&lt;alg&gt;/&lt;hex&gt;; each ingest in ingest/&lt;sha256(ref)&gt;/ with files "ref" (the reference),
/// "expected" (the digest it should become, so GC keeps that blob) and "data" (the partial bytes). A live writer
/// holds an exclusive flock on "data" (FileShare.None), so a consistency pass can tell an abandoned ingest (its
/// process died) from one in progress, in this process or another.
/// </summary>
internal sealed class ContentStore : IContentStore
{
    private readonly string blobs, ingest;
    private readonly ConcurrentDictionary<string, ContentWriter> live = new(StringComparer.Ordinal);

    public string Root { get; }

    public ContentStore(string root)
    {
        Root = root;
        blobs = Path.Combine(root, "blobs");
        ingest = Path.Combine(root, "ingest");
        Directory.CreateDirectory(Path.Combine(blobs, "sha256"));
        Directory.CreateDirectory(ingest);
    }

    internal string BlobPath(Digest digest) => Path.Combine(blobs, digest.Algorithm, digest.Hex);

    public bool Exists(Digest digest) => File.Exists(BlobPath(digest));

    public ContentInfo? Info(Digest digest)
    {
        var file = new FileInfo(BlobPath(digest));
        return file.Exists ? new ContentInfo(digest, file.Length, file.LastWriteTimeUtc) : null;
    }

    public Stream OpenRead(Digest digest)
    {
        try { return new FileStream(BlobPath(digest), FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan); }
        catch (FileNotFoundException) { throw new ContentNotFoundException(digest); }
        catch (DirectoryNotFoundException) { throw new ContentNotFoundException(digest); }
    }

    public IContentWriter OpenWriter(string reference, Digest? expected = null, long? expectedSize = null)
    {
        if (string.IsNullOrEmpty(reference)) throw new ArgumentException("an ingest needs a reference", nameof(reference));
        var dir = Path.Combine(ingest, IngestName(reference));
        if (!live.TryAdd(reference, null!)) throw new ContentLockedException(reference);
        try
        {
            Directory.CreateDirectory(dir);
            FileStream data;
            try { data = new FileStream(Path.Combine(dir, "data"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1); }
            catch (IOException e) when (e is not FileNotFoundException) { throw new ContentLockedException(reference); }
            File.WriteAllText(Path.Combine(dir, "ref"), reference);
            if (expected is { } d) File.WriteAllText(Path.Combine(dir, "expected"), d.ToString());
            var writer = new ContentWriter(this, reference, dir, data, expected, expectedSize);
            live[reference] = writer;
            return writer;
        }
        catch
        {
            live.TryRemove(reference, out _);
            throw;
        }
    }

    public async Task<Digest> PutAsync(Stream data, Digest? expected = null, long? expectedSize = null, CancellationToken ct = default)
    {
        if (expected is { } d && Exists(d))
            return d;
        using var writer = (ContentWriter)OpenWriter("put-" + Guid.NewGuid().ToString("N"), expected, expectedSize);
        try
        {
            await data.CopyToAsync(writer.Stream, 1 << 20, ct).ConfigureAwait(false);
            return writer.Commit(expected, expectedSize);
        }
        catch
        {
            writer.Abort();
            throw;
        }
    }

    public IEnumerable<ContentInfo> List()
    {
        foreach (var algorithmDir in Directory.EnumerateDirectories(blobs))
        {
            var algorithm = Path.GetFileName(algorithmDir);
            foreach (var file in new DirectoryInfo(algorithmDir).EnumerateFiles())
                if (Digest.TryParse($"{algorithm}:{file.Name}", out var digest))
                    yield return new ContentInfo(digest, file.Length, file.LastWriteTimeUtc);
        }
    }

    public void Delete(Digest digest)
    {
        try { File.Delete(BlobPath(digest)); }
        catch (DirectoryNotFoundException) { }
    }

    public IReadOnlyList<Digest> Collect(IReadOnlySet<Digest> keep, bool dryRun = false)
    {
        var held = new HashSet<Digest>();
        foreach (var dir in Directory.EnumerateDirectories(ingest))
            if (Digest.TryParse(ReadOrNull(Path.Combine(dir, "expected")), out var d)) held.Add(d);
        var removed = new List<Digest>();
        foreach (var info in List())
        {
            if (keep.Contains(info.Digest) || held.Contains(info.Digest)) continue;
            if (!dryRun) Delete(info.Digest);
            removed.Add(info.Digest);
        }
        return removed;
    }

    public ConsistencyReport Check(bool rehash = false) => Pass(rehash, repair: false);
    public ConsistencyReport Repair(bool rehash = false) => Pass(rehash, repair: true);

    private ConsistencyReport Pass(bool rehash, bool repair)
    {
        var problems = new List<string>();
        var removed = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories(ingest))
        {
            var reference = ReadOrNull(Path.Combine(dir, "ref"));
            if (reference is not null && live.ContainsKey(reference)) continue;
            if (IsLockedByAnotherProcess(Path.Combine(dir, "data"))) continue;
            problems.Add($"abandoned ingest {reference ?? Path.GetFileName(dir)}");
            if (repair) { Directory.Delete(dir, recursive: true); removed.Add(dir); }
        }
        foreach (var algorithmDir in Directory.EnumerateDirectories(blobs))
        {
            var algorithm = Path.GetFileName(algorithmDir);
            foreach (var file in new DirectoryInfo(algorithmDir).EnumerateFiles())
            {
                string? problem = null;
                if (!Digest.TryParse($"{algorithm}:{file.Name}", out var digest))
                    problem = $"stray file {file.FullName}";
                else if (file.Length == 0 && digest != EmptySha256 && digest.Algorithm == "sha256")
                    problem = $"blob {digest} is empty (torn write)";
                else if (rehash)
                {
                    using var stream = file.OpenRead();
                    using var hasher = digest.CreateHasher();
                    HashingStream.AppendAll(hasher, stream);
                    var actual = Digest.FromHash(digest.Algorithm, hasher.GetHashAndReset());
                    if (actual != digest) problem = $"blob {digest} has content {actual}";
                }
                if (problem is null) continue;
                problems.Add(problem);
                if (repair) { file.Delete(); removed.Add(file.FullName); }
            }
        }
        return new ConsistencyReport(problems, removed);
    }

    private static readonly Digest EmptySha256 = Digest.Sha256(ReadOnlySpan<byte>.Empty);

    private static bool IsLockedByAnotherProcess(string dataFile)
    {
        try
        {
            using var probe = new FileStream(dataFile, FileMode.Open, FileAccess.Read, FileShare.None, 1);
            return false;
        }
        catch (FileNotFoundException) { return false; }
        catch (IOException) { return true; }
    }

    private static string? ReadOrNull(string path)
    {
        try { return File.ReadAllText(path); }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }

    private static string IngestName(string reference) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(reference)));

    /// <summary>Moves a verified, fsynced ingest into place: rename, then fsync the blob directory so the entry survives a crash.</summary>
    internal void Install(string dataFile, Digest digest)
    {
        var target = BlobPath(digest);
        var dir = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(dir);
        File.Move(dataFile, target, overwrite: true);
        using var dirHandle = LinuxSyscalls.Instance.OpenAt(null, dir, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY);
        LinuxSyscalls.Instance.Fsync(dirHandle);
    }

    internal void Release(string reference, string dir, bool removeDirectory)
    {
        if (removeDirectory)
        {
            try { Directory.Delete(dir, recursive: true); } catch (DirectoryNotFoundException) { }
        }
        live.TryRemove(reference, out _);
    }

    private sealed class ContentWriter : IContentWriter
    {
        private readonly ContentStore store;
        private readonly string dir;
        private readonly FileStream data;
        private readonly HashingStream stream;
        private readonly Digest? expected;
        private readonly long? expectedSize;
        private bool done;

        public ContentWriter(ContentStore store, string reference, string dir, FileStream data, Digest? expected, long? expectedSize)
        {
            this.store = store; this.dir = dir; this.data = data; this.expected = expected; this.expectedSize = expectedSize;
            Reference = reference;
            var hasher = expected is { } d ? d.CreateHasher() : IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            // Resume: hash what an earlier writer left, then append.
            var buffer = new byte[1 << 16];
            int n;
            data.Position = 0;
            while ((n = data.Read(buffer)) > 0) hasher.AppendData(buffer, 0, n);
            stream = new HashingStream(data, hasher, expectedSize);
        }

        public string Reference { get; }
        public long Offset => data.Length;
        public Stream Stream => done ? throw new ObjectDisposedException(nameof(IContentWriter)) : stream;

        public Digest Commit(Digest? expected = null, long? expectedSize = null)
        {
            ObjectDisposedException.ThrowIf(done, this);
            expected ??= this.expected;
            expectedSize ??= this.expectedSize;
            var size = data.Length;
            try
            {
                if (expectedSize is { } s && s != size) throw new ContentSizeMismatchException(s, size);
                var algorithm = expected?.Algorithm ?? this.expected?.Algorithm ?? "sha256";
                var actual = algorithm == stream.Algorithm ? Digest.FromHash(algorithm, stream.Hasher.GetCurrentHash()) : Rehash(algorithm);
                if (expected is { } e && e != actual) throw new ContentDigestMismatchException(e, actual);
                if (store.Exists(actual))
                {
                    Finish(removeDirectory: true);
                    return actual;
                }
                data.Flush(flushToDisk: true);
                data.Dispose(); // the lock goes with it: the rename below makes the ingest directory disposable
                store.Install(Path.Combine(dir, "data"), actual);
                Finish(removeDirectory: true);
                return actual;
            }
            catch (StorageException)
            {
                Finish(removeDirectory: true); // nothing stored: a mismatched ingest is useless for a resume too
                throw;
            }
        }

        private Digest Rehash(string algorithm)
        {
            data.Position = 0;
            using var hasher = IncrementalHash.CreateHash(algorithm == "sha512" ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256);
            HashingStream.AppendAll(hasher, data);
            return Digest.FromHash(algorithm, hasher.GetHashAndReset());
        }

        public void Abort()
        {
            if (!done) Finish(removeDirectory: true);
        }

        private void Finish(bool removeDirectory)
        {
            done = true;
            data.Dispose();
            stream.Hasher.Dispose();
            store.Release(Reference, dir, removeDirectory);
        }

        public void Dispose()
        {
            if (done) return;
            data.Flush();
            Finish(removeDirectory: false); // keep the partial data for a resume
        }
    }
}

/// <summary>A write-only stream that hashes and counts what passes through (and stops at a size limit).</summary>
internal sealed class HashingStream(Stream inner, IncrementalHash hasher, long? limit) : Stream
{
    public IncrementalHash Hasher { get; } = hasher;

    public static void AppendAll(IncrementalHash hasher, Stream source)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            int n;
            while ((n = source.Read(buffer)) > 0) hasher.AppendData(buffer, 0, n);
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(buffer); }
    }
    public string Algorithm => Hasher.AlgorithmName == HashAlgorithmName.SHA512 ? "sha512" : "sha256";
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => inner.Length;
    public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
    public override void Flush() => inner.Flush();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (limit is { } max && inner.Length + buffer.Length > max)
            throw new ContentSizeMismatchException(max, inner.Length + buffer.Length);
        inner.Write(buffer);
        Hasher.AppendData(buffer);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }
}
