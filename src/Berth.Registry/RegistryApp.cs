using System.Globalization;
using System.Text;
using System.Text.Json;
using Berth.Oci.Content;
using Berth.Oci.Image;
using Berth.Registry.Auth;
using Microsoft.AspNetCore.Http;

namespace Berth.Registry;

/// <summary>
/// The HTTP surface of the registry: the OCI Distribution Specification 1.1 and Docker's Registry HTTP API
/// v2 (routes, headers, status codes, error bodies), the access checks each route needs, and the built-in
/// token service. Everything stored goes through <see cref="RegistryStore"/>.
/// </summary>
public sealed class RegistryApp
{
    private const string ApiVersionHeader = "Docker-Distribution-API-Version";
    private const string ContentDigestHeader = "Docker-Content-Digest";
    private const string UploadUuidHeader = "Docker-Upload-UUID";
    private const int CopyBuffer = 128 * 1024;

    private readonly RegistryStore _store;
    private readonly IAccessController _access;
    private readonly TokenService? _tokens;
    private readonly bool _deleteEnabled;

    public RegistryApp(RegistryStore store, IAccessController access, TokenService? tokens = null, bool deleteEnabled = true)
    {
        _store = store; _access = access; _tokens = tokens; _deleteEnabled = deleteEnabled;
    }

    public RegistryStore Store => _store;

    public async Task HandleAsync(HttpContext ctx)
    {
        ctx.Response.Headers[ApiVersionHeader] = "registry/2.0";
        try
        {
            await RouteAsync(ctx);
        }
        catch (RegistryException e)
        {
            await WriteErrorAsync(ctx, e.Code, e.SpecMessage, e.Detail);
        }
        catch (BadHttpRequestException e)
        {
            // A body cut short (truncated upload) or a malformed request: nothing was stored.
            if (!ctx.Response.HasStarted) await WriteErrorAsync(ctx, ErrorCode.BlobUploadInvalid, "invalid request", e.Message);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException && ctx.RequestAborted.IsCancellationRequested)
        {
            // The client went away.
        }
    }

