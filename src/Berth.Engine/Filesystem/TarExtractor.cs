using System.Formats.Tar;
using Berth.Linux;
using Microsoft.Win32.SafeHandles;
using static Berth.Linux.OpenFlags;

namespace Berth.Engine.Filesystem;

/// <summary>How docker cp extracts: Docker's NoOverwriteDirNonDir, and one owner for everything (copyUIDGID) or the tar's.</summary>
internal sealed record ExtractOptions(bool NoOverwriteDirNonDir, (int Uid, int Gid)? Owner);

/// <summary>
/// Extracts a tar into a directory of a container without ever touching anything outside the container's root:
/// every parent is opened with openat2(RESOLVE_IN_ROOT) on the container's root (a symlink in the container,
/// absolute or climbing, resolves inside it, as dockerd's chrooted untar does), every final component is created
/// relative to that parent without following it, owners and modes are set through the fd just created, and
/// entry names or hard-link targets that climb out of the destination are refused (Docker's breakout check).
/// <paramref name="destination"/> is a container path; <paramref name="places"/> says which root (the rootfs, a bind or
/// a volume) each entry lies in, so an entry below a mount point goes into the mount, and one in a read-only mount
/// fails as Docker's untar fails there.
/// </summary>
internal sealed class TarExtractor(ISyscalls sys, ExtractionPlaces places, string destination, string displayDestination, ExtractOptions options) : IDisposable
{
    private const ulong InRoot = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    private readonly List<(SafeFileHandle Root, string Path, long Mtime)> directoryTimes = [];
    private SafeFileHandle? cachedParentRoot;
    private string? cachedParentPath;
    private SafeFileHandle? cachedParent;
    private SafeFileHandle? procFds;

