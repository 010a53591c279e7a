using System.Formats.Tar;
using Berth.Linux;
using Microsoft.Win32.SafeHandles;
using static Berth.Linux.OpenFlags;

namespace Berth.Engine.Filesystem;

/// <summary>
/// Writes a file or a directory tree of a container as tar, walking with directory fds (openat with
/// O_NOFOLLOW, statx relative to the fd), so a running container that swaps a directory for a symlink cannot
/// make the copy read outside its root. Names sorted; hard links written once, then as links. Extended
/// attributes are not copied (docker cp of security.capability is rare; export keeps them through the layer store).
/// <paramref name="mounts"/> maps archive names to host paths written in place of what the tree has there (the
/// binds and volumes of a container, whose mount points the tree only holds empty).
/// </summary>
internal sealed class TreeTarWriter(ISyscalls sys, TarWriter tar, IReadOnlyDictionary<string, string>? mounts = null)
{
    private readonly Dictionary<(uint, uint, ulong), string> links = [];
    private readonly HostAccountNames names = new();

    /// <summary>The entry <paramref name="name"/> of <paramref name="directory"/> under the archive name <paramref name="archiveName"/>, recursively.</summary>
    public void Write(SafeFileHandle directory, string name, string archiveName)
    {
        if (!sys.Lstat(directory, name, out var st)) return;
        if (st.IsDirectory)
        {
            using var child = sys.OpenAt(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
            WriteDirectory(child, archiveName, st);
        }
        else WriteEntry(directory, name, archiveName, st);
    }

    /// <summary>A directory (already open) and everything below it; its own entry is <paramref name="archiveName"/>/ unless that is empty.</summary>
    public void WriteDirectory(SafeFileHandle directory, string archiveName, in FileStatus st)
    {
        if (archiveName.Length > 0)
            tar.WriteEntry(Header(TarEntryType.Directory, archiveName.EndsWith('/') ? archiveName : archiveName + "/", st));
        var prefix = ChildPrefix(archiveName);
        foreach (var child in SortedNames(directory))
        {
            if (mounts is not null && mounts.TryGetValue(prefix + child, out var source))
            {
                WriteMounted(source, prefix + child);
                continue;
            }
            if (!sys.Lstat(directory, child, out var cst)) continue; // vanished meanwhile (a running container)
            if (cst.IsDirectory)
            {
                using var handle = sys.OpenAt(directory, child, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                WriteDirectory(handle, prefix + child, cst);
            }
            else WriteEntry(directory, child, prefix + child, cst);
        }
    }

    /// <summary>How the entries of a directory archived as <paramref name="archiveName"/> are named: "NAME/…", or bare for "".</summary>
    public static string ChildPrefix(string archiveName) => archiveName == "/" ? "/" : archiveName.Length == 0 ? "" : archiveName.TrimEnd('/') + "/";

    /// <summary>A mount's source (a directory or a single file) under the archive name of its mount point.</summary>
    private void WriteMounted(string source, string archiveName)
    {
        var trimmed = source.Length > 1 ? source.TrimEnd('/') : source;
        if (Directory.Exists(trimmed))
        {
            using var handle = sys.OpenAt(null, trimmed, O_RDONLY | O_DIRECTORY);
            sys.Fstat(handle, out var st);
            WriteDirectory(handle, archiveName, st);
            return;
        }
        if (Path.GetDirectoryName(trimmed) is not { Length: > 0 } parent) return;
        using var parentHandle = sys.OpenAt(null, parent, O_PATH | O_DIRECTORY);
        Write(parentHandle, Path.GetFileName(trimmed), archiveName);
    }

    private void WriteEntry(SafeFileHandle directory, string name, string archiveName, in FileStatus st)
    {
        if (st.Links > 1 && !st.IsDirectory)
        {
            var key = (st.DeviceMajor, st.DeviceMinor, st.Inode);
            if (links.TryGetValue(key, out var first))
            {
                var link = Header(TarEntryType.HardLink, archiveName, st);
                link.LinkName = first;
                tar.WriteEntry(link);
                return;
            }
            links[key] = archiveName;
        }
        switch (st.Type)
        {
            case FileTypes.S_IFREG:
            {
                using var file = sys.OpenAt(directory, name, O_RDONLY | O_NOFOLLOW);
                using var data = new FileStream(file, FileAccess.Read, 1);
                var entry = Header(TarEntryType.RegularFile, archiveName, st);
                entry.DataStream = new FixedLengthStream(data, st.Size);
                tar.WriteEntry(entry);
                break;
            }
            case FileTypes.S_IFLNK:
            {
                var entry = Header(TarEntryType.SymbolicLink, archiveName, st);
                entry.LinkName = sys.ReadLinkAt(directory, name);
                tar.WriteEntry(entry);
                break;
            }
            case FileTypes.S_IFCHR or FileTypes.S_IFBLK:
            {
                var entry = Header(st.Type == FileTypes.S_IFCHR ? TarEntryType.CharacterDevice : TarEntryType.BlockDevice, archiveName, st);
                entry.DeviceMajor = (int)st.RdevMajor;
                entry.DeviceMinor = (int)st.RdevMinor;
                tar.WriteEntry(entry);
                break;
            }
            case FileTypes.S_IFIFO:
                tar.WriteEntry(Header(TarEntryType.Fifo, archiveName, st));
                break;
            default:
                break; // sockets are not archived, as tar does
        }
    }

    private GnuTarEntry Header(TarEntryType type, string name, in FileStatus st) => new(type, name)
    {
        Mode = (UnixFileMode)(st.Mode & 0xFFF),
        Uid = st.Uid,
        Gid = st.Gid,
        UserName = names.User(st.Uid),
        GroupName = names.Group(st.Gid),
        ModificationTime = DateTimeOffset.FromUnixTimeSeconds(Math.Max(0, st.MtimeNanoseconds / 1_000_000_000)),
    };

    public static List<string> SortedNames(SafeFileHandle directory)
    {
        var names = new List<string>();
        foreach (var entry in Directory.EnumerateFileSystemEntries($"/proc/self/fd/{directory.DangerousGetHandle()}")) names.Add(Path.GetFileName(entry));
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    /// <summary>
    /// Exactly <paramref name="length"/> bytes of a file that a running container may be changing: cut when it
    /// grew, zero-padded when it shrank, so the tar header written first stays true.
    /// </summary>
    private sealed class FixedLengthStream(Stream inner, long length) : Stream
    {
        private long position;
        private bool innerEnded;
        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => origin == SeekOrigin.Current && offset == 0 ? position : throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var remaining = length - position;
            if (remaining <= 0) return 0;
            if (buffer.Length > remaining) buffer = buffer[..(int)remaining];
            var n = innerEnded ? 0 : inner.Read(buffer);
            if (n == 0)
            {
                innerEnded = true;
                buffer.Clear();
                n = buffer.Length;
            }
            position += n;
            return n;
        }
    }
}

/// <summary>
/// The host's user and group names by id, as Go's tar.FileInfoHeader fills a header's uname and gname in dockerd's
/// archives (`docker cp c:/etc - | tar tv` shows root/root); an id the host does not name stays numeric only.
/// Read once per archive.
/// </summary>
internal sealed class HostAccountNames(string passwd = "/etc/passwd", string group = "/etc/group")
{
    private Dictionary<int, string>? users;
    private Dictionary<int, string>? groups;

    public string User(int uid) => (users ??= Load(passwd)).GetValueOrDefault(uid, "");
    public string Group(int gid) => (groups ??= Load(group)).GetValueOrDefault(gid, "");

    /// <summary>name:password:id:… lines; the first name of an id wins, as getpwuid's.</summary>
    internal static Dictionary<int, string> Load(string path)
    {
        var map = new Dictionary<int, string>();
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                var fields = line.Split(':');
                if (fields.Length > 2 && fields[0].Length > 0 && int.TryParse(fields[2], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id))
                    map.TryAdd(id, fields[0]);
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return map;
    }
}
