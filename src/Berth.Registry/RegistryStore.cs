using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Berth.Oci.Content;
using Berth.Oci.Image;
using Berth.Registry.Storage;

namespace Berth.Registry;

/// <summary>A manifest as stored: its exact bytes, media type and digest.</summary>
public sealed record StoredManifest(byte[] Bytes, string MediaType, Digest Digest);

/// <summary>What a manifest PUT stored.</summary>
public sealed record ManifestPutResult(Digest Digest, Digest? Subject);

/// <summary>
/// The registry's content: blobs, uploads, manifests, tags and referrers, over an <see cref="IStorageDriver"/>.
/// Every method takes names, tags and digests that the caller has validated (the HTTP layer does, with
/// <see cref="RegistryPaths"/>); failures are <see cref="RegistryException"/>s with the spec's codes.
/// </summary>
public sealed class RegistryStore
{
    public const int MaxManifestSize = 4 * 1024 * 1024;
    private const int CopyBuffer = 128 * 1024;

    private readonly IStorageDriver _driver;
    private readonly ConcurrentDictionary<string, UploadSession> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Digest, string> _manifestTypes = new();

    public RegistryStore(IStorageDriver driver) { _driver = driver; }

    public IStorageDriver Driver => _driver;

    // ---- blobs ----

    public bool RepositoryExists(string name) => _driver.Stat(RegistryPaths.Repository(name)) is { IsDirectory: true };

    /// <summary>The size of a blob the repository can see; null when it cannot (no link, or no data).</summary>
    public long? StatBlob(string name, Digest digest)
    {
        if (_driver.Stat(RegistryPaths.LayerLink(name, digest)) is null && _driver.Stat(RegistryPaths.RevisionLink(name, digest)) is null) return null;
        return _driver.Stat(RegistryPaths.Blob(digest)) is { IsDirectory: false } entry ? entry.Size : null;
    }

    public Stream? OpenBlob(string name, Digest digest, long offset = 0)
        => StatBlob(name, digest) is null ? null : _driver.OpenRead(RegistryPaths.Blob(digest), offset);

    /// <summary>Unlinks a blob from a repository (its data stays until garbage collection finds it unreferenced).</summary>
    public bool DeleteBlob(string name, Digest digest)
    {
        var link = RegistryPaths.LayerLink(name, digest);
        if (_driver.Stat(link) is null) return false;
        _driver.Delete(Path.GetDirectoryName(link)!.Replace('\\', '/'));
        return true;
    }

    /// <summary>Cross-repository mount: links a blob <paramref name="from"/> can see into <paramref name="name"/>.</summary>
    public bool MountBlob(string name, string from, Digest digest)
    {
        if (StatBlob(from, digest) is null) return false;
        LinkBlob(name, digest);
        return true;
    }

    /// <summary>Links a blob into a repository; the link's fresh time tells a running GC that it is in use.</summary>
    public void LinkBlob(string name, Digest digest)
        => _driver.PutContent(RegistryPaths.LayerLink(name, digest), Encoding.ASCII.GetBytes(digest.ToString()));

    // ---- uploads ----

    private sealed class UploadSession
    {
        public readonly SemaphoreSlim Gate = new(1, 1);
        public IncrementalHash? Hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        public long Hashed;
    }

    public string StartUpload(string name)
    {
        var id = Guid.NewGuid().ToString("N");
        _driver.PutContent(RegistryPaths.UploadStarted(name, id), Encoding.ASCII.GetBytes(DateTimeOffset.UtcNow.ToString("O")));
        using (_driver.OpenAppend(RegistryPaths.UploadData(name, id))) { }
        _sessions[Key(name, id)] = new UploadSession();
        return id;
    }

    private static string Key(string name, string id) => name + "\n" + id;

    /// <summary>Bytes received so far; null when no such upload exists.</summary>
    public long? UploadSize(string name, string id)
        => _driver.Stat(RegistryPaths.UploadData(name, id)) is { IsDirectory: false } e ? e.Size : null;

