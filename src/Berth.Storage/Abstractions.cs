using Berth.Oci.Content;

namespace Berth.Storage;

/// <summary>A blob in the content store.</summary>
public sealed record ContentInfo(Digest Digest, long Size, DateTimeOffset CreatedAt);

/// <summary>
/// Content-addressed blobs (containerd's content store): every producer (pull, load, build, commit) writes
/// through <see cref="IContentWriter"/>, which verifies digest and size once, at the seam.
/// </summary>
public interface IContentStore
{
    string Root { get; }
    bool Exists(Digest digest);
    ContentInfo? Info(Digest digest);

    /// <summary>Opens a blob for reading; throws <see cref="ContentNotFoundException"/>.</summary>
    Stream OpenRead(Digest digest);

    /// <summary>
    /// Resumable ingest: the same <paramref name="reference"/> (e.g. "pull-&lt;digest&gt;") reopens the partial
    /// file at its <see cref="IContentWriter.Offset"/>. Only one live writer per reference
    /// (a second one throws <see cref="ContentLockedException"/>).
    /// </summary>
    IContentWriter OpenWriter(string reference, Digest? expected = null, long? expectedSize = null);

    /// <summary>Stores a whole stream; returns its sha256 (or verifies <paramref name="expected"/>).</summary>
    Task<Digest> PutAsync(Stream data, Digest? expected = null, long? expectedSize = null, CancellationToken ct = default);

    IEnumerable<ContentInfo> List();

    /// <summary>Removes a blob; no error when it is absent.</summary>
    void Delete(Digest digest);

    /// <summary>Deletes every blob not in <paramref name="keep"/> and not held by an ongoing ingest; returns what was (or would be) removed.</summary>
    IReadOnlyList<Digest> Collect(IReadOnlySet<Digest> keep, bool dryRun = false);

    /// <summary>Consistency pass: finds leftovers of a crash (ingests with no live writer, temp files, blobs of the wrong size or content).</summary>
    ConsistencyReport Check(bool rehash = false);

    /// <summary>Like <see cref="Check"/>, and removes what it found.</summary>
    ConsistencyReport Repair(bool rehash = false);
}

/// <summary>An ingest in progress. Disposing without <see cref="Commit"/> keeps the partial data for a later resume.</summary>
public interface IContentWriter : IDisposable
{
    string Reference { get; }

    /// <summary>Bytes written so far (where a resumed ingest continues).</summary>
    long Offset { get; }

    /// <summary>Append here.</summary>
    Stream Stream { get; }

    /// <summary>
    /// Verifies size and digest, fsyncs, renames into place. On mismatch throws
    /// <see cref="ContentDigestMismatchException"/> (or <see cref="ContentSizeMismatchException"/>) and stores nothing.
    /// Committing content that already exists succeeds.
    /// </summary>
    Digest Commit(Digest? expected = null, long? expectedSize = null);

    /// <summary>Throws away the partial data.</summary>
    void Abort();
}

/// <summary>What a consistency pass found (and, for Repair, removed).</summary>
public sealed record ConsistencyReport(IReadOnlyList<string> Problems, IReadOnlyList<string> Removed)
{
    public bool IsClean => Problems.Count == 0;
}

/// <summary>An image layer: unpacked once, shared by every image above it. ChainId is "sha256:…".</summary>
public sealed record Layer(string ChainId, Digest DiffId, string? Parent, long Size);

/// <summary>How a layer blob is compressed.</summary>
public enum Compression { Auto = 0, None, Gzip, Zstd }

/// <summary>Limits and knobs for the layer store.</summary>
public sealed record StorageOptions
{
    /// <summary>A layer larger than this once decompressed is refused (no decompression bombs).</summary>
    public long MaxLayerSize { get; init; } = 64L << 30;
}

public interface ILayerStore
{
    string Driver { get; }

    /// <summary>
    /// Decompresses by media type (tar, tar+gzip, tar+zstd, and Docker's equivalents; unknown → <see cref="UnsupportedMediaTypeException"/>),
    /// applies onto the parent chain as a new snapshot, computes the diffID while streaming, verifies
    /// <paramref name="expectedDiffId"/> when given. Idempotent: when the chainID can be known in advance
    /// (expectedDiffId given) and exists, returns at once without reading the blob.
    /// </summary>
    Layer Register(Stream blob, string mediaType, string? parentChainId, Digest? expectedDiffId = null, CancellationToken ct = default);

    /// <summary>The same, with the compression given (or sniffed from the first bytes: <see cref="Compression.Auto"/>).</summary>
    Layer Register(Stream blob, Compression compression, string? parentChainId, Digest? expectedDiffId = null, CancellationToken ct = default);

    Layer? Get(string chainId);
    IEnumerable<Layer> List();

    /// <summary>Refuses (<see cref="LayerInUseException"/>) while a child layer or a container layer uses it.</summary>
    void Delete(string chainId);

    /// <summary>The layer's uncompressed tar (for save/push); reproducible: the same bytes, so the same diffID, every time.</summary>
    Stream OpenDiff(string chainId);

    /// <summary>A container's writable layer on top of an image chain (null = empty rootfs).</summary>
    ContainerLayer CreateContainerLayer(string id, string? parentChainId);

