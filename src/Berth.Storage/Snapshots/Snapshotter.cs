using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Berth.Linux;
using Berth.Storage.Archive;

namespace Berth.Storage.Snapshots;

/// <summary>
/// The bookkeeping every driver shares: a snapshot's storage lives in &lt;home&gt;/snapshots/&lt;id&gt;/ and its record
/// (key, id, parent, kind, created) in &lt;home&gt;/meta/&lt;sha256(key)&gt;, written to a temp file and renamed, so a crash
/// leaves either the old record or the new one. Storage is made before its record and removed after it, so
/// what a crash leaves is an orphan directory, which <see cref="Repair"/> removes.
/// </summary>
internal abstract class Snapshotter : ISnapshotter
{
    protected readonly ISyscalls Sys;
    protected readonly string Home;
    protected readonly string SnapshotsDirectory;
    private readonly string metaDirectory;
    private readonly Lock gate = new();

    protected Snapshotter(ISyscalls sys, string home)
    {
        Sys = sys;
        Home = home;
        SnapshotsDirectory = Path.Combine(home, "snapshots");
        metaDirectory = Path.Combine(home, "meta");
        Directory.CreateDirectory(SnapshotsDirectory);
        Directory.CreateDirectory(metaDirectory);
        MarkTopDirectory(sys, SnapshotsDirectory);
    }

    /// <summary>
    /// Each snapshot is a tree of its own: chattr +T on snapshots/ makes ext4's Orlov allocator place every new
    /// snapshot directory (and with it the files unpacked below it) in a roomy block group of its own rather than
    /// next to its siblings. Without it, on ext4 with no journal, allocating an inode scans past every inode freed in
    /// the last minutes of its group (recently_deleted()): after an rmi of a 7 000-file layer, the next import
    /// spent 5.5 s of kernel time there (0.2 s with the flag). A filesystem without the flag ignores it.
    /// </summary>
    private static void MarkTopDirectory(ISyscalls sys, string directory)
    {
        try
        {
            using var handle = sys.OpenAt(null, directory, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY);
            var flags = sys.GetInodeFlags(handle);
            if ((flags & InodeFlags.FS_TOPDIR_FL) == 0) sys.SetInodeFlags(handle, flags | InodeFlags.FS_TOPDIR_FL);
        }
        catch (SyscallException) { } // ENOTTY, EOPNOTSUPP, EPERM: only placement is lost
    }

    public abstract string Driver { get; }
    internal abstract WhiteoutStyle Whiteouts { get; }

    /// <summary>Where records are fsynced (a seam: tests see which writes were made durable).</summary>
    internal IMetadataSync Sync { get; init; } = MetadataSync.Disk;

    internal sealed record Meta(string Key, string Id, string? Parent, SnapshotKind Kind, DateTimeOffset Created);

    /// <summary>Makes the snapshot's storage; its files are fsynced through <paramref name="sync"/> unless it is null.</summary>
    protected abstract void CreateStorage(string id, Meta? parent, IMetadataSync? sync);
    protected abstract void DeleteStorage(string id);
    protected abstract IReadOnlyList<MountSpec> MountsOf(Meta snapshot);

    /// <summary>The directory a layer tar is unpacked into, and where its files are read back for OpenDiff.</summary>
    internal abstract string ContentDirectory(string id);

    /// <summary>The directories, top first, that make up the snapshot's view below its own content (overlay lowers; copies: none).</summary>
    internal virtual IReadOnlyList<string> LowerDirectories(Meta snapshot) => [];

    internal Meta Require(string key) => Read(key) ?? throw new StorageException($"snapshot {key} does not exist");

    public IReadOnlyList<MountSpec> Prepare(string key, string? parent) => Create(key, parent, SnapshotKind.Active, Publication.Durable);
    public IReadOnlyList<MountSpec> View(string key, string? parent) => Create(key, parent, SnapshotKind.View, Publication.Durable);

    /// <summary>
    /// A container's writable snapshot. Durable: its records are fsynced before the renames that publish them, as Docker's
    /// overlay2 and layer store write a container layer's files, with no fsync of the directories; volatile (an AutoRemove
    /// container's): no fsync at all.
    /// </summary>
    internal IReadOnlyList<MountSpec> PrepareContainer(string key, string? parent, Durability durability)
        => Create(key, parent, SnapshotKind.Active, durability == Durability.Volatile ? Publication.Volatile : Publication.FilesSynced);

    /// <summary>How a new snapshot's records are written: fsynced with their directory, fsynced files only, or not at all.</summary>
    private enum Publication { Durable, FilesSynced, Volatile }

