using Berth.Oci.Content;

namespace Berth.Storage;

internal static class SnapshotDriver
{
    public static ISnapshotter Create(string driver, string dataRoot) => throw new NotImplementedException(driver + dataRoot);
}

internal sealed class LayerStore(string root, ISnapshotter snapshots, StorageOptions options) : ILayerStore
{
    public string Driver => snapshots.Driver + root + options;
    public Layer Register(Stream blob, string mediaType, string? parentChainId, Digest? expectedDiffId = null, CancellationToken ct = default) => throw new NotImplementedException();
    public Layer Register(Stream blob, Compression compression, string? parentChainId, Digest? expectedDiffId = null, CancellationToken ct = default) => throw new NotImplementedException();
    public Layer? Get(string chainId) => throw new NotImplementedException();
    public IEnumerable<Layer> List() => throw new NotImplementedException();
    public void Delete(string chainId) => throw new NotImplementedException();
    public Stream OpenDiff(string chainId) => throw new NotImplementedException();
    public ContainerLayer CreateContainerLayer(string id, string? parentChainId) => throw new NotImplementedException();
    public ContainerLayer? GetContainerLayer(string id) => throw new NotImplementedException();
    public IEnumerable<ContainerLayer> ListContainerLayers() => throw new NotImplementedException();
    public void DeleteContainerLayer(string id) => throw new NotImplementedException();
    public ConsistencyReport Check() => throw new NotImplementedException();
    public ConsistencyReport Repair() => throw new NotImplementedException();
}
