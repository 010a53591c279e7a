using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Berth.Linux;

public partial interface ISyscalls : IPathResolutionCalls;

/// <summary>Opening paths relative to a directory fd, confined to it (openat2 RESOLVE_IN_ROOT).</summary>
public interface IPathResolutionCalls
{
    /// <summary>openat(2). Returns an owned handle; throws <see cref="SyscallException"/>.</summary>
    SafeFileHandle OpenAt(SafeFileHandle? directory, string path, int flags, int mode = 0);

    /// <summary>openat2(2) with a resolve mask (e.g. RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS).</summary>
    SafeFileHandle OpenAt2(SafeFileHandle directory, string path, int flags, ulong resolve, int mode = 0);

    /// <summary>Like <see cref="OpenAt2"/>, but returns the negative errno instead of throwing (for expected misses).</summary>
    SafeFileHandle? TryOpenAt2(SafeFileHandle directory, string path, int flags, ulong resolve, out int errno, int mode = 0);
}

public static class OpenFlags
{
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_NOCTTY = 0x100, O_TRUNC = 0x200,
        O_APPEND = 0x400, O_NONBLOCK = 0x800, O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000, O_PATH = 0x200000;
    public const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_SYMLINK_FOLLOW = 0x400, AT_EMPTY_PATH = 0x1000;
    public const ulong RESOLVE_NO_XDEV = 0x01, RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_NO_SYMLINKS = 0x04, RESOLVE_BENEATH = 0x08, RESOLVE_IN_ROOT = 0x10;
}

public sealed partial class LinuxSyscalls
{
    private const long SYS_openat2 = 437;

    [StructLayout(LayoutKind.Sequential)]
    private struct OpenHow { public ulong Flags, Mode, Resolve; }

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int openat(SafeFileHandle dirfd, string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int openat_cwd(int dirfd, string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial long syscall_openat2(long number, SafeFileHandle dirfd, string path, OpenHow* how, nuint size);

    public SafeFileHandle OpenAt(SafeFileHandle? directory, string path, int flags, int mode = 0)
    {
        var fd = directory is null ? openat_cwd(OpenFlags.AT_FDCWD, path, flags | OpenFlags.O_CLOEXEC, mode)
                                   : openat(directory, path, flags | OpenFlags.O_CLOEXEC, mode);
        Errno.Check(fd, "openat", path);
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    public SafeFileHandle OpenAt2(SafeFileHandle directory, string path, int flags, ulong resolve, int mode = 0)
        => TryOpenAt2(directory, path, flags, resolve, out var errno, mode) ?? throw new SyscallException("openat2", errno, path);

    public unsafe SafeFileHandle? TryOpenAt2(SafeFileHandle directory, string path, int flags, ulong resolve, out int errno, int mode = 0)
    {
        var how = new OpenHow { Flags = (ulong)(uint)(flags | OpenFlags.O_CLOEXEC), Mode = (ulong)mode, Resolve = resolve };
        long fd;
        errno = 0;
        do { fd = syscall_openat2(SYS_openat2, directory, path, &how, (nuint)sizeof(OpenHow)); }
        while (fd == -1 && (errno = Errno.Last) is Errno.EAGAIN or Errno.EINTR); // EAGAIN: a concurrent rename raced the in-root walk
        if (fd == -1) return null;
        errno = 0;
        return new SafeFileHandle((IntPtr)fd, ownsHandle: true);
    }
}
