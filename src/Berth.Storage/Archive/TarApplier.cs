using System.Buffers;
using System.Formats.Tar;
using System.Text;
using Berth.Linux;
using Microsoft.Win32.SafeHandles;
using static Berth.Linux.OpenFlags;

namespace Berth.Storage.Archive;

/// <summary>How a driver stores deletions: overlay's 0:0 char devices and opaque xattr, or deleting in a full copy.</summary>
internal enum WhiteoutStyle { Overlay, Delete }

internal sealed record ApplyResult(long ContentSize, long TarSize);

/// <summary>
/// Unpacks a layer tar into a directory without ever writing outside it: every parent is resolved with
/// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) (symlinks, absolute or climbing, stay inside the root), every
/// final component is created relative to that parent fd without following it (O_EXCL|O_NOFOLLOW, mknodat,
/// symlinkat), and names or hard-link targets that climb above the root are refused.
/// </summary>
internal sealed class TarApplier : IDisposable
{
    public const string WhiteoutPrefix = ".wh.", OpaqueWhiteout = ".wh..wh..opq", WhiteoutMetaPrefix = ".wh..wh.";
    private const ulong InRoot = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

    private readonly ISyscalls sys;
    private readonly SafeFileHandle root;
    private readonly WhiteoutStyle style;
    private readonly List<(string Path, long Mtime)> directoryTimes = [];
    private readonly HashSet<string>? createdHere;   // delete style: what this layer made (an opaque marker spares it)
    private readonly Dictionary<string, string> replacedContent = new(StringComparer.Ordinal);
    private readonly string? sideDirectory;
    private string? cachedParentPath;
    private SafeFileHandle? cachedParent;
    private bool cachedParentSetgid;

    /// <summary>The process umask (read once: umask(2) can only be read by setting it, which would race other threads).</summary>
    private static readonly int Umask = ReadUmask();