    /// <summary>The same, with its metadata written as durably as <paramref name="durability"/> says (no fsync for an
    /// AutoRemove container's layer).</summary>
    ContainerLayer CreateContainerLayer(string id, string? parentChainId, Durability durability) => CreateContainerLayer(id, parentChainId);
    ContainerLayer? GetContainerLayer(string id);
    IEnumerable<ContainerLayer> ListContainerLayers();
    void DeleteContainerLayer(string id);

    /// <summary>
    /// The same; with <paramref name="deferContent"/> the layer is gone when this returns (no record, its directory renamed
    /// aside) and its files are deleted afterwards in the background.
    /// </summary>
    void DeleteContainerLayer(string id, bool deferContent) => DeleteContainerLayer(id);

    /// <summary>Consistency pass over layers and snapshots (half-unpacked layers, orphans).</summary>
    ConsistencyReport Check();
    ConsistencyReport Repair();
}

/// <summary>
/// A mount to make at the rootfs (the runtime mounts it): overlay, or bind for vfs/btrfs.
/// When <see cref="WorkingDirectory"/> is set, relative paths in Options (overlay lowerdirs, kept short so that
/// 120+ layers fit one page) are relative to it: mount from a thread that did unshare(CLONE_FS) + chdir there,
/// or use <see cref="Mounter"/>.
/// </summary>
public sealed record MountSpec(string Type, string Source, IReadOnlyList<string> Options, string? WorkingDirectory = null);

public enum ChangeKind { Modified = 0, Added = 1, Deleted = 2 }

/// <summary>One line of `docker diff`: A/C/D and an absolute path inside the container.</summary>
public sealed record Change(ChangeKind Kind, string Path)
{
    public override string ToString() => $"{Kind switch { ChangeKind.Added => 'A', ChangeKind.Deleted => 'D', _ => 'C' }} {Path}";
}

/// <summary>A container's writable layer.</summary>
public abstract class ContainerLayer
{
    public abstract string Id { get; }

    /// <summary>The image chain below it (null = empty rootfs).</summary>
    public abstract string? ParentChainId { get; }

    /// <summary>What to mount at the rootfs.</summary>
    public abstract IReadOnlyList<MountSpec> Mounts();

    /// <summary>Mounts at a private directory and returns it (for export/cp/commit, or as the rootfs); counted, so nested calls are fine.</summary>
    public abstract string Mount();
    public abstract void Unmount();

    /// <summary>`docker diff`: A/C/D, with parent directories of changes reported as C.</summary>
    public abstract IReadOnlyList<Change> Changes();

    /// <summary>The changes as a layer tar (whiteouts in OCI form), for commit.</summary>
    public abstract void WriteDiff(Stream tarOut);

    /// <summary>The whole merged filesystem as a tar (docker export).</summary>
    public abstract void Export(Stream tarOut);
}

public enum SnapshotKind { View = 0, Active = 1, Committed = 2 }

public sealed record SnapshotInfo(string Key, string? Parent, SnapshotKind Kind, DateTimeOffset CreatedAt);

public sealed record SnapshotUsage(long Size, long Inodes);

/// <summary>
/// containerd's snapshotter shape: returns mount descriptions instead of mounting. Committed snapshots are
/// immutable parents; active ones are writable; views are read-only.
/// </summary>
public interface ISnapshotter
{
    string Driver { get; }
    IReadOnlyList<MountSpec> Prepare(string key, string? parent);
    IReadOnlyList<MountSpec> View(string key, string? parent);
    IReadOnlyList<MountSpec> Mounts(string key);
    void Commit(string name, string key);
    void Remove(string key);
    SnapshotInfo? Stat(string key);
    IEnumerable<SnapshotInfo> Walk();
    SnapshotUsage Usage(string key);
}

/// <summary>Base of every error the storage room raises: the message is one line naming the problem.</summary>
public class StorageException(string message, Exception? inner = null) : Exception(message, inner);
public sealed class ContentNotFoundException(Digest digest) : StorageException($"content {digest} not found") { public Digest Digest { get; } = digest; }
public sealed class ContentDigestMismatchException(Digest expected, Digest actual)
    : StorageException($"digest mismatch: expected {expected}, got {actual}") { public Digest Expected { get; } = expected; public Digest Actual { get; } = actual; }
public sealed class ContentSizeMismatchException(long expected, long actual)
    : StorageException($"size mismatch: expected {expected} bytes, got {actual}") { public long Expected { get; } = expected; public long Actual { get; } = actual; }
public sealed class ContentLockedException(string reference) : StorageException($"ingest \"{reference}\" is already being written");
public sealed class LayerNotFoundException(string chainId) : StorageException($"layer {chainId} not found");
public sealed class LayerInUseException(string what, string user) : StorageException($"{what} is in use by {user}");
public sealed class UnsupportedMediaTypeException(string mediaType) : StorageException($"unsupported layer media type \"{mediaType}\"");
/// <summary>A layer tar that is malformed, truncated, too large, or tries to write outside its root.</summary>
public sealed class InvalidLayerException(string message, Exception? inner = null) : StorageException(message, inner);