    private IReadOnlyList<MountSpec> Create(string key, string? parent, SnapshotKind kind, Publication publication)
    {
        ValidateKey(key);
        lock (gate)
        {
            if (Read(key) is not null) throw new StorageException($"snapshot {key} already exists");
            Meta? parentMeta = null;
            if (parent is not null)
            {
                parentMeta = Require(parent);
                if (parentMeta.Kind != SnapshotKind.Committed) throw new StorageException($"snapshot {parent} is not committed and cannot be a parent");
            }
            var id = NewId();
            var sync = publication == Publication.Volatile ? null : Sync;
            try
            {
                CreateStorage(id, parentMeta, sync);
                var meta = new Meta(key, id, parent, kind, DateTimeOffset.UtcNow);
                Write(meta, sync, syncDirectory: publication == Publication.Durable);
                return MountsOf(meta);
            }
            catch
            {
                TryDeleteStorage(id);
                throw;
            }
        }
    }

    public IReadOnlyList<MountSpec> Mounts(string key) => MountsOf(Require(key));

    public void Commit(string name, string key)
    {
        ValidateKey(name);
        lock (gate)
        {
            var active = Require(key);
            if (active.Kind != SnapshotKind.Active) throw new StorageException($"snapshot {key} is not active");
            if (Read(name) is not null) throw new StorageException($"snapshot {name} already exists");
            Write(active with { Key = name, Kind = SnapshotKind.Committed, Created = DateTimeOffset.UtcNow });
            File.Delete(MetaPath(key)); // a crash between the two leaves two records of one id: Repair drops the active one
        }
    }

    public void Remove(string key) => Remove(key, deferContent: false);

