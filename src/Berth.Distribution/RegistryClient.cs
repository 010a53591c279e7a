using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Berth.Oci.Content;
using Berth.Oci.Image;

namespace Berth.Distribution;

/// <summary>A manifest as a registry sent it: exact bytes, media type, and the digest of those bytes.</summary>
public sealed record RemoteManifest(byte[] Bytes, string MediaType, Digest Digest);

/// <summary>
/// One registry, spoken to over the Registry HTTP API v2: picks https or (for insecure registries) http,
/// answers auth challenges (basic, or Docker Hub's bearer token flow with per-repository scopes, tokens cached
/// until they expire) and offers the few verbs pull and push need. Thread-safe; shares one HttpClient.
/// </summary>
public sealed class RegistryClient
{
    public static readonly string[] ManifestAccept =
        [MediaTypes.OciIndex, MediaTypes.OciManifest, MediaTypes.DockerManifestList, MediaTypes.DockerManifest];

    private readonly HttpClient _http;
    private readonly DistributionOptions _options;
    private readonly SemaphoreSlim _pingGate = new(1, 1);
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (string Token, DateTimeOffset Expires)> _tokens = new(StringComparer.Ordinal);
    private Uri? _base;
    private AuthChallenge? _challenge;
    private bool _pinged;

    /// <summary>The registry's name as references spell it ("docker.io", "localhost:5000").</summary>
    public string Domain { get; }

    /// <summary>Where requests go: host:port (registry-1.docker.io for docker.io).</summary>
    public string Host { get; }

    public RegistryCredential? Credential { get; set; }

    internal RegistryClient(string domain, HttpClient http, DistributionOptions options, Uri? baseAddress = null)
    {
        Domain = domain;
        Host = baseAddress?.Authority ?? DockerHub.ApiHost(domain);
        _http = http;
        _options = options;
        _base = baseAddress;
        Credential = options.Credentials.Get(DockerHub.CredentialKey(domain));
    }

    public Uri BaseAddress => _base ?? throw new InvalidOperationException("not connected yet");

    /// <summary>
    /// GET /v2/ without credentials: learns the scheme (https; http for an insecure registry that does not
    /// speak TLS) and the auth challenge. Done once; callers need not call it.
    /// </summary>
    public async Task PingAsync(CancellationToken ct)
    {
        if (_pinged) return;
        await _pingGate.WaitAsync(ct);
        try
        {
            if (_pinged) return;
            var candidates = _base is not null ? [_base]
                : _options.IsInsecure(Host) ? new[] { new Uri($"https://{Host}/"), new Uri($"http://{Host}/") } : [new Uri($"https://{Host}/")];
            Exception? last = null;
            foreach (var candidate in candidates)
            {
                try
                {
                    using var response = await _http.GetAsync(new Uri(candidate, "/v2/"), HttpCompletionOption.ResponseHeadersRead, ct);
                    if (response.StatusCode == HttpStatusCode.Unauthorized)
                        _challenge = PreferredChallenge(response) ?? throw new DistributionException($"{Host}: 401 without a usable WWW-Authenticate challenge");
                    else if (!response.IsSuccessStatusCode && response.StatusCode != HttpStatusCode.NotFound)
                        throw await DistributionException.FromResponseAsync(response, $"{Host}", ct);
                    _base = candidate;
                    _pinged = true;
                    return;
                }
                catch (HttpRequestException e) { last = e; }
            }
            throw new DistributionException($"Get \"{candidates[^1]}v2/\": {last?.InnerException?.Message ?? last?.Message}", last);
        }
        finally { _pingGate.Release(); }
    }

    private static AuthChallenge? PreferredChallenge(HttpResponseMessage response)
    {
        var challenges = AuthChallenge.Parse(response.Headers.WwwAuthenticate.Select(h => h.ToString()));
        return challenges.FirstOrDefault(c => c.Scheme == "bearer") ?? challenges.FirstOrDefault(c => c.Scheme == "basic");
    }

