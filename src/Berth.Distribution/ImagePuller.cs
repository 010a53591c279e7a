using System.IO.Pipelines;
using System.Net;
using Berth.Images;
using Berth.Oci.Content;
using Berth.Oci.Image;
using Berth.Oci.Reference;
using Berth.Storage;

namespace Berth.Distribution;

/// <summary>What a pull produced.</summary>
public sealed record PullResult(Digest ImageId, Digest ManifestDigest, ImageReference Reference, bool Downloaded);

/// <summary>
/// docker pull: resolves a reference to a manifest (an index or manifest list is narrowed to the wanted
/// platform), fetches the config, and transfers the missing layers a few at a time. Each layer is written to
/// the content store as it arrives (resumable: an interrupted transfer continues with a Range request;
/// verified by digest at commit) and registered in the layer store bottom-up; the lowest missing layer whose
/// parent is already present is decompressed and unpacked while it downloads. The image ends in the
/// <see cref="ImageStore"/> with its tag and its repo@digest reference.
/// </summary>
public sealed class ImagePuller(DistributionClient client, ImageStore store, LayerMetadata? metadata = null)
{
    private const int MaxRetries = 4;
    private const long MaxConfigSize = 8 * 1024 * 1024;

    /// <summary>Pulls every tag of a repository (docker pull -a).</summary>
    public async Task<List<PullResult>> PullAllTagsAsync(string name, Platform? platform, Action<ProgressMessage>? progress, CancellationToken ct = default)
    {
        var reference = ImageReference.ParseNormalized(name).WithoutTagOrDigest();
        var tags = await client.Registry(reference.Domain).TagsAsync(reference.Path, ct);
        var results = new List<PullResult>();
        foreach (var tag in tags)
            results.Add(await PullAsync(reference.WithTag(tag), platform, progress, ct, summary: false));
        progress?.Invoke(ProgressMessage.Plain($"Status: Downloaded newer images for {reference.FamiliarName}"));
        return results;
    }

    public Task<PullResult> PullAsync(string name, Platform? platform = null, Action<ProgressMessage>? progress = null, CancellationToken ct = default)
        => PullAsync(ImageReference.ParseDockerRef(name), platform, progress, ct);

    public async Task<PullResult> PullAsync(ImageReference reference, Platform? platform, Action<ProgressMessage>? progress, CancellationToken ct, bool summary = true)
    {
        if (reference.IsNameOnly) reference = reference.WithTag(ImageReference.DefaultTag);
        var sink = new ProgressSink(progress);
        var wanted = platform ?? Platforms.Host;
        var tagOrDigest = reference.Digest?.ToString() ?? reference.Tag!;

        DistributionException? failure = null;
        foreach (var source in client.PullSources(reference.Domain))
        {
            try
            {
                return await PullFromAsync(source, reference, tagOrDigest, wanted, platform is not null, sink, summary, ct);
            }
            catch (DistributionException e) when (source.Domain == DockerHub.Domain && !ReferenceEquals(source, client.Registry(reference.Domain)))
            {
                failure = e; // a mirror that fails is skipped, as Docker skips it
            }
            catch (HttpRequestException e) when (!ReferenceEquals(source, client.Registry(reference.Domain)))
            {
                failure = new DistributionException(e.Message, e);
            }
        }
        throw failure ?? new DistributionException($"no source for {reference}");
    }

