using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Berth.Linux;
using Berth.Oci.Content;
using Berth.Storage.Archive;
using Berth.Storage.Snapshots;
using static Berth.Linux.OpenFlags;

namespace Berth.Storage;

/// <summary>
/// Layers by chainID at layers/sha256/&lt;hex&gt;/ (diff, parent, size, tar-split), each the committed snapshot of
/// the same key. A layer becomes visible only when its directory is renamed into place, after its snapshot was
/// committed; everything before that (extract-* snapshots, layers/tmp/*) is what <see cref="Repair"/> removes.
/// </summary>
internal sealed class LayerStore : ILayerStore
{
    private const string ExtractPrefix = "extract-", ContainerPrefix = "container-";
    private readonly string root, layers, tmp;
    private readonly Snapshotter snapshots;
    private readonly StorageOptions options;
    private readonly ISyscalls sys = LinuxSyscalls.Instance;
    private readonly Lock gate = new();
    private readonly ConcurrentDictionary<string, byte> extracting = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ContainerLayerImpl> containers = new(StringComparer.Ordinal);

    public LayerStore(string root, Snapshotter snapshots, StorageOptions options)
    {
        this.root = root;
        this.snapshots = snapshots;
        this.options = options;
        layers = Path.Combine(root, "sha256");
        tmp = Path.Combine(root, "tmp");
        Directory.CreateDirectory(layers);
        Directory.CreateDirectory(tmp);
    }

    public string Driver => snapshots.Driver;
    internal Snapshotter Snapshots => snapshots;

    public static string ChainId(string? parentChainId, Digest diffId)
        => parentChainId is null ? diffId.ToString() : Digest.Sha256(Encoding.ASCII.GetBytes(parentChainId + " " + diffId)).ToString();

    public Layer Register(Stream blob, string mediaType, string? parentChainId, Digest? expectedDiffId = null, CancellationToken ct = default)
        => Register(blob, LayerCompression.FromMediaType(mediaType), parentChainId, expectedDiffId, ct);

    public Layer Register(Stream blob, Compression compression, string? parentChainId, Digest? expectedDiffId = null, CancellationToken ct = default)
    {
        if (parentChainId is not null && Get(parentChainId) is null) throw new LayerNotFoundException(parentChainId);
        if (expectedDiffId is { } expected && Get(ChainId(parentChainId, expected)) is { } known) return known;

        var work = Guid.NewGuid().ToString("N");
        var extractKey = ExtractPrefix + work;
        var staging = Path.Combine(tmp, work);
        extracting[extractKey] = 0;
        var committed = false;
        try
        {
            Directory.CreateDirectory(staging);
            snapshots.Prepare(extractKey, parentChainId);
            var target = snapshots.ContentDirectory(snapshots.Require(extractKey).Id);
            Digest diffId;
            ApplyResult result;
            IReadOnlyDictionary<string, string> replaced;
            using (var decompressed = LayerCompression.Decompress(blob, compression))
            using (var digesting = new DigestingReadStream(decompressed, options.MaxLayerSize))
            {
                using (var readAhead = new ReadAheadStream(digesting))
                using (var record = File.Create(Path.Combine(staging, "tar-split")))
                using (var capture = new TarSplitCapture(readAhead, record))
                using (var applier = new TarApplier(sys, target, snapshots.Whiteouts, Path.Combine(staging, "replaced")))
                {
                    result = applier.Apply(capture, ct);
                    replaced = applier.ReplacedContent;
                }
                diffId = digesting.Digest();
            }
            if (expectedDiffId is { } e && e != diffId) throw new InvalidLayerException($"layer diffID mismatch: expected {e}, got {diffId}");
            var chainId = ChainId(parentChainId, diffId);
            // Each record file is fsynced before the rename that publishes the layer, and the rename itself after
            // it: a layer that exists after a crash has its whole record (the unpacked files are not synced, as
            // Docker's aren't; the consistency pass finds a layer whose snapshot is gone).
            DurableFile.WriteSynced(Path.Combine(staging, "diff"), diffId.ToString());
            DurableFile.WriteSynced(Path.Combine(staging, "size"), result.ContentSize.ToString(CultureInfo.InvariantCulture));
            if (parentChainId is not null) DurableFile.WriteSynced(Path.Combine(staging, "parent"), parentChainId);
            if (replaced.Count > 0) DurableFile.WriteSynced(Path.Combine(staging, "replaced.list"), string.Concat(replaced.Select(r => r.Key.Replace('\0', '\t') + "\t" + Path.GetFileName(r.Value) + "\n")));
            DurableFile.Sync(Path.Combine(staging, "tar-split"));
            lock (gate)
            {
                if (Get(chainId) is { } existing) return existing; // a concurrent or earlier register of the same content won
                snapshots.Commit(chainId, extractKey);
                committed = true;
                Directory.Move(staging, LayerDirectory(chainId));
                DurableFile.SyncDirectory(layers);
            }
            return new Layer(chainId, diffId, parentChainId, result.ContentSize);
        }
        finally
        {
            if (!committed)
            {
                try { if (snapshots.Stat(extractKey) is not null) snapshots.Remove(extractKey); } catch (Exception ex) when (ex is IOException or StorageException or SyscallException) { }
            }
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            extracting.TryRemove(extractKey, out _);
        }
    }