    private static int ReadUmask()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("Umask:", StringComparison.Ordinal))
                return Convert.ToInt32(line[6..].Trim(), 8);
        return 0x1FF; // unknown: always chmod
    }
    private byte[]? buffer;

    public TarApplier(ISyscalls sys, string rootPath, WhiteoutStyle style, string? sideDirectory = null)
    {
        this.sys = sys;
        this.style = style;
        this.sideDirectory = sideDirectory;
        root = sys.OpenAt(null, rootPath, O_RDONLY | O_DIRECTORY);
        if (style == WhiteoutStyle.Delete) createdHere = new(StringComparer.Ordinal);
    }

    /// <summary>Files that a later entry of the same tar replaced: their first content was kept aside for the tar-split replay.</summary>
    public IReadOnlyDictionary<string, string> ReplacedContent => replacedContent;

    public ApplyResult Apply(TarSplitCapture tar, CancellationToken ct)
    {
        long contentSize = 0;
        var recordedData = new Dictionary<string, int>(StringComparer.Ordinal); // path → content records so far
        using var reader = new TarReader(tar, leaveOpen: true);
        buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                TarEntry? entry;
                try { entry = reader.GetNextEntry(copyData: false); }
                catch (Exception e) when (e is EndOfStreamException or InvalidDataException or FormatException or ArgumentException)
                {
                    throw new InvalidLayerException($"truncated or corrupt layer tar: {e.Message}", e);
                }
                if (entry is null) break;
                if (entry.EntryType is TarEntryType.GlobalExtendedAttributes) continue;
                var path = Clean(entry.Name, entry.Name);
                if (path.Length == 0) continue; // the root itself ("./")
                var xattrs = PaxXattrs(tar.PendingHeaders, tar.PendingMisalignment);
                var (parentPath, name) = Split(path);
                if (name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
                {
                    var hidden = (parentPath.Length == 0 ? "" : parentPath + "/") + name[WhiteoutPrefix.Length..];
                    if (recordedData.TryGetValue(hidden, out var count)) KeepAside(hidden, count - 1);
                    Whiteout(parentPath, name);
                    continue;
                }
                if (recordedData.TryGetValue(path, out var records)) KeepAside(path, records - 1);
                var written = Extract(entry, path, parentPath, name, xattrs, tar);
                contentSize += written;
                if (written > 0) recordedData[path] = records + 1;
                createdHere?.Add(path);
            }
            try { tar.Finish(); }
            catch (EndOfStreamException e) { throw new InvalidLayerException($"truncated layer tar: {e.Message}", e); }
            SetDirectoryTimes();
            return new ApplyResult(contentSize, 0);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = null;
        }
    }

    private long Extract(TarEntry entry, string path, string parentPath, string name, Dictionary<string, byte[]>? xattrs, TarSplitCapture tar)
    {
        var parent = Parent(parentPath, path);
        var mode = (int)entry.Mode & 0xFFF;
        var mtime = entry.ModificationTime.ToUnixTimeMilliseconds() * 1_000_000L;
        switch (entry.EntryType)
        {
            case TarEntryType.Directory:
            {
                try { sys.MkdirAt(parent, name, Modes.Rwx______); }
                catch (SyscallException e) when (e.ErrorNumber == Errno.EEXIST)
                {
                    if (!sys.Lstat(parent, name, out var existing) || !existing.IsDirectory)
                    {
                        Remove(parent, name);
                        sys.MkdirAt(parent, name, Modes.Rwx______);
                    }
                }
                using var dir = sys.OpenAt(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                sys.Fchown(dir, entry.Uid, entry.Gid);
                sys.Fchmod(dir, mode);
                SetXattrs(dir, null, xattrs, path);
                directoryTimes.Add((path, mtime));
                return 0;
            }
            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
            {
                using var file = CreateExclusive(parent, name, path, mode & 0x1FF);
                long written = 0;
                tar.BeginData();
                try
                {
                    if (entry.DataStream is { } data)
                    {
                        int n;
                        while ((n = data.Read(buffer!)) > 0)
                        {
                            RandomAccess.Write(file, buffer.AsSpan(0, n), written);
                            written += n;
                        }
                    }
                }
                catch (EndOfStreamException e) { throw new InvalidLayerException($"truncated layer tar in the content of {path}", e); }
                finally { tar.EndData(path); }
                if (written != entry.Length) throw new InvalidLayerException($"truncated layer tar in the content of {path}");
                // Created by root with the mode (less the umask): owner and mode calls only when they change something.
                if (entry.Uid != 0 || entry.Gid != 0 || cachedParentSetgid || parentPath.Length == 0) sys.Fchown(file, entry.Uid, entry.Gid);
                if ((mode & ~0x1FF) != 0 || (mode & Umask) != 0) sys.Fchmod(file, mode); // after chown, which clears setuid/setgid
                SetXattrs(file, null, xattrs, path);
                sys.Futimens(file, mtime, mtime);
                return written;
            }
            case TarEntryType.SymbolicLink:
                Replace(parent, name, () => sys.SymlinkAt(entry.LinkName, parent, name));
                sys.LchownAt(parent, name, entry.Uid, entry.Gid);
                SetXattrs(null, ProcPath(parent, name), xattrs, path);
                sys.LutimesAt(parent, name, mtime, mtime);
                return 0;
            case TarEntryType.HardLink:
            {
                var target = Clean(entry.LinkName, entry.Name);
                if (target.Length == 0) throw new InvalidLayerException($"tar entry {entry.Name}: hard link to the layer root");
                var (targetParentPath, targetName) = Split(target);
                using var targetParent = sys.TryOpenAt2(root, targetParentPath.Length == 0 ? "." : targetParentPath, O_PATH | O_DIRECTORY, InRoot, out _)
                    ?? throw new InvalidLayerException($"tar entry {entry.Name}: hard link target {entry.LinkName} is not in the layer");
                if (!sys.Lstat(targetParent, targetName, out var targetStatus))
                    throw new InvalidLayerException($"tar entry {entry.Name}: hard link target {entry.LinkName} is not in the layer");
                if (targetStatus.IsDirectory) throw new InvalidLayerException($"tar entry {entry.Name}: hard link to a directory");
                if (targetParentPath == parentPath && targetName == name) return 0;
                Replace(parent, name, () => sys.LinkAt(targetParent, targetName, parent, name));
                return 0;
            }
            case TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Fifo:
            {
                var posix = (PosixTarEntry)entry;
                var type = entry.EntryType switch
                {
                    TarEntryType.CharacterDevice => FileTypes.S_IFCHR, TarEntryType.BlockDevice => FileTypes.S_IFBLK, _ => FileTypes.S_IFIFO,
                };
                var device = type == FileTypes.S_IFIFO ? 0UL : FileTypes.MakeDevice((uint)posix.DeviceMajor, (uint)posix.DeviceMinor);
                Replace(parent, name, () => sys.MknodAt(parent, name, type | Modes.Rw_______, device));
                sys.LchownAt(parent, name, entry.Uid, entry.Gid);
                sys.FchmodAt(parent, name, mode);
                SetXattrs(null, ProcPath(parent, name), xattrs, path);
                sys.LutimesAt(parent, name, mtime, mtime);
                return 0;
            }
            default:
                throw new InvalidLayerException($"tar entry {entry.Name}: unsupported entry type {entry.EntryType}");
        }
    }

    private SafeFileHandle CreateExclusive(SafeFileHandle parent, string name, string path, int mode)
    {
        const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;
        try { return sys.OpenAt(parent, name, flags, mode); }
        catch (SyscallException e) when (e.ErrorNumber == Errno.EEXIST)
        {
            Remove(parent, name);
            return sys.OpenAt(parent, name, flags, mode);
        }
        catch (SyscallException e) { throw new InvalidLayerException($"cannot create {path}: {e.Message}", e); }
    }

    /// <summary>Creates with <paramref name="create"/>; if the name exists (any type, a symlink included), removes it first.</summary>
    private void Replace(SafeFileHandle parent, string name, Action create)
    {
        try { create(); }
        catch (SyscallException e) when (e.ErrorNumber == Errno.EEXIST)
        {
            Remove(parent, name);
            create();
        }
    }

    private void Whiteout(string parentPath, string name)
    {
        if (name == OpaqueWhiteout)
        {
            var parent = Parent(parentPath, parentPath);
            if (style == WhiteoutStyle.Overlay)
            {
                using var dir = parentPath.Length == 0 ? sys.OpenAt(root, ".", O_RDONLY | O_DIRECTORY)
                    : sys.OpenAt2(root, parentPath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, InRoot);
                sys.FSetXattr(dir, "trusted.overlay.opaque", "y"u8);
            }
            else
            {
                using var dir = parentPath.Length == 0 ? sys.OpenAt(root, ".", O_RDONLY | O_DIRECTORY)
                    : sys.OpenAt2(root, parentPath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, InRoot);
                foreach (var child in ListNames(dir))
                    if (!createdHere!.Contains(parentPath.Length == 0 ? child : parentPath + "/" + child)) Remove(dir, child);
            }
            _ = parent;
            return;
        }
        if (name.StartsWith(WhiteoutMetaPrefix, StringComparison.Ordinal)) return; // aufs bookkeeping (.wh..wh.plnk etc.)
        var hidden = name[WhiteoutPrefix.Length..];
        if (hidden is "" or "." or "..") throw new InvalidLayerException($"invalid whiteout {parentPath}/{name}");
        var p = Parent(parentPath, parentPath);
        if (style == WhiteoutStyle.Overlay)
            Replace(p, hidden, () => sys.MknodAt(p, hidden, FileTypes.S_IFCHR, 0));
        else if (sys.Lstat(p, hidden, out _))
            Remove(p, hidden);
    }

    /// <summary>Resolves (creating when missing) a directory inside the root; never leaves it.</summary>
    private SafeFileHandle Parent(string parentPath, string forEntry)
    {
        if (parentPath.Length == 0) return root;
        if (cachedParentPath == parentPath && cachedParent is not null) return cachedParent;
        var fd = sys.TryOpenAt2(root, parentPath, O_PATH | O_DIRECTORY, InRoot, out var errno);
        if (fd is null)
        {
            if (errno != Errno.ENOENT) throw new InvalidLayerException($"tar entry {forEntry}: cannot open its directory {parentPath}: {Errno.Describe(errno)}");
            fd = CreateParents(parentPath, forEntry);
        }
        cachedParent?.Dispose();
        cachedParent = fd;
        cachedParentPath = parentPath;
        sys.Fstat(fd, out var st);
        cachedParentSetgid = (st.Mode & 0x400) != 0; // files made in a setgid directory take its group: chown them back
        return fd;
    }

    private SafeFileHandle CreateParents(string parentPath, string forEntry)
    {
        SafeFileHandle? current = null;
        var end = 0;
        while (end < parentPath.Length)
        {
            var slash = parentPath.IndexOf('/', end);
            end = slash < 0 ? parentPath.Length : slash;
            var prefix = parentPath[..end];
            var next = sys.TryOpenAt2(root, prefix, O_PATH | O_DIRECTORY, InRoot, out var errno);
            if (next is null && errno == Errno.ENOENT)
            {
                var (_, component) = Split(prefix);
                try { sys.MkdirAt(current ?? root, component, Modes.Rwxr_xr_x); }
                catch (SyscallException e) when (e.ErrorNumber == Errno.EEXIST)
                {
                    throw new InvalidLayerException($"tar entry {forEntry}: {prefix} is a symlink to a directory that does not exist in the layer");
                }
                next = sys.TryOpenAt2(root, prefix, O_PATH | O_DIRECTORY, InRoot, out errno);
            }
            if (next is null) throw new InvalidLayerException($"tar entry {forEntry}: {prefix} is not a directory ({Errno.Describe(errno)})");
            current?.Dispose();
            current = next;
            end++;
        }
        return current!;
    }

    /// <summary>Removes a name (a whole tree for a directory) relative to a directory fd, never following symlinks.</summary>
    private void Remove(SafeFileHandle parent, string name)
    {
        if (!sys.Lstat(parent, name, out var status)) return;
        if (status.IsDirectory)
        {
            InvalidateCache();
            using (var dir = sys.OpenAt(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW))
                foreach (var child in ListNames(dir)) Remove(dir, child);
            var rc = sys.UnlinkAt(parent, name, directoryEntry: true);
            if (rc != 0 && rc != Errno.ENOENT) throw new SyscallException("unlinkat", rc, name);
        }
        else
        {
            var rc = sys.UnlinkAt(parent, name, directoryEntry: false);
            if (rc != 0 && rc != Errno.ENOENT) throw new SyscallException("unlinkat", rc, name);
        }
    }

    private void InvalidateCache()
    {
        cachedParent?.Dispose();
        cachedParent = null;
        cachedParentPath = null;
    }

    private static List<string> ListNames(SafeFileHandle dir)
        => [.. Directory.EnumerateFileSystemEntries(ProcPath(dir)).Select(p => Path.GetFileName(p))];

    private static string ProcPath(SafeFileHandle dir, string? name = null)
        => name is null ? $"/proc/self/fd/{dir.DangerousGetHandle()}" : $"/proc/self/fd/{dir.DangerousGetHandle()}/{name}";

    /// <summary>The first content of a file that a later entry of the same tar replaces is kept aside for the tar-split replay.</summary>
    private void KeepAside(string path, int occurrence)
    {
        if (sideDirectory is null) return;
        var (parentPath, name) = Split(path);
        var parent = Parent(parentPath, path);
        if (!sys.Lstat(parent, name, out var st) || !st.IsRegular) return;
        Directory.CreateDirectory(sideDirectory);
        var side = Path.Combine(sideDirectory, replacedContent.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using (var source = new FileStream(sys.OpenAt(parent, name, O_RDONLY | O_NOFOLLOW), FileAccess.Read))
        using (var copy = File.Create(side)) source.CopyTo(copy);
        replacedContent[path + "\0" + occurrence] = side;
    }

    private void SetXattrs(SafeFileHandle? file, string? path, Dictionary<string, byte[]>? xattrs, string entry)
    {
        if (xattrs is null) return;
        foreach (var (key, value) in xattrs)
        {
            if (key.StartsWith("trusted.overlay.", StringComparison.Ordinal)) continue; // only the applier decides what is a whiteout
            try
            {
                if (file is not null) sys.FSetXattr(file, key, value);
                else sys.LSetXattr(path!, key, value);
            }
            catch (SyscallException e) when (e.ErrorNumber is Errno.EOPNOTSUPP || (e.ErrorNumber == Errno.EPERM && !key.StartsWith("security.capability", StringComparison.Ordinal)))
            {
                // the filesystem cannot hold it (as Docker, skip rather than fail the layer)
            }
            catch (SyscallException e) { throw new InvalidLayerException($"tar entry {entry}: cannot set xattr {key}: {e.Message}", e); }
        }
    }

    private void SetDirectoryTimes()
    {
        for (var i = directoryTimes.Count - 1; i >= 0; i--)
        {
            var (path, mtime) = directoryTimes[i];
            var (parentPath, name) = Split(path);
            var parent = sys.TryOpenAt2(root, parentPath.Length == 0 ? "." : parentPath, O_PATH | O_DIRECTORY, InRoot, out _);
            if (parent is null) continue;
            using (parent)
            {
                if (sys.Lstat(parent, name, out var st) && st.IsDirectory) sys.LutimesAt(parent, name, mtime, mtime);
            }
        }
    }

    /// <summary>Normalizes a tar name to a relative path inside the root; refuses one that climbs above it.</summary>
    internal static string Clean(string name, string entryName)
    {
        if (name.Contains('\0')) throw new InvalidLayerException($"tar entry name contains NUL: {entryName}");
        var parts = new List<string>();
        foreach (var part in name.Split('/'))
        {
            if (part is "" or ".") continue;
            if (part == "..")
            {
                if (parts.Count == 0) throw new InvalidLayerException($"tar entry {entryName} points outside the layer root");
                parts.RemoveAt(parts.Count - 1);
                continue;
            }
            parts.Add(part);
        }
        return string.Join('/', parts);
    }

    internal static (string Parent, string Name) Split(string path)
    {
        var slash = path.LastIndexOf('/');
        return slash < 0 ? ("", path) : (path[..slash], path[(slash + 1)..]);
    }

    /// <summary>SCHILY.xattr.* records read from the raw PAX header bytes (TarReader decodes values as UTF-8, which binary xattrs are not).</summary>
    internal static Dictionary<string, byte[]>? PaxXattrs(ReadOnlySpan<byte> headers, int misalignment)
    {
        // The pending bytes can hold earlier entries without content (directories, links) too: the records that
        // count are those right before the last header.
        Dictionary<string, byte[]>? result = null, group = null;
        var block = misalignment == 0 ? 0 : 512 - misalignment;
        while (block + 512 <= headers.Length)
        {
            var header = headers.Slice(block, 512);
            var type = header[156];
            var size = ParseOctal(header.Slice(124, 12));
            if (type is (byte)'x' or (byte)'X')
            {
                ParseRecords(headers.Slice(block + 512, (int)Math.Min(size, headers.Length - block - 512)), ref group);
            }
            else if (type is not ((byte)'g' or (byte)'L' or (byte)'K'))
            {
                result = group;
                group = null;
                if (type is (byte)'5' or (byte)'1' or (byte)'2' or (byte)'3' or (byte)'4' or (byte)'6') size = 0;
            }
            block += 512 + (int)((size + 511) / 512 * 512);
        }
        return result;
    }

    private static void ParseRecords(ReadOnlySpan<byte> data, ref Dictionary<string, byte[]>? result)
    {
        var prefix = "SCHILY.xattr."u8;
        while (data.Length > 0)
        {
            var space = data.IndexOf((byte)' ');
            if (space <= 0 || !int.TryParse(Encoding.ASCII.GetString(data[..space]), out var length) || length > data.Length || length <= space + 1) return;
            var record = data[(space + 1)..(length - 1)]; // without the trailing newline
            var equals = record.IndexOf((byte)'=');
            if (equals > 0 && record.StartsWith(prefix))
            {
                result ??= new(StringComparer.Ordinal);
                result[Encoding.UTF8.GetString(record[prefix.Length..equals])] = record[(equals + 1)..].ToArray();
            }
            data = data[length..];
        }
    }

    private static long ParseOctal(ReadOnlySpan<byte> field)
    {
        long value = 0;
        foreach (var b in field)
        {
            if (b is (byte)' ' or 0) { if (value != 0) break; continue; }
            if (b is < (byte)'0' or > (byte)'7') break;
            value = value * 8 + (b - '0');
        }
        return value;
    }

    public void Dispose()
    {
        InvalidateCache();
        root.Dispose();
    }
}

/// <summary>Permission bits (C# has no octal literals).</summary>
internal static class Modes
{
    public const int Rwx______ = 0x1C0, Rw_______ = 0x180, Rwxr_xr_x = 0x1ED, Rw_r__r__ = 0x1A4;
}