    public DateTimeOffset? UploadStartedAt(string name, string id)
        => _driver.GetContent(RegistryPaths.UploadStarted(name, id)) is { } b && DateTimeOffset.TryParse(Encoding.ASCII.GetString(b), out var t) ? t : null;

    /// <summary>
    /// Appends a chunk. <paramref name="start"/> (from Content-Range) must be where the upload ends, else
    /// RANGE_INVALID (416) and nothing is written; a body shorter or longer than <paramref name="length"/> is
    /// SIZE_INVALID and the chunk is cut off again. Returns the new size.
    /// </summary>
    public async Task<long> AppendAsync(string name, string id, Stream body, long? start, long? length, CancellationToken ct)
    {
        var session = Session(name, id);
        await session.Gate.WaitAsync(ct);
        try
        {
            var size = UploadSize(name, id) ?? throw new RegistryException(ErrorCode.BlobUploadUnknown);
            if (start is { } s && s != size)
                throw new RegistryException(ErrorCode.RangeInvalid, $"upload is at {size} bytes, chunk starts at {s}");
            var written = await AppendCoreAsync(name, id, session, size, body, ct);
            if (length is { } l && l != written)
            {
                Truncate(name, id, size, session);
                throw new RegistryException(ErrorCode.SizeInvalid, $"chunk was {written} bytes, Content-Length said {l}");
            }
            return size + written;
        }
        finally { session.Gate.Release(); }
    }

    /// <summary>
    /// Finishes an upload: appends the last chunk, checks the content against <paramref name="expected"/>
    /// (DIGEST_INVALID and the upload is discarded when it differs), moves it into place and links it.
    /// </summary>
    public async Task<long> CompleteAsync(string name, string id, Stream? body, Digest expected, CancellationToken ct)
    {
        var session = Session(name, id);
        await session.Gate.WaitAsync(ct);
        try
        {
            var size = UploadSize(name, id) ?? throw new RegistryException(ErrorCode.BlobUploadUnknown);
            if (body is not null) size += await AppendCoreAsync(name, id, session, size, body, ct);
            var actual = await DigestOfUploadAsync(name, id, session, size, expected.Algorithm, ct);
            if (actual != expected)
            {
                Cancel(name, id);
                throw new RegistryException(ErrorCode.DigestInvalid, $"expected {expected}, content is {actual}");
            }
            var blob = RegistryPaths.Blob(expected);
            if (_driver.Stat(blob) is null) _driver.Move(RegistryPaths.UploadData(name, id), blob);
            // A rename keeps the upload's first write time: a GC that began meanwhile must see the blob as new.
            _driver.Touch(blob);
            LinkBlob(name, expected);
            _driver.Delete(RegistryPaths.UploadDirectory(name, id));
            _sessions.TryRemove(Key(name, id), out _);
            return size;
        }
        finally { session.Gate.Release(); }
    }

    /// <summary>A monolithic upload: the whole blob in one request.</summary>
    public async Task<long> PutBlobAsync(string name, Stream body, Digest expected, long? length, CancellationToken ct)
    {
        var id = StartUpload(name);
        try
        {
            await AppendAsync(name, id, body, null, length, ct);
            return await CompleteAsync(name, id, null, expected, ct);
        }
        catch
        {
            Cancel(name, id);
            throw;
        }
    }

    public bool Cancel(string name, string id)
    {
        _sessions.TryRemove(Key(name, id), out _);
        if (_driver.Stat(RegistryPaths.UploadDirectory(name, id)) is null) return false;
        _driver.Delete(RegistryPaths.UploadDirectory(name, id));
        return true;
    }

    private UploadSession Session(string name, string id)
    {
        if (UploadSize(name, id) is null) throw new RegistryException(ErrorCode.BlobUploadUnknown);
        // An upload begun by an earlier process has no hash state: it is hashed from its file when it completes.
        return _sessions.GetOrAdd(Key(name, id), _ => new UploadSession { Hash = null });
    }