    public Layer? Get(string chainId)
    {
        if (!Digest.TryParse(chainId, out var digest) || digest.Algorithm != "sha256") return null;
        var dir = Path.Combine(layers, digest.Hex);
        string diff;
        try { diff = File.ReadAllText(Path.Combine(dir, "diff")); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }
        var parentFile = Path.Combine(dir, "parent");
        var parent = File.Exists(parentFile) ? File.ReadAllText(parentFile) : null;
        var size = long.Parse(File.ReadAllText(Path.Combine(dir, "size")), CultureInfo.InvariantCulture);
        return new Layer(chainId, Digest.Parse(diff), parent, size);
    }

    public IEnumerable<Layer> List()
    {
        foreach (var dir in Directory.EnumerateDirectories(layers))
            if (Get("sha256:" + Path.GetFileName(dir)) is { } layer) yield return layer;
    }

    public void Delete(string chainId)
    {
        lock (gate)
        {
            if (Get(chainId) is null) throw new LayerNotFoundException(chainId);
            if (List().FirstOrDefault(l => l.Parent == chainId) is { } child) throw new LayerInUseException($"layer {chainId}", $"layer {child.ChainId}");
            if (snapshots.Walk().FirstOrDefault(s => s.Parent == chainId) is { } user) throw new LayerInUseException($"layer {chainId}", user.Key.StartsWith(ContainerPrefix, StringComparison.Ordinal) ? $"container {user.Key[ContainerPrefix.Length..]}" : $"snapshot {user.Key}");
            var doomed = Path.Combine(tmp, "delete-" + Guid.NewGuid().ToString("N"));
            Directory.Move(LayerDirectory(chainId), doomed); // invisible first, then the files
            snapshots.Remove(chainId);
            Directory.Delete(doomed, recursive: true);
        }
    }

