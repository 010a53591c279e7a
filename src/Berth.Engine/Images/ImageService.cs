using System.Runtime.CompilerServices;
using Berth.Engine.Models;
using Berth.Images;
using Berth.Oci.Content;
using Berth.Oci.Image;
using Berth.Oci.Reference;
using Berth.Storage;

namespace Berth.Engine.Images;

/// <summary>
/// The Docker image API over the image store: list, inspect, history, tag, rmi, prune, load, save, import and
/// commit, with Docker's filters, messages and events. Construct it with the engine's store, the container
/// side (<see cref="IImageContainers"/>: who uses which image, commit sources) and an event sink.
/// </summary>
public sealed partial class ImageService : IImageService
{
    private readonly ImageStore store;
    private readonly IImageContainers containers;
    private readonly Action<EventMessage> publish;
    private readonly TimeProvider clock;

    /// <param name="store">The engine's image store (its layer store is the engine's).</param>
    /// <param name="containers">Who uses which image; <see cref="NoImageContainers.Instance"/> when there are no containers.</param>
    /// <param name="publish">Receives image events (tag, untag, delete, import, load, save) and commit's container event, already stamped.</param>
    public ImageService(ImageStore store, IImageContainers? containers = null, Action<EventMessage>? publish = null, TimeProvider? clock = null)
    {
        this.store = store;
        this.containers = containers ?? NoImageContainers.Instance;
        this.publish = publish ?? (_ => { });
        this.clock = clock ?? TimeProvider.System;
    }

    public ImageStore Store => store;

    // ---- list ----

    private static readonly HashSet<string> ListFilters = ["dangling", "label", "before", "since", "reference", "until"];

    public Task<IReadOnlyList<ImageSummary>> ListAsync(ImageListOptions options, CancellationToken cancellationToken)
    {
        var filters = options.Filters;
        ValidateFilters(filters, ListFilters);
        bool? danglingOnly = null;
        if (filters.Has("dangling")) danglingOnly = ParseBoolFilter(filters, "dangling");
        var before = filters.Get("before").Select(CreatedOf).DefaultIfEmpty(null).Min();
        var since = filters.Get("since").Select(CreatedOf).DefaultIfEmpty(null).Max();
        var until = filters.Get("until").Select(v => FilterTime.Parse("until", v, clock.GetUtcNow())).DefaultIfEmpty(null).Min();
        var references = filters.Get("reference");
        var counts = ContainerCounts();
        var entries = store.List();
        var shared = options.SharedSize ? SharedLayerSizes(entries.Select(e => e.Id)) : null;

        var result = new List<ImageSummary>();
        foreach (var entry in entries)
        {
            var created = entry.Created;
            if (before is { } b && !(created < b)) continue;
            if (since is { } s && !(created > s)) continue;
            if (until is { } u && !(created < u)) continue;
            if (filters.Has("label") && !Labels.Match(entry.Labels, filters.Get("label"))) continue;
            var tags = entry.RepoTags.Where(t => references.Count == 0 || references.Any(p => ReferenceFilter.Matches(p, t))).ToList();
            var digests = entry.RepoDigests.Where(t => references.Count == 0 || references.Any(p => ReferenceFilter.Matches(p, t))).ToList();
            if (tags.Count == 0 && digests.Count == 0)
            {
                // Docker shows an untagged image only when it is dangling (no children) or with all;
                // a reference filter or dangling=false hides it.
                if (!options.All && store.Children(entry.Id).Count > 0) continue;
                if (danglingOnly == false || references.Count > 0) continue;
            }
            else if (danglingOnly == true && tags.Count > 0) continue;
            result.Add(Summary(entry, tags, digests, counts, shared));
        }
        result.Sort((x, y) => y.Created.CompareTo(x.Created));
        return Task.FromResult<IReadOnlyList<ImageSummary>>(result);
    }

    private DateTimeOffset? CreatedOf(string refOrId)
    {
        var id = Resolve(refOrId);
        return store.GetConfig(id).Created;
    }

    private ImageSummary Summary(ImageListEntry entry, List<string> tags, List<string> digests, Dictionary<Digest, int> counts, Dictionary<Digest, long>? shared)
    {
        var size = entry.Size;
        return new ImageSummary
        {
            Id = entry.Id.ToString(),
            ParentId = entry.ParentId,
            RepoTags = tags,
            RepoDigests = digests,
            Created = entry.Created?.ToUnixTimeSeconds() ?? 0,
            Size = size,
            VirtualSize = size,
            SharedSize = shared is null ? -1 : shared.GetValueOrDefault(entry.Id),
            Labels = entry.Labels is null ? [] : new Dictionary<string, string>(entry.Labels, StringComparer.Ordinal),
            Containers = counts.GetValueOrDefault(entry.Id),
        };
    }

