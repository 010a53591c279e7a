using System.Text;
using Berth.Oci.Content;
using Berth.Oci.Image;
using Berth.Oci.Reference;
using Berth.Storage;
using UnsupportedMediaTypeException = Berth.Oci.Image.UnsupportedMediaTypeException;

namespace Berth.Images;

public enum ArchiveFormat
{
    /// <summary>What `docker save` of Docker 20.10 writes: manifest.json, repositories, &lt;v1id&gt;/layer.tar, &lt;config&gt;.json.</summary>
    Docker,
    /// <summary>
    /// An OCI image layout (oci-layout, index.json, blobs/sha256/…) that also carries manifest.json, as Docker 25+
    /// writes it: both Docker's and OCI tools load it.
    /// </summary>
    Oci,
}

/// <summary>What `docker load` prints, one line each.</summary>
public sealed record LoadResult(IReadOnlyList<Digest> Images, IReadOnlyList<string> Lines);

/// <summary>
/// `docker load` and `docker save`: both of Docker's archive formats and the OCI image layout, plain or
/// compressed. Loading verifies every digest, registers layers through the layer store and tags last, so a
/// bad archive leaves nothing behind (layers registered for it are removed again) and tags nothing.
/// </summary>
public sealed class ImageArchive(ImageStore store)
{
    private static readonly DateTimeOffset Epoch = DateTimeOffset.UnixEpoch;

    private sealed record PendingLayer(string Path, Compression Compression, Digest DiffId);

    private sealed class PendingImage(byte[] configBytes, ImageConfig config, List<PendingLayer> layers)
    {
        public byte[] ConfigBytes { get; } = configBytes;
        public ImageConfig Config { get; } = config;
        public List<PendingLayer> Layers { get; } = layers;
        public List<ImageReference> Tags { get; } = [];
        public Digest Id { get; } = Digest.Sha256(configBytes);
    }

    // ---------------- load ----------------

    /// <summary>
    /// Loads every image of an archive (Docker's save format, old or 25+, or an OCI layout; plain, gzip, zstd,
    /// bzip2 or xz). From an OCI index, the image for <paramref name="platform"/> (default: the host's).
    /// </summary>
    public LoadResult Load(Stream input, Platform? platform = null, CancellationToken ct = default)
    {
        var tmp = store.TempDirectory();
        ExtractedArchive unpacked;
        try
        {
            using var content = Decompression.Open(input);
            unpacked = ExtractedArchive.Extract(content, tmp);
        }
        catch
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
            throw;
        }
        using var archive = unpacked;
        List<PendingImage> images;
        try
        {
            images = archive.Exists("manifest.json") ? ReadDockerArchive(archive)
                : archive.Exists("index.json") ? ReadOciLayout(archive, platform ?? Platforms.Host)
                : throw new InvalidArchiveException("invalid archive: neither manifest.json (docker save) nor index.json (OCI layout) found");
        }
        catch (FormatException e)
        {
            throw new InvalidArchiveException($"invalid archive: {e.Message}", e);
        }

        // Layers first (each one verified against its diffID), then configs, then tags, last.
        var created = new List<string>();
        try
        {
            foreach (var image in images)
            {
                string? parent = null;
                foreach (var layer in image.Layers)
                {
                    ct.ThrowIfCancellationRequested();
                    var chain = ChainIds.Next(parent is null ? default : Digest.Parse(parent), layer.DiffId).ToString();
                    if (store.Layers.Get(chain) is not null) { parent = chain; continue; }
                    using (var blob = archive.Open(layer.Path))
                    {
                        try
                        {
                            var registered = store.Layers.Register(blob, layer.Compression, parent, layer.DiffId, ct);
                            created.Add(registered.ChainId);
                            parent = registered.ChainId;
                        }
                        catch (StorageException e)
                        {
                            throw new InvalidArchiveException($"invalid archive: layer \"{layer.Path}\": {e.Message}", e);
                        }
                    }
                }
            }
            foreach (var image in images) store.Create(image.ConfigBytes);
        }
        catch
        {
            RemoveLayers(created);
            throw;
        }