    public Stream OpenDiff(string chainId)
    {
        if (Get(chainId) is null) throw new LayerNotFoundException(chainId);
        var dir = LayerDirectory(chainId);
        var content = snapshots.ContentDirectory(snapshots.Require(chainId).Id);
        var replaced = new Dictionary<string, string>(StringComparer.Ordinal);
        var list = Path.Combine(dir, "replaced.list");
        if (File.Exists(list))
            foreach (var line in File.ReadAllLines(list))
                if (line.Split('\t') is [var path, var occurrence, var file]) replaced[path + "\t" + occurrence] = Path.Combine(dir, "replaced", file);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var rootHandle = sys.OpenAt(null, content, O_RDONLY | O_DIRECTORY);
        Stream OpenFile(string path)
        {
            var occurrence = seen.TryGetValue(path, out var n) ? n : 0;
            seen[path] = occurrence + 1;
            if (replaced.TryGetValue(path + "\t" + occurrence, out var side)) return File.OpenRead(side);
            var handle = sys.OpenAt2(rootHandle, path, O_RDONLY | O_NOFOLLOW, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
            return new FileStream(handle, FileAccess.Read, 1 << 16);
        }
        return new OwningStream(new TarSplitReplay(File.OpenRead(Path.Combine(dir, "tar-split")), OpenFile), rootHandle);
    }

    public ContainerLayer CreateContainerLayer(string id, string? parentChainId) => CreateContainerLayer(id, parentChainId, Durability.Durable);

    public ContainerLayer CreateContainerLayer(string id, string? parentChainId, Durability durability)
    {
        ValidateContainerId(id);
        if (parentChainId is not null && Get(parentChainId) is null) throw new LayerNotFoundException(parentChainId);
        snapshots.PrepareContainer(ContainerPrefix + id, parentChainId, durability);
        return containers.GetOrAdd(id, _ => new ContainerLayerImpl(this, id, parentChainId));
    }

    public ContainerLayer? GetContainerLayer(string id)
    {
        if (containers.TryGetValue(id, out var known)) return known;
        return snapshots.Stat(ContainerPrefix + id) is { } info ? containers.GetOrAdd(id, _ => new ContainerLayerImpl(this, id, info.Parent)) : null;
    }

    public IEnumerable<ContainerLayer> ListContainerLayers()
    {
        foreach (var info in snapshots.Walk())
            if (info.Key.StartsWith(ContainerPrefix, StringComparison.Ordinal) && GetContainerLayer(info.Key[ContainerPrefix.Length..]) is { } layer)
                yield return layer;
    }

    public void DeleteContainerLayer(string id) => DeleteContainerLayer(id, deferContent: false);

    public void DeleteContainerLayer(string id, bool deferContent)
    {
        var layer = (ContainerLayerImpl?)GetContainerLayer(id) ?? throw new StorageException($"container layer {id} not found");
        layer.ForceUnmount();
        snapshots.Remove(ContainerPrefix + id, deferContent);
        containers.TryRemove(id, out _);
    }

    public ConsistencyReport Check() => Pass(dryRun: true);
    public ConsistencyReport Repair() => Pass(dryRun: false);

    private ConsistencyReport Pass(bool dryRun)
    {
        var problems = new List<string>();
        var removed = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories(tmp))
        {
            if (extracting.ContainsKey(ExtractPrefix + Path.GetFileName(dir))) continue;
            problems.Add($"unfinished layer {Path.GetFileName(dir)}");
            if (!dryRun) { Directory.Delete(dir, recursive: true); removed.Add(dir); }
        }
        foreach (var dir in Directory.EnumerateDirectories(layers))
        {
            var chainId = "sha256:" + Path.GetFileName(dir);
            if (Get(chainId) is not null && snapshots.Stat(chainId) is { Kind: SnapshotKind.Committed }) continue;
            problems.Add($"layer {chainId} is incomplete");
            if (!dryRun) { Directory.Delete(dir, recursive: true); removed.Add(dir); }
        }
        var snapshotReport = snapshots.Repair(dryRun, meta =>
            (meta.Key.StartsWith(ExtractPrefix, StringComparison.Ordinal) && !extracting.ContainsKey(meta.Key))
            || (meta.Kind == SnapshotKind.Committed && meta.Key.StartsWith("sha256:", StringComparison.Ordinal) && Get(meta.Key) is null));
        return new ConsistencyReport([.. problems, .. snapshotReport.Problems], [.. removed, .. snapshotReport.Removed]);
    }

    private string LayerDirectory(string chainId) => Path.Combine(layers, Digest.Parse(chainId).Hex);

    private static void ValidateContainerId(string id)
    {
        if (string.IsNullOrEmpty(id) || id.Contains('/') || id.Contains('\n') || id is "." or "..")
            throw new ArgumentException($"invalid container id \"{id}\"", nameof(id));
    }

    internal string SnapshotKey(string containerId) => ContainerPrefix + containerId;

    /// <summary>Disposes an extra resource with the stream (the content root fd of a replay).</summary>
    private sealed class OwningStream(Stream inner, IDisposable owned) : ReadOnlyStream
    {
        public override int Read(Span<byte> buffer) => inner.Read(buffer);
        protected override void Dispose(bool disposing)
        {
            if (disposing) { inner.Dispose(); owned.Dispose(); }
            base.Dispose(disposing);
        }
    }
}