    private Dictionary<Digest, int> ContainerCounts()
    {
        var counts = new Dictionary<Digest, int>();
        foreach (var use in containers.ImageUses()) counts[use.ImageId] = counts.GetValueOrDefault(use.ImageId) + 1;
        return counts;
    }

    /// <summary>For each image, the size of its layers that another image also uses (Docker's SharedSize).</summary>
    private Dictionary<Digest, long> SharedLayerSizes(IEnumerable<Digest> ids)
    {
        var chainsByImage = ids.ToDictionary(id => id, ChainsOf);
        var users = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var chains in chainsByImage.Values)
            foreach (var chain in chains) users[chain] = users.GetValueOrDefault(chain) + 1;
        return chainsByImage.ToDictionary(kv => kv.Key,
            kv => kv.Value.Where(c => users[c] > 1).Sum(c => store.Layers.Get(c)?.Size ?? 0));
    }

    private List<string> ChainsOf(Digest id)
    {
        try { return [.. ChainIds.All(store.GetConfig(id).RootFs.DiffIds).Select(c => c.ToString())]; }
        catch (Exception e) when (e is ImageException or StorageException) { return []; }
    }

    /// <summary>The image part of GET /system/df: every image with its container count and shared size, and the layers' total size.</summary>
    public (long LayersSize, List<ImageSummary> Images) DiskUsage()
    {
        var entries = store.List();
        var counts = ContainerCounts();
        var shared = SharedLayerSizes(entries.Select(e => e.Id));
        var images = entries.Select(e => Summary(e, [.. e.RepoTags], [.. e.RepoDigests], counts, shared)).OrderByDescending(i => i.Created).ToList();
        var layersSize = store.Layers.List().Sum(l => l.Size);
        return (layersSize, images);
    }

    // ---- inspect, history ----

    public Task<ImageInspect> InspectAsync(string name, CancellationToken cancellationToken)
    {
        ImageDetails details;
        try { details = store.Inspect(name); }
        catch (Exception e) when (Translate(e) is { } mapped) { throw mapped; }
        var config = details.Image;
        return Task.FromResult(new ImageInspect
        {
            Id = details.Id.ToString(),
            RepoTags = [.. details.RepoTags],
            RepoDigests = [.. details.RepoDigests],
            Parent = details.Parent,
            Comment = details.Comment,
            Created = details.Created is { } c ? DockerTime.Format(c) : DockerTime.Zero,
            DockerVersion = config.Extra?.TryGetValue("docker_version", out var v) == true && v.ValueKind == System.Text.Json.JsonValueKind.String ? v.GetString()! : "",
            Author = details.Author,
            Config = ImageConfigMapping.ToApi(details.Config),
            Architecture = details.Architecture,
            Variant = string.IsNullOrEmpty(details.Variant) ? null : details.Variant,
            Os = details.Os,
            OsVersion = string.IsNullOrEmpty(details.OsVersion) ? null : details.OsVersion,
            Size = details.Size,
            VirtualSize = details.Size,
            GraphDriver = new GraphDriverData { Name = store.Layers.Driver },
            RootFS = new ImageRootFS { Type = details.RootFs.Type, Layers = [.. details.RootFs.DiffIds.Select(d => d.ToString())] },
            Metadata = new ImageMetadata { LastTagTime = details.LastTagTime is { } t ? DockerTime.Format(t) : DockerTime.Zero },
        });
    }

    public Task<IReadOnlyList<HistoryResponseItem>> HistoryAsync(string name, CancellationToken cancellationToken)
    {
        IReadOnlyList<ImageHistoryItem> history;
        try { history = store.History(name); }
        catch (Exception e) when (Translate(e) is { } mapped) { throw mapped; }
        return Task.FromResult<IReadOnlyList<HistoryResponseItem>>([.. history.Select(h => new HistoryResponseItem
        {
            Id = h.Id,
            Created = h.Created?.ToUnixTimeSeconds() ?? 0,
            CreatedBy = h.CreatedBy,
            Tags = h.Tags.Count == 0 ? null : [.. h.Tags],
            Size = h.Size,
            Comment = h.Comment,
        })]);
    }

    // ---- tag ----

    public Task TagAsync(string name, string repository, string? tag, CancellationToken cancellationToken)
    {
        var reference = RepoTagReference(repository, tag)
            ?? throw new InvalidParameterException("repository name must have at least one component");
        if (reference.FamiliarName == "sha256")
            throw new InvalidParameterException("refusing to create an ambiguous tag using digest algorithm as name");
        var id = Resolve(name);
        Tag(id, reference);
        return Task.CompletedTask;
    }

    /// <summary>Points the reference at the image and logs Docker's "tag" event (a tag moved off another image logs nothing there, as Docker).</summary>
    private void Tag(Digest id, ImageReference reference)
    {
        try { store.Tag(id, reference.ToString()); }
        catch (Exception e) when (Translate(e) is { } mapped) { throw mapped; }
        ImageEvent("tag", id, reference.FamiliarString());
    }

    /// <summary>
    /// Docker's httputils.RepoTagReference: repo (normalised; a digest refused) with the tag (default
    /// "latest"); null when <paramref name="repository"/> is empty.
    /// </summary>
    public static ImageReference? RepoTagReference(string? repository, string? tag)
    {
        if (string.IsNullOrEmpty(repository)) return null;
        if (!ImageReference.TryParseNormalized(repository, out var reference, out var error)) throw new InvalidParameterException(error);
        if (reference.Digest is not null) throw new InvalidParameterException("cannot import digest reference");
        if (!string.IsNullOrEmpty(tag))
        {
            if (!ImageReference.IsValidTag(tag)) throw new InvalidParameterException("invalid tag format");
            return reference.WithTag(tag);
        }
        return reference.Tag is null ? reference.WithTag(ImageReference.DefaultTag) : reference;
    }

    // ---- remove, prune ----

    public Task<IReadOnlyList<ImageDeleteResponseItem>> RemoveAsync(string name, bool force, bool noPrune, CancellationToken cancellationToken)
    {
        var imagesBefore = store.Ids.ToHashSet();
        var labels = LabelsByImage(imagesBefore);
        var target = Resolve(name);
        IReadOnlyList<ImageDeleteItem> items;
        try { items = store.Remove(name, force, prune: !noPrune, Usage()); }
        catch (Exception e) when (Translate(e) is { } mapped) { throw mapped; }
        return Task.FromResult<IReadOnlyList<ImageDeleteResponseItem>>(Report(items, imagesBefore, labels, target));
    }

    private List<ImageDeleteResponseItem> Report(IReadOnlyList<ImageDeleteItem> items, HashSet<Digest> imagesBefore,
        Dictionary<Digest, IReadOnlyDictionary<string, string>?> labels, Digest? untagTarget)
    {
        // Events: an untag names the image it was taken from (the image deleted right after it, else the image
        // the name resolved to); delete is logged for images, not for their layers.
        var result = new List<ImageDeleteResponseItem>();
        var pendingUntags = 0;
        foreach (var item in items)
        {
            result.Add(new ImageDeleteResponseItem { Untagged = item.Untagged, Deleted = item.Deleted });
            if (item.Untagged is not null) pendingUntags++;
            else if (item.Deleted is { } deleted && Digest.TryParse(deleted, out var d) && imagesBefore.Contains(d))
            {
                for (; pendingUntags > 0; pendingUntags--) ImageEvent("untag", d, d.ToString(), labels.GetValueOrDefault(d));
                ImageEvent("delete", d, d.ToString(), labels.GetValueOrDefault(d));
            }
        }
        if (untagTarget is { } target)
            for (; pendingUntags > 0; pendingUntags--) ImageEvent("untag", target, target.ToString(), labels.GetValueOrDefault(target));
        return result;
    }

    private Dictionary<Digest, IReadOnlyDictionary<string, string>?> LabelsByImage(IEnumerable<Digest> ids)
    {
        var labels = new Dictionary<Digest, IReadOnlyDictionary<string, string>?>();
        foreach (var id in ids)
        {
            try { labels[id] = store.GetConfig(id).Config?.Labels; }
            catch (Exception e) when (e is ImageException or StorageException) { }
        }
        return labels;
    }

    private ImageUsage Usage()
    {
        var uses = containers.ImageUses();
        return id =>
        {
            ImageUser? found = null;
            foreach (var use in uses)
            {
                if (use.ImageId != id) continue;
                if (use.Running) return new ImageUser(use.ContainerId, true);
                found ??= new ImageUser(use.ContainerId, false);
            }
            return found;
        };
    }

    private static readonly HashSet<string> PruneFilters = ["dangling", "label", "label!", "until"];

    public Task<ImagePruneResponse> PruneAsync(Filters filters, CancellationToken cancellationToken)
    {
        ValidateFilters(filters, PruneFilters);
        var danglingOnly = !filters.Has("dangling") || ParseBoolFilter(filters, "dangling");
        var now = clock.GetUtcNow();
        var until = filters.Get("until").Select(v => FilterTime.Parse("until", v, now)).DefaultIfEmpty(null).Min();
        var labels = filters.Get("label");
        var notLabels = filters.Get("label!");
        bool Keep(Digest id, ImageConfig config)
        {
            if (until is { } u && !(config.Created < u)) return false;
            var imageLabels = config.Config?.Labels;
            if (labels.Count > 0 && !Labels.Match(imageLabels, labels)) return false;
            if (notLabels.Count > 0 && Labels.MatchAny(imageLabels, notLabels)) return false;
            return true;
        }
        return Task.Run(() =>
        {
            var imagesBefore = store.Ids.ToHashSet();
            var imageLabels = LabelsByImage(imagesBefore);
            ImagePruneReport report;
            try { report = store.Prune(Usage(), all: !danglingOnly, filter: Keep); }
            catch (Exception e) when (Translate(e) is { } mapped) { throw mapped; }
            var items = Report(report.Deleted, imagesBefore, imageLabels, untagTarget: null);
            return new ImagePruneResponse { ImagesDeleted = items.Count == 0 ? null : items, SpaceReclaimed = report.SpaceReclaimed };
        }, cancellationToken);
    }

    // ---- load, save ----

    public async IAsyncEnumerable<JsonMessage> LoadAsync(Stream tar, bool quiet, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        LoadResult result;
        try
        {
            result = await Task.Run(() => new ImageArchive(store).Load(StreamBridge.BlockingReader(tar, cancellationToken), ct: cancellationToken), cancellationToken);
        }
        catch (Exception e) when (TranslateInput(e) is { } mapped) { throw mapped; }
        foreach (var id in result.Images) ImageEvent("load", id, id.ToString());
        foreach (var line in result.Lines) yield return new JsonMessage { Stream = line + "\n" };
    }

    public async Task SaveAsync(IReadOnlyList<string> names, Stream destination, CancellationToken cancellationToken)
    {
        if (names.Count == 0) throw new InvalidParameterException("no images to save: give at least one name");
        // Every name must resolve before a byte is written: an unknown one is a 404, not a truncated tar.
        var ids = new List<Digest>();
        foreach (var name in names) ids.Add(Resolve(name));
        try
        {
            await StreamBridge.ProduceAsync(output => new ImageArchive(store).Save(names, output), destination, cancellationToken);
        }
        catch (Exception e) when (Translate(e) is { } mapped) { throw mapped; }
        foreach (var id in ids.Distinct()) ImageEvent("save", id, id.ToString());
    }

    // ---- import, commit ----

    public async IAsyncEnumerable<JsonMessage> ImportAsync(Stream tar, ImageImportOptions options, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var reference = RepoTagReference(options.Repository, options.Tag);
        Platform? platform = null;
        if (!string.IsNullOrEmpty(options.Platform))
        {
            try { platform = Platforms.Parse(options.Platform); }
            catch (FormatException e) { throw new InvalidParameterException(e.Message, e); }
        }
        // The tag goes into the store with the image (one index write); its event follows the import's, as before.
        var import = new ImportOptions { Changes = options.Changes, Message = options.Message, Platform = platform, Source = "-", Reference = reference?.ToString() };
        Digest id;
        try
        {
            id = await Task.Run(() => new ImageCreation(store).Import(StreamBridge.BlockingReader(tar, cancellationToken), import, cancellationToken), cancellationToken);
        }
        catch (Exception e) when (TranslateInput(e) is { } mapped) { throw mapped; }
        ImageEvent("import", id, id.ToString());
        if (reference is not null) ImageEvent("tag", id, reference.FamiliarString());
        yield return new JsonMessage { Status = id.ToString() };
    }

    public async Task<IdResponse> CommitAsync(CommitOptions options, CancellationToken cancellationToken)
    {
        var reference = RepoTagReference(options.Repository, options.Tag);
        var source = containers.GetCommitSource(options.Container);
        var merged = ImageConfigMapping.Merge(options.Config, source.Config);
        var commit = new ImageCommitOptions
        {
            ParentImage = source.ImageId,
            Config = ImageConfigMapping.ToImage(merged),
            Changes = options.Changes,
            Author = string.IsNullOrEmpty(options.Author) ? null : options.Author,
            Message = string.IsNullOrEmpty(options.Comment) ? null : options.Comment,
            CreatedBy = string.Join(' ', source.Config.Cmd ?? []),
            Reference = reference?.ToString(), // tagged in the same index write as the image is added
        };
        var paused = false;
        if (options.Pause && source.Running && !source.Paused)
        {
            await containers.PauseAsync(source.Id, cancellationToken);
            paused = true;
        }
        Digest id;
        try
        {
            id = await Task.Run(() => new ImageCreation(store).Commit(source.Layer, commit, cancellationToken), cancellationToken);
        }
        catch (Exception e) when (TranslateInput(e) is { } mapped) { throw mapped; }
        finally
        {
            if (paused) await containers.UnpauseAsync(source.Id, CancellationToken.None);
        }
        if (reference is not null) ImageEvent("tag", id, reference.FamiliarString());
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal) { ["comment"] = options.Comment ?? "", ["imageID"] = id.ToString() };
        if (reference is not null) attributes["imageRef"] = reference.FamiliarString();
        Publish("container", "commit", source.Id, attributes, legacyId: true);
        return new IdResponse { Id = id.ToString() };
    }

    // ---- helpers ----

    private Digest Resolve(string refOrId)
    {
        try { return store.Resolve(refOrId); }
        catch (Exception e) when (Translate(e) is { } mapped) { throw mapped; }
    }

    private void ImageEvent(string action, Digest id, string name, IReadOnlyDictionary<string, string>? labels = null)
    {
        if (labels is null && action is not ("delete" or "untag"))
        {
            try { labels = store.GetConfig(id).Config?.Labels; }
            catch (Exception e) when (e is ImageException or StorageException) { }
        }
        var attributes = labels is null ? new Dictionary<string, string>(StringComparer.Ordinal) : new Dictionary<string, string>(labels, StringComparer.Ordinal);
        attributes["name"] = name;
        Publish("image", action, id.ToString(), attributes, legacyId: true);
    }

    private void Publish(string type, string action, string id, Dictionary<string, string> attributes, bool legacyId)
    {
        var now = clock.GetUtcNow();
        var nanos = (now - DateTimeOffset.UnixEpoch).Ticks * 100;
        publish(new EventMessage
        {
            Type = type,
            Action = action,
            Actor = new EventActor { ID = id, Attributes = attributes },
            Time = now.ToUnixTimeSeconds(),
            TimeNano = nanos,
            Status = legacyId ? action : null,
            Id = legacyId ? id : null,
        });
    }

    private static void ValidateFilters(Filters filters, HashSet<string> accepted)
    {
        foreach (var name in filters.Values.Keys)
            if (!accepted.Contains(name)) throw new InvalidParameterException($"invalid filter '{name}'");
    }

    private static bool ParseBoolFilter(Filters filters, string name)
    {
        var values = filters.Get(name);
        if (values.All(v => v is "true" or "1")) return true;
        if (values.All(v => v is "false" or "0")) return false;
        throw new InvalidParameterException($"invalid filter '{name}={string.Join(",", values)}'");
    }

    /// <summary>The library's errors as the API's classes (404, 409, 400); null for failures of the engine itself.</summary>
    internal static EngineException? Translate(Exception e) => e switch
    {
        EngineException engine => engine,
        ImageNotFoundException => new NotFoundException(e.Message),
        ImageConflictException => new ConflictException(e.Message),
        InvalidArchiveException => new InvalidParameterException(e.Message, e),
        InvalidReferenceException => new InvalidParameterException(e.Message, e),
        ChangeException => new InvalidParameterException(e.Message, e),
        ImageException => new InvalidParameterException(e.Message, e),
        _ => null,
    };

    /// <summary>As <see cref="Translate"/>, and a bad tar from the client (corrupt, truncated, escaping, too large) is a 400.</summary>
    internal static EngineException? TranslateInput(Exception e) => Translate(e) ?? e switch
    {
        InvalidLayerException => new InvalidParameterException(e.Message, e),
        Berth.Storage.UnsupportedMediaTypeException => new InvalidParameterException(e.Message, e),
        System.IO.InvalidDataException => new InvalidParameterException(e.Message, e),
        _ => null,
    };
}