    /// <summary>Checks credentials the way docker login does: a token without scope (bearer) or an authorised GET /v2/ (basic).</summary>
    public async Task LoginAsync(RegistryCredential credential, CancellationToken ct)
    {
        Credential = credential;
        lock (_gate) _tokens.Clear();
        await PingAsync(ct);
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Get, "/v2/"), [], ct);
        if (!response.IsSuccessStatusCode) throw await DistributionException.FromResponseAsync(response, "login attempt to " + new Uri(BaseAddress, "/v2/") + " failed", ct);
    }

    /// <summary>
    /// Sends a request made by <paramref name="make"/> with the credentials the registry wants; on a 401 the
    /// challenge is answered and the request made and sent once more (so <paramref name="make"/> must be able to
    /// make it again; a streamed body should be sent after an authorised request has warmed the token cache).
    /// </summary>
    public async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> make, IReadOnlyList<string> scopes, CancellationToken ct,
        HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead, bool retry = true)
    {
        await PingAsync(ct);
        for (var attempt = 0; ; attempt++)
        {
            var request = make();
            if (!request.RequestUri!.IsAbsoluteUri) request.RequestUri = new Uri(BaseAddress, request.RequestUri);
            request.Headers.UserAgent.ParseAdd(_options.UserAgent);
            await AuthorizeAsync(request, scopes, ct);
            var response = await _http.SendAsync(request, completion, ct);
            if (response.StatusCode != HttpStatusCode.Unauthorized || attempt > 0 || !retry) return response;
            var challenge = PreferredChallenge(response);
            if (challenge is null) return response;
            response.Dispose();
            _challenge = challenge;
            var extra = challenge["scope"] is { } scope ? scope.Split(' ', StringSplitOptions.RemoveEmptyEntries) : [];
            lock (_gate) _tokens.Remove(ScopeKey(scopes));
            scopes = [.. scopes.Union(extra)];
        }
    }

    private async Task AuthorizeAsync(HttpRequestMessage request, IReadOnlyList<string> scopes, CancellationToken ct)
    {
        if (_challenge is null || request.Headers.Authorization is not null) return;
        // Tokens and credentials are for the registry itself: never sent to a redirect's other host.
        if (!string.Equals(request.RequestUri!.Authority, BaseAddress.Authority, StringComparison.OrdinalIgnoreCase)) return;
        if (_challenge.Scheme == "basic")
        {
            if (Credential is { } c) request.Headers.Authorization = BasicHeader(c);
            return;
        }
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await TokenAsync(scopes, ct));
    }

    private static AuthenticationHeaderValue BasicHeader(RegistryCredential c)
        => new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{c.Username}:{c.Password}")));

    private static string ScopeKey(IReadOnlyList<string> scopes) => string.Join(' ', scopes.Order(StringComparer.Ordinal));

    /// <summary>A bearer token for <paramref name="scopes"/> from the challenge's realm (cached until shortly before it expires).</summary>
    public async Task<string> TokenAsync(IReadOnlyList<string> scopes, CancellationToken ct)
    {
        var key = ScopeKey(scopes);
        lock (_gate)
            if (_tokens.TryGetValue(key, out var cached) && cached.Expires > DateTimeOffset.UtcNow) return cached.Token;
        var realm = _challenge?["realm"] ?? throw new DistributionException($"{Host}: bearer challenge without a realm");
        var service = _challenge["service"];
        if (!Uri.TryCreate(realm, UriKind.Absolute, out var realmUri)) throw new DistributionException($"{Host}: invalid token realm \"{realm}\"");
        HttpRequestMessage request;
        if (Credential?.IdentityToken is { } refresh)
        {
            var form = new List<KeyValuePair<string, string>>
            {
                new("grant_type", "refresh_token"), new("refresh_token", refresh), new("client_id", "berth"),
            };
            if (service is not null) form.Add(new("service", service));
            if (scopes.Count > 0) form.Add(new("scope", string.Join(' ', scopes)));
            request = new HttpRequestMessage(HttpMethod.Post, realmUri) { Content = new FormUrlEncodedContent(form) };
        }
        else
        {
            var query = new StringBuilder(realmUri.Query.TrimStart('?'));
            void Add(string k, string v) { if (query.Length > 0) query.Append('&'); query.Append(k).Append('=').Append(Uri.EscapeDataString(v)); }
            if (service is not null) Add("service", service);
            foreach (var s in scopes) Add("scope", s);
            if (Credential is { Username.Length: > 0 } c) Add("account", c.Username);
            request = new HttpRequestMessage(HttpMethod.Get, new UriBuilder(realmUri) { Query = query.ToString() }.Uri);
            if (Credential is { } credential && credential.Username.Length > 0) request.Headers.Authorization = BasicHeader(credential);
        }
        request.Headers.UserAgent.ParseAdd(_options.UserAgent);
        using var response = await _http.SendAsync(request, ct);
        if (!response.IsSuccessStatusCode)
        {
            var error = await DistributionException.FromResponseAsync(response, $"{Host}: token request", ct);
            throw response.StatusCode == HttpStatusCode.Unauthorized
                ? new DistributionException("unauthorized: incorrect username or password") { Code = "UNAUTHORIZED", Status = HttpStatusCode.Unauthorized }
                : error;
        }
        using var doc = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync(ct));
        var root = doc.RootElement;
        var token = (root.TryGetProperty("token", out var t) ? t.GetString() : null) is { Length: > 0 } tok ? tok
            : root.TryGetProperty("access_token", out var at) ? at.GetString() : null;
        if (string.IsNullOrEmpty(token)) throw new DistributionException($"{Host}: the token service sent no token");
        var lifetime = root.TryGetProperty("expires_in", out var e) && e.TryGetInt32(out var seconds) && seconds > 0 ? seconds : 60;
        lock (_gate) _tokens[key] = (token, DateTimeOffset.UtcNow.AddSeconds(Math.Max(10, lifetime - 10)));
        return token;
    }

    public static string PullScope(string repository) => $"repository:{repository}:pull";
    public static string PushScope(string repository) => $"repository:{repository}:pull,push";

    // ---- manifests ----

    public async Task<RemoteManifest> GetManifestAsync(string repository, string reference, CancellationToken ct)
    {
        using var response = await SendAsync(() =>
        {
            var r = new HttpRequestMessage(HttpMethod.Get, $"/v2/{repository}/manifests/{reference}");
            foreach (var type in ManifestAccept) r.Headers.Accept.ParseAdd(type);
            return r;
        }, [PullScope(repository)], ct);
        if (!response.IsSuccessStatusCode)
        {
            var error = await DistributionException.FromResponseAsync(response, $"{Domain}/{repository}:{reference}", ct);
            if (error.IsNotFound) throw new DistributionException($"manifest for {Domain}/{repository}:{reference} not found: manifest unknown: manifest unknown") { Code = "MANIFEST_UNKNOWN", Status = HttpStatusCode.NotFound };
            if (error.IsUnauthorized) throw new DistributionException($"pull access denied for {repository}, repository does not exist or may require 'docker login': denied: requested access to the resource is denied") { Code = error.Code, Status = error.Status };
            throw error;
        }
        var bytes = await response.Content.ReadAsByteArrayAsync(ct);
        if (bytes.Length > 4 * 1024 * 1024) throw new DistributionException($"manifest {reference} is larger than 4 MiB");
        var digest = Digest.Sha256(bytes);
        if (Digest.TryParse(reference, out var wanted) && wanted != digest)
        {
            var actual = wanted.Algorithm == "sha256" ? digest : Digest.FromHash(wanted.Algorithm, System.Security.Cryptography.SHA512.HashData(bytes));
            if (actual != wanted) throw new DistributionException($"manifest verification failed for digest {wanted}");
            digest = actual;
        }
        var mediaType = response.Content.Headers.ContentType?.MediaType;
        string detected;
        try { detected = ImageJson.DetectMediaType(bytes); }
        catch (FormatException e) { throw new DistributionException($"{Domain}/{repository}:{reference}: {e.Message}"); }
        if (mediaType is null || !ManifestAccept.Contains(mediaType)) mediaType = detected;
        return new RemoteManifest(bytes, mediaType, digest);
    }

    public async Task<Digest> PutManifestAsync(string repository, string reference, string mediaType, byte[] bytes, CancellationToken ct)
    {
        using var response = await SendAsync(() =>
        {
            var content = new ByteArrayContent(bytes);
            content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
            return new HttpRequestMessage(HttpMethod.Put, $"/v2/{repository}/manifests/{reference}") { Content = content };
        }, [PushScope(repository)], ct);
        if (!response.IsSuccessStatusCode) throw await DistributionException.FromResponseAsync(response, $"put manifest {repository}:{reference}", ct);
        return Digest.Sha256(bytes);
    }

    // ---- blobs ----

    /// <summary>The size of a blob the repository has; null when it has none.</summary>
    public async Task<long?> HeadBlobAsync(string repository, Digest digest, IReadOnlyList<string> scopes, CancellationToken ct)
    {
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Head, $"/v2/{repository}/blobs/{digest}"), scopes, ct);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        if (!response.IsSuccessStatusCode) throw await DistributionException.FromResponseAsync(response, $"head blob {digest}", ct);
        return response.Content.Headers.ContentLength ?? 0;
    }

    /// <summary>Opens a blob from <paramref name="offset"/> (a Range request); the response may still be a 200 with everything.</summary>
    public async Task<HttpResponseMessage> GetBlobAsync(string repository, Digest digest, long offset, CancellationToken ct)
    {
        var response = await SendAsync(() =>
        {
            var r = new HttpRequestMessage(HttpMethod.Get, $"/v2/{repository}/blobs/{digest}");
            if (offset > 0) r.Headers.Range = new RangeHeaderValue(offset, null);
            return r;
        }, [PullScope(repository)], ct, HttpCompletionOption.ResponseHeadersRead);
        if (response.IsSuccessStatusCode) return response;
        using (response) throw await DistributionException.FromResponseAsync(response, $"blob {digest}", ct);
    }

    public async Task<byte[]> GetBlobBytesAsync(string repository, Digest digest, long limit, CancellationToken ct)
    {
        using var response = await GetBlobAsync(repository, digest, 0, ct);
        if (response.Content.Headers.ContentLength > limit) throw new DistributionException($"blob {digest} is larger than {limit} bytes");
        var bytes = await response.Content.ReadAsByteArrayAsync(ct);
        var actual = digest.Algorithm == "sha256" ? Digest.Sha256(bytes) : Digest.FromHash(digest.Algorithm, System.Security.Cryptography.SHA512.HashData(bytes));
        if (actual != digest) throw new DistributionException($"blob {digest}: digest mismatch (content is {actual})");
        return bytes;
    }

    /// <summary>
    /// Starts an upload, or mounts the blob from <paramref name="mountFrom"/> when the registry can: returns
    /// null when mounted, else the upload's location.
    /// </summary>
    public async Task<Uri?> StartUploadAsync(string repository, Digest? mount, string? mountFrom, CancellationToken ct)
    {
        var scopes = new List<string> { PushScope(repository) };
        if (mountFrom is not null) scopes.Add(PullScope(mountFrom));
        var path = mount is { } m && mountFrom is not null
            ? $"/v2/{repository}/blobs/uploads/?mount={m}&from={Uri.EscapeDataString(mountFrom)}"
            : $"/v2/{repository}/blobs/uploads/";
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent([]) }, scopes, ct);
        if (response.StatusCode == HttpStatusCode.Created && mount is not null) return null;
        if (response.StatusCode != HttpStatusCode.Accepted) throw await DistributionException.FromResponseAsync(response, $"start upload to {repository}", ct);
        return Location(response);
    }

    /// <summary>Sends a chunk (PATCH) and returns where the upload continues.</summary>
    public async Task<Uri> PatchUploadAsync(Uri location, HttpContent content, long? start, IReadOnlyList<string> scopes, CancellationToken ct)
    {
        var request = new HttpRequestMessage(HttpMethod.Patch, location) { Content = content };
        if (start is { } s && content.Headers.ContentLength is { } length && length > 0)
            content.Headers.TryAddWithoutValidation("Content-Range", $"{s}-{s + length - 1}");
        content.Headers.ContentType ??= new MediaTypeHeaderValue("application/octet-stream");
        using var response = await SendAsync(() => request, scopes, ct, retry: false);
        if (response.StatusCode != HttpStatusCode.Accepted) throw await DistributionException.FromResponseAsync(response, "upload chunk", ct);
        return Location(response);
    }

    /// <summary>Finishes an upload with its digest (PUT ?digest=), optionally with a last chunk.</summary>
    public async Task CompleteUploadAsync(Uri location, Digest digest, HttpContent? content, IReadOnlyList<string> scopes, CancellationToken ct)
    {
        var builder = new UriBuilder(location);
        var query = builder.Query.TrimStart('?');
        builder.Query = (query.Length > 0 ? query + "&" : "") + "digest=" + Uri.EscapeDataString(digest.ToString());
        var request = new HttpRequestMessage(HttpMethod.Put, builder.Uri) { Content = content ?? new ByteArrayContent([]) };
        request.Content.Headers.ContentType ??= new MediaTypeHeaderValue("application/octet-stream");
        using var response = await SendAsync(() => request, scopes, ct, retry: false);
        if (response.StatusCode != HttpStatusCode.Created) throw await DistributionException.FromResponseAsync(response, $"finish upload of {digest}", ct);
    }

    private Uri Location(HttpResponseMessage response)
    {
        var location = response.Headers.Location ?? throw new DistributionException($"{Host}: upload response without a Location");
        return location.IsAbsoluteUri ? location : new Uri(BaseAddress, location);
    }

    // ---- listings ----

    public async Task<List<string>> TagsAsync(string repository, CancellationToken ct)
    {
        var tags = new List<string>();
        var next = $"/v2/{repository}/tags/list";
        while (next is not null)
        {
            var url = next;
            using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Get, url), [PullScope(repository)], ct);
            if (!response.IsSuccessStatusCode) throw await DistributionException.FromResponseAsync(response, $"tags of {repository}", ct);
            using var doc = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync(ct));
            if (doc.RootElement.TryGetProperty("tags", out var list) && list.ValueKind == JsonValueKind.Array)
                tags.AddRange(list.EnumerateArray().Select(t => t.GetString()!).Where(t => t is not null));
            next = response.Headers.TryGetValues("Link", out var links) && links.FirstOrDefault() is { } link && link.StartsWith('<') && link.IndexOf('>') is var end and > 0
                ? link[1..end] : null;
        }
        return tags;
    }
}
