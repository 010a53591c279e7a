using System.Text.Json;
using System.Text.RegularExpressions;
using Berth.Oci.Content;
using Berth.Oci.Image;
using Berth.Oci.Reference;
using Berth.Storage;

namespace Berth.Images;

/// <summary>
/// Images by ID (the config digest, as Docker's), their tags and digest references, lookup by reference, ID
/// or unique ID prefix, removal and pruning with Docker's rules. Configs live in the content store, layers in
/// the layer store; this store keeps one small index (images.json), rewritten atomically on every change.
/// Thread-safe: one lock guards the index.
/// </summary>
public sealed partial class ImageStore
{
    private readonly string _indexPath;
    private readonly Lock _gate = new();
    private readonly ImageStoreState _state;
    private readonly Dictionary<string, Digest> _references = new(StringComparer.Ordinal); // full reference → image ID
    private readonly Dictionary<Digest, ImageConfig> _configs = [];

    public string Root { get; }
    public IContentStore Content { get; }
    public ILayerStore Layers { get; }

    private ImageStore(string root, IContentStore content, ILayerStore layers, ImageStoreState state)
    {
        Root = root; Content = content; Layers = layers; _state = state;
        _indexPath = Path.Combine(root, "images.json");
        foreach (var (_, refs) in state.Repositories)
            foreach (var (reference, id) in refs)
                if (ImageReference.TryParseNormalized(reference, out var r, out _) && Digest.TryParse(id, out var d))
                    _references[r.ToString()] = d;
    }

    /// <summary>Opens (creating when absent) the image index under <paramref name="root"/>.</summary>
    public static ImageStore Open(string root, IContentStore content, ILayerStore layers)
    {
        Directory.CreateDirectory(root);
        var path = Path.Combine(root, "images.json");
        ImageStoreState state;
        try
        {
            state = File.Exists(path)
                ? JsonSerializer.Deserialize(File.ReadAllBytes(path), ImageStoreJsonContext.Default.ImageStoreState) ?? new()
                : new ImageStoreState();
        }
        catch (JsonException e)
        {
            throw new ImageException($"image index {path} is damaged: {e.Message}", e);
        }
        // Leftovers of a process killed mid-write or mid-load: a temp index, archives being unpacked.
        foreach (var stale in Directory.EnumerateFiles(root, "images.json.tmp*")) File.Delete(stale);
        var tmp = Path.Combine(root, "tmp");
        if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        return new ImageStore(root, content, layers, state);
    }

    public static ImageStore Open(string root, StorageRoot storage) => Open(root, storage.Content, storage.Layers);

