using Berth.Linux;
using Berth.Storage.Archive;
using Berth.Storage.Snapshots;
using Microsoft.Win32.SafeHandles;
using static Berth.Linux.OpenFlags;

namespace Berth.Storage;

/// <summary>A container's writable snapshot ("container-&lt;id&gt;") on top of an image chain.</summary>
internal sealed class ContainerLayerImpl(LayerStore store, string id, string? parentChainId) : ContainerLayer
{
    private readonly Lock gate = new();
    private readonly ISyscalls sys = LinuxSyscalls.Instance;
    private int mounts;

    public override string Id => id;
    public override string? ParentChainId => parentChainId;

    private Snapshotter Snapshots => store.Snapshots;
    private Snapshotter.Meta Meta => Snapshots.Require(store.SnapshotKey(id));
    private string Upper => Snapshots.ContentDirectory(Meta.Id);
    private string MergedDirectory => Path.Combine(Path.GetDirectoryName(Upper)!, "merged");

    public override IReadOnlyList<MountSpec> Mounts() => Snapshots.Mounts(store.SnapshotKey(id));

    /// <summary>Copy drivers (and overlay with no parent) need no mount: the snapshot directory is the rootfs.</summary>
    private bool NeedsMount => Mounts() is [{ Type: "overlay" }];

    public override string Mount()
    {
        if (!NeedsMount) return Upper;
        lock (gate)
        {
            var target = MergedDirectory;
            if (mounts++ == 0)
            {
                Directory.CreateDirectory(target);
                try { Mounter.Mount(Mounts()[0], target, sys); }
                catch { mounts--; throw; }
            }
            return target;
        }
    }

    public override void Unmount()
    {
        if (!NeedsMount) return;
        lock (gate)
        {
            if (mounts == 0) return;
            if (--mounts == 0) Mounter.Unmount(MergedDirectory, sys);
        }
    }

    internal void ForceUnmount()
    {
        lock (gate)
        {
            if (mounts > 0 || IsMountPoint(MergedDirectory)) Mounter.Unmount(MergedDirectory, sys);
            mounts = 0;
        }
    }

    private static bool IsMountPoint(string path)
    {
        if (!Directory.Exists(path)) return false;
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
            if (line.Split(' ') is { Length: > 4 } fields && fields[4] == path) return true;
        return false;
    }

    public override IReadOnlyList<Change> Changes()
    {
        var meta = Meta;
        if (Snapshots.Whiteouts == WhiteoutStyle.Overlay)
            return TreeChanges.Overlay(sys, Upper, Snapshots.LowerDirectories(meta));
        var lower = meta.Parent is null ? null : Snapshots.ContentDirectory(Snapshots.Require(meta.Parent).Id);
        return TreeChanges.Compare(sys, lower, Upper);
    }

    public override void WriteDiff(Stream tarOut)
    {
        var tar = new TarBuilder(tarOut);
        if (Snapshots.Whiteouts == WhiteoutStyle.Overlay)
        {
            new TreeArchiver(sys, tar, overlayWhiteouts: true).WriteTree(Upper);
        }
        else
        {
            var archiver = new TreeArchiver(sys, tar, overlayWhiteouts: false);
            using var root = sys.OpenAt(null, Upper, O_RDONLY | O_DIRECTORY);
            foreach (var change in Changes())
            {
                var path = change.Path.TrimStart('/');
                var (parentPath, name) = TarApplier.Split(path);
                if (change.Kind == ChangeKind.Deleted)
                {
                    tar.Add(new TarItem(TreeArchiver.Whiteout(parentPath, name), (byte)'0', 0, 0, 0, 0, 0));
                    continue;
                }
                using var parent = parentPath.Length == 0 ? null
                    : sys.TryOpenAt2(root, parentPath, O_PATH | O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, out _);
                var dir = parent ?? root;
                if (sys.Lstat(dir, name, out var st)) archiver.WriteEntry(dir, name, path, st);
            }
        }
        tar.Finish();
    }

    public override void Export(Stream tarOut)
    {
        var rootfs = Mount();
        try
        {
            var tar = new TarBuilder(tarOut);
            new TreeArchiver(sys, tar, overlayWhiteouts: false).WriteTree(rootfs);
            tar.Finish();
        }
        finally { Unmount(); }
    }
}

