using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Text.Json;
using Berth.Oci.Reference;

namespace Berth.Distribution;

/// <summary>One result of `docker search`.</summary>
public sealed record SearchResult(string Name, string Description, int StarCount, bool IsOfficial, bool IsAutomated);

/// <summary>
/// The registry client's front door: one pooled HttpClient, one <see cref="RegistryClient"/> per registry
/// (so tokens are reused across pulls and pushes), and the verbs the engine needs: pull, push, login, search.
/// Knows nothing of the engine: images come from and go to an <see cref="Berth.Images.ImageStore"/>.
/// </summary>
public sealed class DistributionClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly ConcurrentDictionary<string, RegistryClient> _clients = new(StringComparer.Ordinal);

    public DistributionOptions Options { get; }

    private DistributionClient(DistributionClient parent, DistributionOptions options)
    {
        Options = options;
        _http = parent._http;
    }

    /// <summary>
    /// A client over the same connections that takes credentials from <paramref name="credentials"/> (the engine's
    /// per-request X-Registry-Auth); it has its own token cache. Disposing it leaves the connections open.
    /// </summary>
    public DistributionClient WithCredentials(ICredentialProvider credentials)
    {
        var options = new DistributionOptions
        {
            MaxConcurrentDownloads = Options.MaxConcurrentDownloads,
            MaxConcurrentUploads = Options.MaxConcurrentUploads,
            UploadChunkSize = Options.UploadChunkSize,
            UserAgent = Options.UserAgent,
            Credentials = credentials,
            Handler = Options.Handler,
        };
        options.InsecureRegistries.AddRange(Options.InsecureRegistries);
        options.Mirrors.AddRange(Options.Mirrors);
        return new DistributionClient(this, options) { _ownsHttp = false };
    }

    private bool _ownsHttp = true;

    public DistributionClient(DistributionOptions? options = null)
    {
        Options = options ?? new DistributionOptions();
        var handler = Options.Handler ?? new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            AutomaticDecompression = DecompressionMethods.None,
            AllowAutoRedirect = true,
            ConnectTimeout = TimeSpan.FromSeconds(30),
            SslOptions = new SslClientAuthenticationOptions
            {
                // Insecure registries (loopback, or listed) are reached without certificate verification, as Docker does.
                RemoteCertificateValidationCallback = (sender, _, _, errors) =>
                    errors == SslPolicyErrors.None || (sender is SslStream s && Options.IsInsecure(s.TargetHostName)),
            },
        };
        _http = new HttpClient(handler, disposeHandler: Options.Handler is null) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>The client for a registry domain ("docker.io", "localhost:5000"), made once and kept.</summary>
    public RegistryClient Registry(string domain) => _clients.GetOrAdd(domain, d => new RegistryClient(d, _http, Options));

    /// <summary>Clients to try for a pull: Docker Hub's mirrors first, then the registry itself.</summary>
    internal IEnumerable<RegistryClient> PullSources(string domain)
    {
        if (domain == DockerHub.Domain)
            foreach (var mirror in Options.Mirrors)
                yield return _clients.GetOrAdd("mirror:" + mirror, _ => new RegistryClient(domain, _http, Options, mirror));
        yield return Registry(domain);
    }

    /// <summary>docker login: checks the credentials against the registry (the token flow or basic auth).</summary>
    public async Task LoginAsync(string serverAddress, RegistryCredential credential, CancellationToken ct = default)
    {
        var domain = NormalizeServer(serverAddress);
        var client = new RegistryClient(domain, _http, Options);
        await client.LoginAsync(credential, ct);
        _clients[domain] = client;
    }

    /// <summary>"https://index.docker.io/v1/", "docker.io", "localhost:5000", "http://host:5000/" → a registry domain.</summary>
    public static string NormalizeServer(string? serverAddress)
    {
        if (string.IsNullOrEmpty(serverAddress)) return DockerHub.Domain;
        var s = serverAddress.Trim();
        if (s.Contains("://", StringComparison.Ordinal)) s = new Uri(s).Authority;
        s = s.TrimEnd('/');
        var slash = s.IndexOf('/');
        if (slash >= 0) s = s[..slash];
        return s is "index.docker.io" or "registry-1.docker.io" or "docker.io" ? DockerHub.Domain : s;
    }

    /// <summary>
    /// docker search: the registry's /v1/search (Docker Hub's index for unqualified terms; a term
    /// "host:port/x" searches that registry).
    /// </summary>
    public async Task<List<SearchResult>> SearchAsync(string term, int limit, CancellationToken ct = default)
    {
        var domain = DockerHub.Domain;
        var slash = term.IndexOf('/');
        if (slash > 0 && (term[..slash].Contains('.') || term[..slash].Contains(':') || term[..slash] == "localhost"))
        {
            domain = term[..slash];
            term = term[(slash + 1)..];
        }
        var client = domain == DockerHub.Domain ? new RegistryClient(domain, _http, Options, new Uri("https://index.docker.io/")) : Registry(domain);
        var path = $"/v1/search?q={Uri.EscapeDataString(term)}&n={limit}";
        using var response = await client.SendAsync(() => new HttpRequestMessage(HttpMethod.Get, path), [], ct);
        if (!response.IsSuccessStatusCode) throw await DistributionException.FromResponseAsync(response, $"search {term}", ct);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync(ct));
        var results = new List<SearchResult>();
        if (doc.RootElement.TryGetProperty("results", out var list) && list.ValueKind == JsonValueKind.Array)
            foreach (var r in list.EnumerateArray())
            {
                var name = r.TryGetProperty("name", out var n) ? n.GetString() ?? "" : "";
                results.Add(new SearchResult(domain == DockerHub.Domain ? name : $"{domain}/{name}",
                    r.TryGetProperty("description", out var d) ? d.GetString() ?? "" : "",
                    r.TryGetProperty("star_count", out var s) && s.TryGetInt32(out var stars) ? stars : 0,
                    r.TryGetProperty("is_official", out var o) && o.ValueKind == JsonValueKind.True,
                    r.TryGetProperty("is_automated", out var a) && a.ValueKind == JsonValueKind.True));
            }
        return results.Take(limit).ToList();
    }

    internal static string RepositoryPath(ImageReference reference) => reference.Path;

    public void Dispose()
    {
        if (_ownsHttp) _http.Dispose();
    }
}