    /// <summary>A directory for temporary files on the store's filesystem (archives being loaded).</summary>
    internal string TempDirectory()
    {
        var dir = Path.Combine(Root, "tmp", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    // ---- images ----

    public IReadOnlyList<Digest> Ids
    {
        get { lock (_gate) return [.. _state.Images.Keys.Select(Digest.Parse)]; }
    }

    public bool Exists(Digest id)
    {
        lock (_gate) return _state.Images.ContainsKey(id.ToString());
    }

    public ImageRecord? Record(Digest id)
    {
        lock (_gate) return _state.Images.GetValueOrDefault(id.ToString());
    }

    /// <summary>The exact config bytes (their sha256 is the image ID).</summary>
    public byte[] GetConfigBytes(Digest id)
    {
        if (!Exists(id)) throw new ImageNotFoundException(id.ToString());
        using var stream = Content.OpenRead(id);
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }

    public ImageConfig GetConfig(Digest id)
    {
        lock (_gate)
            if (_configs.TryGetValue(id, out var cached)) return cached;
        var config = ImageJson.ParseConfig(GetConfigBytes(id));
        lock (_gate) _configs[id] = config;
        return config;
    }

    /// <summary>
    /// Adds an image from its config bytes (kept exactly: the ID is their sha256) and points <paramref name="names"/>
    /// at it — tags (":latest" implied; a tag held by another image moves) and digest references (repo@sha256:… of
    /// its manifest) — in one index write, after the config is stored: a pull, an import or a commit writes the index
    /// once, and a crash leaves the image with all its names or not there at all. Every layer of its rootfs must
    /// already be in the layer store. Creating an existing image only adds what is new (nothing new: no write).
    /// </summary>
    public Digest Create(byte[] configBytes, Digest? parent = null, Digest? manifest = null, IReadOnlyList<ImageReference>? names = null)
    {
        var keys = new List<string>();
        foreach (var name in names ?? [])
            keys.Add((name.Digest is not null ? name with { Tag = null } : name.Tag is null ? name with { Tag = ImageReference.DefaultTag } : name).ToString());
        var config = ImageJson.ParseConfig(configBytes);
        foreach (var chain in ChainIds.All(config.RootFs.DiffIds))
            if (Layers.Get(chain.ToString()) is null)
                throw new ImageException($"layer {chain} of the image is not in the layer store");
        var id = Digest.Sha256(configBytes);
        if (!Content.Exists(id))
        {
            using var writer = Content.OpenWriter("config-" + id.Hex, id, configBytes.Length);
            writer.Stream.Write(configBytes);
            writer.Commit(id, configBytes.Length);
        }
        lock (_gate)
        {
            var key = id.ToString();
            var changed = false;
            if (!_state.Images.TryGetValue(key, out var record))
            {
                _state.Images[key] = record = new ImageRecord { Added = DateTimeOffset.UtcNow, Parent = parent?.ToString() };
                changed = true;
            }
            if (manifest is { } m && !(record.Manifests ??= []).Contains(m))
            {
                record.Manifests.Add(m);
                changed = true;
            }
            var named = false;
            foreach (var reference in keys)
            {
                if (_references.TryGetValue(reference, out var holder) && holder == id) continue;
                _references[reference] = id;
                named = true;
            }
            if (named)
            {
                record.LastTagTime = DateTimeOffset.UtcNow;
                changed = true;
            }
            _configs[id] = config;
            if (changed) Persist();
        }
        return id;
    }

    public IReadOnlyList<Digest> Children(Digest id)
    {
        var key = id.ToString();
        lock (_gate) return [.. _state.Images.Where(kv => kv.Value.Parent == key).Select(kv => Digest.Parse(kv.Key))];
    }

    // ---- lookup ----

    /// <summary>
    /// Docker's GetImage: a full ID (hex or sha256:hex), a reference (":latest" implied, a digest reference
    /// by digest), or a unique prefix of an ID.
    /// </summary>
    public Digest Resolve(string refOrId)
        => TryResolve(refOrId, out var id, out var error) ? id : throw (error ?? new ImageNotFoundException(refOrId));

    public bool TryResolve(string refOrId, out Digest id) => TryResolve(refOrId, out id, out _);

    private bool TryResolve(string refOrId, out Digest id, out Exception? error)
    {
        error = null;
        id = default;
        if (ImageReference.IsFullIdentifier(refOrId) && Digest.TryParse("sha256:" + refOrId, out var full)
            || Digest.TryParse(refOrId, out full))
        {
            id = full;
            if (Exists(full)) return true;
            error = new ImageNotFoundException(refOrId);
            return false;
        }
        var prefix = refOrId.StartsWith("sha256:", StringComparison.Ordinal) ? refOrId[7..] : refOrId;
        if (!ImageReference.TryParseNormalized(refOrId, out var reference, out var parseError) && !HexPrefix().IsMatch(prefix))
        {
            // Neither a reference nor an ID: Docker's wording for what is wrong with it.
            error = new InvalidReferenceException(parseError);
            return false;
        }
        if (reference is not null)
        {
            var key = DockerRef(reference).ToString();
            lock (_gate)
                if (_references.TryGetValue(key, out id)) return true;
            error = new ImageNotFoundException(reference.Digest is null && reference.Tag is null ? DockerRef(reference).FamiliarString() : refOrId);
        }
        if (HexPrefix().IsMatch(prefix))
        {
            List<string> matches;
            lock (_gate) matches = [.. _state.Images.Keys.Where(k => k.AsSpan(7).StartsWith(prefix, StringComparison.Ordinal))];
            if (matches.Count == 1) { id = Digest.Parse(matches[0]); return true; }
            if (matches.Count > 1) { error = new ImageException($"multiple IDs found with provided prefix: {prefix}"); return false; }
        }
        error ??= new ImageNotFoundException(refOrId);
        return false;
    }

    private static ImageReference DockerRef(ImageReference r)
        => r.Digest is not null ? r with { Tag = null } : r.Tag is null ? r with { Tag = ImageReference.DefaultTag } : r;

    [GeneratedRegex("^[a-f0-9]{1,64}\\z")]
    private static partial Regex HexPrefix();

    /// <summary>Every reference (tags and digests) that names <paramref name="id"/>, sorted.</summary>
    public IReadOnlyList<ImageReference> References(Digest id)
    {
        lock (_gate)
            return [.. _references.Where(kv => kv.Value == id).Select(kv => ImageReference.ParseNormalized(kv.Key)).OrderBy(r => r.ToString(), StringComparer.Ordinal)];
    }

    public IReadOnlyList<string> RepoTags(Digest id) => [.. References(id).Where(r => r.Digest is null).Select(r => r.FamiliarString())];
    public IReadOnlyList<string> RepoDigests(Digest id) => [.. References(id).Where(r => r.Digest is not null).Select(r => r.FamiliarString())];

    // ---- tags ----

    /// <summary>
    /// Points <paramref name="reference"/> (":latest" implied) at an image; a tag held by another image moves.
    /// Returns the image the tag was taken from, if any. A digest reference is refused, as `docker tag` does.
    /// </summary>
    public Digest? Tag(Digest id, string reference) => TagMany(id, [reference]).FirstOrDefault();

    /// <summary>Tags one image with several references at once (one index write); returns images that lost a tag.</summary>
    public IReadOnlyList<Digest> TagMany(Digest id, IEnumerable<string> references)
    {
        var parsed = new List<ImageReference>();
        foreach (var text in references)
        {
            var r = ImageReference.ParseNormalized(text);
            if (r.Digest is not null) throw new ImageException("refusing to create a tag with a digest reference");
            parsed.Add(r.Tag is null ? r with { Tag = ImageReference.DefaultTag } : r);
        }
        return SetReferences(id, parsed);
    }

    /// <summary>Records that <paramref name="id"/> is also known by a digest reference (repo@sha256:… of its manifest).</summary>
    public void AddDigestReference(Digest id, ImageReference canonical)
    {
        if (canonical.Digest is null) throw new ImageException($"{canonical} is not a digest reference");
        SetReferences(id, [canonical with { Tag = null }]);
    }

    private List<Digest> SetReferences(Digest id, List<ImageReference> refs)
    {
        var moved = new List<Digest>();
        lock (_gate)
        {
            if (!_state.Images.TryGetValue(id.ToString(), out var record)) throw new ImageNotFoundException(id.ToString());
            foreach (var r in refs)
            {
                var key = r.ToString();
                if (_references.TryGetValue(key, out var previous) && previous != id) moved.Add(previous);
                _references[key] = id;
            }
            record.LastTagTime = DateTimeOffset.UtcNow;
            Persist();
        }
        return moved;
    }

    /// <summary>Removes one reference (":latest" implied); throws when it names no image.</summary>
    public ImageReference Untag(string reference)
    {
        var r = DockerRef(ImageReference.ParseNormalized(reference));
        lock (_gate)
        {
            if (!_references.Remove(r.ToString())) throw new ImageNotFoundException(r.FamiliarString());
            Persist();
        }
        return r;
    }

    // ---- removal ----

    /// <summary>
    /// `docker rmi` with Docker's rules (daemon/images/image_delete.go): a reference untags, and deletes the
    /// image only when that was its last reference; an ID deletes, after untagging when all its references are
    /// one repository's; a container using it, dependent child images or references in several repositories
    /// are conflicts (some can be forced; children and running containers cannot).
    /// </summary>
    public IReadOnlyList<ImageDeleteItem> Remove(string refOrId, bool force, bool prune, ImageUsage usage)
    {
        var records = new List<ImageDeleteItem>();
        var id = Resolve(refOrId);
        var references = References(id);
        var user = usage(id);
        var removedRepositoryRef = false;

        if (!IsIdPrefix(id, refOrId))
        {
            if (!force && IsSingleReference(references) && user is not null)
                throw new ImageConflictException($"conflict: unable to remove repository reference \"{refOrId}\" (must force) - container {Short(user.ContainerId)} is using its referenced image {Short(id.Hex)}");
            var parsed = Untag(refOrId);
            records.Add(ImageDeleteItem.UntaggedRef(parsed.FamiliarString()));
            references = References(id);
            if (parsed.Digest is null && !references.Any(r => r.Digest is null && r.Name == parsed.Name))
            {
                // Untagging a repository's last tag also drops its digest references.
                foreach (var r in references.Where(r => r.Digest is not null && r.Name == parsed.Name).ToList())
                {
                    Untag(r.ToString());
                    records.Add(ImageDeleteItem.UntaggedRef(r.FamiliarString()));
                }
                references = References(id);
            }
            if (references.Count > 0) return records;
            removedRepositoryRef = true;
        }
        else if (IsSingleReference(references))
        {
            CheckConflict(id, hardOnly: force, allowReferences: true, usage);
            foreach (var r in references)
            {
                Untag(r.ToString());
                records.Add(ImageDeleteItem.UntaggedRef(r.FamiliarString()));
            }
        }
        DeleteHelper(id, records, force, prune, quiet: removedRepositoryRef, usage);
        return records;
    }

    private void DeleteHelper(Digest id, List<ImageDeleteItem> records, bool force, bool prune, bool quiet, ImageUsage usage)
    {
        try
        {
            CheckConflict(id, hardOnly: force, allowReferences: false, usage);
        }
        catch (ImageConflictException) when (quiet && (References(id).Count > 0 || usage(id) is not null || Children(id).Count > 0))
        {
            // Untagging already did what was asked; an image still used or referenced just stays.
            return;
        }
        var parent = Record(id)?.Parent;
        foreach (var r in References(id))
        {
            Untag(r.ToString());
            records.Add(ImageDeleteItem.UntaggedRef(r.FamiliarString()));
        }
        records.Add(ImageDeleteItem.DeletedId(id.ToString()));
        foreach (var layer in Delete(id)) records.Add(ImageDeleteItem.DeletedId(layer));
        if (prune && parent is not null && Digest.TryParse(parent, out var p) && Exists(p) && References(p).Count == 0)
            DeleteHelper(p, records, force: false, prune: true, quiet: true, usage);
    }

    private void CheckConflict(Digest id, bool hardOnly, bool allowReferences, ImageUsage usage)
    {
        var shortId = Short(id.Hex);
        if (Children(id).Count > 0)
            throw new ImageConflictException($"conflict: unable to delete {shortId} (cannot be forced) - image has dependent child images");
        var user = usage(id);
        if (user is { Running: true })
            throw new ImageConflictException($"conflict: unable to delete {shortId} (cannot be forced) - image is being used by running container {Short(user.ContainerId)}");
        if (hardOnly) return;
        if (!allowReferences && References(id).Count > 0)
            throw new ImageConflictException($"conflict: unable to delete {shortId} (must be forced) - image is referenced in multiple repositories");
        if (user is not null)
            throw new ImageConflictException($"conflict: unable to delete {shortId} (must be forced) - image is being used by stopped container {Short(user.ContainerId)}");
    }

    private static bool IsIdPrefix(Digest id, string refOrId)
    {
        var s = refOrId.StartsWith("sha256:", StringComparison.Ordinal) ? refOrId[7..] : refOrId;
        return s.Length > 0 && id.Hex.StartsWith(s, StringComparison.Ordinal);
    }

    /// <summary>At most one tag, and digest references of at most one repository (Docker's isSingleReference).</summary>
    private static bool IsSingleReference(IReadOnlyList<ImageReference> refs)
    {
        if (refs.Count <= 1) return refs.Count == 1;
        var tags = refs.Count(r => r.Digest is null);
        var digestRepos = refs.Where(r => r.Digest is not null).Select(r => r.Name).Distinct().Count();
        return tags <= 1 && digestRepos <= 1;
    }

    private static string Short(string id) => id.Length > 12 ? id[..12] : id;

    /// <summary>
    /// Forgets an image (no rules: callers check) and deletes the layers no other image uses, top down, as
    /// far as the layer store allows (a container's layer keeps its parents). Returns the deleted chain IDs.
    /// </summary>
    private List<string> Delete(Digest id)
    {
        var config = GetConfig(id);
        HashSet<string> usedElsewhere;
        lock (_gate)
        {
            _state.Images.Remove(id.ToString());
            foreach (var key in _references.Where(kv => kv.Value == id).Select(kv => kv.Key).ToList()) _references.Remove(key);
            _configs.Remove(id);
            Persist();
            usedElsewhere = [.. _state.Images.Keys.SelectMany(k => ChainsOf(Digest.Parse(k)))];
        }
        var deleted = new List<string>();
        var chains = ChainIds.All(config.RootFs.DiffIds);
        for (var i = chains.Count - 1; i >= 0; i--)
        {
            var chain = chains[i].ToString();
            if (usedElsewhere.Contains(chain)) break;
            try
            {
                Layers.Delete(chain);
                deleted.Add(chain);
            }
            catch (LayerInUseException) { break; }
            catch (LayerNotFoundException) { }
        }
        return deleted;
    }

    private IEnumerable<string> ChainsOf(Digest id)
    {
        ImageConfig config;
        try { config = GetConfig(id); }
        catch (Exception e) when (e is ContentNotFoundException or ImageNotFoundException or FormatException) { return []; }
        return ChainIds.All(config.RootFs.DiffIds).Select(c => c.ToString());
    }

    /// <summary>
    /// `docker image prune`: deletes dangling images (no references; with <paramref name="all"/>, any image)
    /// that no container uses and no image builds on; repeats while deleting frees parents.
    /// </summary>
    /// <param name="filter">The engine's filters (label, until): an image it refuses is kept.</param>
    public ImagePruneReport Prune(ImageUsage usage, bool all = false, Func<Digest, ImageConfig, bool>? filter = null)
    {
        var deleted = new List<ImageDeleteItem>();
        long reclaimed = 0;
        for (var progress = true; progress;)
        {
            progress = false;
            foreach (var id in Ids)
            {
                if (!Exists(id) || usage(id) is not null || Children(id).Count > 0) continue;
                if (!all && References(id).Count > 0) continue;
                if (filter is not null && !filter(id, GetConfig(id))) continue;
                foreach (var r in References(id))
                {
                    Untag(r.ToString());
                    deleted.Add(ImageDeleteItem.UntaggedRef(r.FamiliarString()));
                }
                var sizes = ChainsOf(id).ToDictionary(c => c, c => Layers.Get(c)?.Size ?? 0);
                deleted.Add(ImageDeleteItem.DeletedId(id.ToString()));
                foreach (var layer in Delete(id))
                {
                    deleted.Add(ImageDeleteItem.DeletedId(layer));
                    reclaimed += sizes.GetValueOrDefault(layer);
                }
                progress = true;
            }
        }
        return new ImagePruneReport(deleted, reclaimed);
    }

    // ---- views ----

    /// <summary>The image's size: the sum of its layers' sizes, as Docker reports it.</summary>
    public long Size(Digest id) => ChainsOf(id).Sum(c => Layers.Get(c)?.Size ?? 0);

    public ImageDetails Inspect(string refOrId)
    {
        var id = Resolve(refOrId);
        var c = GetConfig(id);
        var record = Record(id);
        return new ImageDetails(id, RepoTags(id), RepoDigests(id), record?.Parent ?? "", c.Comment ?? "", c.Created,
            c.Author ?? "", c.Config, c.Architecture, c.Variant, c.Os, c.OsVersion, Size(id), c.RootFs, record?.LastTagTime, c);
    }

    public IReadOnlyList<ImageListEntry> List()
    {
        var result = new List<ImageListEntry>();
        foreach (var id in Ids)
        {
            ImageConfig c;
            try { c = GetConfig(id); } catch (ContentNotFoundException) { continue; }
            result.Add(new ImageListEntry(id, Record(id)?.Parent ?? "", RepoTags(id), RepoDigests(id), c.Created, Size(id), c.Config?.Labels));
        }
        return result;
    }

    /// <summary>
    /// `docker history`: the config's history newest first; entries that made a layer get its size in
    /// order; the top entry carries the image's ID and tags, an ancestor's top entry the ancestor's, the
    /// rest "&lt;missing&gt;".
    /// </summary>
    public IReadOnlyList<ImageHistoryItem> History(string refOrId)
    {
        var id = Resolve(refOrId);
        var config = GetConfig(id);
        var history = config.History ?? [];
        var chains = ChainIds.All(config.RootFs.DiffIds);
        var ids = new Dictionary<int, Digest>();
        for (Digest? current = id; current is { } cur && Exists(cur);)
        {
            var count = GetConfig(cur).History?.Count ?? 0;
            if (count > 0 && count <= history.Count) ids.TryAdd(count - 1, cur);
            current = Record(cur)?.Parent is { } p && Digest.TryParse(p, out var pd) ? pd : null;
        }
        var items = new List<ImageHistoryItem>();
        var layerIndex = 0;
        for (var i = 0; i < history.Count; i++)
        {
            var h = history[i];
            long size = 0;
            if (h.EmptyLayer != true && layerIndex < chains.Count)
            {
                size = Layers.Get(chains[layerIndex].ToString())?.Size ?? 0;
                layerIndex++;
            }
            var has = ids.TryGetValue(i, out var owner);
            items.Add(new ImageHistoryItem(has ? owner.ToString() : "<missing>", h.Created, h.CreatedBy ?? "",
                has ? RepoTags(owner) : [], size, h.Comment ?? ""));
        }
        items.Reverse();
        return items;
    }

    // ---- garbage collection ----

    /// <summary>Blobs the content store must keep: every image's config and the manifests it was recorded with.</summary>
    public IReadOnlySet<Digest> ContentRoots()
    {
        lock (_gate)
        {
            var roots = new HashSet<Digest>();
            foreach (var (key, record) in _state.Images)
            {
                roots.Add(Digest.Parse(key));
                foreach (var m in record.Manifests ?? []) roots.Add(m);
            }
            return roots;
        }
    }

    /// <summary>Layer chains some image uses.</summary>
    public IReadOnlySet<string> LayerRoots() => Ids.SelectMany(ChainsOf).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// Garbage-collects the content store: every blob that no image holds (configs, recorded manifests) and no
    /// ongoing ingest writes is deleted. Blobs a pull has committed but not yet turned into an image are not
    /// roots: run it where no pull or load is under way (daemon start, or under the engine's image lock).
    /// </summary>
    public IReadOnlyList<Digest> CollectContent(bool dryRun = false) => Content.Collect(ContentRoots(), dryRun);

    /// <summary>
    /// Deletes layers no image uses and no container layer holds (what a killed load or import left
    /// registered), topmost first; returns their chain IDs. Same caveat as <see cref="CollectContent"/>.
    /// </summary>
    public IReadOnlyList<string> RemoveUnusedLayers()
    {
        var roots = LayerRoots();
        var removed = new List<string>();
        for (var progress = true; progress;)
        {
            progress = false;
            var all = Layers.List().ToList();
            var parents = all.Where(l => l.Parent is not null).Select(l => l.Parent!).ToHashSet(StringComparer.Ordinal);
            foreach (var layer in all)
            {
                if (roots.Contains(layer.ChainId) || parents.Contains(layer.ChainId)) continue;
                try
                {
                    Layers.Delete(layer.ChainId);
                    removed.Add(layer.ChainId);
                    progress = true;
                }
                catch (StorageException) { } // a container layer holds it
            }
        }
        return removed;
    }

    /// <summary>Drops index entries whose config blob is gone (a crash between writes); returns what was dropped.</summary>
    public IReadOnlyList<Digest> Repair()
    {
        var dropped = Ids.Where(id => !Content.Exists(id)).ToList();
        if (dropped.Count == 0) return dropped;
        lock (_gate)
        {
            foreach (var id in dropped)
            {
                _state.Images.Remove(id.ToString());
                foreach (var key in _references.Where(kv => kv.Value == id).Select(kv => kv.Key).ToList()) _references.Remove(key);
            }
            Persist();
        }
        return dropped;
    }

    // ---- persistence ----

    /// <summary>Writes the index to a temp file, fsyncs, renames over the old one (callers hold the lock).</summary>
    private void Persist()
    {
        _state.Repositories.Clear();
        foreach (var (key, id) in _references)
        {
            var r = ImageReference.ParseNormalized(key);
            if (!_state.Repositories.TryGetValue(r.FamiliarName, out var repo))
                _state.Repositories[r.FamiliarName] = repo = new SortedDictionary<string, string>(StringComparer.Ordinal);
            repo[r.FamiliarString()] = id.ToString();
        }
        var bytes = JsonSerializer.SerializeToUtf8Bytes(_state, ImageStoreJsonContext.Default.ImageStoreState);
        AtomicFile.Write(_indexPath, bytes);
        IndexWrites++;
    }

    /// <summary>How many times this store wrote its index (tests count the writes of one operation).</summary>
    internal int IndexWrites { get; private set; }
}

internal static class AtomicFile
{
    /// <summary>Temp file, fsync, rename, fsync the directory: readers see the old content or the new, never a mix,
    /// and the new one survives a crash once this returns.</summary>
    public static void Write(string path, ReadOnlySpan<byte> bytes)
    {
        var tmp = path + ".tmp" + Environment.ProcessId + "." + Environment.CurrentManagedThreadId;
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            f.Write(bytes);
            f.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
        DurableFile.SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }
}
