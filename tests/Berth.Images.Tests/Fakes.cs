using System.Formats.Tar;
using System.Security.Cryptography;
using Berth.Images;
using Berth.Oci.Content;
using Berth.Oci.Image;
using Berth.Storage;

namespace Berth.Images.Tests;

/// <summary>An in-memory content store: enough of the seam for the image store's unit tests.</summary>
internal sealed class FakeContentStore : IContentStore
{
    public readonly Dictionary<Digest, byte[]> Blobs = [];
    public string Root => "/fake/content";
    public bool Exists(Digest digest) { lock (Blobs) return Blobs.ContainsKey(digest); }
    public ContentInfo? Info(Digest digest) { lock (Blobs) return Blobs.TryGetValue(digest, out var b) ? new ContentInfo(digest, b.Length, DateTimeOffset.UnixEpoch) : null; }
    public Stream OpenRead(Digest digest) { lock (Blobs) return Blobs.TryGetValue(digest, out var b) ? new MemoryStream(b, false) : throw new ContentNotFoundException(digest); }
    public IContentWriter OpenWriter(string reference, Digest? expected = null, long? expectedSize = null) => new Writer(this, reference);
    public Task<Digest> PutAsync(Stream data, Digest? expected = null, long? expectedSize = null, CancellationToken ct = default)
    {
        using var w = new Writer(this, "put");
        data.CopyTo(w.Stream);
        return Task.FromResult(w.Commit(expected, expectedSize));
    }
    public IEnumerable<ContentInfo> List() { lock (Blobs) return [.. Blobs.Select(kv => new ContentInfo(kv.Key, kv.Value.Length, DateTimeOffset.UnixEpoch))]; }
    public void Delete(Digest digest) { lock (Blobs) Blobs.Remove(digest); }
    public IReadOnlyList<Digest> Collect(IReadOnlySet<Digest> keep, bool dryRun = false) => throw new NotSupportedException();
    public ConsistencyReport Check(bool rehash = false) => new([], []);
    public ConsistencyReport Repair(bool rehash = false) => new([], []);

    private sealed class Writer(FakeContentStore store, string reference) : IContentWriter
    {
        private readonly MemoryStream _data = new();
        public string Reference => reference;
        public long Offset => _data.Length;
        public Stream Stream => _data;
        public Digest Commit(Digest? expected = null, long? expectedSize = null)
        {
            var bytes = _data.ToArray();
            var digest = Digest.Sha256(bytes);
            if (expectedSize is { } size && size != bytes.Length) throw new ContentSizeMismatchException(size, bytes.Length);
            if (expected is { } e && e != digest) throw new ContentDigestMismatchException(e, digest);
            lock (store.Blobs) store.Blobs[digest] = bytes;
            return digest;
        }
        public void Abort() { }
        public void Dispose() { }
    }
}

/// <summary>
/// An in-memory layer store: keeps each layer's uncompressed tar (so OpenDiff is reproducible), refuses
/// names that climb out, verifies the expected diffID. Chain IDs as the image spec defines them.
/// </summary>
internal sealed class FakeLayerStore : ILayerStore
{
    public readonly Dictionary<string, (Layer Layer, byte[] Tar)> Layers = new(StringComparer.Ordinal);
    public readonly HashSet<string> HeldByContainers = new(StringComparer.Ordinal);
    public int Registrations;
    public string Driver => "fake";

    public Layer Register(Stream blob, string mediaType, string? parentChainId, Digest? expectedDiffId = null, CancellationToken ct = default)
        => Register(blob, MediaTypes.GetLayerCompression(mediaType) switch { LayerCompression.Gzip => Compression.Gzip, LayerCompression.Zstd => Compression.Zstd, _ => Compression.None }, parentChainId, expectedDiffId, ct);

    public Layer Register(Stream blob, Compression compression, string? parentChainId, Digest? expectedDiffId = null, CancellationToken ct = default)
    {
        Interlocked.Increment(ref Registrations);
        if (parentChainId is not null && !Layers.ContainsKey(parentChainId)) throw new LayerNotFoundException(parentChainId);
        using var plain = new MemoryStream();
        using (var content = Decompression.Open(blob)) content.CopyTo(plain);
        var tar = plain.ToArray();
        try
        {
            using var reader = new TarReader(new MemoryStream(tar));
            while (reader.GetNextEntry() is { } entry)
                if (entry.Name.Split('/').Contains("..") || entry.Name.StartsWith('/'))
                    throw new InvalidLayerException($"layer entry \"{entry.Name}\" is outside the layer root");
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException or FormatException)
        {
            throw new InvalidLayerException($"invalid layer tar: {e.Message}", e);
        }
        var diffId = Digest.Sha256(tar);
        if (expectedDiffId is { } expected && expected != diffId) throw new ContentDigestMismatchException(expected, diffId);
        var chain = ChainIds.Next(parentChainId is null ? default : Digest.Parse(parentChainId), diffId).ToString();
        lock (Layers)
        {
            if (!Layers.TryGetValue(chain, out var existing))
                Layers[chain] = existing = (new Layer(chain, diffId, parentChainId, tar.Length), tar);
            return existing.Layer;
        }
    }

