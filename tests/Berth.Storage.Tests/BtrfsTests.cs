using Berth.Linux;
using Berth.Testing;

namespace Berth.Storage.Tests;

/// <summary>
/// The btrfs driver on a loop-mounted btrfs image made in the test (needs btrfs-progs for mkfs.btrfs: installed
/// with apt-get when missing, as scripts/ would). Skipped with the reason when the kernel or tools are missing.
/// </summary>
public sealed class BtrfsTests
{
    private sealed class BtrfsMount : IDisposable
    {
        public TempDir Temp { get; } = new();
        public string Mountpoint { get; }
        public string? SkipReason { get; }
        private bool mounted;

        public BtrfsMount()
        {
            Mountpoint = Temp.Combine("mnt");
            Directory.CreateDirectory(Mountpoint);
            if (!EnsureMkfs()) { SkipReason = "mkfs.btrfs is missing and btrfs-progs could not be installed"; return; }
            var image = Temp.Combine("btrfs.img");
            using (var f = File.Create(image)) f.SetLength(256L << 20);
            BusyboxRootfs.Run("mkfs.btrfs", "-q", "-f", image);
            BusyboxRootfs.Run("mount", "-o", "loop", image, Mountpoint);
            mounted = true;
        }

        private static bool EnsureMkfs()
        {
            bool Has() => new[] { "/usr/sbin/mkfs.btrfs", "/sbin/mkfs.btrfs", "/usr/bin/mkfs.btrfs" }.Any(File.Exists);
            if (Has()) return true;
            try { BusyboxRootfs.Run("apt-get", "install", "-y", "-q", "btrfs-progs"); }
            catch (InvalidOperationException)
            {
                try { BusyboxRootfs.Run("apt-get", "update", "-q"); BusyboxRootfs.Run("apt-get", "install", "-y", "-q", "btrfs-progs"); }
                catch (InvalidOperationException) { }
            }
            return Has();
        }

        public void Dispose()
        {
            if (mounted) Mounter.Unmount(Mountpoint);
            Temp.Dispose();
        }
    }

    [BtrfsFact]
    public void BtrfsSnapshotsCarryLayersWhiteoutsAndContainerChanges()
    {
        using var btrfs = new BtrfsMount();
        Assert.True(btrfs.SkipReason is null, btrfs.SkipReason);
        Assert.True(LinuxSyscalls.Instance.IsBtrfs(btrfs.Mountpoint));
        SnapshotTests.WhiteoutsAcrossLayers("btrfs", Path.Combine(btrfs.Mountpoint, "a"));
        SnapshotTests.ContainerChangesDiffAndExport("btrfs", Path.Combine(btrfs.Mountpoint, "b"));
        // every snapshot is a subvolume: the container layer's root is one (inode 256 is a subvolume root on btrfs)
        using var store = new TestStore("btrfs", path: Path.Combine(btrfs.Mountpoint, "c"));
        var layer = store.Register(new LayerTar().File("f", "x").Bytes());
        var c = store.Layers.CreateContainerLayer("b" + Guid.NewGuid().ToString("N"), layer.ChainId);
        Assert.True(LinuxSyscalls.Instance.Lstat(null, c.Mount(), out var st));
        Assert.Equal(256UL, st.Inode);
        store.Layers.DeleteContainerLayer(c.Id);
        store.Layers.Delete(layer.ChainId);
        Assert.Empty(Directory.GetDirectories(Path.Combine(btrfs.Mountpoint, "c", "btrfs", "snapshots")));
    }

    [RootFact]
    public void BtrfsDriverRefusesAnotherFilesystem()
    {
        using var temp = new TempDir();
        var e = Assert.Throws<StorageException>(() => StorageRoot.Open(temp.Path, "btrfs"));
        Assert.Contains("btrfs filesystem", e.Message);
    }
}

/// <summary>Needs root and a kernel with btrfs; skipped with the reason otherwise.</summary>
public sealed class BtrfsFactAttribute : FactAttribute
{
    public BtrfsFactAttribute()
    {
        if (!Host.IsRoot) Skip = "needs root (loop-mounts a btrfs image)";
        else if (!File.ReadAllText("/proc/filesystems").Contains("\tbtrfs")) Skip = "the kernel has no btrfs";
    }
}
