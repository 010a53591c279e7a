using Berth.Linux;
using Berth.Storage.Snapshots;
using Berth.Testing;
using Microsoft.Win32.SafeHandles;

namespace Berth.Storage.Tests;

/// <summary>Which metadata writes are fsynced, seen through the <see cref="IMetadataSync"/> seam.</summary>
public sealed class DurabilityTests
{
    /// <summary>Records every fsync (and makes it, so the store works as on disk).</summary>
    private sealed class RecordingSync : IMetadataSync
    {
        private readonly Lock gate = new();
        public List<string> Files { get; } = [];
        public List<string> Directories { get; } = [];

        public void SyncFile(SafeFileHandle file, string path)
        {
            lock (gate) Files.Add(path);
            MetadataSync.Disk.SyncFile(file, path);
        }

        public void SyncDirectory(string directory)
        {
            lock (gate) Directories.Add(directory);
            MetadataSync.Disk.SyncDirectory(directory);
        }

        public void Clear()
        {
            lock (gate) { Files.Clear(); Directories.Clear(); }
        }
    }

    private static (LayerStore Layers, RecordingSync Sync, Layer Image) Open(TempDir temp)
    {
        var sync = new RecordingSync();
        var snapshots = new OverlaySnapshotter(LinuxSyscalls.Instance, temp.Combine("overlay2")) { Sync = sync };
        var layers = new LayerStore(temp.Combine("layers"), snapshots, new StorageOptions());
        var image = layers.Register(new MemoryStream(new LayerTar().Dir("etc").File("etc/hello", "hi").Bytes()), Compression.None, null);
        return (layers, sync, image);
    }

    [RootFact]
    public void An_autoremove_containers_layer_is_written_without_any_fsync()
    {
        using var temp = new TempDir();
        var (layers, sync, image) = Open(temp);
        // An image layer's records are synced with their directory: they must survive a crash.
        Assert.NotEmpty(sync.Files);
        Assert.NotEmpty(sync.Directories);
        sync.Clear();

        var id = "rm" + Guid.NewGuid().ToString("N");
        var layer = layers.CreateContainerLayer(id, image.ChainId, Durability.Volatile);
        Assert.Empty(sync.Files);
        Assert.Empty(sync.Directories);

        // It is a layer like any other: mounted as overlay, found again, removed.
        Assert.Equal("overlay", Assert.Single(layer.Mounts()).Type);
        Assert.NotNull(layers.GetContainerLayer(id));
        layers.DeleteContainerLayer(id);
        Assert.Null(layers.GetContainerLayer(id));
        Assert.True(layers.Check().IsClean, string.Join("; ", layers.Check().Problems));
    }

    [RootFact]
    public void An_ordinary_containers_layer_syncs_each_record_file_before_its_rename_but_no_directory_as_docker()
    {
        using var temp = new TempDir();
        var (layers, sync, image) = Open(temp);
        sync.Clear();

        var id = "kept" + Guid.NewGuid().ToString("N");
        layers.CreateContainerLayer(id, image.ChainId); // the default is durable
        Assert.Equal(["link", "lower", "meta"], sync.Files.Select(p => Path.GetFileName(Path.GetDirectoryName(p)) == "meta" ? "meta" : Path.GetFileName(p)));
        Assert.Empty(sync.Directories);
        layers.DeleteContainerLayer(id);
    }

    [RootFact]
    public void A_layer_removed_with_its_content_deferred_is_gone_at_once_and_its_files_follow()
    {
        using var temp = new TempDir();
        var (layers, _, image) = Open(temp);
        var id = "later" + Guid.NewGuid().ToString("N");
        var layer = layers.CreateContainerLayer(id, image.ChainId, Durability.Volatile);
        var upper = Path.GetDirectoryName(layer.Mounts()[0].Options.Single(o => o.StartsWith("upperdir=", StringComparison.Ordinal))["upperdir=".Length..])!;
        File.WriteAllText(Path.Combine(upper, "diff", "written"), "by the container");
        var links = Directory.GetFileSystemEntries(temp.Combine("overlay2", "l")).Length;

        layers.DeleteContainerLayer(id, deferContent: true);
        Assert.Null(layers.GetContainerLayer(id));
        Assert.False(Directory.Exists(upper));
        Assert.Equal(links - 1, Directory.GetFileSystemEntries(temp.Combine("overlay2", "l")).Length);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (Directory.EnumerateDirectories(temp.Combine("overlay2", "snapshots"), "rm-*").Any() && DateTime.UtcNow < deadline) Thread.Sleep(10);
        Assert.Empty(Directory.EnumerateDirectories(temp.Combine("overlay2", "snapshots"), "rm-*"));
        Assert.True(layers.Check().IsClean, string.Join("; ", layers.Check().Problems));
    }

    [RootFact]
    public void Storage_set_aside_by_a_removal_a_crash_cut_short_is_removed_by_the_consistency_pass()
    {
        using var temp = new TempDir();
        var (layers, _, image) = Open(temp);
        var id = "cutshort" + Guid.NewGuid().ToString("N");
        var layer = layers.CreateContainerLayer(id, image.ChainId);
        var upper = Path.GetDirectoryName(layer.Mounts()[0].Options.Single(o => o.StartsWith("upperdir=", StringComparison.Ordinal))["upperdir=".Length..])!;
        layers.DeleteContainerLayer(id);
        // What a removal leaves when the daemon dies between the rename and the deletion of the files.
        var aside = Path.Combine(Path.GetDirectoryName(upper)!, "rm-" + Path.GetFileName(upper));
        Directory.CreateDirectory(Path.Combine(aside, "diff", "etc"));
        File.WriteAllText(Path.Combine(aside, "diff", "etc", "left"), "x");
        Assert.Contains(layers.Check().Problems, p => p.Contains("has no record"));
        layers.Repair();
        Assert.False(Directory.Exists(aside));
        Assert.True(layers.Check().IsClean, string.Join("; ", layers.Check().Problems));
    }

    [RootFact]
    public void A_record_a_crash_left_empty_is_removed_by_the_consistency_pass()
    {
        using var temp = new TempDir();
        var (layers, _, image) = Open(temp);
        var id = "cut" + Guid.NewGuid().ToString("N");
        layers.CreateContainerLayer(id, image.ChainId, Durability.Volatile);
        // What an unsynced record can look like after a power cut: the name is there, the content is not.
        var meta = Directory.EnumerateFiles(temp.Combine("overlay2", "meta")).Single(f => File.ReadAllText(f).StartsWith("container-", StringComparison.Ordinal));
        File.WriteAllText(meta, "");

        var fresh = new LayerStore(temp.Combine("layers"), new OverlaySnapshotter(LinuxSyscalls.Instance, temp.Combine("overlay2")), new StorageOptions());
        Assert.Null(fresh.GetContainerLayer(id));
        var check = fresh.Check();
        Assert.Contains(check.Problems, p => p.Contains("is damaged"));
        Assert.Contains(check.Problems, p => p.Contains("has no record"));
        fresh.Repair();
        Assert.True(fresh.Check().IsClean, string.Join("; ", fresh.Check().Problems));
        Assert.False(File.Exists(meta));
        Assert.NotNull(fresh.Get(image.ChainId));
    }
}
