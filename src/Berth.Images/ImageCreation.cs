using System.IO.Pipelines;
using Berth.Oci.Content;
using Berth.Oci.Image;
using Berth.Oci.Reference;
using Berth.Storage;

namespace Berth.Images;

public sealed record ImportOptions
{
    /// <summary>Dockerfile instructions as `docker import -c` takes them.</summary>
    public IReadOnlyList<string> Changes { get; init; } = [];
    public string? Message { get; init; }
    /// <summary>The platform the image says it is for (default: the host's).</summary>
    public Platform? Platform { get; init; }
    /// <summary>repo[:tag] to tag the new image with.</summary>
    public string? Reference { get; init; }
    /// <summary>Where the tarball came from ("-" for the request body): without a message, the history says "Imported from &lt;source&gt;", as Docker's.</summary>
    public string Source { get; init; } = "-";
}

public sealed record ImageCommitOptions
{
    /// <summary>The image the container was created from (null: an empty rootfs).</summary>
    public Digest? ParentImage { get; init; }
    /// <summary>The container's config (its Cmd, Env… as run); default: the parent image's.</summary>
    public ContainerConfig? Config { get; init; }
    public IReadOnlyList<string> Changes { get; init; } = [];
    public string? Author { get; init; }
    public string? Message { get; init; }
    /// <summary>What the history entry says made the layer (Docker: the container's command).</summary>
    public string? CreatedBy { get; init; }
    public string? Reference { get; init; }
}

/// <summary>`docker import`, `docker commit` and `docker export`: images made from a tarball or a container.</summary>
public sealed class ImageCreation(ImageStore store)
{
    /// <summary>
    /// A rootfs tarball (plain, gzip, zstd, bzip2 or xz) becomes a one-layer image; returns its ID. The tag
    /// (if any) is set last, after the layer and the config are stored.
    /// </summary>
    public Digest Import(Stream tarball, ImportOptions? options = null, CancellationToken ct = default)
    {
        options ??= new ImportOptions();
        var tag = options.Reference is null ? null : ParseTag(options.Reference);
        var config = ConfigChanges.Apply(null, options.Changes); // before storing anything: bad changes store nothing
        var platform = Platforms.Normalize(options.Platform ?? Platforms.Host);
        Layer layer;
        using (var content = Decompression.Open(tarball))
        {
            layer = store.Layers.Register(content, Compression.None, null, null, ct);
        }
        try
        {
            var now = DateTimeOffset.UtcNow;
            var message = string.IsNullOrEmpty(options.Message) ? "Imported from " + options.Source : options.Message;
            var image = new ImageConfig
            {
                Created = now,
                Architecture = platform.Architecture,
                Os = platform.Os,
                Variant = platform.Variant,
                Comment = message,
                Config = config,
                RootFs = new RootFs { DiffIds = [layer.DiffId] },
                History = [new HistoryEntry { Created = now, Comment = message }],
            };
            return store.Create(ImageJson.Serialize(image, ImageJson.Config), names: tag is null ? null : [tag]);
        }
        catch
        {
            TryDeleteUnused(layer.ChainId);
            throw;
        }
    }

    /// <summary>
    /// A container's changes become a new layer on its image (none if it changed nothing: an empty_layer
    /// history entry, as Docker's), with the parent's config, the container's config and the changes applied.
    /// </summary>
    public Digest Commit(ContainerLayer container, ImageCommitOptions? options = null, CancellationToken ct = default)
    {
        options ??= new ImageCommitOptions();
        var tag = options.Reference is null ? null : ParseTag(options.Reference);
        ImageConfig parent;
        if (options.ParentImage is { } parentId)
            parent = ImageJson.ParseConfig(store.GetConfigBytes(parentId)); // a private copy to change
        else
            parent = new ImageConfig { Os = Platforms.Host.Os, Architecture = Platforms.Host.Architecture, Variant = Platforms.Host.Variant };
        var parentChain = parent.RootFs.ChainId();
        if ((parentChain.IsEmpty ? null : parentChain.ToString()) != container.ParentChainId)
            throw new ImageException($"container layer {container.Id} is not on image {options.ParentImage?.ToString() ?? "(none)"}");
        var config = ConfigChanges.Apply(options.Config ?? parent.Config, options.Changes);

        var layer = RegisterDiff(container, ct);
        var emptyLayer = layer.DiffId == ChainIds.EmptyTar;
        try
        {
            var now = DateTimeOffset.UtcNow;
            var history = parent.History ?? [];
            history.Add(new HistoryEntry
            {
                Created = now,
                CreatedBy = options.CreatedBy ?? string.Join(' ', config.Cmd ?? []),
                Author = options.Author,
                Comment = options.Message,
                EmptyLayer = emptyLayer ? true : null,
            });
            parent.History = history;
            if (!emptyLayer) parent.RootFs.DiffIds.Add(layer.DiffId);
            parent.Created = now;
            parent.Author = options.Author;
            parent.Comment = options.Message;
            parent.Config = config;
            // The parent's container-specific fields describe the container that made the parent.
            parent.Extra?.Remove("container");
            parent.Extra?.Remove("container_config");
            parent.Extra?.Remove("id");
            parent.Extra?.Remove("parent");
            var id = store.Create(ImageJson.Serialize(parent, ImageJson.Config), options.ParentImage, names: tag is null ? null : [tag]);
            if (emptyLayer) TryDeleteUnused(layer.ChainId);
            return id;
        }
        catch
        {
            TryDeleteUnused(layer.ChainId);
            throw;
        }
    }

    private Layer RegisterDiff(ContainerLayer container, CancellationToken ct)
    {
        // The diff streams from the writer task straight into the layer store: no temp file.
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 2 << 20));
        var writer = Task.Run(() =>
        {
            // Tar headers are 512-byte writes, and each write to a pipe stream is a flush that wakes the reader:
            // batching them makes the hand-over per 256 KiB instead of per entry (10 000 wake-ups for 10 000 files).
            var output = new BufferedStream(pipe.Writer.AsStream(), 256 << 10);
            try
            {
                container.WriteDiff(output);
                output.Flush();
                pipe.Writer.Complete();
            }
            catch (Exception e) { pipe.Writer.Complete(e); throw; }
        }, ct);
        Layer layer;
        try
        {
            using var input = pipe.Reader.AsStream();
            layer = store.Layers.Register(input, Compression.None, container.ParentChainId, null, ct);
        }
        catch
        {
            pipe.Reader.Complete();
            try { writer.Wait(ct); } catch (AggregateException) { }
            throw;
        }
        writer.Wait(ct);
        return layer;
    }

    /// <summary>Removes a layer this operation registered unless an image uses it (it may have existed before).</summary>
    private void TryDeleteUnused(string chainId)
    {
        if (store.LayerRoots().Contains(chainId)) return;
        try { store.Layers.Delete(chainId); } catch (StorageException) { }
    }

    /// <summary>`docker export`: the container's whole filesystem as one tar.</summary>
    public static void Export(ContainerLayer container, Stream output) => container.Export(output);

    private static ImageReference ParseTag(string reference)
    {
        var r = ImageReference.ParseNormalized(reference);
        if (r.Digest is not null) throw new ImageException("refusing to create a tag with a digest reference");
        return r;
    }
}