    private async Task RouteAsync(HttpContext ctx)
    {
        var path = ctx.Request.Path.Value ?? "/";
        var method = ctx.Request.Method;
        if (_tokens is not null && path == TokenService.Path)
        {
            if (method is not ("GET" or "HEAD")) throw new RegistryException(ErrorCode.Unsupported);
            var q = ctx.Request.Query;
            var (status, body, challenge) = _tokens.Handle(Header(ctx, "Authorization"), q["service"].FirstOrDefault(), q["scope"].Where(s => s is not null)!, q["account"].FirstOrDefault());
            ctx.Response.StatusCode = status;
            if (challenge is not null) ctx.Response.Headers.WWWAuthenticate = challenge;
            await WriteJsonAsync(ctx, body, "application/json");
            return;
        }
        if (path is "/v2" or "/v2/")
        {
            RequireMethod(method, "GET", "HEAD");
            if (!await AuthorizeAsync(ctx, [])) return;
            await WriteJsonAsync(ctx, "{}"u8.ToArray(), "application/json");
            return;
        }
        if (path == "/v2/_catalog")
        {
            RequireMethod(method, "GET", "HEAD");
            if (!await AuthorizeAsync(ctx, [AccessRequest.Catalog])) return;
            await CatalogAsync(ctx);
            return;
        }
        if (path == "/v1/search")
        {
            // docker search asks a registry's v1 index; berth-registry answers from its catalog.
            RequireMethod(method, "GET", "HEAD");
            if (!await AuthorizeAsync(ctx, [AccessRequest.Catalog])) return;
            await SearchAsync(ctx);
            return;
        }
        if (!path.StartsWith("/v2/", StringComparison.Ordinal)) throw new RegistryException(ErrorCode.NotFound, $"no route for {path}", "page not found");
        var rest = path[4..];

        if (rest.EndsWith("/tags/list", StringComparison.Ordinal))
        {
            var name = Name(rest[..^"/tags/list".Length]);
            RequireMethod(method, "GET", "HEAD");
            if (!await AuthorizeAsync(ctx, [AccessRequest.Pull(name)])) return;
            await TagsAsync(ctx, name);
            return;
        }
        var at = rest.LastIndexOf("/manifests/", StringComparison.Ordinal);
        if (at > 0)
        {
            var name = Name(rest[..at]);
            var reference = rest[(at + "/manifests/".Length)..];
            if (!Digest.TryParse(reference, out _) && !RegistryPaths.IsValidTag(reference))
                throw reference.Contains(':') ? new RegistryException(ErrorCode.DigestInvalid, $"invalid digest {reference}") : new RegistryException(ErrorCode.TagInvalid, $"invalid tag {reference}", "invalid tag");
            switch (method)
            {
                case "GET" or "HEAD":
                    if (!await AuthorizeAsync(ctx, [AccessRequest.Pull(name)])) return;
                    await GetManifestAsync(ctx, name, reference);
                    return;
                case "PUT":
                    if (!await AuthorizeAsync(ctx, [AccessRequest.Pull(name), AccessRequest.Push(name)])) return;
                    await PutManifestAsync(ctx, name, reference);
                    return;
                case "DELETE":
                    if (!_deleteEnabled) throw new RegistryException(ErrorCode.Unsupported, "deletion is disabled (storage.delete.enabled)");
                    if (!await AuthorizeAsync(ctx, [AccessRequest.Delete(name)])) return;
                    if (Digest.TryParse(reference, out var d)) _store.DeleteManifest(name, d);
                    else _store.DeleteTag(name, reference);
                    ctx.Response.StatusCode = 202;
                    ctx.Response.ContentLength = 0;
                    return;
                default:
                    throw new RegistryException(ErrorCode.Unsupported);
            }
        }
        at = rest.LastIndexOf("/blobs/uploads", StringComparison.Ordinal);
        if (at > 0 && (rest.Length == at + "/blobs/uploads".Length || rest[at + "/blobs/uploads".Length] == '/'))
        {
            var name = Name(rest[..at]);
            var id = rest[(at + "/blobs/uploads".Length)..].TrimStart('/');
            if (!await AuthorizeAsync(ctx, [AccessRequest.Pull(name), AccessRequest.Push(name)])) return;
            if (id.Length == 0)
            {
                RequireMethod(method, "POST");
                await StartUploadAsync(ctx, name);
                return;
            }
            if (!RegistryPaths.IsValidUploadId(id)) throw new RegistryException(ErrorCode.BlobUploadUnknown, $"invalid upload id {id}");
            switch (method)
            {
                case "GET" or "HEAD": UploadStatus(ctx, name, id, 204); return;
                case "PATCH": await PatchUploadAsync(ctx, name, id); return;
                case "PUT": await CompleteUploadAsync(ctx, name, id); return;
                case "DELETE":
                    if (!_store.Cancel(name, id)) throw new RegistryException(ErrorCode.BlobUploadUnknown);
                    ctx.Response.StatusCode = 204;
                    return;
                default: throw new RegistryException(ErrorCode.Unsupported);
            }
        }
        at = rest.LastIndexOf("/blobs/", StringComparison.Ordinal);
        if (at > 0)
        {
            var name = Name(rest[..at]);
            var digest = ParseDigest(rest[(at + "/blobs/".Length)..]);
            switch (method)
            {
                case "GET" or "HEAD":
                    if (!await AuthorizeAsync(ctx, [AccessRequest.Pull(name)])) return;
                    await GetBlobAsync(ctx, name, digest);
                    return;
                case "DELETE":
                    if (!_deleteEnabled) throw new RegistryException(ErrorCode.Unsupported, "deletion is disabled (storage.delete.enabled)");
                    if (!await AuthorizeAsync(ctx, [AccessRequest.Delete(name)])) return;
                    if (!_store.DeleteBlob(name, digest)) throw new RegistryException(ErrorCode.BlobUnknown, digest.ToString());
                    ctx.Response.StatusCode = 202;
                    ctx.Response.ContentLength = 0;
                    ctx.Response.Headers[ContentDigestHeader] = digest.ToString();
                    return;
                default: throw new RegistryException(ErrorCode.Unsupported);
            }
        }
        at = rest.LastIndexOf("/referrers/", StringComparison.Ordinal);
        if (at > 0)
        {
            var name = Name(rest[..at]);
            var digest = ParseDigest(rest[(at + "/referrers/".Length)..]);
            RequireMethod(method, "GET", "HEAD");
            if (!await AuthorizeAsync(ctx, [AccessRequest.Pull(name)])) return;
            await ReferrersAsync(ctx, name, digest);
            return;
        }
        throw new RegistryException(ErrorCode.NotFound, $"no route for {path}", "page not found");
    }