    private async Task<long> AppendCoreAsync(string name, string id, UploadSession session, long size, Stream body, CancellationToken ct)
    {
        var hashing = session.Hash is not null && session.Hashed == size;
        long written = 0;
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(CopyBuffer);
        try
        {
            await using var file = _driver.OpenAppend(RegistryPaths.UploadData(name, id));
            try
            {
                int n;
                while ((n = await body.ReadAsync(buffer.AsMemory(0, CopyBuffer), ct)) > 0)
                {
                    await file.WriteAsync(buffer.AsMemory(0, n), ct);
                    if (hashing) session.Hash!.AppendData(buffer, 0, n);
                    written += n;
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or Microsoft.AspNetCore.Http.BadHttpRequestException)
            {
                // A client that went away mid-chunk leaves a torn chunk: keep the upload where it was.
                await file.DisposeAsync();
                session.Hash = null; // it saw bytes that are being cut off again
                Truncate(name, id, size, session);
                throw;
            }
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(buffer); }
        if (hashing) session.Hashed += written;
        else session.Hash = null;
        return written;
    }

    private void Truncate(string name, string id, long size, UploadSession session)
    {
        _driver.Truncate(RegistryPaths.UploadData(name, id), size);
        if (session.Hashed != size) session.Hash = null;
    }

    private async Task<Digest> DigestOfUploadAsync(string name, string id, UploadSession session, long size, string algorithm, CancellationToken ct)
    {
        if (algorithm == "sha256" && session.Hash is not null && session.Hashed == size)
            return Digest.FromHash("sha256", session.Hash.GetCurrentHash());
        await using var data = _driver.OpenRead(RegistryPaths.UploadData(name, id)) ?? throw new RegistryException(ErrorCode.BlobUploadUnknown);
        using var hash = IncrementalHash.CreateHash(algorithm == "sha512" ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256);
        var buffer = new byte[CopyBuffer];
        int n;
        while ((n = await data.ReadAsync(buffer, ct)) > 0) hash.AppendData(buffer, 0, n);
        return Digest.FromHash(algorithm, hash.GetCurrentHash());
    }

    // ---- manifests ----

    /// <summary>
    /// Stores a manifest under a tag or a digest after checking it: JSON of a known media type (the
    /// Content-Type, or the document's mediaType, or its shape), a digest reference that matches its bytes,
    /// and every blob and child manifest it names present in the repository.
    /// </summary>
    public ManifestPutResult PutManifest(string name, string reference, string? contentType, byte[] bytes)
    {
        if (bytes.Length > MaxManifestSize) throw new RegistryException(ErrorCode.ManifestTooLarge, $"manifest is {bytes.Length} bytes, the limit is {MaxManifestSize}");
        var digest = Digest.Sha256(bytes);
        if (Digest.TryParse(reference, out var wanted))
        {
            var actual = wanted.Algorithm == "sha256" ? digest : Digest.FromHash(wanted.Algorithm, SHA512.HashData(bytes));
            if (actual != wanted) throw new RegistryException(ErrorCode.DigestInvalid, $"manifest digest is {actual}, not {wanted}");
            digest = wanted;
        }
        var parsed = ParseManifest(bytes, contentType);
        // Referenced blobs are marked in use before they are checked, so that a GC running meanwhile either
        // sees them as in use or has already removed them (and the check below fails).
        foreach (var blob in parsed.Blobs) _driver.Touch(RegistryPaths.LayerLink(name, blob));
        foreach (var blob in parsed.Blobs)
            if (StatBlob(name, blob) is null)
                throw new RegistryException(ErrorCode.ManifestBlobUnknown, $"blob {blob} is not in repository {name}", $"blob unknown to registry: {blob}");
        foreach (var child in parsed.Children)
            if (_driver.Stat(RegistryPaths.RevisionLink(name, child)) is null)
                throw new RegistryException(ErrorCode.ManifestBlobUnknown, $"manifest {child} is not in repository {name}", $"manifest unknown to registry: {child}");

        var blobPath = RegistryPaths.Blob(digest);
        if (_driver.Stat(blobPath) is null) _driver.PutContent(blobPath, bytes);
        else _driver.Touch(blobPath);
        _driver.PutContent(RegistryPaths.RevisionLink(name, digest), Encoding.ASCII.GetBytes(digest.ToString()));
        _manifestTypes[digest] = parsed.MediaType;
        if (parsed.Subject is { } subject)
            _driver.PutContent(RegistryPaths.Referrer(name, subject, digest), ReferrerDescriptor(parsed, digest, bytes.Length));
        if (!Digest.TryParse(reference, out _))
            _driver.PutContent(RegistryPaths.TagLink(name, reference), Encoding.ASCII.GetBytes(digest.ToString()));
        return new ManifestPutResult(digest, parsed.Subject);
    }

    /// <summary>The manifest a tag or digest names; NAME_UNKNOWN or MANIFEST_UNKNOWN otherwise.</summary>
    public StoredManifest GetManifest(string name, string reference)
    {
        var digest = ResolveManifest(name, reference);
        var bytes = _driver.GetContent(RegistryPaths.Blob(digest)) ?? throw new RegistryException(ErrorCode.ManifestUnknown, $"manifest {digest} has no content");
        var mediaType = _manifestTypes.GetOrAdd(digest, _ => MediaTypeOf(bytes));
        return new StoredManifest(bytes, mediaType, digest);
    }

    public Digest ResolveManifest(string name, string reference)
    {
        if (Digest.TryParse(reference, out var digest))
        {
            if (_driver.Stat(RegistryPaths.RevisionLink(name, digest)) is null) throw ManifestUnknown(name, reference);
            return digest;
        }
        var link = _driver.GetContent(RegistryPaths.TagLink(name, reference));
        if (link is null || !Digest.TryParse(Encoding.ASCII.GetString(link).Trim(), out digest)) throw ManifestUnknown(name, reference);
        return digest;
    }

    private RegistryException ManifestUnknown(string name, string reference)
        => RepositoryExists(name)
            ? new RegistryException(ErrorCode.ManifestUnknown, $"unknown manifest {name}:{reference}")
            : new RegistryException(ErrorCode.NameUnknown, $"unknown repository {name}");

    /// <summary>Removes a manifest revision, every tag that points at it and its referrer entry.</summary>
    public void DeleteManifest(string name, Digest digest)
    {
        if (_driver.Stat(RegistryPaths.RevisionLink(name, digest)) is null) throw ManifestUnknown(name, digest.ToString());
        foreach (var tag in _driver.List(RegistryPaths.Tags(name)))
            if (_driver.GetContent(RegistryPaths.TagLink(name, tag)) is { } link && Encoding.ASCII.GetString(link).Trim() == digest.ToString())
                _driver.Delete(RegistryPaths.TagDirectory(name, tag));
        if (_driver.GetContent(RegistryPaths.Blob(digest)) is { } bytes)
        {
            try
            {
                if (ParseManifest(bytes, null).Subject is { } subject) _driver.Delete(RegistryPaths.Referrer(name, subject, digest));
            }
            catch (RegistryException) { } // a manifest stored before validation rules changed: nothing to unindex
        }
        _driver.Delete(RegistryPaths.RevisionDirectory(name, digest));
    }

    public void DeleteTag(string name, string tag)
    {
        if (_driver.Stat(RegistryPaths.TagLink(name, tag)) is null) throw ManifestUnknown(name, tag);
        _driver.Delete(RegistryPaths.TagDirectory(name, tag));
    }

    /// <summary>Tags, sorted; NAME_UNKNOWN when the repository does not exist.</summary>
    public List<string> Tags(string name)
    {
        if (!RepositoryExists(name)) throw new RegistryException(ErrorCode.NameUnknown, $"unknown repository {name}");
        var tags = _driver.List(RegistryPaths.Tags(name)).Where(t => _driver.Stat(RegistryPaths.TagLink(name, t)) is not null).ToList();
        tags.Sort(StringComparer.Ordinal);
        return tags;
    }

    /// <summary>Every repository, sorted (a directory with _manifests or _layers under it is one).</summary>
    public List<string> Catalog()
    {
        var names = new List<string>();
        Walk(RegistryPaths.Repositories, "");
        names.Sort(StringComparer.Ordinal);
        return names;

        void Walk(string path, string prefix)
        {
            var children = _driver.List(path).ToList();
            if (prefix.Length > 0 && children.Any(c => c is "_manifests" or "_layers")) names.Add(prefix);
            foreach (var child in children)
                if (!child.StartsWith('_')) Walk(path + "/" + child, prefix.Length == 0 ? child : prefix + "/" + child);
        }
    }

    /// <summary>Descriptors (JSON) of the manifests whose subject is <paramref name="subject"/>, filtered by artifact type.</summary>
    public List<byte[]> Referrers(string name, Digest subject, string? artifactType)
    {
        var result = new List<byte[]>();
        foreach (var entry in _driver.List(RegistryPaths.Referrers(name, subject)).OrderBy(e => e, StringComparer.Ordinal))
        {
            var dash = entry.IndexOf('-');
            if (dash < 0 || !Digest.TryParse(entry[..dash] + ":" + entry[(dash + 1)..], out var referrer)) continue;
            if (_driver.Stat(RegistryPaths.RevisionLink(name, referrer)) is null) continue;
            var descriptor = _driver.GetContent(RegistryPaths.Referrer(name, subject, referrer));
            if (descriptor is null) continue;
            if (artifactType is not null)
            {
                using var doc = JsonDocument.Parse(descriptor);
                if (!doc.RootElement.TryGetProperty("artifactType", out var t) || t.GetString() != artifactType) continue;
            }
            result.Add(descriptor);
        }
        return result;
    }

    private static byte[] ReferrerDescriptor(ParsedManifest parsed, Digest digest, long size)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("mediaType", parsed.MediaType);
            json.WriteString("digest", digest.ToString());
            json.WriteNumber("size", size);
            if (parsed.ArtifactType is not null) json.WriteString("artifactType", parsed.ArtifactType);
            if (parsed.Annotations is { } annotations)
            {
                json.WritePropertyName("annotations");
                annotations.WriteTo(json);
            }
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    // ---- manifest parsing ----

    internal sealed record ParsedManifest(string MediaType, List<Digest> Blobs, List<Digest> Children, Digest? Subject, string? ArtifactType, JsonElement? Annotations);

    private static readonly string[] KnownManifestTypes =
        [MediaTypes.OciManifest, MediaTypes.OciIndex, MediaTypes.DockerManifest, MediaTypes.DockerManifestList];

    internal static string MediaTypeOf(byte[] bytes)
    {
        try { return ParseManifest(bytes, null).MediaType; }
        catch (RegistryException) { return MediaTypes.OciManifest; }
    }

    internal static ParsedManifest ParseManifest(byte[] bytes, string? contentType)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(bytes); }
        catch (JsonException e) { throw new RegistryException(ErrorCode.ManifestInvalid, $"invalid JSON: {e.Message}"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new RegistryException(ErrorCode.ManifestInvalid, "a manifest is a JSON object");
            if (!root.TryGetProperty("schemaVersion", out var version) || version.ValueKind != JsonValueKind.Number || version.GetInt32() != 2)
                throw new RegistryException(ErrorCode.ManifestInvalid, "schemaVersion must be 2 (schema 1 is not supported)");
            var declared = root.TryGetProperty("mediaType", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
            var header = contentType?.Split(';')[0].Trim();
            if (header is "" or "application/json" or "application/octet-stream") header = null;
            if (declared is not null && header is not null && declared != header)
                throw new RegistryException(ErrorCode.ManifestInvalid, $"mediaType {declared} does not match Content-Type {header}");
            var mediaType = declared ?? header ?? (root.TryGetProperty("manifests", out _) ? MediaTypes.OciIndex : MediaTypes.OciManifest);
            if (!KnownManifestTypes.Contains(mediaType)) throw new RegistryException(ErrorCode.ManifestInvalid, $"unsupported manifest media type {mediaType}");

            var blobs = new List<Digest>();
            var children = new List<Digest>();
            string? artifactType = root.TryGetProperty("artifactType", out var at) && at.ValueKind == JsonValueKind.String ? at.GetString() : null;
            if (MediaTypes.IsIndex(mediaType))
            {
                if (!root.TryGetProperty("manifests", out var manifests) || manifests.ValueKind != JsonValueKind.Array)
                    throw new RegistryException(ErrorCode.ManifestInvalid, "an index needs a manifests array");
                foreach (var m in manifests.EnumerateArray()) children.Add(DescriptorDigest(m, "manifests"));
            }
            else
            {
                if (!root.TryGetProperty("config", out var config) || config.ValueKind != JsonValueKind.Object)
                    throw new RegistryException(ErrorCode.ManifestInvalid, "an image manifest needs a config descriptor");
                blobs.Add(DescriptorDigest(config, "config"));
                if (artifactType is null && config.TryGetProperty("mediaType", out var cmt) && cmt.ValueKind == JsonValueKind.String) artifactType = cmt.GetString();
                if (root.TryGetProperty("layers", out var layers))
                {
                    if (layers.ValueKind != JsonValueKind.Array) throw new RegistryException(ErrorCode.ManifestInvalid, "layers must be an array");
                    foreach (var layer in layers.EnumerateArray())
                    {
                        var d = DescriptorDigest(layer, "layers");
                        // Foreign layers live at their urls, not in this registry.
                        if (layer.TryGetProperty("urls", out var urls) && urls.ValueKind == JsonValueKind.Array && urls.GetArrayLength() > 0) continue;
                        blobs.Add(d);
                    }
                }
                else if (mediaType == MediaTypes.DockerManifest) throw new RegistryException(ErrorCode.ManifestInvalid, "a schema 2 manifest needs layers");
            }
            Digest? subject = root.TryGetProperty("subject", out var s) && s.ValueKind == JsonValueKind.Object ? DescriptorDigest(s, "subject") : null;
            JsonElement? annotations = root.TryGetProperty("annotations", out var a) && a.ValueKind == JsonValueKind.Object ? a.Clone() : null;
            return new ParsedManifest(mediaType, blobs, children, subject, artifactType, annotations);
        }
    }

    private static Digest DescriptorDigest(JsonElement descriptor, string where)
    {
        if (descriptor.ValueKind != JsonValueKind.Object) throw new RegistryException(ErrorCode.ManifestInvalid, $"{where}: a descriptor is a JSON object");
        if (!descriptor.TryGetProperty("digest", out var d) || d.ValueKind != JsonValueKind.String || !Digest.TryParse(d.GetString(), out var digest, out var error))
            throw new RegistryException(ErrorCode.ManifestInvalid, $"{where}: invalid descriptor digest");
        if (!descriptor.TryGetProperty("size", out var size) || size.ValueKind != JsonValueKind.Number || size.GetInt64() < 0)
            throw new RegistryException(ErrorCode.ManifestInvalid, $"{where}: descriptor {digest} needs a size");
        if (!descriptor.TryGetProperty("mediaType", out var mt) || mt.ValueKind != JsonValueKind.String)
            throw new RegistryException(ErrorCode.ManifestInvalid, $"{where}: descriptor {digest} needs a mediaType");
        _ = error;
        return digest;
    }
}
