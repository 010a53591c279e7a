using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Berth.Linux;

public partial interface ISyscalls : IFileAttributeCalls;

/// <summary>Owners, modes, times and statx of files, by fd or relative to a directory fd without following symlinks.</summary>
public interface IFileAttributeCalls
{
    /// <summary>fchownat(2) with AT_SYMLINK_NOFOLLOW (lchown relative to a directory).</summary>
    void LchownAt(SafeFileHandle directory, string name, int uid, int gid);
    void Fchown(SafeFileHandle file, int uid, int gid);
    void Fchmod(SafeFileHandle file, int mode);
    /// <summary>fchmodat(2) (follows a final symlink: call only on names just created as non-links).</summary>
    void FchmodAt(SafeFileHandle directory, string name, int mode);
    /// <summary>utimensat(2) with AT_SYMLINK_NOFOLLOW: atime and mtime in nanoseconds since the epoch.</summary>
    void LutimesAt(SafeFileHandle directory, string name, long atimeNanoseconds, long mtimeNanoseconds);
    void Futimens(SafeFileHandle file, long atimeNanoseconds, long mtimeNanoseconds);
    /// <summary>statx(2) without following a final symlink; false when it does not exist (ENOENT/ENOTDIR).</summary>
    bool Lstat(SafeFileHandle? directory, string path, out FileStatus status);
    void Fstat(SafeFileHandle file, out FileStatus status);
}

/// <summary>The parts of statx a tar writer and a tree differ need.</summary>
public readonly record struct FileStatus(int Mode, int Uid, int Gid, long Size, ulong Inode, uint DeviceMajor, uint DeviceMinor,
    uint RdevMajor, uint RdevMinor, uint Links, long MtimeNanoseconds, long CtimeNanoseconds)
{
    public int Type => Mode & FileTypes.S_IFMT;
    public bool IsDirectory => Type == FileTypes.S_IFDIR;
    public bool IsRegular => Type == FileTypes.S_IFREG;
    public bool IsSymlink => Type == FileTypes.S_IFLNK;
    public DateTimeOffset Mtime => DateTimeOffset.UnixEpoch.AddTicks(MtimeNanoseconds / 100);
}

public sealed partial class LinuxSyscalls
{
    private const long UTIME_OMIT = (1L << 30) - 2;

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec { public long Seconds, Nanoseconds; }

    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct Statx
    {
        [FieldOffset(16)] public uint Nlink;
        [FieldOffset(20)] public uint Uid;
        [FieldOffset(24)] public uint Gid;
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(32)] public ulong Ino;
        [FieldOffset(40)] public ulong Size;
        [FieldOffset(96)] public long CtimeSec;
        [FieldOffset(104)] public uint CtimeNsec;
        [FieldOffset(112)] public long MtimeSec;
        [FieldOffset(120)] public uint MtimeNsec;
        [FieldOffset(128)] public uint RdevMajor;
        [FieldOffset(132)] public uint RdevMinor;
        [FieldOffset(136)] public uint DevMajor;
        [FieldOffset(140)] public uint DevMinor;
    }

    [LibraryImport("libc", EntryPoint = "fchownat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int fchownat(SafeFileHandle dirfd, string name, int uid, int gid, int flags);
    [LibraryImport("libc", EntryPoint = "fchown", SetLastError = true)]
    private static partial int fchown(SafeFileHandle fd, int uid, int gid);
    [LibraryImport("libc", EntryPoint = "fchmod", SetLastError = true)]
    private static partial int fchmod(SafeFileHandle fd, int mode);
    [LibraryImport("libc", EntryPoint = "fchmodat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int fchmodat(SafeFileHandle dirfd, string name, int mode, int flags);
    [LibraryImport("libc", EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int utimensat(SafeFileHandle dirfd, string name, Timespec* times, int flags);
    [LibraryImport("libc", EntryPoint = "futimens", SetLastError = true)]
    private static unsafe partial int futimens(SafeFileHandle fd, Timespec* times);
    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statx(SafeFileHandle dirfd, string path, int flags, uint mask, Statx* buffer);
    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statx_cwd(int dirfd, string path, int flags, uint mask, Statx* buffer);

    public void LchownAt(SafeFileHandle directory, string name, int uid, int gid)
        => Errno.Check(fchownat(directory, name, uid, gid, OpenFlags.AT_SYMLINK_NOFOLLOW), "lchown", name);
    public void Fchown(SafeFileHandle file, int uid, int gid) => Errno.Check(fchown(file, uid, gid), "fchown");
    public void Fchmod(SafeFileHandle file, int mode) => Errno.Check(fchmod(file, mode), "fchmod");
    public void FchmodAt(SafeFileHandle directory, string name, int mode) => Errno.Check(fchmodat(directory, name, mode, 0), "fchmodat", name);

    public unsafe void LutimesAt(SafeFileHandle directory, string name, long atimeNanoseconds, long mtimeNanoseconds)
    {
        var times = stackalloc Timespec[2];
        Fill(times, atimeNanoseconds, mtimeNanoseconds);
        Errno.Check(utimensat(directory, name, times, OpenFlags.AT_SYMLINK_NOFOLLOW), "utimensat", name);
    }

    public unsafe void Futimens(SafeFileHandle file, long atimeNanoseconds, long mtimeNanoseconds)
    {
        var times = stackalloc Timespec[2];
        Fill(times, atimeNanoseconds, mtimeNanoseconds);
        Errno.Check(futimens(file, times), "futimens");
    }

    private static unsafe void Fill(Timespec* times, long atime, long mtime)
    {
        times[0] = atime == long.MinValue ? new Timespec { Nanoseconds = UTIME_OMIT } : Split(atime);
        times[1] = Split(mtime);
        static Timespec Split(long ns) => new() { Seconds = Math.DivRem(ns, 1_000_000_000L, out var r) - (r < 0 ? 1 : 0), Nanoseconds = r < 0 ? r + 1_000_000_000L : r };
    }

    public unsafe bool Lstat(SafeFileHandle? directory, string path, out FileStatus status)
    {
        Statx sx;
        const uint basicStats = 0x7ff;
        var rc = directory is null ? statx_cwd(OpenFlags.AT_FDCWD, path, OpenFlags.AT_SYMLINK_NOFOLLOW, basicStats, &sx)
                                   : statx(directory, path, OpenFlags.AT_SYMLINK_NOFOLLOW, basicStats, &sx);
        if (rc != 0)
        {
            var errno = Errno.Last;
            status = default;
            if (errno is Errno.ENOENT or Errno.ENOTDIR) return false;
            throw new SyscallException("statx", errno, path);
        }
        status = Convert(sx);
        return true;
    }

    public unsafe void Fstat(SafeFileHandle file, out FileStatus status)
    {
        Statx sx;
        Errno.Check(statx(file, "", OpenFlags.AT_EMPTY_PATH, 0x7ff, &sx), "statx");
        status = Convert(sx);
    }

    private static FileStatus Convert(in Statx sx) => new(sx.Mode, (int)sx.Uid, (int)sx.Gid, (long)sx.Size, sx.Ino, sx.DevMajor, sx.DevMinor,
        sx.RdevMajor, sx.RdevMinor, sx.Nlink, sx.MtimeSec * 1_000_000_000L + sx.MtimeNsec, sx.CtimeSec * 1_000_000_000L + sx.CtimeNsec);
}
