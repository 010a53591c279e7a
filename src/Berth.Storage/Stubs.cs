using Berth.Oci.Content;

namespace Berth.Storage;

internal sealed class ContentStore(string root) : IContentStore
{
    public string Root { get; } = root;
    public bool Exists(Digest digest) => throw new NotImplementedException();
    public ContentInfo? Info(Digest digest) => throw new NotImplementedException();
    public Stream OpenRead(Digest digest) => throw new NotImplementedException();
    public IContentWriter OpenWriter(string reference, Digest? expected = null, long? expectedSize = null) => throw new NotImplementedException();
    public Task<Digest> PutAsync(Stream data, Digest? expected = null, long? expectedSize = null, CancellationToken ct = default) => throw new NotImplementedException();
    public IEnumerable<ContentInfo> List() => throw new NotImplementedException();
    public void Delete(Digest digest) => throw new NotImplementedException();
    public IReadOnlyList<Digest> Collect(IReadOnlySet<Digest> keep, bool dryRun = false) => throw new NotImplementedException();
    public ConsistencyReport Check(bool rehash = false) => throw new NotImplementedException();
    public ConsistencyReport Repair(bool rehash = false) => throw new NotImplementedException();
}

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
