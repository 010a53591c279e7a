using System.Diagnostics;
using System.Security.Cryptography;
using Berth.Linux;
using Berth.Storage.Archive;
using static Berth.Linux.OpenFlags;

namespace Berth.Storage.Snapshots;

/// <summary>
/// overlay2, laid out like Docker's: snapshots/&lt;id&gt;/diff (the layer's files, whiteouts as 0:0 char devices),
/// work/, link (a 26-character name) and lower (the parents' links, top first); l/&lt;link&gt; → ../snapshots/&lt;id&gt;/diff.
/// Mount options use the short "l/XXXX" lowerdirs relative to the driver home, so 120+ layers fit one page.
/// </summary>
internal sealed class OverlaySnapshotter : Snapshotter
{
    private readonly string links;

    private readonly SpareStorage spares;

    public OverlaySnapshotter(ISyscalls sys, string home) : base(sys, home)
    {
        links = Path.Combine(home, "l");
        Directory.CreateDirectory(links);
        spares = new SpareStorage(sys, SnapshotsDirectory);
    }

    protected override bool IsSpare(string directoryName) => spares.Owns(directoryName);

    public override string Driver => "overlay2";
    internal override WhiteoutStyle Whiteouts => WhiteoutStyle.Overlay;
    internal override string ContentDirectory(string id) => Path.Combine(SnapshotsDirectory, id, "diff");

    protected override void CreateStorage(string id, Meta? parent, IMetadataSync? sync)
    {
        var dir = Path.Combine(SnapshotsDirectory, id);
        if (!spares.TakeAs(dir))
        {
            Directory.CreateDirectory(Path.Combine(dir, "diff"));
            Directory.CreateDirectory(Path.Combine(dir, "work"));
        }
        var link = NewLink();
        File.CreateSymbolicLink(Path.Combine(links, link), $"../snapshots/{id}/diff");
        DurableFile.Write(Path.Combine(dir, "link"), link, sync); // the snapshot's meta record, written after, publishes it
        if (parent is not null)
        {
            var parentDir = Path.Combine(SnapshotsDirectory, parent.Id);
            var parentLower = ReadOrEmpty(Path.Combine(parentDir, "lower"));
            var lower = "l/" + File.ReadAllText(Path.Combine(parentDir, "link")) + (parentLower.Length > 0 ? ":" + parentLower : "");
            DurableFile.Write(Path.Combine(dir, "lower"), lower, sync);
        }
    }

    protected override void DeleteStorage(string id)
    {
        var dir = Path.Combine(SnapshotsDirectory, id);
        var link = ReadOrEmpty(Path.Combine(dir, "link"));
        if (link.Length > 0) File.Delete(Path.Combine(links, link));
        DeleteTree(dir);
    }

    protected override string? SetStorageAside(string id)
    {
        var link = ReadOrEmpty(Path.Combine(SnapshotsDirectory, id, "link"));
        if (link.Length > 0) File.Delete(Path.Combine(links, link));
        return RenameStorageAside(id);
    }

    protected override IReadOnlyList<MountSpec> MountsOf(Meta snapshot)
    {
        var dir = Path.Combine(SnapshotsDirectory, snapshot.Id);
        var lower = ReadOrEmpty(Path.Combine(dir, "lower"));
        if (snapshot.Kind == SnapshotKind.View)
        {
            if (lower.Length == 0) return [new MountSpec("bind", Path.Combine(dir, "diff"), ["rbind", "ro"])];
            if (!lower.Contains(':')) return [new MountSpec("bind", Path.GetFullPath(Path.Combine(Home, lower)), ["rbind", "ro"])];
            return [new MountSpec("overlay", "overlay", ["ro", "lowerdir=" + lower], Home)];
        }
        if (lower.Length == 0)
            return [new MountSpec("bind", Path.Combine(dir, "diff"), [snapshot.Kind == SnapshotKind.Committed ? "ro" : "rw", "rbind"])];
        return [new MountSpec("overlay", "overlay",
            ["lowerdir=" + lower, "upperdir=" + Path.Combine(dir, "diff"), "workdir=" + Path.Combine(dir, "work")], Home)];
    }

    internal override IReadOnlyList<string> LowerDirectories(Meta snapshot)
    {
        var lower = ReadOrEmpty(Path.Combine(SnapshotsDirectory, snapshot.Id, "lower"));
        return lower.Length == 0 ? [] : [.. lower.Split(':').Select(l => Path.GetFullPath(Path.Combine(Home, l)))];
    }

