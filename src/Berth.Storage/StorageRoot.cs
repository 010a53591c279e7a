namespace Berth.Storage;

/// <summary>
/// A storage data root: content/ (blobs by digest), layers/ (layer metadata by chainID) and one snapshot driver's
/// directory (overlay2/, vfs/ or btrfs/). Opening runs no repair; call <see cref="Repair"/> at daemon start.
/// </summary>
public sealed class StorageRoot
{
    public string Path { get; }
    public IContentStore Content { get; }
    public ILayerStore Layers { get; }
    public ISnapshotter Snapshots { get; }

    private StorageRoot(string path, IContentStore content, ILayerStore layers, ISnapshotter snapshots)
    {
        Path = path; Content = content; Layers = layers; Snapshots = snapshots;
    }

    /// <summary>Opens (creating when absent) a data root with the given snapshot driver: overlay2 (default), vfs or btrfs.</summary>
    public static StorageRoot Open(string dataRoot, string driver = "overlay2", StorageOptions? options = null)
    {
        options ??= new StorageOptions();
        var root = System.IO.Path.GetFullPath(dataRoot);
        Directory.CreateDirectory(root);
        var content = new ContentStore(System.IO.Path.Combine(root, "content"));
        var snapshots = SnapshotDriver.Create(driver, root);
        var layers = new LayerStore(System.IO.Path.Combine(root, "layers"), snapshots, options);
        return new StorageRoot(root, content, layers, snapshots);
    }

    /// <summary>Both consistency passes (content, then layers and snapshots), removing leftovers of a crash.</summary>
    public ConsistencyReport Repair()
    {
        var c = Content.Repair();
        var l = Layers.Repair();
        return new ConsistencyReport([.. c.Problems, .. l.Problems], [.. c.Removed, .. l.Removed]);
    }
}