    public Layer? Get(string chainId) { lock (Layers) return Layers.TryGetValue(chainId, out var l) ? l.Layer : null; }
    public IEnumerable<Layer> List() { lock (Layers) return [.. Layers.Values.Select(v => v.Layer)]; }

    public void Delete(string chainId)
    {
        lock (Layers)
        {
            if (!Layers.ContainsKey(chainId)) throw new LayerNotFoundException(chainId);
            if (HeldByContainers.Contains(chainId)) throw new LayerInUseException(chainId, "a container");
            if (Layers.Values.Any(v => v.Layer.Parent == chainId)) throw new LayerInUseException(chainId, "a child layer");
            Layers.Remove(chainId);
        }
    }

    public Stream OpenDiff(string chainId) { lock (Layers) return Layers.TryGetValue(chainId, out var l) ? new MemoryStream(l.Tar, false) : throw new LayerNotFoundException(chainId); }
    public ContainerLayer CreateContainerLayer(string id, string? parentChainId) => throw new NotSupportedException();
    public ContainerLayer? GetContainerLayer(string id) => null;
    public IEnumerable<ContainerLayer> ListContainerLayers() => [];
    public void DeleteContainerLayer(string id) { }
    public ConsistencyReport Check() => new([], []);
    public ConsistencyReport Repair() => new([], []);
}

/// <summary>A container layer whose diff is a given tar.</summary>
internal sealed class FakeContainerLayer(string id, string? parent, byte[] diff) : ContainerLayer
{
    public override string Id => id;
    public override string? ParentChainId => parent;
    public override IReadOnlyList<MountSpec> Mounts() => [];
    public override string Mount() => throw new NotSupportedException();
    public override void Unmount() { }
    public override IReadOnlyList<Change> Changes() => [];
    public override void WriteDiff(Stream tarOut) => tarOut.Write(diff);
    public override void Export(Stream tarOut) => tarOut.Write(diff);
}

internal static class Tars
{
    /// <summary>A tar of the given files (name → content; a name ending in '/' is a directory).</summary>
    public static byte[] Of(params (string Name, string Content)[] files)
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Ustar, leaveOpen: true))
        {
            foreach (var (name, content) in files)
            {
                if (name.EndsWith('/'))
                {
                    writer.WriteEntry(new UstarTarEntry(TarEntryType.Directory, name) { ModificationTime = DateTimeOffset.UnixEpoch, Mode = (UnixFileMode)0x1ed });
                    continue;
                }
                var entry = new UstarTarEntry(TarEntryType.RegularFile, name)
                {
                    ModificationTime = DateTimeOffset.UnixEpoch,
                    Mode = (UnixFileMode)0x1a4,
                    DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content)),
                };
                writer.WriteEntry(entry);
            }
        }
        return buffer.ToArray();
    }

    /// <summary>An archive of raw entries: (name, bytes) files, or (name, null, linkTarget) symlinks.</summary>
    public static byte[] Archive(params (string Name, byte[]? Data, string? Link)[] entries)
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var (name, data, link) in entries)
            {
                if (link is not null) { writer.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, name) { LinkName = link }); continue; }
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data!) });
            }
        }
        return buffer.ToArray();
    }

    public static byte[] Gzip(byte[] data)
    {
        using var buffer = new MemoryStream();
        using (var gz = new System.IO.Compression.GZipStream(buffer, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true)) gz.Write(data);
        return buffer.ToArray();
    }

    public static string Sha(byte[] data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));
}

/// <summary>An image store on fakes in a temp directory.</summary>
internal sealed class FakeStore : IDisposable
{
    public readonly Berth.Testing.TempDir Dir = new();
    public readonly FakeContentStore Content = new();
    public readonly FakeLayerStore Layers = new();
    public ImageStore Store { get; private set; }
    public ImageArchive Archive => new(Store);
    public ImageCreation Creation => new(Store);

    public FakeStore() { Store = ImageStore.Open(Dir.Combine("images"), Content, Layers); }

    public ImageStore Reopen() => Store = ImageStore.Open(Dir.Combine("images"), Content, Layers);

    public Digest Import(string? reference, params (string, string)[] files)
        => Creation.Import(new MemoryStream(Tars.Of(files)), new ImportOptions { Reference = reference });

    public void Dispose() => Dir.Dispose();
}