    protected override void RepairDriver(bool dryRun, HashSet<string> liveIds, List<string> problems, List<string> removed)
    {
        foreach (var link in Directory.EnumerateFileSystemEntries(links))
        {
            var target = new FileInfo(link).LinkTarget;
            var id = target is null ? null : target.Split('/') is [.., var i, "diff"] ? i : null;
            if (id is not null && liveIds.Contains(id)) continue;
            problems.Add($"dangling layer link {Path.GetFileName(link)}");
            if (!dryRun) { File.Delete(link); removed.Add(link); }
        }
    }

    private static string NewLink()
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        return RandomNumberGenerator.GetString(alphabet, 26);
    }

    private static string ReadOrEmpty(string path) => File.Exists(path) ? File.ReadAllText(path).Trim() : "";
}

/// <summary>vfs: every snapshot a full copy of its parent (cp -a keeps links, devices, owners, xattrs). Works on any filesystem.</summary>
internal sealed class VfsSnapshotter(ISyscalls sys, string home) : Snapshotter(sys, home)
{
    public override string Driver => "vfs";
    internal override WhiteoutStyle Whiteouts => WhiteoutStyle.Delete;
    internal override string ContentDirectory(string id) => Path.Combine(SnapshotsDirectory, id, "fs");

    protected override void CreateStorage(string id, Meta? parent, IMetadataSync? sync)
    {
        var dir = Path.Combine(SnapshotsDirectory, id);
        Directory.CreateDirectory(dir);
        if (parent is null) Directory.CreateDirectory(Path.Combine(dir, "fs"));
        else CopyTree(ContentDirectory(parent.Id), Path.Combine(dir, "fs"));
    }

    internal static void CopyTree(string source, string target)
    {
        var psi = new ProcessStartInfo("cp", ["-a", "--reflink=auto", source, target]) { RedirectStandardError = true };
        using var cp = Process.Start(psi)!;
        var error = cp.StandardError.ReadToEnd();
        cp.WaitForExit();
        if (cp.ExitCode != 0) throw new StorageException($"copying a snapshot failed: {error.Trim()}");
    }

    protected override void DeleteStorage(string id) => DeleteTree(Path.Combine(SnapshotsDirectory, id));

    protected override string? SetStorageAside(string id) => RenameStorageAside(id);

    protected override IReadOnlyList<MountSpec> MountsOf(Meta snapshot)
        => [new MountSpec("bind", ContentDirectory(snapshot.Id), [snapshot.Kind == SnapshotKind.Active ? "rw" : "ro", "rbind"])];
}

/// <summary>btrfs: every snapshot a subvolume (snapshots/&lt;id&gt;/fs), children are btrfs snapshots of their parent: O(1) and shared blocks.</summary>
internal sealed class BtrfsSnapshotter : Snapshotter
{
    public BtrfsSnapshotter(ISyscalls sys, string home) : base(sys, home)
    {
        if (!sys.IsBtrfs(home)) throw new StorageException($"the btrfs driver needs {home} on a btrfs filesystem");
    }

    public override string Driver => "btrfs";
    internal override WhiteoutStyle Whiteouts => WhiteoutStyle.Delete;
    internal override string ContentDirectory(string id) => Path.Combine(SnapshotsDirectory, id, "fs");

    protected override void CreateStorage(string id, Meta? parent, IMetadataSync? sync)
    {
        var dir = Path.Combine(SnapshotsDirectory, id);
        Directory.CreateDirectory(dir);
        using var dirHandle = Sys.OpenAt(null, dir, O_RDONLY | O_DIRECTORY);
        if (parent is null) Sys.BtrfsCreateSubvolume(dirHandle, "fs");
        else
        {
            using var source = Sys.OpenAt(null, ContentDirectory(parent.Id), O_RDONLY | O_DIRECTORY);
            Sys.BtrfsSnapshot(source, dirHandle, "fs", readOnly: false);
        }
    }

    protected override void DeleteStorage(string id)
    {
        var dir = Path.Combine(SnapshotsDirectory, id);
        if (Directory.Exists(Path.Combine(dir, "fs")))
        {
            using var dirHandle = Sys.OpenAt(null, dir, O_RDONLY | O_DIRECTORY);
            Sys.BtrfsDeleteSubvolume(dirHandle, "fs");
        }
        DeleteTree(dir);
    }

    protected override IReadOnlyList<MountSpec> MountsOf(Meta snapshot)
        => [new MountSpec("bind", ContentDirectory(snapshot.Id), [snapshot.Kind == SnapshotKind.Active ? "rw" : "ro", "rbind"])];
}