    public void Extract(Stream input, CancellationToken cancellationToken)
    {
        using var reader = new TarReader(input, leaveOpen: true);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            TarEntry? entry;
            try { entry = reader.GetNextEntry(copyData: false); }
            catch (Exception e) when (e is EndOfStreamException or InvalidDataException or FormatException or ArgumentException)
            {
                throw new InvalidParameterException($"invalid tar archive: {e.Message}", e);
            }
            if (entry is null) break;
            if (entry.EntryType is TarEntryType.GlobalExtendedAttributes) continue;
            var relative = ContainerPaths.RelativeInside(entry.Name)
                ?? throw new InvalidParameterException($"invalid tar archive: \"{entry.Name}\" is outside of \"{displayDestination}\"");
            if (relative.Length == 0) continue; // "." is the destination itself, which exists: Docker leaves it as it is
            ExtractEntry(entry, Join(destination, relative));
        }
        // Directory times last, deepest first: creating their children changed them.
        for (var i = directoryTimes.Count - 1; i >= 0; i--)
        {
            var (root, path, mtime) = directoryTimes[i];
            using var dir = sys.TryOpenAt2(root, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, InRoot, out _);
            if (dir is not null) sys.Futimens(dir, mtime, mtime);
        }
    }

    private static string Join(string directory, string relative) => directory == "/" ? "/" + relative : directory + "/" + relative;

    private void ExtractEntry(TarEntry entry, string path)
    {
        var isDirectory = entry.EntryType == TarEntryType.Directory;
        var (root, inRoot, mount) = places.Entry(path);
        // Docker's untar writes through the mounts it has made read-only, and fails there.
        if (mount is { Writable: false })
            throw new EngineFailureException($"Error processing tar file(exit status 1): {(isDirectory ? "lchown" : "open")} {path}: read-only file system");
        if (inRoot == "/")
        {
            ExtractOntoMountRoot(entry, root, path);
            return;
        }
        var slash = inRoot.LastIndexOf('/');
        var parentPath = slash <= 0 ? "/" : inRoot[..slash];
        var name = inRoot[(slash + 1)..];
        var parent = Parent(root, parentPath);
        var exists = sys.Lstat(parent, name, out var existing);
        if (exists && options.NoOverwriteDirNonDir)
        {
            if (existing.IsDirectory && !isDirectory)
                throw new InvalidParameterException($"cannot overwrite directory \"{path}\" with non-directory \"{displayDestination}\"");
            if (!existing.IsDirectory && isDirectory)
                throw new InvalidParameterException($"cannot overwrite non-directory \"{path}\" with directory \"{displayDestination}\"");
        }
        if (exists && !(existing.IsDirectory && isDirectory))
        {
            RemoveAll(parent, name, existing);
            places.Changed();
            exists = false;
        }
        var (uid, gid) = options.Owner ?? (entry.Uid, entry.Gid);
        var mode = (int)entry.Mode & 0xFFF;
        var mtime = entry.ModificationTime.ToUnixTimeSeconds() * 1_000_000_000L;
        switch (entry.EntryType)
        {
            case TarEntryType.Directory:
            {
                if (!exists) sys.MkdirAt(parent, name, 0x1C0);
                using var dir = sys.OpenAt(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                sys.Fchown(dir, uid, gid);
                sys.Fchmod(dir, mode);
                directoryTimes.Add((root, inRoot, mtime));
                break;
            }
            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
            {
                using var file = sys.OpenAt(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0x180);
                if (entry.DataStream is { } data)
                {
                    // Not disposed: disposing the FileStream would close the handle still needed below.
                    var output = new FileStream(file, FileAccess.Write, 1);
                    data.CopyTo(output, 1 << 20);
                    output.Flush();
                }
                sys.Fchown(file, uid, gid);
                sys.Fchmod(file, mode);
                sys.Futimens(file, mtime, mtime);
                break;
            }
            case TarEntryType.SymbolicLink:
                sys.SymlinkAt(entry.LinkName, parent, name);
                sys.LchownAt(parent, name, uid, gid);
                sys.LutimesAt(parent, name, mtime, mtime);
                places.Changed();
                break;
            case TarEntryType.HardLink:
            {
                var target = ContainerPaths.RelativeInside(entry.LinkName);
                if (target is null or "")
                    throw new InvalidParameterException($"invalid tar archive: hard link \"{entry.Name}\" to \"{entry.LinkName}\" is outside of \"{displayDestination}\"");
                var (targetRoot, targetPath, _) = places.Entry(Join(destination, target));
                var targetSlash = targetPath.LastIndexOf('/');
                using var targetParent = sys.TryOpenAt2(targetRoot, targetSlash <= 0 ? "/" : targetPath[..targetSlash], O_PATH | O_DIRECTORY, InRoot, out _)
                    ?? throw new InvalidParameterException($"invalid tar archive: hard link \"{entry.Name}\" to missing \"{entry.LinkName}\"");
                sys.LinkAt(targetParent, targetPath[(targetSlash + 1)..], parent, name);
                break;
            }
            case TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Fifo:
            {
                var type = entry.EntryType switch
                {
                    TarEntryType.CharacterDevice => FileTypes.S_IFCHR,
                    TarEntryType.BlockDevice => FileTypes.S_IFBLK,
                    _ => FileTypes.S_IFIFO,
                };
                sys.MknodAt(parent, name, type | (mode & 0x1FF), entry is PosixTarEntry posix ? FileTypes.MakeDevice((uint)posix.DeviceMajor, (uint)posix.DeviceMinor) : 0);
                sys.LchownAt(parent, name, uid, gid);
                // chmod through the node's own fd (/proc/self/fd/N names the inode, never a symlink swapped in).
                using (var node = sys.OpenAt(parent, name, O_PATH | O_NOFOLLOW))
                    sys.FchmodAt(ProcFds(), node.DangerousGetHandle().ToString(System.Globalization.CultureInfo.InvariantCulture), mode);
                sys.LutimesAt(parent, name, mtime, mtime);
                break;
            }
            default:
                break; // PAX/GNU metadata entries are consumed by the reader; anything else is skipped, as Docker's untar does
        }
    }

    /// <summary>
    /// A directory entry at a mount's root (a bind's or volume's source): it takes the entry's owner, mode and time,
    /// as the mounted directory does in Docker's extraction; anything else cannot replace a mount point.
    /// </summary>
    private void ExtractOntoMountRoot(TarEntry entry, SafeFileHandle root, string path)
    {
        if (entry.EntryType != TarEntryType.Directory)
            throw new EngineFailureException($"Error processing tar file(exit status 1): unlinkat {path}: device or resource busy");
        var (uid, gid) = options.Owner ?? (entry.Uid, entry.Gid);
        using var dir = sys.OpenAt(root, ".", O_RDONLY | O_DIRECTORY);
        sys.Fchown(dir, uid, gid);
        sys.Fchmod(dir, (int)entry.Mode & 0xFFF);
        directoryTimes.Add((root, "/", entry.ModificationTime.ToUnixTimeSeconds() * 1_000_000_000L));
    }

    /// <summary>The parent directory of an entry in <paramref name="root"/>, created (0755, root) when the archive did not make it.</summary>
    private SafeFileHandle Parent(SafeFileHandle root, string parentPath)
    {
        if (cachedParentPath == parentPath && cachedParentRoot == root && cachedParent is not null) return cachedParent;
        cachedParent?.Dispose();
        cachedParent = null;
        cachedParentPath = null;
        cachedParentRoot = null;
        var handle = sys.TryOpenAt2(root, parentPath, O_PATH | O_DIRECTORY, InRoot, out var errno);
        if (handle is null)
        {
            if (errno == Errno.ENOTDIR) throw new InvalidParameterException($"cannot extract into \"{parentPath}\": not a directory");
            if (errno != Errno.ENOENT) throw new SyscallException("openat2", errno, parentPath);
            var slash = parentPath.LastIndexOf('/');
            var grandparent = Parent(root, slash <= 0 ? "/" : parentPath[..slash]);
            var name = parentPath[(slash + 1)..];
            try { sys.MkdirAt(grandparent, name, 0x1ED); }
            catch (SyscallException e) when (e.ErrorNumber == Errno.EEXIST)
            {
                // Something that is not a directory (a dangling symlink) is in the way, as Docker's untar fails there too.
                throw new InvalidParameterException($"cannot extract into \"{parentPath}\": not a directory");
            }
            using (var made = sys.OpenAt(grandparent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)) sys.Fchown(made, 0, 0);
            cachedParent?.Dispose();
            cachedParent = null;
            handle = sys.OpenAt2(root, parentPath, O_PATH | O_DIRECTORY, InRoot);
        }
        cachedParent = handle;
        cachedParentPath = parentPath;
        cachedParentRoot = root;
        return handle;
    }

    private void RemoveAll(SafeFileHandle parent, string name, in FileStatus status)
    {
        if (status.IsDirectory)
        {
            using (var dir = sys.OpenAt(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW))
                foreach (var child in TreeTarWriter.SortedNames(dir))
                    if (sys.Lstat(dir, child, out var st)) RemoveAll(dir, child, st);
            var rc = sys.UnlinkAt(parent, name, directoryEntry: true);
            if (rc != 0 && rc != Errno.ENOENT) throw new SyscallException("unlinkat", rc, name);
            return; // the cached parent is this entry's parent, above what was removed: still valid
        }
        var result = sys.UnlinkAt(parent, name, directoryEntry: false);
        if (result != 0 && result != Errno.ENOENT) throw new SyscallException("unlinkat", result, name);
    }

    private SafeFileHandle ProcFds() => procFds ??= sys.OpenAt(null, "/proc/self/fd", O_PATH | O_DIRECTORY);

    public void Dispose()
    {
        cachedParent?.Dispose();
        procFds?.Dispose();
    }
}