        var lines = new List<string>();
        foreach (var image in images)
        {
            if (image.Tags.Count == 0)
            {
                lines.Add($"Loaded image ID: {image.Id}");
                continue;
            }
            foreach (var tag in image.Tags)
            {
                foreach (var old in store.TagMany(image.Id, [tag.ToString()]))
                    lines.Add($"The image {tag.FamiliarString()} already exists, renaming the old one with ID {old} to empty string");
                lines.Add($"Loaded image: {tag.FamiliarString()}");
            }
        }
        return new LoadResult([.. images.Select(i => i.Id).Distinct()], lines);
    }

    private void RemoveLayers(List<string> created)
    {
        for (var i = created.Count - 1; i >= 0; i--)
        {
            try { store.Layers.Delete(created[i]); }
            catch (StorageException) { } // shared with something that appeared meanwhile: it stays
        }
    }

    private static List<PendingImage> ReadDockerArchive(ExtractedArchive archive)
    {
        var entries = ImageJson.Parse(archive.ReadAll("manifest.json"), ImageJson.DockerArchiveManifest, "manifest.json");
        if (entries.Count == 0) throw new InvalidArchiveException("invalid archive: manifest.json lists no image");
        var images = new Dictionary<Digest, PendingImage>();
        var ordered = new List<PendingImage>();
        foreach (var entry in entries)
        {
            if (string.IsNullOrEmpty(entry.Config)) throw new InvalidArchiveException("invalid archive: a manifest.json entry has no Config");
            if (!archive.Exists(entry.Config)) throw new InvalidArchiveException($"invalid archive: config \"{entry.Config}\" is missing");
            var configBytes = archive.ReadAll(entry.Config);
            var id = Digest.Sha256(configBytes);
            if (DigestInName(entry.Config) is { } named && named != id)
                throw new InvalidArchiveException($"invalid archive: digest mismatch for config \"{entry.Config}\": content is {id}");
            var config = ImageJson.ParseConfig(configBytes);
            if (entry.Layers.Count != config.RootFs.DiffIds.Count)
                throw new InvalidArchiveException($"invalid archive: manifest lists {entry.Layers.Count} layers, config {id} has {config.RootFs.DiffIds.Count}");
            var layers = new List<PendingLayer>();
            for (var i = 0; i < entry.Layers.Count; i++)
            {
                if (!archive.Exists(entry.Layers[i])) throw new InvalidArchiveException($"invalid archive: layer \"{entry.Layers[i]}\" is missing");
                layers.Add(new PendingLayer(entry.Layers[i], Compression.Auto, config.RootFs.DiffIds[i]));
            }
            if (!images.TryGetValue(id, out var image))
            {
                images[id] = image = new PendingImage(configBytes, config, layers);
                ordered.Add(image);
            }
            foreach (var tag in entry.RepoTags ?? [])
            {
                var r = ParseTag(tag);
                if (!image.Tags.Contains(r)) image.Tags.Add(r);
            }
        }
        return ordered;
    }

    private static ImageReference ParseTag(string text)
    {
        var r = ImageReference.TryParseNormalized(text, out var parsed, out var error)
            ? parsed : throw new InvalidArchiveException($"invalid archive: tag \"{text}\": {error}");
        if (r.Digest is not null) throw new InvalidArchiveException($"invalid archive: tag \"{text}\" has a digest");
        return r.Tag is null ? r with { Tag = ImageReference.DefaultTag } : r;
    }

    /// <summary>"sha256/hex" under blobs, or "hex.json": names that promise a digest.</summary>
    private static Digest? DigestInName(string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length >= 2 && Digest.TryParse($"{parts[^2]}:{parts[^1]}", out var d)) return d;
        var file = parts.Length > 0 ? parts[^1] : "";
        if (file.EndsWith(".json", StringComparison.Ordinal) && Digest.TryParse("sha256:" + file[..^5], out d)) return d;
        return null;
    }

    private static List<PendingImage> ReadOciLayout(ExtractedArchive archive, Platform platform)
    {
        if (!archive.Exists("oci-layout")) throw new InvalidArchiveException("invalid archive: index.json without oci-layout");
        var header = ImageJson.Parse(archive.ReadAll("oci-layout"), ImageJson.LayoutHeader, "oci-layout");
        if (header.ImageLayoutVersion != OciLayoutHeader.CurrentVersion)
            throw new InvalidArchiveException($"invalid archive: unsupported OCI layout version \"{header.ImageLayoutVersion}\"");
        var index = ImageJson.ParseIndex(archive.ReadAll("index.json"));
        var images = new Dictionary<Digest, PendingImage>();
        var ordered = new List<PendingImage>();
        foreach (var entry in index.Manifests)
        {
            var manifestDescriptor = entry;
            for (var depth = 0; MediaTypes.IsIndex(manifestDescriptor.MediaType); depth++)
            {
                if (depth > 4) throw new InvalidArchiveException("invalid archive: indexes nested too deep");
                var nested = ImageJson.ParseIndex(ReadBlob(archive, manifestDescriptor, "index"));
                manifestDescriptor = Platforms.Select(nested.Manifests, platform)
                    ?? throw new InvalidArchiveException($"invalid archive: index {manifestDescriptor.Digest} has no image for {platform}");
            }
            if (!MediaTypes.IsManifest(manifestDescriptor.MediaType)) throw new UnsupportedMediaTypeException(manifestDescriptor.MediaType, "manifest");
            var manifest = ImageJson.ParseManifest(ReadBlob(archive, manifestDescriptor, "manifest"));
            if (!MediaTypes.IsConfig(manifest.Config!.MediaType)) throw new UnsupportedMediaTypeException(manifest.Config.MediaType, "config");
            var configBytes = ReadBlob(archive, manifest.Config, "config");
            var config = ImageJson.ParseConfig(configBytes);
            if (manifest.Layers.Count != config.RootFs.DiffIds.Count)
                throw new InvalidArchiveException($"invalid archive: manifest {manifestDescriptor.Digest} lists {manifest.Layers.Count} layers, its config {config.RootFs.DiffIds.Count}");
            var layers = new List<PendingLayer>();
            for (var i = 0; i < manifest.Layers.Count; i++)
            {
                var layer = manifest.Layers[i];
                var compression = MediaTypes.GetLayerCompression(layer.MediaType) switch
                {
                    LayerCompression.Gzip => Compression.Gzip,
                    LayerCompression.Zstd => Compression.Zstd,
                    _ => Compression.None,
                };
                VerifyBlob(archive, layer, "layer");
                layers.Add(new PendingLayer(BlobPath(layer.Digest), compression, config.RootFs.DiffIds[i]));
            }
            var id = Digest.Sha256(configBytes);
            if (!images.TryGetValue(id, out var image))
            {
                images[id] = image = new PendingImage(configBytes, config, layers);
                ordered.Add(image);
            }
            if (NameOf(entry) is { } name && !image.Tags.Contains(name)) image.Tags.Add(name);
        }
        if (ordered.Count == 0) throw new InvalidArchiveException("invalid archive: index.json lists no image");
        return ordered;
    }

    /// <summary>
    /// The name an index entry gives its image: containerd's image-name annotation, else a ref.name that is
    /// a full reference (one that is only a tag names no repository, so the image loads untagged).
    /// </summary>
    private static ImageReference? NameOf(Descriptor entry)
    {
        if (entry.Annotation(Annotations.ContainerdImageName) is { } full) return ParseTag(full);
        if (entry.Annotation(Annotations.RefName) is { } refName && (refName.Contains(':') || refName.Contains('/'))
            && ImageReference.TryParseNormalized(refName, out var r, out _) && r.Digest is null)
            return r.Tag is null ? r with { Tag = ImageReference.DefaultTag } : r;
        return null;
    }

    private static string BlobPath(Digest digest) => $"blobs/{digest.Algorithm}/{digest.Hex}";

    private static byte[] ReadBlob(ExtractedArchive archive, Descriptor descriptor, string role)
    {
        var path = BlobPath(descriptor.Digest);
        if (!archive.Exists(path)) throw new InvalidArchiveException($"invalid archive: {role} blob {descriptor.Digest} is missing");
        var bytes = archive.ReadAll(path);
        if (bytes.Length != descriptor.Size)
            throw new InvalidArchiveException($"invalid archive: size mismatch for {role} {descriptor.Digest}: expected {descriptor.Size} bytes, got {bytes.Length}");
        using var hasher = descriptor.Digest.CreateHasher();
        hasher.AppendData(bytes);
        var actual = Digest.FromHash(descriptor.Digest.Algorithm, hasher.GetHashAndReset());
        if (actual != descriptor.Digest) throw new InvalidArchiveException($"invalid archive: digest mismatch for {role}: expected {descriptor.Digest}, got {actual}");
        return bytes;
    }

    private static void VerifyBlob(ExtractedArchive archive, Descriptor descriptor, string role)
    {
        var path = BlobPath(descriptor.Digest);
        if (!archive.Exists(path)) throw new InvalidArchiveException($"invalid archive: {role} blob {descriptor.Digest} is missing");
        var length = archive.Length(path);
        if (length != descriptor.Size)
            throw new InvalidArchiveException($"invalid archive: size mismatch for {role} {descriptor.Digest}: expected {descriptor.Size} bytes, got {length}");
        using var stream = archive.Open(path);
        using var hasher = descriptor.Digest.CreateHasher();
        var buffer = new byte[1 << 20];
        int n;
        while ((n = stream.Read(buffer)) > 0) hasher.AppendData(buffer, 0, n);
        var actual = Digest.FromHash(descriptor.Digest.Algorithm, hasher.GetHashAndReset());
        if (actual != descriptor.Digest) throw new InvalidArchiveException($"invalid archive: digest mismatch for {role}: expected {descriptor.Digest}, got {actual}");
    }

    // ---------------- save ----------------

    private sealed class SaveImage(Digest id)
    {
        public Digest Id { get; } = id;
        public List<ImageReference> Tags { get; } = [];
    }

    /// <summary>
    /// `docker save`: images by reference or ID (a bare repository name saves all its tags; an ID saves the
    /// image untagged) as one deterministic tar: the same images always give the same bytes.
    /// </summary>
    public void Save(IEnumerable<string> names, Stream output, ArchiveFormat format = ArchiveFormat.Docker)
    {
        var images = ResolveForSave(names);
        if (images.Count == 0) throw new ImageException("no images to save");
        var spool = Path.Combine(store.Root, "tmp", "save-" + Guid.NewGuid().ToString("N"));
        try
        {
            var layers = new LayerSources(store.Layers, spool);
            var entries = format == ArchiveFormat.Docker ? DockerEntries(images, layers) : OciEntries(images, layers);
            var tar = new TarOut(output);
            foreach (var entry in entries.OrderBy(e => e.Name, StringComparer.Ordinal)) entry.Write(tar);
            tar.Finish();
        }
        finally
        {
            if (Directory.Exists(spool)) Directory.Delete(spool, recursive: true);
        }
    }

    private List<SaveImage> ResolveForSave(IEnumerable<string> names)
    {
        var byId = new Dictionary<Digest, SaveImage>();
        var ordered = new List<SaveImage>();
        void Add(Digest id, ImageReference? tag)
        {
            if (!byId.TryGetValue(id, out var image)) { byId[id] = image = new SaveImage(id); ordered.Add(image); }
            if (tag is { Digest: null } && !image.Tags.Contains(tag)) image.Tags.Add(tag);
        }
        foreach (var name in names)
        {
            var isIdLike = ImageReference.IsFullIdentifier(name) || Digest.TryParse(name, out _);
            if (!isIdLike && ImageReference.TryParseNormalized(name, out var r, out _))
            {
                if (r.IsNameOnly)
                {
                    var tagged = store.Ids.SelectMany(id => store.References(id).Where(x => x.Name == r.Name && x.Digest is null).Select(x => (id, x)))
                        .OrderBy(p => p.x.ToString(), StringComparer.Ordinal).ToList();
                    if (tagged.Count > 0)
                    {
                        foreach (var (id, tag) in tagged) Add(id, tag);
                        continue;
                    }
                }
                else if (store.TryResolve(name, out var byRef))
                {
                    Add(byRef, r.Digest is null ? r : null);
                    continue;
                }
            }
            Add(store.Resolve(name), null);
        }
        return ordered;
    }

    private sealed record Entry(string Name, Action<TarOut> Write);

    /// <summary>Layer tars with their exact sizes; a layer store stream that cannot tell its length is spooled once.</summary>
    private sealed class LayerSources(ILayerStore layers, string spool)
    {
        private readonly Dictionary<string, (long Size, string? File)> _known = [];

        public long Size(string chainId)
        {
            if (_known.TryGetValue(chainId, out var known)) return known.Size;
            using var diff = layers.OpenDiff(chainId);
            if (diff.CanSeek) { _known[chainId] = (diff.Length, null); return diff.Length; }
            Directory.CreateDirectory(spool);
            var file = Path.Combine(spool, chainId.Replace(':', '-'));
            using (var f = File.Create(file)) diff.CopyTo(f);
            var size = new FileInfo(file).Length;
            _known[chainId] = (size, file);
            return size;
        }

        public Stream Open(string chainId)
            => _known.TryGetValue(chainId, out var k) && k.File is not null ? File.OpenRead(k.File) : layers.OpenDiff(chainId);
    }

    private List<Entry> DockerEntries(List<SaveImage> images, LayerSources layers)
    {
        var entries = new List<Entry>();
        var written = new HashSet<string>(StringComparer.Ordinal);
        var manifest = new List<DockerArchiveManifestEntry>();
        var repositories = new SortedDictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        foreach (var image in images)
        {
            var configBytes = store.GetConfigBytes(image.Id);
            var config = ImageJson.ParseConfig(configBytes);
            var mtime = config.Created ?? Epoch;
            var chains = ChainIds.All(config.RootFs.DiffIds);
            var layerPaths = new List<string>();
            string? parentV1 = null;
            foreach (var chain in chains)
            {
                var chainId = chain.ToString();
                // The directory name is a v1 layer ID: derived from the chain (and its parent's ID) only, so a
                // layer shared by several images is written once and the archive is deterministic.
                var v1 = Digest.Sha256(Encoding.UTF8.GetBytes($"{{\"layer_id\":\"{chainId}\",\"parent\":\"{parentV1 ?? ""}\"}}")).Hex;
                layerPaths.Add($"{v1}/layer.tar");
                if (written.Add(v1))
                {
                    var json = Encoding.UTF8.GetBytes(parentV1 is null
                        ? $"{{\"id\":\"{v1}\",\"created\":\"1970-01-01T00:00:00Z\",\"os\":\"{config.Os}\"}}"
                        : $"{{\"id\":\"{v1}\",\"parent\":\"{parentV1}\",\"created\":\"1970-01-01T00:00:00Z\",\"os\":\"{config.Os}\"}}");
                    var size = layers.Size(chainId);
                    entries.Add(new Entry($"{v1}/", t => t.Directory($"{v1}/", mtime)));
                    entries.Add(new Entry($"{v1}/VERSION", t => t.File($"{v1}/VERSION", "1.0"u8, mtime)));
                    entries.Add(new Entry($"{v1}/json", t => t.File($"{v1}/json", json, mtime)));
                    entries.Add(new Entry($"{v1}/layer.tar", t => { using var s = layers.Open(chainId); t.File($"{v1}/layer.tar", s, size, mtime); }));
                }
                parentV1 = v1;
            }
            var configName = $"{image.Id.Hex}.json";
            if (written.Add(configName)) entries.Add(new Entry(configName, t => t.File(configName, configBytes, mtime)));
            manifest.Add(new DockerArchiveManifestEntry
            {
                Config = configName,
                RepoTags = image.Tags.Count == 0 ? null : [.. image.Tags.Select(t => t.FamiliarString())],
                Layers = layerPaths,
            });
            foreach (var tag in image.Tags)
            {
                if (parentV1 is null) continue;
                if (!repositories.TryGetValue(tag.FamiliarName, out var repo)) repositories[tag.FamiliarName] = repo = [];
                repo[tag.Tag!] = parentV1;
            }
        }
        var manifestBytes = ImageJson.Serialize(manifest, ImageJson.DockerArchiveManifest);
        entries.Add(new Entry("manifest.json", t => t.File("manifest.json", manifestBytes, Epoch)));
        if (repositories.Count > 0)
        {
            var sorted = repositories.ToDictionary(kv => kv.Key, kv => kv.Value.OrderBy(x => x.Key, StringComparer.Ordinal).ToDictionary(), StringComparer.Ordinal);
            var repositoriesBytes = ImageJson.Serialize(sorted, ImageJson.Repositories);
            entries.Add(new Entry("repositories", t => t.File("repositories", repositoriesBytes, Epoch)));
        }
        return entries;
    }

    private List<Entry> OciEntries(List<SaveImage> images, LayerSources layers)
    {
        var entries = new List<Entry>
        {
            new("blobs/", t => t.Directory("blobs/", Epoch)),
            new("blobs/sha256/", t => t.Directory("blobs/sha256/", Epoch)),
        };
        var written = new HashSet<Digest>();
        var index = new ImageIndex { MediaType = MediaTypes.OciIndex };
        var manifest = new List<DockerArchiveManifestEntry>();
        void Blob(Digest digest, byte[] bytes, DateTimeOffset mtime)
        {
            if (written.Add(digest)) entries.Add(new Entry(BlobPath(digest), t => t.File(BlobPath(digest), bytes, mtime)));
        }
        foreach (var image in images)
        {
            var configBytes = store.GetConfigBytes(image.Id);
            var config = ImageJson.ParseConfig(configBytes);
            var mtime = config.Created ?? Epoch;
            var chains = ChainIds.All(config.RootFs.DiffIds);
            var ociManifest = new Manifest
            {
                MediaType = MediaTypes.OciManifest,
                Config = new Descriptor(MediaTypes.OciConfig, image.Id, configBytes.Length),
            };
            for (var i = 0; i < chains.Count; i++)
            {
                var chainId = chains[i].ToString();
                var diffId = config.RootFs.DiffIds[i];
                var size = layers.Size(chainId);
                ociManifest.Layers.Add(new Descriptor(MediaTypes.OciLayer, diffId, size));
                if (written.Add(diffId))
                    entries.Add(new Entry(BlobPath(diffId), t => { using var s = layers.Open(chainId); t.File(BlobPath(diffId), s, size, mtime); }));
            }
            Blob(image.Id, configBytes, mtime);
            var manifestBytes = ImageJson.Serialize(ociManifest, ImageJson.Manifest);
            var manifestDescriptor = ImageJson.Describe(MediaTypes.OciManifest, manifestBytes);
            Blob(manifestDescriptor.Digest, manifestBytes, mtime);
            if (image.Tags.Count == 0) index.Manifests.Add(manifestDescriptor);
            foreach (var tag in image.Tags)
                index.Manifests.Add(new Descriptor(MediaTypes.OciManifest, manifestDescriptor.Digest, manifestDescriptor.Size)
                {
                    Annotations = new() { [Annotations.ContainerdImageName] = tag.ToString(), [Annotations.RefName] = tag.Tag! },
                });
            manifest.Add(new DockerArchiveManifestEntry
            {
                Config = BlobPath(image.Id),
                RepoTags = image.Tags.Count == 0 ? null : [.. image.Tags.Select(t => t.FamiliarString())],
                Layers = [.. config.RootFs.DiffIds.Select(BlobPath)],
            });
        }
        var indexBytes = ImageJson.Serialize(index, ImageJson.Index);
        var manifestJson = ImageJson.Serialize(manifest, ImageJson.DockerArchiveManifest);
        var layoutBytes = ImageJson.Serialize(new OciLayoutHeader(), ImageJson.LayoutHeader);
        entries.Add(new Entry("index.json", t => t.File("index.json", indexBytes, Epoch)));
        entries.Add(new Entry("manifest.json", t => t.File("manifest.json", manifestJson, Epoch)));
        entries.Add(new Entry("oci-layout", t => t.File("oci-layout", layoutBytes, Epoch)));
        return entries;
    }
}
