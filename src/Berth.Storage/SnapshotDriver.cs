
namespace Berth.Storage;

internal static class SnapshotDriver
{
    public static Snapshots.Snapshotter Create(string driver, string dataRoot) => driver switch
    {
        "overlay2" or "overlay" => new Snapshots.OverlaySnapshotter(Berth.Linux.LinuxSyscalls.Instance, Path.Combine(dataRoot, "overlay2")),
        "vfs" => new Snapshots.VfsSnapshotter(Berth.Linux.LinuxSyscalls.Instance, Path.Combine(dataRoot, "vfs")),
        "btrfs" => new Snapshots.BtrfsSnapshotter(Berth.Linux.LinuxSyscalls.Instance, Path.Combine(dataRoot, "btrfs")),
        _ => throw new StorageException($"unknown storage driver \"{driver}\" (overlay2, vfs or btrfs)"),
    };
}
