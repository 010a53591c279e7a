using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Berth.Linux;

public partial interface ISyscalls : IFilesystemMountCalls;

/// <summary>
/// The new mount API (fsopen/fsconfig/fsmount/move_mount/open_tree). Storage uses it for overlay: each lower
/// layer is added with its own "lowerdir+" call (kernel 6.8+), so the one-page limit of mount(2) options does
/// not apply.
/// </summary>
public interface IFilesystemMountCalls
{
    SafeFileHandle FsOpen(string filesystem);
    void FsConfigString(SafeFileHandle context, string key, string value);
    void FsConfigFlag(SafeFileHandle context, string key);
    /// <summary>FSCONFIG_CMD_CREATE; on failure the kernel's message log (read from the context fd) is in the exception.</summary>
    void FsConfigCreate(SafeFileHandle context);
    SafeFileHandle FsMount(SafeFileHandle context, uint attributes = 0);
    /// <summary>open_tree(OPEN_TREE_CLONE [| AT_RECURSIVE]): a detached copy of a mount tree, for a bind mount.</summary>
    SafeFileHandle OpenTreeClone(string path, bool recursive);
    /// <summary>mount_setattr(MOUNT_ATTR_RDONLY) on a detached mount (from open_tree or fsmount).</summary>
    void MakeReadOnly(SafeFileHandle mount, bool recursive);
    /// <summary>move_mount of a detached mount (fd) onto a path.</summary>
    void MoveMountTo(SafeFileHandle mount, string target);
    /// <summary>umount2(2) with flags (MNT_DETACH = 2); returns errno (0 on success).</summary>
    int Umount(string target, int flags);
}

public sealed partial class LinuxSyscalls
{
    private const long SYS_open_tree = 428, SYS_move_mount = 429, SYS_fsopen = 430, SYS_fsconfig = 431, SYS_fsmount = 432;
    private const uint FSCONFIG_SET_FLAG = 0, FSCONFIG_SET_STRING = 1, FSCONFIG_CMD_CREATE = 6;
    private const uint FSOPEN_CLOEXEC = 1, FSMOUNT_CLOEXEC = 1, OPEN_TREE_CLONE = 1, AT_RECURSIVE = 0x8000, MOVE_MOUNT_F_EMPTY_PATH = 4;

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long syscall_fsopen(long number, string fsname, uint flags);
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long syscall_fsconfig(long number, SafeFileHandle fd, uint cmd, string? key, string? value, int aux);
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall_fsmount(long number, SafeFileHandle fd, uint flags, uint attributes);
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long syscall_open_tree(long number, int dirfd, string path, uint flags);
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long syscall_move_mount(long number, SafeFileHandle fromfd, string frompath, int todirfd, string topath, uint flags);
    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int umount2(string target, int flags);
    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint read(SafeFileHandle fd, byte* buffer, nuint count);

    public SafeFileHandle FsOpen(string filesystem)
        => new((IntPtr)Errno.Check(syscall_fsopen(SYS_fsopen, filesystem, FSOPEN_CLOEXEC), "fsopen", filesystem), ownsHandle: true);

    public void FsConfigString(SafeFileHandle context, string key, string value)
    {
        if (syscall_fsconfig(SYS_fsconfig, context, FSCONFIG_SET_STRING, key, value, 0) == -1)
            throw new SyscallException("fsconfig", Errno.Last, $"{key}={value}{KernelMessages(context)}");
    }

    public void FsConfigFlag(SafeFileHandle context, string key)
    {
        if (syscall_fsconfig(SYS_fsconfig, context, FSCONFIG_SET_FLAG, key, null, 0) == -1)
            throw new SyscallException("fsconfig", Errno.Last, key + KernelMessages(context));
    }

    public void FsConfigCreate(SafeFileHandle context)
    {
        if (syscall_fsconfig(SYS_fsconfig, context, FSCONFIG_CMD_CREATE, null, null, 0) == -1)
            throw new SyscallException("fsconfig create", Errno.Last, KernelMessages(context));
    }

    public SafeFileHandle FsMount(SafeFileHandle context, uint attributes = 0)
        => new((IntPtr)Errno.Check(syscall_fsmount(SYS_fsmount, context, FSMOUNT_CLOEXEC, attributes), "fsmount"), ownsHandle: true);

    public SafeFileHandle OpenTreeClone(string path, bool recursive)
        => new((IntPtr)Errno.Check(syscall_open_tree(SYS_open_tree, OpenFlags.AT_FDCWD, path, OPEN_TREE_CLONE | (uint)OpenFlags.O_CLOEXEC | (recursive ? AT_RECURSIVE : 0)), "open_tree", path), ownsHandle: true);

    [StructLayout(LayoutKind.Sequential)]
    private struct MountAttr { public ulong Set, Clear, Propagation, UsernsFd; }
    private const long SYS_mount_setattr = 442;

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial long syscall_mount_setattr(long number, SafeFileHandle fd, string path, uint flags, MountAttr* attr, nuint size);

    public unsafe void MakeReadOnly(SafeFileHandle mount, bool recursive)
    {
        var attr = new MountAttr { Set = 1 }; // MOUNT_ATTR_RDONLY
        Errno.Check(syscall_mount_setattr(SYS_mount_setattr, mount, "", (uint)OpenFlags.AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, (nuint)sizeof(MountAttr)), "mount_setattr");
    }

    public void MoveMountTo(SafeFileHandle mount, string target)
        => Errno.Check(syscall_move_mount(SYS_move_mount, mount, "", OpenFlags.AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH), "move_mount", target);

    public int Umount(string target, int flags) => umount2(target, flags) == 0 ? 0 : Errno.Last;

    /// <summary>The fs context's error log ("e overlayfs: ..." lines), which explains an EINVAL better than errno.</summary>
    private static unsafe string KernelMessages(SafeFileHandle context)
    {
        var errno = Errno.Last;
        var text = new System.Text.StringBuilder();
        var buffer = stackalloc byte[1024];
        nint n;
        while ((n = read(context, buffer, 1024)) > 0)
            text.Append(" (").Append(System.Text.Encoding.UTF8.GetString(buffer, (int)n).TrimEnd('\n')).Append(')');
        Marshal.SetLastPInvokeError(errno);
        return text.ToString();
    }
}