    /// <summary>
    /// Removes a snapshot. With <paramref name="deferContent"/> the snapshot is gone when this returns (its record deleted,
    /// its storage renamed aside where no listing sees it) and the files of the storage are deleted afterwards on the
    /// thread pool, as containerd's snapshotters move a removed snapshot away and clean it up later: the caller does not
    /// wait on the disk for every unlink. What a crash leaves aside is storage without a record, which <see cref="Repair"/>
    /// removes.
    /// </summary>
    internal void Remove(string key, bool deferContent)
    {
        string? aside;
        lock (gate)
        {
            var meta = Require(key);
            // Only committed snapshots can be parents: an active one (a container's) needs no scan of every record.
            if (meta.Kind == SnapshotKind.Committed && AllMeta().FirstOrDefault(m => m.Parent == key) is { } child)
                throw new LayerInUseException($"snapshot {key}", $"snapshot {child.Key}");
            File.Delete(MetaPath(key));
            if (!deferContent)
            {
                DeleteStorage(meta.Id);
                return;
            }
            aside = SetStorageAside(meta.Id);
        }
        if (aside is not null)
            _ = Task.Run(() =>
            {
                try { DeleteTree(aside); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // left for the consistency pass
            });
    }

    /// <summary>
    /// Takes a snapshot's storage out of use at once and returns a directory whose files remain to be deleted, or deletes
    /// it now and returns null (drivers whose storage is not plain files).
    /// </summary>
    protected virtual string? SetStorageAside(string id)
    {
        DeleteStorage(id);
        return null;
    }

    /// <summary>Renames a snapshot's directory to a name no record has ("rm-" and the id): the default for plain directories.</summary>
    protected string RenameStorageAside(string id)
    {
        var aside = Path.Combine(SnapshotsDirectory, "rm-" + id);
        Directory.Move(Path.Combine(SnapshotsDirectory, id), aside);
        return aside;
    }

    public SnapshotInfo? Stat(string key) => Read(key) is { } m ? new SnapshotInfo(m.Key, m.Parent, m.Kind, m.Created) : null;

    public IEnumerable<SnapshotInfo> Walk() => AllMeta().Select(m => new SnapshotInfo(m.Key, m.Parent, m.Kind, m.Created));

    public SnapshotUsage Usage(string key)
    {
        var dir = ContentDirectory(Require(key).Id);
        long size = 0, inodes = 0;
        foreach (var info in new DirectoryInfo(dir).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
        {
            inodes++;
            if (info is FileInfo { LinkTarget: null } file) size += file.Length;
        }
        return new SnapshotUsage(size, inodes);
    }

    /// <summary>Drops records whose storage is gone, duplicate records of one id (a crash mid-commit), and storage with no record.</summary>
    internal ConsistencyReport Repair(bool dryRun, Func<Meta, bool> isAbandoned)
    {
        var problems = new List<string>();
        var removed = new List<string>();
        var handled = new HashSet<string>(StringComparer.Ordinal);
        lock (gate)
        {
            var metas = AllMeta().ToList();
            foreach (var group in metas.GroupBy(m => m.Id).Where(g => g.Count() > 1))
                foreach (var extra in group.Where(m => m.Kind != SnapshotKind.Committed))
                {
                    problems.Add($"snapshot {extra.Key} was committed as {group.First(m => m.Kind == SnapshotKind.Committed).Key}; stale record");
                    if (!dryRun) { File.Delete(MetaPath(extra.Key)); removed.Add(extra.Key); }
                    metas.Remove(extra);
                }
            foreach (var meta in metas.ToList())
            {
                if (!Directory.Exists(Path.Combine(SnapshotsDirectory, meta.Id)))
                {
                    problems.Add($"snapshot {meta.Key} has no storage");
                    if (!dryRun) { File.Delete(MetaPath(meta.Key)); removed.Add(meta.Key); }
                    metas.Remove(meta);
                }
                else if (isAbandoned(meta) && !metas.Any(m => m.Parent == meta.Key))
                {
                    problems.Add($"snapshot {meta.Key} was left by an interrupted unpack");
                    if (!dryRun) { File.Delete(MetaPath(meta.Key)); DeleteStorage(meta.Id); removed.Add(meta.Key); }
                    metas.Remove(meta);
                    handled.Add(meta.Id);
                }
            }
            var ids = metas.Select(m => m.Id).ToHashSet(StringComparer.Ordinal);
            ids.UnionWith(handled); // reported once, with their storage and links
            foreach (var dir in Directory.EnumerateDirectories(SnapshotsDirectory))
            {
                var id = Path.GetFileName(dir);
                if (ids.Contains(id) || IsSpare(id)) continue;
                if (id.StartsWith(SpareStorage.Prefix, StringComparison.Ordinal))
                {
                    // Storage made ahead by an earlier daemon and never taken: nothing lost, nothing to report.
                    if (!dryRun) DeleteTree(dir);
                    continue;
                }
                problems.Add($"snapshot storage {id} has no record");
                if (!dryRun) { TryDeleteStorage(id); removed.Add(dir); }
            }
            foreach (var tmp in Directory.EnumerateFiles(metaDirectory, "*.tmp"))
            {
                problems.Add($"temp file {tmp}");
                if (!dryRun) { File.Delete(tmp); removed.Add(tmp); }
            }
            // A record written without fsync (a volatile container layer's) may be empty or cut short after a crash.
            foreach (var file in Directory.EnumerateFiles(metaDirectory))
            {
                if (file.EndsWith(".tmp", StringComparison.Ordinal)) continue;
                string[] lines;
                try { lines = File.ReadAllLines(file); } catch (FileNotFoundException) { continue; }
                if (Parse(lines) is not null) continue;
                problems.Add($"snapshot record {Path.GetFileName(file)} is damaged");
                if (!dryRun) { File.Delete(file); removed.Add(file); }
            }
            RepairDriver(dryRun, ids, problems, removed);
        }
        return new ConsistencyReport(problems, removed);
    }

    /// <summary>Whether a directory of snapshots/ is storage the driver made ahead and holds for the next snapshot.</summary>
    protected virtual bool IsSpare(string directoryName) => false;

    protected virtual void RepairDriver(bool dryRun, HashSet<string> liveIds, List<string> problems, List<string> removed) { }

    internal Meta? Read(string key)
    {
        string[] lines;
        try { lines = File.ReadAllLines(MetaPath(key)); }
        catch (FileNotFoundException) { return null; }
        return Parse(lines);
    }

    internal IEnumerable<Meta> AllMeta()
    {
        foreach (var file in Directory.EnumerateFiles(metaDirectory))
        {
            if (file.EndsWith(".tmp", StringComparison.Ordinal)) continue;
            string[] lines;
            try { lines = File.ReadAllLines(file); } catch (FileNotFoundException) { continue; }
            if (Parse(lines) is { } m) yield return m;
        }
    }

    private static Meta? Parse(string[] lines)
        => lines.Length >= 5 && Enum.TryParse<SnapshotKind>(lines[3], out var kind)
            && long.TryParse(lines[4], NumberStyles.None, CultureInfo.InvariantCulture, out var created)
            ? new Meta(lines[0], lines[1], lines[2].Length == 0 ? null : lines[2], kind, DateTimeOffset.FromUnixTimeMilliseconds(created))
            : null;

    private void Write(Meta meta) => Write(meta, Sync, syncDirectory: true);

    private void Write(Meta meta, IMetadataSync? sync, bool syncDirectory)
    {
        var path = MetaPath(meta.Key);
        var tmp = path + "." + Environment.ProcessId + ".tmp";
        DurableFile.WriteAtomic(path, tmp, $"{meta.Key}\n{meta.Id}\n{meta.Parent}\n{meta.Kind}\n{meta.Created.ToUnixTimeMilliseconds()}\n", sync, syncDirectory);
    }

    private string MetaPath(string key) => Path.Combine(metaDirectory, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key))));

    private static void ValidateKey(string key)
    {
        if (string.IsNullOrEmpty(key) || key.Contains('\n')) throw new ArgumentException($"invalid snapshot key \"{key}\"", nameof(key));
    }

    protected static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    private void TryDeleteStorage(string id)
    {
        try { DeleteStorage(id); } catch (Exception e) when (e is IOException or UnauthorizedAccessException or SyscallException) { }
    }

    protected static void DeleteTree(string path)
    {
        try { Directory.Delete(path, recursive: true); }
        catch (DirectoryNotFoundException) { }
    }
}
