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

    internal sealed record Meta(string Key, string Id, string? Parent, SnapshotKind Kind, DateTimeOffset Created);

    protected abstract void CreateStorage(string id, Meta? parent);
    protected abstract void DeleteStorage(string id);
    protected abstract IReadOnlyList<MountSpec> MountsOf(Meta snapshot);

    /// <summary>The directory a layer tar is unpacked into, and where its files are read back for OpenDiff.</summary>
    internal abstract string ContentDirectory(string id);

    /// <summary>The directories, top first, that make up the snapshot's view below its own content (overlay lowers; copies: none).</summary>
    internal virtual IReadOnlyList<string> LowerDirectories(Meta snapshot) => [];

    internal Meta Require(string key) => Read(key) ?? throw new StorageException($"snapshot {key} does not exist");

    public IReadOnlyList<MountSpec> Prepare(string key, string? parent) => Create(key, parent, SnapshotKind.Active);
    public IReadOnlyList<MountSpec> View(string key, string? parent) => Create(key, parent, SnapshotKind.View);

    private IReadOnlyList<MountSpec> Create(string key, string? parent, SnapshotKind kind)
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
            try
            {
                CreateStorage(id, parentMeta);
                var meta = new Meta(key, id, parent, kind, DateTimeOffset.UtcNow);
                Write(meta);
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

    public void Remove(string key)
    {
        lock (gate)
        {
            var meta = Require(key);
            if (AllMeta().FirstOrDefault(m => m.Parent == key) is { } child)
                throw new LayerInUseException($"snapshot {key}", $"snapshot {child.Key}");
            File.Delete(MetaPath(key));
            DeleteStorage(meta.Id);
        }
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
                if (ids.Contains(id)) continue;
                problems.Add($"snapshot storage {id} has no record");
                if (!dryRun) { TryDeleteStorage(id); removed.Add(dir); }
            }
            foreach (var tmp in Directory.EnumerateFiles(metaDirectory, "*.tmp"))
            {
                problems.Add($"temp file {tmp}");
                if (!dryRun) { File.Delete(tmp); removed.Add(tmp); }
            }
            RepairDriver(dryRun, ids, problems, removed);
        }
        return new ConsistencyReport(problems, removed);
    }

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
            ? new Meta(lines[0], lines[1], lines[2].Length == 0 ? null : lines[2], kind,
                DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(lines[4], CultureInfo.InvariantCulture)))
            : null;

    private void Write(Meta meta)
    {
        var path = MetaPath(meta.Key);
        var tmp = path + "." + Environment.ProcessId + ".tmp";
        DurableFile.WriteAtomic(path, tmp, $"{meta.Key}\n{meta.Id}\n{meta.Parent}\n{meta.Kind}\n{meta.Created.ToUnixTimeMilliseconds()}\n");
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