    private async Task<PullResult> PullFromAsync(RegistryClient registry, ImageReference reference, string tagOrDigest, Platform wanted, bool platformGiven,
        ProgressSink sink, bool summary, CancellationToken ct)
    {
        var repository = reference.Path;
        var top = await registry.GetManifestAsync(repository, tagOrDigest, ct);
        // After the manifest, as Docker: an unknown image is an error before any progress (a 404 through the API).
        sink.Report(new ProgressMessage { Status = $"Pulling from {reference.Path}", Id = tagOrDigest });
        var manifestDoc = top;
        if (MediaTypes.IsIndex(top.MediaType))
        {
            var index = ImageJson.ParseIndex(top.Bytes);
            var entry = Platforms.Select(index.Manifests, wanted)
                ?? throw new DistributionException($"no matching manifest for {wanted} in the manifest list entries");
            manifestDoc = await registry.GetManifestAsync(repository, entry.Digest.ToString(), ct);
            if (manifestDoc.Digest != entry.Digest) throw new DistributionException($"manifest verification failed for digest {entry.Digest}");
        }
        if (!MediaTypes.IsManifest(manifestDoc.MediaType))
            throw new DistributionException($"unsupported manifest media type \"{manifestDoc.MediaType}\" for {reference.FamiliarString()}");
        Manifest manifest;
        try { manifest = ImageJson.ParseManifest(manifestDoc.Bytes); }
        catch (FormatException e) { throw new DistributionException($"{reference.FamiliarString()}: {e.Message}"); }
        if (!MediaTypes.IsConfig(manifest.Config!.MediaType))
            throw new DistributionException($"{reference.FamiliarString()}: not an image (config media type \"{manifest.Config.MediaType}\")");

        var configBytes = await registry.GetBlobBytesAsync(repository, manifest.Config.Digest, MaxConfigSize, ct);
        ImageConfig config;
        try { config = ImageJson.ParseConfig(configBytes); }
        catch (FormatException e) { throw new DistributionException($"{reference.FamiliarString()}: {e.Message}"); }
        if (platformGiven && !MediaTypes.IsIndex(top.MediaType) && !Platforms.Matches(wanted, config.Platform))
            throw new DistributionException($"image with reference {reference.FamiliarString()} was found but does not match the specified platform: wanted {wanted}, actual: {Platforms.Normalize(config.Platform)}");
        var diffIds = config.RootFs.DiffIds;
        if (diffIds.Count != manifest.Layers.Count)
            throw new DistributionException($"{reference.FamiliarString()}: the manifest has {manifest.Layers.Count} layers but the config {diffIds.Count}");
        foreach (var layer in manifest.Layers)
            if (!MediaTypes.IsLayer(layer.MediaType)) throw new DistributionException($"{reference.FamiliarString()}: unsupported layer media type \"{layer.MediaType}\"");

        var imageId = Digest.Sha256(configBytes);
        // Docker's "newer image" means the reference now names something it did not name before.
        var alreadyNamed = store.TryResolve(reference.ToString(), out var current) && current == imageId;
        var chains = ChainIds.All(diffIds).Select(c => c.ToString()).ToList();
        var upToDate = store.Exists(imageId) && chains.All(c => store.Layers.Get(c) is not null);
        var downloaded = false;
        if (!upToDate)
        {
            await TransferLayersAsync(registry, reference, manifest, diffIds, chains, sink, ct);
            downloaded = true;
        }

        // The documents are kept: the recorded manifest is a GC root and gives the image its RepoDigest.
        await PutContentAsync(top.Bytes, top.Digest, ct);
        if (manifestDoc != top) await PutContentAsync(manifestDoc.Bytes, manifestDoc.Digest, ct);
        // The image, its digest reference and its tag in one index write.
        List<ImageReference> names = [reference.WithoutTagOrDigest().WithDigest(top.Digest)];
        if (reference.Tag is not null && reference.Digest is null) names.Add(reference);
        var id = store.Create(configBytes, manifest: top.Digest, names: names);

        if (summary)
        {
            sink.Report(ProgressMessage.Plain($"Digest: {top.Digest}"));
            sink.Report(ProgressMessage.Plain(downloaded || !alreadyNamed
                ? $"Status: Downloaded newer image for {reference.FamiliarString()}"
                : $"Status: Image is up to date for {reference.FamiliarString()}"));
        }
        return new PullResult(id, top.Digest, reference, downloaded);
    }

    private async Task PutContentAsync(byte[] bytes, Digest digest, CancellationToken ct)
    {
        if (store.Content.Exists(digest)) return;
        using var data = new MemoryStream(bytes, writable: false);
        await store.Content.PutAsync(data, digest, bytes.Length, ct);
    }

    private sealed record LayerJob(int Index, Descriptor Blob, Digest DiffId, string ChainId, string? ParentChainId, string Id)
    {
        /// <summary>Registered by the download itself (decompressed while it arrived).</summary>
        public Layer? Registered { get; set; }
    }

