using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>What is at a path, without following a final symlink.</summary>
public enum FileKind { None, Directory, File, Symlink }

/// <summary>The file-system work of container setup: making mount points, device nodes and links, reading
/// and writing small files under /proc and /sys, the working directory and the umask.</summary>
public interface IFileSystemCalls
{
    /// <summary>What is at the path; with <paramref name="followSymlinks"/>, what a final symlink points to.</summary>
    FileKind GetFileKind(string path, bool followSymlinks = false);
    /// <summary>Creates the directory and its missing parents.</summary>
    void CreateDirectory(string path);
    /// <summary>mkdir(2): one directory, failing (EEXIST) when anything is at the path — an atomic claim of the name.</summary>
    void MakeDirectory(string path, uint mode);
    /// <summary>Creates an empty file when nothing is at the path (a mount point for a file bind).</summary>
    void CreateEmptyFile(string path);
    void Remove(string path);
    void CreateSymlink(string target, string linkPath);
    /// <summary>mknod(2); <paramref name="mode"/> carries the file type (S_IFCHR, S_IFBLK, S_IFIFO) and permissions.</summary>
    void MakeNode(string path, uint mode, ulong device);
    void ChangeOwner(string path, uint uid, uint gid);
    string ReadText(string path);
    /// <summary>Writes to an existing file (a /proc or /sys knob) without truncating or creating it.</summary>
    void WriteText(string path, string text);
    void ChangeDirectory(string path);
    /// <summary>Sets the umask and returns the previous one.</summary>
    uint SetUmask(uint mask);

    /// <summary>Copies the contents of directory <paramref name="from"/> into the existing directory
    /// <paramref name="to"/>: subdirectories, files, symlinks and special files, with modes and owners;
    /// <paramref name="to"/> itself takes the mode and owner of <paramref name="from"/> (a tmpfs "tmpcopyup").</summary>
    void CopyTree(string from, string to);
}

public partial interface ISyscalls : IFileSystemCalls;

public static class DeviceNumbers
{
    /// <summary>glibc's makedev: the kernel's 64-bit dev_t encoding of major and minor.</summary>
    public static ulong Make(ulong major, ulong minor)
        => ((major & 0xfffff000UL) << 32) | ((major & 0xfffUL) << 8) | ((minor & 0xffffff00UL) << 12) | (minor & 0xffUL);

    public const uint CharDevice = 0x2000, BlockDevice = 0x6000, Fifo = 0x1000; // S_IFCHR, S_IFBLK, S_IFIFO
}

public sealed partial class LinuxSyscalls
{
    /// <summary>One statx(2) for the file type (container set-up asks this for every mount point, device and link):
    /// what Directory.Exists, File.Exists and FileInfo.LinkTarget told before, in one call instead of up to four. Any
    /// error (missing, not a directory on the way, no access) is <see cref="FileKind.None"/>, as those said.</summary>
    public unsafe FileKind GetFileKind(string path, bool followSymlinks = false)
    {
        const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, STATX_TYPE = 1;
        const ushort S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFLNK = 0xA000;
        var buffer = stackalloc byte[StatxSize];
        if (statx(AT_FDCWD, path, followSymlinks ? 0 : AT_SYMLINK_NOFOLLOW, STATX_TYPE, buffer) != 0) return FileKind.None;
        return (*(ushort*)(buffer + StatxModeOffset) & S_IFMT) switch
        {
            S_IFDIR => FileKind.Directory,
            S_IFLNK => FileKind.Symlink,
            _ => FileKind.File,
        };
    }

    /// <summary>struct statx is the same on every architecture: 256 bytes, stx_mode (u16) at offset 28.</summary>
    private const int StatxSize = 256, StatxModeOffset = 28;

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    public void CreateDirectory(string path) => Directory.CreateDirectory(path);

    public void CreateEmptyFile(string path)
    {
        if (GetFileKind(path) != FileKind.None) return;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var _ = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
    }

    public void Remove(string path)
    {
        if (GetFileKind(path) == FileKind.Directory) Directory.Delete(path);
        else File.Delete(path);
    }

    public void CreateSymlink(string target, string linkPath) => Errno.Check(NativeSymlink(target, linkPath), "symlink", linkPath);

    public void MakeNode(string path, uint mode, ulong device) => Errno.Check(NativeMknod(path, mode, device), "mknod", path);

    public void MakeDirectory(string path, uint mode) => Errno.Check(NativeMkdir(path, mode), "mkdir", path);

    public void ChangeOwner(string path, uint uid, uint gid) => Errno.Check(NativeLchown(path, uid, gid), "lchown", path);

    public string ReadText(string path) => File.ReadAllText(path);

    public void WriteText(string path, string text)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
        stream.Write(System.Text.Encoding.UTF8.GetBytes(text));
    }

    public void ChangeDirectory(string path) => Errno.Check(NativeChdir(path), "chdir", path);

    public uint SetUmask(uint mask) => NativeUmask(mask);

    public void CopyTree(string from, string to)
    {
        // "/." so that a /proc/self/fd/N magic link is followed to the directory it stands for.
        if (!Lstat(null, from.TrimEnd('/') + "/.", out var root)) throw new SyscallException("statx", Errno.ENOENT, from);
        foreach (var entry in Directory.EnumerateFileSystemEntries(from)) CopyEntry(entry, Path.Combine(to, Path.GetFileName(entry)));
        ApplyModeAndOwner(to, root);
    }

    private void CopyEntry(string source, string target)
    {
        if (!Lstat(null, source, out var status)) return; // gone meanwhile
        if (status.IsSymlink)
        {
            CreateSymlink(new FileInfo(source).LinkTarget!, target);
            ChangeOwner(target, (uint)status.Uid, (uint)status.Gid);
            return;
        }
        if (status.IsDirectory)
        {
            Directory.CreateDirectory(target);
            foreach (var entry in Directory.EnumerateFileSystemEntries(source)) CopyEntry(entry, Path.Combine(target, Path.GetFileName(entry)));
        }
        else if (status.IsRegular) File.Copy(source, target);
        else MakeNode(target, (uint)status.Mode, DeviceNumbers.Make(status.DeviceMajor, status.DeviceMinor));
        ApplyModeAndOwner(target, status);
    }

    private void ApplyModeAndOwner(string path, FileStatus status)
    {
        ChangeOwner(path, (uint)status.Uid, (uint)status.Gid); // before chmod: chown clears setuid bits
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, (UnixFileMode)(status.Mode & 0xFFF));
    }

    [LibraryImport("libc", EntryPoint = "symlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NativeSymlink(string target, string linkPath);

    [LibraryImport("libc", EntryPoint = "mknod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NativeMknod(string path, uint mode, ulong device);

    [LibraryImport("libc", EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NativeMkdir(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NativeLchown(string path, uint uid, uint gid);

    [LibraryImport("libc", EntryPoint = "chdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NativeChdir(string path);

    [LibraryImport("libc", EntryPoint = "umask")]
    private static partial uint NativeUmask(uint mask);
}