    // ---- manifests ----

    private async Task GetManifestAsync(HttpContext ctx, string name, string reference)
    {
        var manifest = _store.GetManifest(name, reference);
        var accepted = AcceptedTypes(ctx);
        if (accepted is not null && !accepted.Contains(manifest.MediaType))
        {
            // distribution's courtesy to clients that know no index: by tag, the linux/amd64 entry of a list.
            StoredManifest? fallback = null;
            if (MediaTypes.IsIndex(manifest.MediaType) && !Digest.TryParse(reference, out _))
            {
                var index = ImageJson.ParseIndex(manifest.Bytes);
                if (Platforms.Select(index.Manifests, new Platform("linux", "amd64")) is { } entry)
                {
                    var child = _store.GetManifest(name, entry.Digest.ToString());
                    if (accepted.Contains(child.MediaType)) fallback = child;
                }
            }
            manifest = fallback ?? throw new RegistryException(ErrorCode.ManifestUnknown,
                $"manifest is {manifest.MediaType}, which the Accept header does not allow", "manifest unknown");
        }
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = manifest.MediaType;
        ctx.Response.ContentLength = manifest.Bytes.Length;
        ctx.Response.Headers[ContentDigestHeader] = manifest.Digest.ToString();
        ctx.Response.Headers.ETag = $"\"{manifest.Digest}\"";
        if (ctx.Request.Method != "HEAD") await ctx.Response.Body.WriteAsync(manifest.Bytes, ctx.RequestAborted);
    }