    private async Task TransferLayersAsync(RegistryClient registry, ImageReference reference, Manifest manifest, List<Digest> diffIds, List<string> chains,
        ProgressSink sink, CancellationToken ct)
    {
        var jobs = new List<LayerJob>();
        var present = new bool[chains.Count];
        for (var i = 0; i < chains.Count; i++)
        {
            var blob = manifest.Layers[i];
            var job = new LayerJob(i, blob, diffIds[i], chains[i], i == 0 ? null : chains[i - 1], blob.Digest.Hex[..12]);
            jobs.Add(job);
            present[i] = store.Layers.Get(chains[i]) is not null;
        }
        // The lowest missing layer whose parent chain is present can be unpacked while it downloads.
        var streamed = Array.FindIndex(present, p => !p);

        using var slots = new SemaphoreSlim(Math.Max(1, client.Options.MaxConcurrentDownloads));
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var downloads = new Task[jobs.Count];
        var reported = new HashSet<Digest>();
        for (var i = 0; i < jobs.Count; i++)
        {
            var job = jobs[i];
            if (present[i])
            {
                if (reported.Add(job.Blob.Digest)) sink.Report(ProgressMessage.Layer(job.Id, "Already exists"));
                downloads[i] = Task.CompletedTask;
                continue;
            }
            // The same blob twice in one image (an empty layer repeated) is fetched once.
            var earlier = jobs.Take(i).FirstOrDefault(j => j.Blob.Digest == job.Blob.Digest && !present[j.Index]);
            if (earlier is not null) { downloads[i] = downloads[earlier.Index]; continue; }
            sink.Report(ProgressMessage.Layer(job.Id, "Pulling fs layer"));
            downloads[i] = DownloadAsync(registry, reference.Path, job, i == streamed, slots, sink, cancel.Token);
        }

        try
        {
            for (var i = 0; i < jobs.Count; i++)
            {
                var job = jobs[i];
                if (present[i]) continue;
                await downloads[i];
                if (job.Registered is null && store.Layers.Get(job.ChainId) is null)
                {
                    await Task.Factory.StartNew(() =>
                    {
                        using var blob = store.Content.OpenRead(job.Blob.Digest);
                        using var counted = new ProgressStream(blob, n => sink.Bytes(job.Id, "Extracting", n, job.Blob.Size));
                        store.Layers.Register(counted, job.Blob.MediaType, job.ParentChainId, job.DiffId, cancel.Token);
                    }, cancel.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                }
                metadata?.Add(job.DiffId, new LayerLocation { Registry = reference.Domain, Repository = reference.Path, Digest = job.Blob.Digest, MediaType = job.Blob.MediaType, Size = job.Blob.Size });
                sink.Report(ProgressMessage.Layer(job.Id, "Pull complete"));
            }
        }
        catch
        {
            cancel.Cancel();
            try { await Task.WhenAll(downloads); } catch (Exception) { } // their partial data stays for a resume
            throw;
        }
        // The compressed blobs served their purpose once unpacked (Docker keeps none either).
        foreach (var job in jobs) if (!present[job.Index]) store.Content.Delete(job.Blob.Digest);
    }

    private async Task DownloadAsync(RegistryClient registry, string repository, LayerJob job, bool unpackWhileDownloading, SemaphoreSlim slots,
        ProgressSink sink, CancellationToken ct)
    {
        if (!slots.Wait(0))
        {
            sink.Report(ProgressMessage.Layer(job.Id, "Waiting"));
            await slots.WaitAsync(ct);
        }
        try
        {
            if (store.Content.Exists(job.Blob.Digest))
            {
                sink.Report(ProgressMessage.Layer(job.Id, "Download complete"));
                return;
            }
            Pipe? pipe = null;
            Task<Layer>? unpack = null;
            long piped = 0;
            // The digest of what went through the unpacker, and the ingest that holds it once all of it did: such a
            // blob is checked here and thrown away after the unpack, never fsynced into the store only to be deleted.
            System.Security.Cryptography.IncrementalHash? pipedHash = null;
            Berth.Storage.IContentWriter? unpacked = null;
            try
            {
                for (var attempt = 0; ; attempt++)
                {
                    var writer = store.Content.OpenWriter("pull-" + job.Blob.Digest.Algorithm + "-" + job.Blob.Digest.Hex, job.Blob.Digest, job.Blob.Size);
                    try
                    {
                        var offset = writer.Offset;
                        if (offset > job.Blob.Size) { writer.Abort(); continue; }
                        if (unpackWhileDownloading && pipe is null && offset == 0)
                        {
                            pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 2 << 20));
                            pipedHash = job.Blob.Digest.CreateHasher();
                            var reader = pipe.Reader;
                            unpack = Task.Factory.StartNew(() =>
                            {
                                using var input = reader.AsStream();
                                return store.Layers.Register(input, job.Blob.MediaType, job.ParentChainId, job.DiffId, ct);
                            }, ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                        }
                        using var response = await registry.GetBlobAsync(repository, job.Blob.Digest, offset, ct);
                        if (offset > 0 && response.StatusCode != HttpStatusCode.PartialContent)
                        {
                            // The registry ignored the Range: start over.
                            writer.Abort();
                            writer = store.Content.OpenWriter("pull-" + job.Blob.Digest.Algorithm + "-" + job.Blob.Digest.Hex, job.Blob.Digest, job.Blob.Size);
                            offset = 0;
                            if (piped > 0) { pipe?.Writer.Complete(new DistributionException("restarted")); pipe = null; }
                        }
                        await using var body = await response.Content.ReadAsStreamAsync(ct);
                        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(128 * 1024);
                        try
                        {
                            var done = offset;
                            int n;
                            while ((n = await body.ReadAsync(buffer, ct)) > 0)
                            {
                                if (done + n > job.Blob.Size) throw new DistributionException($"blob {job.Blob.Digest} is larger than its descriptor's {job.Blob.Size} bytes");
                                await writer.Stream.WriteAsync(buffer.AsMemory(0, n), ct);
                                if (pipe is not null && piped == done)
                                {
                                    pipedHash!.AppendData(buffer, 0, n);
                                    var flushed = await pipe.Writer.WriteAsync(buffer.AsMemory(0, n), ct);
                                    piped += n;
                                    if (flushed.IsCompleted) { pipe.Writer.Complete(); pipe = null; } // the unpacker finished or failed
                                }
                                done += n;
                                sink.Bytes(job.Id, "Downloading", done, job.Blob.Size);
                            }
                        }
                        finally { System.Buffers.ArrayPool<byte>.Shared.Return(buffer); }
                        sink.Report(ProgressMessage.Layer(job.Id, "Verifying Checksum"));
                        if (pipe is not null && piped == job.Blob.Size)
                        {
                            var actual = Digest.FromHash(job.Blob.Digest.Algorithm, pipedHash!.GetHashAndReset());
                            if (actual != job.Blob.Digest)
                            {
                                writer.Abort();
                                throw new DistributionException($"filesystem layer verification failed for digest {job.Blob.Digest}: content has digest {actual}");
                            }
                            unpacked = writer; // kept (not disposed below) until the unpack is known to have succeeded
                        }
                        else
                        {
                            try { writer.Commit(job.Blob.Digest, job.Blob.Size); }
                            catch (StorageException e) { throw new DistributionException($"filesystem layer verification failed for digest {job.Blob.Digest}: {e.Message}", e); }
                        }
                        sink.Report(ProgressMessage.Layer(job.Id, "Download complete"));
                        break;
                    }
                    catch (Exception e) when (attempt < MaxRetries && !ct.IsCancellationRequested && e is IOException or HttpRequestException)
                    {
                        // Keep what arrived; the next attempt asks for the rest.
                        writer.Dispose();
                        sink.Report(ProgressMessage.Layer(job.Id, $"Retrying in {1 << attempt} second{(attempt == 0 ? "" : "s")}"));
                        await Task.Delay(TimeSpan.FromSeconds(1 << attempt), ct);
                    }
                    finally { if (!ReferenceEquals(writer, unpacked)) writer.Dispose(); }
                }
                if (pipe is not null) await pipe.Writer.CompleteAsync();
                if (unpack is not null)
                {
                    try { job.Registered = await unpack; }
                    catch (Exception) when (pipe is null && piped < job.Blob.Size) { } // the stream was cut short: registered from the store below
                }
                // Unpacked and verified: the compressed copy goes (Docker keeps none either).
                unpacked?.Abort();
            }
            catch (Exception e)
            {
                if (pipe is not null) await pipe.Writer.CompleteAsync(e);
                if (unpack is not null) { try { await unpack; } catch (Exception) { } }
                unpacked?.Abort();
                throw;
            }
            finally { pipedHash?.Dispose(); }
        }
        finally { slots.Release(); }
    }
}

/// <summary>Reports how many bytes have been read through it.</summary>
internal sealed class ProgressStream(Stream inner, Action<long> report) : Berth.Storage.Archive.ReadOnlyStream
{
    private long _read;

    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer);
        _read += n;
        report(_read);
        return n;
    }

    protected override void Dispose(bool disposing) { if (disposing) inner.Dispose(); base.Dispose(disposing); }
}
