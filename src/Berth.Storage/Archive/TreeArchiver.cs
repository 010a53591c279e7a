using Berth.Linux;
using Microsoft.Win32.SafeHandles;
using static Berth.Linux.OpenFlags;

namespace Berth.Storage.Archive;

/// <summary>
/// Writes directory trees as tar, walking with directory fds (openat + O_NOFOLLOW, statx relative to the fd), so
/// a container that swaps a directory for a symlink cannot make export read outside its root. Names are sorted,
/// hard links kept (one copy, then links), xattrs kept.
/// </summary>
internal sealed class TreeArchiver(ISyscalls sys, TarBuilder tar, bool overlayWhiteouts)
{
    private readonly Dictionary<(uint, uint, ulong), string> links = [];

    /// <summary>The whole tree under <paramref name="rootPath"/> (export; or an overlay upper dir, converting whiteouts to OCI form).</summary>
    public void WriteTree(string rootPath)
    {
        using var root = sys.OpenAt(null, rootPath, O_RDONLY | O_DIRECTORY);
        WriteChildren(root, "");
    }

    private void WriteChildren(SafeFileHandle dir, string relative)
    {
        foreach (var name in SortedNames(dir))
        {
            if (!sys.Lstat(dir, name, out var st)) continue; // vanished meanwhile (a running container)
            var path = relative.Length == 0 ? name : relative + "/" + name;
            if (overlayWhiteouts && st.Type == FileTypes.S_IFCHR && st.RdevMajor == 0 && st.RdevMinor == 0)
            {
                tar.Add(new TarItem(Whiteout(relative, name), (byte)'0', 0, 0, 0, 0, st.MtimeNanoseconds / 1_000_000_000));
                continue;
            }
            if (st.IsDirectory)
            {
                using var child = sys.OpenAt(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                var xattrs = Xattrs(child, null);
                tar.Add(new TarItem(path, (byte)'5', st.Mode, st.Uid, st.Gid, 0, st.MtimeNanoseconds / 1_000_000_000, Xattrs: xattrs));
                if (overlayWhiteouts && sys.FGetXattr(child, "trusted.overlay.opaque") is [(byte)'y'])
                    tar.Add(new TarItem(path + "/" + TarApplier.OpaqueWhiteout, (byte)'0', 0, 0, 0, 0, st.MtimeNanoseconds / 1_000_000_000));
                WriteChildren(child, path);
            }
            else WriteEntry(dir, name, path, st);
        }
    }

    /// <summary>One non-directory entry (a directory header too, without recursing), as `docker diff`'s commit needs.</summary>
    public void WriteEntry(SafeFileHandle dir, string name, string path, in FileStatus st)
    {
        var mtime = st.MtimeNanoseconds / 1_000_000_000;
        if (st.IsDirectory)
        {
            using var child = sys.OpenAt(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
            tar.Add(new TarItem(path, (byte)'5', st.Mode, st.Uid, st.Gid, 0, mtime, Xattrs: Xattrs(child, null)));
            return;
        }
        if (st.Links > 1)
        {
            var key = (st.DeviceMajor, st.DeviceMinor, st.Inode);
            if (links.TryGetValue(key, out var first))
            {
                tar.Add(new TarItem(path, (byte)'1', st.Mode, st.Uid, st.Gid, 0, mtime, first));
                return;
            }
            links[key] = path;
        }
        switch (st.Type)
        {
            case FileTypes.S_IFREG:
            {
                using var file = sys.OpenAt(dir, name, O_RDONLY | O_NOFOLLOW);
                using var data = st.Size == 0 ? null : new FileStream(file, FileAccess.Read, 1);
                tar.Add(new TarItem(path, (byte)'0', st.Mode, st.Uid, st.Gid, st.Size, mtime, Xattrs: Xattrs(file, null)), data);
                break;
            }
            case FileTypes.S_IFLNK:
                tar.Add(new TarItem(path, (byte)'2', st.Mode, st.Uid, st.Gid, 0, mtime, sys.ReadLinkAt(dir, name), Xattrs: Xattrs(null, ProcPath(dir, name))));
                break;
            case FileTypes.S_IFCHR or FileTypes.S_IFBLK or FileTypes.S_IFIFO:
                tar.Add(new TarItem(path, st.Type switch { FileTypes.S_IFCHR => (byte)'3', FileTypes.S_IFBLK => (byte)'4', _ => (byte)'6' },
                    st.Mode, st.Uid, st.Gid, 0, mtime, null, st.RdevMajor, st.RdevMinor, Xattrs(null, ProcPath(dir, name))));
                break;
            default:
                break; // sockets are not archived (as tar does)
        }
    }

    public static string Whiteout(string parent, string name) => (parent.Length == 0 ? "" : parent + "/") + TarApplier.WhiteoutPrefix + name;

    private List<KeyValuePair<string, byte[]>>? Xattrs(SafeFileHandle? file, string? path)
    {
        var names = file is not null ? sys.FListXattr(file) : sys.LListXattr(path!);
        if (names.Count == 0) return null;
        List<KeyValuePair<string, byte[]>>? result = null;
        foreach (var key in names)
        {
            if (key.StartsWith("trusted.overlay.", StringComparison.Ordinal)) continue;
            var value = file is not null ? sys.FGetXattr(file, key) : sys.LGetXattr(path!, key);
            if (value is not null) (result ??= []).Add(new(key, value));
        }
        return result;
    }

    internal static string ProcPath(SafeFileHandle dir, string name) => $"/proc/self/fd/{dir.DangerousGetHandle()}/{name}";

    internal static List<string> SortedNames(SafeFileHandle dir)
    {
        var names = new List<string>();
        foreach (var entry in Directory.EnumerateFileSystemEntries($"/proc/self/fd/{dir.DangerousGetHandle()}")) names.Add(Path.GetFileName(entry));
        names.Sort(StringComparer.Ordinal);
        return names;
    }
}