/// <summary>`docker diff` by two methods: reading an overlay upper dir, or comparing two full trees (vfs, btrfs).</summary>
internal static class TreeChanges
{
    public static IReadOnlyList<Change> Overlay(ISyscalls sys, string upper, IReadOnlyList<string> lowers)
    {
        var changes = new List<Change>();
        var changedDirs = new HashSet<string>(StringComparer.Ordinal);
        using var root = sys.OpenAt(null, upper, O_RDONLY | O_DIRECTORY);
        Walk(root, "");
        changes.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return changes;

        void Walk(SafeFileHandle dir, string relative)
        {
            foreach (var name in TreeArchiver.SortedNames(dir))
            {
                if (!sys.Lstat(dir, name, out var st)) continue;
                var path = relative + "/" + name;
                ChangeKind kind;
                SafeFileHandle? child = st.IsDirectory ? sys.OpenAt(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) : null;
                using (child)
                {
                    var whiteout = st.Type == FileTypes.S_IFCHR && st.RdevMajor == 0 && st.RdevMinor == 0;
                    var opaque = child is not null && sys.FGetXattr(child, "trusted.overlay.opaque") is [(byte)'y'];
                    var skip = false;
                    if (whiteout || opaque) kind = ChangeKind.Deleted;
                    else
                    {
                        kind = ChangeKind.Added;
                        var lowerStatus = FindInLowers(path);
                        if (lowerStatus is { } ls)
                        {
                            kind = ChangeKind.Modified;
                            skip = st.IsDirectory && ls.IsDirectory && st.Mode == ls.Mode && st.MtimeNanoseconds == ls.MtimeNanoseconds;
                        }
                    }
                    if (!skip)
                    {
                        if (st.IsDirectory) changedDirs.Add(path);
                        // the directories above a change are reported as changed (as Docker's naive differ does), ancestors too
                        for (var parent = relative; parent.Length > 0 && changedDirs.Add(parent); parent = parent[..parent.LastIndexOf('/')])
                            changes.Add(new Change(ChangeKind.Modified, parent));
                        changes.Add(new Change(kind, path));
                    }
                    if (child is not null) Walk(child, path);
                }
            }
        }

        FileStatus? FindInLowers(string path)
        {
            foreach (var lower in lowers)
            {
                if (!sys.Lstat(null, lower + path, out var st)) continue;
                if (st.Type == FileTypes.S_IFCHR && st.RdevMajor == 0 && st.RdevMinor == 0) return null;
                return st;
            }
            return null;
        }
    }

    public static IReadOnlyList<Change> Compare(ISyscalls sys, string? lower, string upper)
    {
        var changes = new List<Change>();
        using var upperRoot = sys.OpenAt(null, upper, O_RDONLY | O_DIRECTORY);
        using var lowerRoot = lower is null ? null : sys.OpenAt(null, lower, O_RDONLY | O_DIRECTORY);
        Walk(lowerRoot, upperRoot, "");
        changes.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return changes;

        void Walk(SafeFileHandle? lowerDir, SafeFileHandle upperDir, string relative)
        {
            var lowerNames = lowerDir is null ? [] : TreeArchiver.SortedNames(lowerDir).ToHashSet(StringComparer.Ordinal);
            foreach (var name in TreeArchiver.SortedNames(upperDir))
            {
                if (!sys.Lstat(upperDir, name, out var st)) continue;
                var path = relative + "/" + name;
                FileStatus lst = default;
                var inLower = lowerNames.Remove(name) && sys.Lstat(lowerDir, name, out lst);
                var before = changes.Count;
                var changed = !inLower || Differs(st, lst, upperDir, lowerDir!, name);
                if (st.IsDirectory)
                {
                    using var upperChild = sys.OpenAt(upperDir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                    using var lowerChild = inLower && lst.IsDirectory ? sys.OpenAt(lowerDir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) : null;
                    Walk(lowerChild, upperChild, path);
                }
                // a directory whose contents changed is reported as changed, as Docker does
                if (changed || changes.Count > before) changes.Insert(before, new Change(inLower ? ChangeKind.Modified : ChangeKind.Added, path));
            }
            foreach (var gone in lowerNames) changes.Add(new Change(ChangeKind.Deleted, relative + "/" + gone));
        }

        bool Differs(in FileStatus a, in FileStatus b, SafeFileHandle upperDir, SafeFileHandle lowerDir, string name)
        {
            if (a.Mode != b.Mode || a.Uid != b.Uid || a.Gid != b.Gid) return true;
            if (a.IsDirectory) return false;
            if (a.MtimeNanoseconds != b.MtimeNanoseconds || a.Size != b.Size || a.RdevMajor != b.RdevMajor || a.RdevMinor != b.RdevMinor) return true;
            return a.IsSymlink && sys.ReadLinkAt(upperDir, name) != sys.ReadLinkAt(lowerDir, name);
        }
    }
}