    /// <summary>The media types an Accept header allows; null when it allows anything (absent, or */*).</summary>
    private static HashSet<string>? AcceptedTypes(HttpContext ctx)
    {
        var values = ctx.Request.Headers.Accept;
        if (values.Count == 0) return null;
        var set = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var value in values)
            foreach (var part in (value ?? "").Split(','))
            {
                var type = part.Split(';')[0].Trim();
                if (type is "*/*" or "application/*") return null;
                if (type.Length > 0) set.Add(type);
            }
        return set.Count == 0 ? null : set;
    }

    private async Task PutManifestAsync(HttpContext ctx, string name, string reference)
    {
        if (ctx.Request.ContentLength > RegistryStore.MaxManifestSize)
            throw new RegistryException(ErrorCode.ManifestTooLarge, $"manifest is {ctx.Request.ContentLength} bytes, the limit is {RegistryStore.MaxManifestSize}");
        var bytes = await ReadBoundedAsync(ctx.Request.Body, RegistryStore.MaxManifestSize, ctx.RequestAborted);
        var result = _store.PutManifest(name, reference, ctx.Request.ContentType, bytes);
        ctx.Response.StatusCode = 201;
        ctx.Response.Headers.Location = $"/v2/{name}/manifests/{result.Digest}";
        ctx.Response.Headers[ContentDigestHeader] = result.Digest.ToString();
        if (result.Subject is { } subject) ctx.Response.Headers["OCI-Subject"] = subject.ToString();
        ctx.Response.ContentLength = 0;
    }

    private static async Task<byte[]> ReadBoundedAsync(Stream body, int limit, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int n;
        while ((n = await body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + n > limit) throw new RegistryException(ErrorCode.ManifestTooLarge, $"manifest exceeds {limit} bytes");
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    // ---- blobs ----

    private async Task GetBlobAsync(HttpContext ctx, string name, Digest digest)
    {
        var size = _store.StatBlob(name, digest) ?? throw new RegistryException(ErrorCode.BlobUnknown, digest.ToString());
        long start = 0, end = size - 1;
        var status = 200;
        var range = Header(ctx, "Range");
        if (range is not null && ctx.Request.Method == "GET")
        {
            if (!TryParseByteRange(range, size, out start, out end))
            {
                ctx.Response.StatusCode = 416;
                ctx.Response.Headers.ContentRange = $"bytes */{size}";
                ctx.Response.ContentLength = 0;
                return;
            }
            status = 206;
            ctx.Response.Headers.ContentRange = $"bytes {start}-{end}/{size}";
        }
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/octet-stream";
        ctx.Response.ContentLength = size == 0 ? 0 : end - start + 1;
        ctx.Response.Headers[ContentDigestHeader] = digest.ToString();
        ctx.Response.Headers.AcceptRanges = "bytes";
        ctx.Response.Headers.ETag = $"\"{digest}\"";
        ctx.Response.Headers.CacheControl = "max-age=31536000";
        if (ctx.Request.Method == "HEAD" || size == 0) return;
        await using var data = _store.OpenBlob(name, digest, start) ?? throw new RegistryException(ErrorCode.BlobUnknown, digest.ToString());
        await CopyAsync(data, ctx.Response.Body, end - start + 1, ctx.RequestAborted);
    }

    private static async Task CopyAsync(Stream source, Stream destination, long count, CancellationToken ct)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(CopyBuffer);
        try
        {
            while (count > 0)
            {
                var n = await source.ReadAsync(buffer.AsMemory(0, (int)Math.Min(CopyBuffer, count)), ct);
                if (n == 0) throw new IOException("blob ended early");
                await destination.WriteAsync(buffer.AsMemory(0, n), ct);
                count -= n;
            }
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(buffer); }
    }

    /// <summary>"bytes=a-b", "bytes=a-" or "bytes=-n" within a blob of <paramref name="size"/> bytes.</summary>
    internal static bool TryParseByteRange(string header, long size, out long start, out long end)
    {
        start = 0; end = size - 1;
        if (!header.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase) || header.Contains(',')) return false;
        var spec = header[6..].Trim();
        var dash = spec.IndexOf('-');
        if (dash < 0) return false;
        var from = spec[..dash];
        var to = spec[(dash + 1)..];
        var inv = CultureInfo.InvariantCulture;
        if (from.Length == 0)
        {
            if (!long.TryParse(to, NumberStyles.None, inv, out var suffix) || suffix == 0) return false;
            start = Math.Max(0, size - suffix);
            return size > 0;
        }
        if (!long.TryParse(from, NumberStyles.None, inv, out start) || start >= size) return false;
        if (to.Length == 0) return true;
        if (!long.TryParse(to, NumberStyles.None, inv, out end) || end < start) return false;
        end = Math.Min(end, size - 1);
        return true;
    }

    // ---- uploads ----

    private async Task StartUploadAsync(HttpContext ctx, string name)
    {
        var query = ctx.Request.Query;
        var mount = query["mount"].FirstOrDefault();
        var from = query["from"].FirstOrDefault();
        if (mount is not null && from is not null)
        {
            var digest = ParseDigest(mount);
            // Mounting reads the source repository: only with pull access to it; otherwise an ordinary upload starts.
            if (RegistryPaths.IsValidName(from) && _access.Authorize(Context(ctx), [AccessRequest.Pull(from)]).Granted && _store.MountBlob(name, from, digest))
            {
                BlobCreated(ctx, name, digest);
                return;
            }
        }
        var digestParameter = query["digest"].FirstOrDefault();
        if (digestParameter is not null)
        {
            var digest = ParseDigest(digestParameter);
            await _store.PutBlobAsync(name, ctx.Request.Body, digest, ctx.Request.ContentLength, ctx.RequestAborted);
            BlobCreated(ctx, name, digest);
            return;
        }
        var id = _store.StartUpload(name);
        UploadStatus(ctx, name, id, 202);
    }

    private void UploadStatus(HttpContext ctx, string name, string id, int status)
    {
        var size = _store.UploadSize(name, id) ?? throw new RegistryException(ErrorCode.BlobUploadUnknown);
        ctx.Response.StatusCode = status;
        ctx.Response.Headers.Location = $"/v2/{name}/blobs/uploads/{id}";
        ctx.Response.Headers[UploadUuidHeader] = id;
        // distribution's convention: "0-0" for an empty upload, else the last byte received.
        ctx.Response.Headers["Range"] = $"0-{Math.Max(0, size - 1)}";
        ctx.Response.ContentLength = 0;
    }

    private async Task PatchUploadAsync(HttpContext ctx, string name, string id)
    {
        long? start = null;
        if (Header(ctx, "Content-Range") is { } contentRange)
        {
            if (!TryParseContentRange(contentRange, out var s, out var e))
                throw new RegistryException(ErrorCode.RangeInvalid, $"invalid Content-Range {contentRange}");
            start = s;
            if (ctx.Request.ContentLength is { } length && length != e - s + 1)
                throw new RegistryException(ErrorCode.RangeInvalid, $"Content-Range {contentRange} does not match Content-Length {length}");
        }
        try
        {
            await _store.AppendAsync(name, id, ctx.Request.Body, start, ctx.Request.ContentLength, ctx.RequestAborted);
        }
        catch (RegistryException e) when (e.Code == ErrorCode.RangeInvalid)
        {
            // 416 tells the client where the upload really is, so that it can resume from there.
            UploadStatus(ctx, name, id, 416);
            ctx.Response.ContentLength = null;
            await WriteErrorBodyAsync(ctx, e.Code, e.SpecMessage, e.Detail);
            return;
        }
        UploadStatus(ctx, name, id, 202);
    }

    private static bool TryParseContentRange(string header, out long start, out long end)
    {
        start = end = 0;
        var spec = header.StartsWith("bytes ", StringComparison.OrdinalIgnoreCase) ? header[6..] : header;
        var slash = spec.IndexOf('/');
        if (slash >= 0) spec = spec[..slash];
        var dash = spec.IndexOf('-');
        return dash > 0
            && long.TryParse(spec[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out start)
            && long.TryParse(spec[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out end)
            && end >= start;
    }

    private async Task CompleteUploadAsync(HttpContext ctx, string name, string id)
    {
        var digestParameter = ctx.Request.Query["digest"].FirstOrDefault()
            ?? throw new RegistryException(ErrorCode.DigestInvalid, "the digest parameter is required to finish an upload");
        var digest = ParseDigest(digestParameter);
        var hasBody = ctx.Request.ContentLength > 0 || (ctx.Request.ContentLength is null && ctx.Request.Headers.TransferEncoding.Count > 0);
        await _store.CompleteAsync(name, id, hasBody ? ctx.Request.Body : null, digest, ctx.RequestAborted);
        BlobCreated(ctx, name, digest);
    }

    private static void BlobCreated(HttpContext ctx, string name, Digest digest)
    {
        ctx.Response.StatusCode = 201;
        ctx.Response.Headers.Location = $"/v2/{name}/blobs/{digest}";
        ctx.Response.Headers[ContentDigestHeader] = digest.ToString();
        ctx.Response.ContentLength = 0;
    }

    // ---- listings ----

    private async Task TagsAsync(HttpContext ctx, string name)
    {
        var tags = _store.Tags(name);
        var page = Paginate(ctx, tags, $"/v2/{name}/tags/list");
        await WriteJsonAsync(ctx, Json(w =>
        {
            w.WriteString("name", name);
            w.WriteStartArray("tags");
            foreach (var t in page) w.WriteStringValue(t);
            w.WriteEndArray();
        }), "application/json");
    }

    private async Task CatalogAsync(HttpContext ctx)
    {
        var page = Paginate(ctx, _store.Catalog(), "/v2/_catalog");
        await WriteJsonAsync(ctx, Json(w =>
        {
            w.WriteStartArray("repositories");
            foreach (var r in page) w.WriteStringValue(r);
            w.WriteEndArray();
        }), "application/json");
    }

    private async Task SearchAsync(HttpContext ctx)
    {
        var term = ctx.Request.Query["q"].FirstOrDefault() ?? "";
        var limit = int.TryParse(ctx.Request.Query["n"].FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is > 0 and <= 100 ? n : 25;
        var matches = _store.Catalog().Where(r => r.Contains(term, StringComparison.OrdinalIgnoreCase)).ToList();
        await WriteJsonAsync(ctx, Json(w =>
        {
            w.WriteNumber("num_results", matches.Count);
            w.WriteString("query", term);
            w.WriteNumber("page", 1);
            w.WriteNumber("page_size", limit);
            w.WriteStartArray("results");
            foreach (var name in matches.Take(limit))
            {
                w.WriteStartObject();
                w.WriteString("name", name);
                w.WriteString("description", "");
                w.WriteNumber("star_count", 0);
                w.WriteBoolean("is_official", false);
                w.WriteBoolean("is_automated", false);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }), "application/json");
    }

    /// <summary>n/last pagination (entries after <c>last</c> in lexical order, at most n), with a Link to the next page.</summary>
    private static List<string> Paginate(HttpContext ctx, List<string> all, string route)
    {
        var query = ctx.Request.Query;
        var last = query["last"].FirstOrDefault();
        int? n = null;
        if (query["n"].FirstOrDefault() is { } text)
        {
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
                throw new RegistryException(ErrorCode.PaginationNumberInvalid, $"n={text}");
            n = parsed;
        }
        var rest = last is null ? all : all.Where(x => string.CompareOrdinal(x, last) > 0).ToList();
        if (n is not { } limit || rest.Count <= limit) return n == 0 ? [] : rest;
        var page = rest.Take(limit).ToList();
        if (page.Count > 0)
            ctx.Response.Headers.Link = $"<{route}?n={limit}&last={Uri.EscapeDataString(page[^1])}>; rel=\"next\"";
        return page;
    }

    private async Task ReferrersAsync(HttpContext ctx, string name, Digest subject)
    {
        var artifactType = ctx.Request.Query["artifactType"].FirstOrDefault();
        var descriptors = _store.Referrers(name, subject, artifactType);
        if (artifactType is not null) ctx.Response.Headers["OCI-Filters-Applied"] = "artifactType";
        await WriteJsonAsync(ctx, Json(w =>
        {
            w.WriteNumber("schemaVersion", 2);
            w.WriteString("mediaType", MediaTypes.OciIndex);
            w.WriteStartArray("manifests");
            foreach (var d in descriptors) w.WriteRawValue(d, skipInputValidation: true);
            w.WriteEndArray();
        }), MediaTypes.OciIndex);
    }

    // ---- helpers ----

    private async ValueTask<bool> AuthorizeAsync(HttpContext ctx, IReadOnlyList<AccessRequest> wanted)
    {
        var result = _access.Authorize(Context(ctx), wanted);
        if (result.Granted) return true;
        ctx.Response.Headers.WWWAuthenticate = result.Challenge;
        ctx.Response.StatusCode = result.Code.Status;
        await WriteErrorBodyAsync(ctx, result.Code, result.Code.Message, result.Detail);
        return false;
    }

    private static AuthContext Context(HttpContext ctx) => new(Header(ctx, "Authorization"), ctx.Request.Scheme, ctx.Request.Host.Value ?? "localhost");

    private static string? Header(HttpContext ctx, string name) => ctx.Request.Headers.TryGetValue(name, out var v) && v.Count > 0 ? v[0] : null;

    private static void RequireMethod(string method, params string[] allowed)
    {
        if (!allowed.Contains(method)) throw new RegistryException(ErrorCode.Unsupported, $"{method} is not allowed here");
    }

    private static string Name(string name)
        => RegistryPaths.IsValidName(name) ? name : throw new RegistryException(ErrorCode.NameInvalid, $"invalid repository name \"{name}\"");

    private static Digest ParseDigest(string text)
        => Digest.TryParse(text, out var d, out var error) ? d : throw new RegistryException(ErrorCode.DigestInvalid, $"invalid digest \"{text}\": {error}", "invalid digest");

    private static async Task WriteJsonAsync(HttpContext ctx, byte[] body, string contentType)
    {
        ctx.Response.ContentType = contentType;
        ctx.Response.ContentLength = body.Length;
        if (ctx.Request.Method != "HEAD") await ctx.Response.Body.WriteAsync(body, ctx.RequestAborted);
    }

    private static async Task WriteErrorAsync(HttpContext ctx, ErrorCode code, string message, string? detail)
    {
        if (ctx.Response.HasStarted) return;
        ctx.Response.StatusCode = code.Status;
        await WriteErrorBodyAsync(ctx, code, message, detail);
    }

    private static async Task WriteErrorBodyAsync(HttpContext ctx, ErrorCode code, string message, string? detail)
    {
        var body = Json(w =>
        {
            w.WriteStartArray("errors");
            w.WriteStartObject();
            w.WriteString("code", code.Code);
            w.WriteString("message", message);
            if (detail is null) w.WriteNull("detail");
            else w.WriteString("detail", detail);
            w.WriteEndObject();
            w.WriteEndArray();
        });
        ctx.Response.ContentType = "application/json; charset=utf-8";
        ctx.Response.ContentLength = ctx.Request.Method == "HEAD" ? null : body.Length;
        if (ctx.Request.Method != "HEAD") await ctx.Response.Body.WriteAsync(body, ctx.RequestAborted);
    }

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            write(w);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    internal static string Utf8(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);
}
