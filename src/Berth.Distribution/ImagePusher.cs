using System.IO.Compression;
using System.IO.Pipelines;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Berth.Images;
using Berth.Oci.Content;
using Berth.Oci.Image;
using Berth.Oci.Reference;

namespace Berth.Distribution;

/// <summary>What a push produced: the tag, the manifest's digest and size.</summary>
public sealed record PushedImage(ImageReference Reference, Digest Digest, long Size);

/// <summary>
/// docker push: uploads an image's layers a few at a time (skipping blobs the registry has, mounting blobs
/// another repository of the same registry has, else compressing the layer's diff with gzip while uploading
/// it, in one streamed PATCH or in chunks with Content-Range), then its config, then a Docker schema 2
/// manifest under the tag.
/// </summary>
public sealed class ImagePusher(DistributionClient client, ImageStore store, LayerMetadata? metadata = null)
{
    /// <summary>Pushes <paramref name="name"/> (name:tag); a name without a tag pushes every tag of it, as the Engine API does.</summary>
    public async Task<List<PushedImage>> PushAsync(string name, Action<ProgressMessage>? progress = null, CancellationToken ct = default)
    {
        var reference = ImageReference.ParseNormalized(name);
        if (reference.Digest is not null) throw new DistributionException("cannot push a digest reference");
        var sink = new ProgressSink(progress);
        var registry = client.Registry(reference.Domain);
        sink.Report(ProgressMessage.Plain($"The push refers to repository [{reference.WithoutTagOrDigest()}]"));
        var tags = new List<ImageReference>();
        if (reference.Tag is not null) tags.Add(reference);
        else
        {
            foreach (var id in store.Ids)
                foreach (var r in store.References(id))
                    if (r.Digest is null && r.Name == reference.Name) tags.Add(r);
            if (tags.Count == 0) throw new DistributionException($"An image does not exist locally with the tag: {reference.FamiliarName}");
        }
        var results = new List<PushedImage>();
        foreach (var tag in tags.OrderBy(t => t.Tag, StringComparer.Ordinal))
            results.Add(await PushOneAsync(registry, tag, sink, ct));
        return results;
    }

    private async Task<PushedImage> PushOneAsync(RegistryClient registry, ImageReference reference, ProgressSink sink, CancellationToken ct)
    {
        if (!store.TryResolve(reference.ToString(), out var id))
            throw new DistributionException($"An image does not exist locally with the tag: {reference.FamiliarString()}");
        var configBytes = store.GetConfigBytes(id);
        var config = ImageJson.ParseConfig(configBytes);
        var chains = ChainIds.All(config.RootFs.DiffIds).Select(c => c.ToString()).ToList();
        var repository = reference.Path;
        var scopes = new[] { RegistryClient.PushScope(repository) };

        for (var i = chains.Count - 1; i >= 0; i--) sink.Report(ProgressMessage.Layer(config.RootFs.DiffIds[i].Hex[..12], "Preparing"));
        using var slots = new SemaphoreSlim(Math.Max(1, client.Options.MaxConcurrentUploads));
        // One upload per distinct layer: an image may repeat a layer (empty layers do).
        var uploads = new Dictionary<Digest, Task<Descriptor>>();
        var layerTasks = new List<Task<Descriptor>>();
        for (var i = 0; i < chains.Count; i++)
        {
            var diffId = config.RootFs.DiffIds[i];
            if (!uploads.TryGetValue(diffId, out var task))
                uploads[diffId] = task = PushLayerAsync(registry, repository, chains[i], diffId, slots, sink, ct);
            layerTasks.Add(task);
        }
        var layers = await Task.WhenAll(layerTasks);

        var configDigest = Digest.Sha256(configBytes);
        if (await registry.HeadBlobAsync(repository, configDigest, scopes, ct) is null)
        {
            var location = await registry.StartUploadAsync(repository, null, null, ct);
            await registry.CompleteUploadAsync(location!, configDigest, new ByteArrayContent(configBytes), scopes, ct);
        }
        var manifest = new Manifest
        {
            MediaType = MediaTypes.DockerManifest,
            Config = new Descriptor(MediaTypes.DockerConfig, configDigest, configBytes.Length),
            Layers = [.. layers],
        };
        var bytes = ImageJson.Serialize(manifest, ImageJson.Manifest);
        var digest = await registry.PutManifestAsync(repository, reference.Tag!, MediaTypes.DockerManifest, bytes, ct);
        store.AddDigestReference(id, reference.WithoutTagOrDigest().WithDigest(digest));
        sink.Report(ProgressMessage.Plain($"{reference.Tag}: digest: {digest} size: {bytes.Length}"));
        sink.Report(new ProgressMessage { ProgressDetail = new ProgressDetail(), Aux = new PushResult { Tag = reference.Tag!, Digest = digest.ToString(), Size = bytes.Length } });
        return new PushedImage(reference, digest, bytes.Length);
    }

