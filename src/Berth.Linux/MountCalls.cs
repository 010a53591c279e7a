using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Berth.Linux;

/// <summary>mount(2) flags (MS_*), as the kernel defines them.</summary>
[Flags]
public enum MountFlags : ulong
{
    None = 0,
    ReadOnly = 1,               // MS_RDONLY
    NoSuid = 2,                 // MS_NOSUID
    NoDev = 4,                  // MS_NODEV
    NoExec = 8,                 // MS_NOEXEC
    Synchronous = 16,           // MS_SYNCHRONOUS
    Remount = 32,               // MS_REMOUNT
    MandatoryLock = 64,         // MS_MANDLOCK
    DirSync = 128,              // MS_DIRSYNC
    NoSymFollow = 256,          // MS_NOSYMFOLLOW
    NoAtime = 1024,             // MS_NOATIME
    NoDirAtime = 2048,          // MS_NODIRATIME
    Bind = 4096,                // MS_BIND
    Move = 8192,                // MS_MOVE
    Recursive = 16384,          // MS_REC
    Silent = 32768,             // MS_SILENT
    PosixAcl = 1 << 16,         // MS_POSIXACL
    Unbindable = 1 << 17,       // MS_UNBINDABLE
    Private = 1 << 18,          // MS_PRIVATE
    Slave = 1 << 19,            // MS_SLAVE
    Shared = 1 << 20,           // MS_SHARED
    RelAtime = 1 << 21,         // MS_RELATIME
    IVersion = 1 << 23,         // MS_I_VERSION
    StrictAtime = 1 << 24,      // MS_STRICTATIME
    LazyTime = 1 << 25,         // MS_LAZYTIME

    /// <summary>The propagation types: a mount(2) call carries at most one of them and nothing else but MS_REC.</summary>
    PropagationMask = Unbindable | Private | Slave | Shared,
}

/// <summary>umount2(2) flags.</summary>
[Flags]
public enum UnmountFlags
{
    None = 0,
    Force = 1,      // MNT_FORCE
    Detach = 2,     // MNT_DETACH
    Expire = 4,     // MNT_EXPIRE
    NoFollow = 8,   // UMOUNT_NOFOLLOW
}

/// <summary>Mounting and changing the root: what rootfs setup needs from the kernel.</summary>
public interface IMountCalls
{
    void Mount(string? source, string target, string? fileSystemType, MountFlags flags, string? data);
    void Unmount(string target, UnmountFlags flags);
    void PivotRoot(string newRoot, string putOld);
    void ChangeRoot(string path);

    /// <summary>The flags a mount currently has (statvfs f_flag, as MS_* bits): in a user namespace a
    /// remount must repeat the locked ones (nodev, nosuid, noexec, ro, atime) or the kernel says EPERM.</summary>
    MountFlags GetMountFlags(string path);

    /// <summary>mount_setattr(2) (Linux 5.12+): changes MOUNT_ATTR_* bits of the mount at <paramref name="path"/>,
    /// and of every mount below it when <paramref name="recursive"/> (what "rro", "rnosuid"… ask for).</summary>
    void SetMountAttributes(string path, bool recursive, MountAttributes set, MountAttributes clear);

    /// <summary>
    /// Pins a mount destination: opens <paramref name="path"/> (a path under <paramref name="root"/>, already
    /// resolved by <see cref="PathInRoot"/>) with O_PATH and openat2 RESOLVE_IN_ROOT, so that mounting on
    /// <c>/proc/self/fd/N</c> lands exactly there even if a component is swapped for a symlink meanwhile
    /// (the race of CVE-2021-30465). A double may return an invalid handle: the caller then uses the path.
    /// </summary>
    SafeFileHandle OpenMountTarget(string root, string path);
}

/// <summary>mount_setattr(2) attribute bits (MOUNT_ATTR_*).</summary>
[Flags]
public enum MountAttributes : ulong
{
    None = 0,
    ReadOnly = 0x1,
    NoSuid = 0x2,
    NoDev = 0x4,
    NoExec = 0x8,
    /// <summary>The atime field: relatime is 0, so clearing this field and setting one value picks it.</summary>
    AtimeMask = 0x70,
    NoAtime = 0x10,
    StrictAtime = 0x20,
    NoDirAtime = 0x80,
    NoSymFollow = 0x200000,
}

public partial interface ISyscalls : IMountCalls;

public sealed partial class LinuxSyscalls
{
    public void Mount(string? source, string target, string? fileSystemType, MountFlags flags, string? data)
        => Errno.Check(NativeMount(source, target, fileSystemType, (nuint)(ulong)flags, data), "mount", target);

    public void Unmount(string target, UnmountFlags flags) => Errno.Check(NativeUmount2(target, (int)flags), "umount2", target);

    public void PivotRoot(string newRoot, string putOld)
        => Errno.Check(NativeSyscall2(SyscallNumbers.PivotRoot, newRoot, putOld), "pivot_root", newRoot);

    public void ChangeRoot(string path) => Errno.Check(NativeChroot(path), "chroot", path);

    public unsafe MountFlags GetMountFlags(string path)
    {
        // struct statvfs on 64-bit Linux: 11 unsigned longs (f_flag is the 10th) then int __f_spare[6].
        var buffer = stackalloc ulong[16];
        Errno.Check(NativeStatvfs(path, buffer), "statvfs", path);
        var st = buffer[9];
        const ulong sameBits = 1 | 2 | 4 | 8 | 16 | 64 | 1024 | 2048; // ST_* equal to MS_* for these
        var flags = (MountFlags)(st & sameBits);
        if ((st & 4096) != 0) flags |= MountFlags.RelAtime; // ST_RELATIME
        return flags;
    }

    public unsafe void SetMountAttributes(string path, bool recursive, MountAttributes set, MountAttributes clear)
    {
        const int AtRecursive = 0x8000, AtFdCwd = -100;
        var attr = stackalloc ulong[4] { (ulong)set, (ulong)clear, 0, 0 }; // struct mount_attr
        Errno.Check(NativeMountSetattr(SyscallNumbers.MountSetattr, AtFdCwd, path, recursive ? AtRecursive : 0, attr, 32),
            "mount_setattr", path);
    }

    public SafeFileHandle OpenMountTarget(string root, string path)
    {
        using var rootHandle = OpenAt(null, root, OpenFlags.O_PATH | OpenFlags.O_DIRECTORY);
        var relative = Path.GetRelativePath(root, path);
        return OpenAt2(rootHandle, relative, OpenFlags.O_PATH, OpenFlags.RESOLVE_IN_ROOT | OpenFlags.RESOLVE_NO_MAGICLINKS);
    }

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial long NativeMountSetattr(long number, int dirFd, string path, int flags, ulong* attr, nuint size);

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NativeMount(string? source, string target, string? fstype, nuint flags, string? data);

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NativeUmount2(string target, int flags);

    [LibraryImport("libc", EntryPoint = "chroot", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NativeChroot(string path);

    [LibraryImport("libc", EntryPoint = "statvfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int NativeStatvfs(string path, ulong* buffer);

    // glibc has no pivot_root wrapper.
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long NativeSyscall2(long number, string first, string second);
}

/// <summary>Numbers of the system calls glibc does not wrap, for this process's architecture.</summary>
internal static class SyscallNumbers
{
    private static readonly bool Arm64 = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;
    public static long PivotRoot => Arm64 ? 41 : 155;
    public const long MountSetattr = 442; // the same on every architecture (added after the tables were unified)
}
