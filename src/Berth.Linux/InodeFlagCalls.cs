using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Berth.Linux;

public partial interface ISyscalls : IInodeFlagCalls;

/// <summary>Inode flags (what lsattr/chattr read and set) through FS_IOC_GETFLAGS / FS_IOC_SETFLAGS.</summary>
public interface IInodeFlagCalls
{
    int GetInodeFlags(SafeFileHandle file);
    void SetInodeFlags(SafeFileHandle file, int flags);
}

/// <summary>Flag bits of FS_IOC_GETFLAGS (linux/fs.h).</summary>
public static class InodeFlags
{
    /// <summary>chattr +T: the directory tops a hierarchy, so ext2/3/4's Orlov allocator spreads its subdirectories over
    /// block groups instead of packing them near the parent.</summary>
    public const int FS_TOPDIR_FL = 0x00020000;
}

public sealed partial class LinuxSyscalls
{
    // _IOR('f', 1, long) and _IOW('f', 2, long); the kernel reads and writes an int through them.
    private const ulong FS_IOC_GETFLAGS = 0x80086601, FS_IOC_SETFLAGS = 0x40086602;

    public unsafe int GetInodeFlags(SafeFileHandle file)
    {
        int flags;
        Errno.Check(ioctl(file, FS_IOC_GETFLAGS, &flags), "ioctl(FS_IOC_GETFLAGS)");
        return flags;
    }

    public unsafe void SetInodeFlags(SafeFileHandle file, int flags)
        => Errno.Check(ioctl(file, FS_IOC_SETFLAGS, &flags), "ioctl(FS_IOC_SETFLAGS)");
}