    private async Task<Descriptor> PushLayerAsync(RegistryClient registry, string repository, string chainId, Digest diffId, SemaphoreSlim slots, ProgressSink sink, CancellationToken ct)
    {
        var id = diffId.Hex[..12];
        await Task.Yield();
        if (!slots.Wait(0))
        {
            sink.Report(ProgressMessage.Layer(id, "Waiting"));
            await slots.WaitAsync(ct);
        }
        try
        {
            var scopes = new[] { RegistryClient.PushScope(repository) };
            var known = metadata?.Find(diffId, registry.Domain) ?? [];
            foreach (var location in known.Where(l => l.Repository == repository))
                if (await registry.HeadBlobAsync(repository, location.Digest, scopes, ct) is not null)
                {
                    sink.Report(ProgressMessage.Layer(id, "Layer already exists"));
                    return new Descriptor(DockerMediaType(location.MediaType), location.Digest, location.Size);
                }
            Uri? upload = null;
            foreach (var location in known.Where(l => l.Repository != repository))
            {
                var started = await registry.StartUploadAsync(repository, location.Digest, location.Repository, ct);
                if (started is null)
                {
                    sink.Report(ProgressMessage.Layer(id, $"Mounted from {location.Repository}"));
                    metadata?.Add(diffId, new LayerLocation { Registry = registry.Domain, Repository = repository, Digest = location.Digest, MediaType = location.MediaType, Size = location.Size });
                    return new Descriptor(DockerMediaType(location.MediaType), location.Digest, location.Size);
                }
                upload = started; // not mountable: this upload session serves for the real upload
                break;
            }
            upload ??= await registry.StartUploadAsync(repository, null, null, ct);

            var total = store.Layers.Get(chainId)?.Size ?? 0;
            await using var compressed = new CompressedLayer(() => store.Layers.OpenDiff(chainId), ct);
            var chunkSize = client.Options.UploadChunkSize;
            long sent = 0;
            if (chunkSize <= 0)
            {
                var content = new StreamContent(new CountingReadStream(compressed.Output, n => sink.Bytes(id, "Pushing", sent = n, total)), 128 * 1024);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                upload = await registry.PatchUploadAsync(upload!, content, null, scopes, ct);
            }
            else
            {
                var buffer = new byte[chunkSize];
                while (true)
                {
                    var filled = 0;
                    int n;
                    while (filled < chunkSize && (n = await compressed.Output.ReadAsync(buffer.AsMemory(filled), ct)) > 0) filled += n;
                    if (filled == 0) break;
                    upload = await registry.PatchUploadAsync(upload!, new ByteArrayContent(buffer, 0, filled), sent, scopes, ct);
                    sent += filled;
                    sink.Bytes(id, "Pushing", sent, total);
                    if (filled < chunkSize) break;
                }
            }
            var (digest, size) = await compressed.FinishAsync();
            await registry.CompleteUploadAsync(upload!, digest, null, scopes, ct);
            sink.Report(ProgressMessage.Layer(id, "Pushed"));
            metadata?.Add(diffId, new LayerLocation { Registry = registry.Domain, Repository = repository, Digest = digest, MediaType = MediaTypes.DockerLayerGzip, Size = size });
            return new Descriptor(MediaTypes.DockerLayerGzip, digest, size);
        }
        finally { slots.Release(); }
    }

    /// <summary>A schema 2 manifest names layers with Docker's media types.</summary>
    private static string DockerMediaType(string mediaType) => mediaType switch
    {
        MediaTypes.OciLayerGzip => MediaTypes.DockerLayerGzip,
        MediaTypes.OciLayer => MediaTypes.DockerLayer,
        MediaTypes.OciLayerZstd => MediaTypes.DockerLayerZstd,
        _ => mediaType,
    };

    /// <summary>A layer's diff gzip-compressed on a background task into a pipe, hashed and counted as it is produced.</summary>
    private sealed class CompressedLayer : IAsyncDisposable
    {
        private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 2 << 20));
        private readonly Task<(Digest, long)> _producer;

        public Stream Output { get; }

        public CompressedLayer(Func<Stream> openDiff, CancellationToken ct)
        {
            Output = _pipe.Reader.AsStream();
            _producer = Task.Factory.StartNew(() =>
            {
                try
                {
                    using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                    using var sink = new HashingWriteStream(_pipe.Writer.AsStream(leaveOpen: true), hash);
                    using (var diff = openDiff())
                    using (var gzip = new GZipStream(sink, CompressionLevel.Fastest, leaveOpen: true))
                        diff.CopyTo(gzip, 128 * 1024);
                    sink.Flush();
                    _pipe.Writer.Complete();
                    return (Digest.FromHash("sha256", hash.GetHashAndReset()), sink.Written);
                }
                catch (Exception e)
                {
                    _pipe.Writer.Complete(e);
                    throw;
                }
            }, ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }

        public Task<(Digest Digest, long Size)> FinishAsync() => _producer;

        public async ValueTask DisposeAsync()
        {
            await _pipe.Reader.CompleteAsync();
            try { await _producer; } catch (Exception) { } // a failed or abandoned upload: the producer's error was reported by the reader
        }
    }

    private sealed class HashingWriteStream(Stream inner, IncrementalHash hash) : Stream
    {
        public long Written { get; private set; }
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Written;
        public override long Position { get => Written; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            hash.AppendData(buffer);
            inner.Write(buffer);
            Written += buffer.Length;
        }
        protected override void Dispose(bool disposing) { if (disposing) inner.Dispose(); base.Dispose(disposing); }
    }

    private sealed class CountingReadStream(Stream inner, Action<long> report) : Stream
    {
        private long _read;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer) { var n = inner.Read(buffer); _read += n; report(_read); return n; }
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken);
            _read += n;
            report(_read);
            return n;
        }
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
