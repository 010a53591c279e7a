using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Berth.Linux;

public partial interface ISyscalls : IBtrfsCalls;

/// <summary>btrfs subvolume ioctls (what `btrfs subvolume create/snapshot/delete` do).</summary>
public interface IBtrfsCalls
{
    /// <summary>True when the directory lives on btrfs (statfs magic).</summary>
    bool IsBtrfs(string path);
    void BtrfsCreateSubvolume(SafeFileHandle parentDirectory, string name);
    void BtrfsSnapshot(SafeFileHandle source, SafeFileHandle parentDirectory, string name, bool readOnly);
    void BtrfsDeleteSubvolume(SafeFileHandle parentDirectory, string name);
}

public sealed partial class LinuxSyscalls
{
    private const long BTRFS_SUPER_MAGIC = 0x9123683E;
    // _IOW(0x94, nr, 4096-byte args)
    private const ulong BTRFS_IOC_SUBVOL_CREATE = 0x5000940E, BTRFS_IOC_SNAP_DESTROY = 0x5000940F, BTRFS_IOC_SNAP_CREATE_V2 = 0x50009417;
    private const ulong BTRFS_SUBVOL_RDONLY = 1 << 1;

    [StructLayout(LayoutKind.Explicit, Size = 4096)]
    private unsafe struct VolumeArgs
    {
        [FieldOffset(0)] public long Fd;
        [FieldOffset(8)] public fixed byte Name[4088];
    }

    [StructLayout(LayoutKind.Explicit, Size = 4096)]
    private unsafe struct VolumeArgsV2
    {
        [FieldOffset(0)] public long Fd;
        [FieldOffset(8)] public ulong TransactionId;
        [FieldOffset(16)] public ulong Flags;
        [FieldOffset(56)] public fixed byte Name[4040];
    }

    [StructLayout(LayoutKind.Sequential, Size = 120)]
    private struct StatFs { public long Type; }

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static unsafe partial int ioctl(SafeFileHandle fd, ulong request, void* argument);
    [LibraryImport("libc", EntryPoint = "statfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statfs(string path, StatFs* buffer);

    public unsafe bool IsBtrfs(string path)
    {
        StatFs st;
        Errno.Check(statfs(path, &st), "statfs", path);
        return st.Type == BTRFS_SUPER_MAGIC;
    }

    public unsafe void BtrfsCreateSubvolume(SafeFileHandle parentDirectory, string name)
    {
        var args = new VolumeArgs();
        CopyName(name, args.Name, 4087);
        Errno.Check(ioctl(parentDirectory, BTRFS_IOC_SUBVOL_CREATE, &args), "btrfs subvolume create", name);
    }

    public unsafe void BtrfsSnapshot(SafeFileHandle source, SafeFileHandle parentDirectory, string name, bool readOnly)
    {
        var args = new VolumeArgsV2 { Fd = source.DangerousGetHandle(), Flags = readOnly ? BTRFS_SUBVOL_RDONLY : 0 };
        CopyName(name, args.Name, 4039);
        Errno.Check(ioctl(parentDirectory, BTRFS_IOC_SNAP_CREATE_V2, &args), "btrfs subvolume snapshot", name);
        GC.KeepAlive(source);
    }

    public unsafe void BtrfsDeleteSubvolume(SafeFileHandle parentDirectory, string name)
    {
        var args = new VolumeArgs();
        CopyName(name, args.Name, 4087);
        Errno.Check(ioctl(parentDirectory, BTRFS_IOC_SNAP_DESTROY, &args), "btrfs subvolume delete", name);
    }

    private static unsafe void CopyName(string name, byte* destination, int max)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(name);
        if (bytes.Length > max || name.Contains('/')) throw new ArgumentException($"invalid subvolume name \"{name}\"", nameof(name));
        for (var i = 0; i < bytes.Length; i++) destination[i] = bytes[i];
    }
}
