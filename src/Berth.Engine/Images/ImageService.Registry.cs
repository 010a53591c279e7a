using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Berth.Distribution;
using Berth.Engine.Models;
using Berth.Oci.Image;
using Berth.Oci.Reference;

namespace Berth.Engine.Images;

/// <summary>Docker's AuthConfig (the X-Registry-Auth header's JSON, and POST /auth's body).</summary>
public sealed class AuthConfig
{
    [JsonPropertyName("username")] public string? Username { get; set; }
    [JsonPropertyName("password")] public string? Password { get; set; }
    [JsonPropertyName("auth")] public string? Auth { get; set; }
    [JsonPropertyName("email")] public string? Email { get; set; }
    [JsonPropertyName("serveraddress")] public string? ServerAddress { get; set; }
    [JsonPropertyName("identitytoken")] public string? IdentityToken { get; set; }
    [JsonPropertyName("registrytoken")] public string? RegistryToken { get; set; }

    /// <summary>Decodes X-Registry-Auth: base64url JSON (padding optional, as Go's encoder leaves it); null when absent or empty.</summary>
    public static AuthConfig? FromHeader(string? header)
    {
        if (string.IsNullOrWhiteSpace(header)) return null;
        try
        {
            var s = header.Trim().Replace('-', '+').Replace('_', '/');
            var bytes = Convert.FromBase64String(s + new string('=', (4 - s.Length % 4) % 4));
            var auth = JsonSerializer.Deserialize(bytes, RegistryJsonContext.Default.AuthConfig);
            return auth is null || (auth.Username is null && auth.IdentityToken is null && auth.Auth is null) ? null : auth;
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            throw new InvalidParameterException("invalid X-Registry-Auth header: " + e.Message);
        }
    }

    internal RegistryCredential? Credential()
    {
        var user = Username;
        var password = Password;
        if (string.IsNullOrEmpty(user) && !string.IsNullOrEmpty(Auth))
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(Auth));
            var colon = text.IndexOf(':');
            if (colon > 0) { user = text[..colon]; password = text[(colon + 1)..]; }
        }
        if (!string.IsNullOrEmpty(IdentityToken)) return new RegistryCredential(user ?? "", "", IdentityToken);
        return string.IsNullOrEmpty(user) ? null : new RegistryCredential(user, password ?? "");
    }
}

/// <summary>POST /auth's answer.</summary>
public sealed class AuthResponse
{
    public string Status { get; set; } = "";
    public string? IdentityToken { get; set; }
}

/// <summary>One line of GET /images/search.</summary>
public sealed class ImageSearchResponseItem
{
    [JsonPropertyName("description")] public string Description { get; set; } = "";
    [JsonPropertyName("is_official")] public bool IsOfficial { get; set; }
    [JsonPropertyName("is_automated")] public bool IsAutomated { get; set; }
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("star_count")] public int StarCount { get; set; }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AuthConfig))]
[JsonSerializable(typeof(AuthResponse))]
[JsonSerializable(typeof(List<ImageSearchResponseItem>))]
[JsonSerializable(typeof(string))]
public sealed partial class RegistryJsonContext : JsonSerializerContext;

/// <summary>The registry side of the image API: pull, push, login and search (Berth.Distribution underneath).</summary>
public interface IImageRegistry
{
    /// <summary>POST /images/create?fromImage=…&amp;tag=…&amp;platform=…; tag "" with a name of no tag pulls :latest; -a is tag absent and all-tags.</summary>
    IAsyncEnumerable<JsonMessage> PullAsync(string image, string? tag, string? platform, bool allTags, AuthConfig? auth, CancellationToken cancellationToken);
    /// <summary>POST /images/{name}/push?tag=…; no tag pushes every tag of the repository.</summary>
    IAsyncEnumerable<JsonMessage> PushAsync(string name, string? tag, AuthConfig? auth, CancellationToken cancellationToken);
    Task<AuthResponse> LoginAsync(AuthConfig auth, CancellationToken cancellationToken);
    Task<IReadOnlyList<ImageSearchResponseItem>> SearchAsync(string term, int? limit, Filters filters, AuthConfig? auth, CancellationToken cancellationToken);
}

public sealed partial class ImageService : IImageRegistry
{
    private DistributionClient? distribution;
    private LayerMetadata? layerMetadata;

    /// <summary>Insecure registries and mirrors (daemon.json); read when the first registry call is made.</summary>
    public DistributionOptions RegistryOptions { get; } = new();

    /// <summary>
    /// Takes daemon.json's "insecure-registries" and "registry-mirrors" (or --insecure-registry/--registry-mirror)
    /// into <see cref="RegistryOptions"/>, checked as dockerd checks them; call before the first registry call.
    /// Throws <see cref="FormatException"/> with dockerd's wording for a bad entry, and then changes nothing.
    /// </summary>
    public void ConfigureRegistries(IEnumerable<string> insecureRegistries, IEnumerable<string> mirrors)
    {
        var insecure = insecureRegistries.Select(ValidateInsecureRegistry).ToList();
        var validMirrors = mirrors.Select(ValidateMirror).ToList();
        if (distribution is not null) throw new InvalidOperationException("registry options are read before the first registry call");
        foreach (var entry in insecure)
            if (!RegistryOptions.InsecureRegistries.Contains(entry, StringComparer.OrdinalIgnoreCase)) RegistryOptions.InsecureRegistries.Add(entry);
        foreach (var mirror in validMirrors)
            if (!RegistryOptions.Mirrors.Contains(mirror)) RegistryOptions.Mirrors.Add(mirror);
    }

    /// <summary>Checks registry settings before anything is opened (berthd refuses a bad daemon.json at once).</summary>
    public static void CheckRegistrySettings(IEnumerable<string> insecureRegistries, IEnumerable<string> mirrors)
    {
        foreach (var entry in insecureRegistries) ValidateInsecureRegistry(entry);
        foreach (var mirror in mirrors) ValidateMirror(mirror);
    }

    /// <summary>An insecure registry: "host[:port]" or a CIDR; a scheme in front is dropped, as dockerd does.</summary>
    internal static string ValidateInsecureRegistry(string entry)
    {
        var value = entry.Trim();
        foreach (var scheme in new[] { "http://", "https://" })
            if (value.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) value = value[scheme.Length..];
        value = value.TrimEnd('/');
        if (value.Contains("://", StringComparison.Ordinal)) throw new FormatException($"insecure registry {entry} should not contain '://'");
        if (value.Length == 0) throw new FormatException($"insecure registry {entry} is not valid: empty");
        if (value.Contains('/'))
        {
            var slash = value.IndexOf('/');
            if (!System.Net.IPAddress.TryParse(value[..slash], out var network) || !int.TryParse(value[(slash + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var bits)
                || bits > (network.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128))
                throw new FormatException($"insecure registry {entry} is not valid: invalid CIDR address");
            return value;
        }
        if (value.StartsWith('-') || value.EndsWith('-') || value.Any(c => char.IsWhiteSpace(c) || c is '@' or '?' or '#'))
            throw new FormatException($"insecure registry {entry} is not valid: invalid host {value}");
        return value;
    }

    /// <summary>A mirror: an http or https URI with nothing after the authority (dockerd's rules); kept with a trailing slash.</summary>
    internal static Uri ValidateMirror(string entry)
    {
        var value = entry.Trim();
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
            throw new FormatException($"invalid mirror: \"{entry}\" is not a valid URI");
        if (uri.Scheme is not ("http" or "https"))
            throw new FormatException($"invalid mirror: unsupported scheme \"{uri.Scheme}\" in \"{uri}\"");
        if (uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.Fragment.Length > 0)
            throw new FormatException($"invalid mirror: path, query, or fragment at end of the URI \"{entry}\"");
        return new Uri(uri.GetLeftPart(UriPartial.Authority) + "/");
    }

    private DistributionClient Distribution
        => LazyInitializer.EnsureInitialized(ref distribution, () => new DistributionClient(RegistryOptions));

    private LayerMetadata LayerMetadata
        => LazyInitializer.EnsureInitialized(ref layerMetadata, () => new LayerMetadata(Path.Combine(store.Root, "distribution.json")));

    /// <summary>A client that uses the request's credentials (the docker CLI sends them with every pull and push).</summary>
    private DistributionClient ClientFor(string domain, AuthConfig? auth)
        => auth?.Credential() is { } credential
            ? Distribution.WithCredentials(CredentialProviders.FromDictionary(new Dictionary<string, RegistryCredential> { [domain] = credential, [DockerHub.CredentialKey(domain)] = credential }))
            : Distribution;

    public IAsyncEnumerable<JsonMessage> PullAsync(string image, string? tag, string? platform, bool allTags, AuthConfig? auth, CancellationToken cancellationToken)
    {
        ImageReference reference;
        Platform? wanted;
        try
        {
            reference = ImageReference.ParseNormalized(image);
            if (!string.IsNullOrEmpty(tag))
                reference = Berth.Oci.Content.Digest.TryParse(tag, out var d) ? reference.WithDigest(d) : reference.WithTag(tag);
            else if (reference.IsNameOnly && !allTags) reference = reference.WithTag(ImageReference.DefaultTag);
            wanted = string.IsNullOrEmpty(platform) ? null : Platforms.Parse(platform);
        }
        catch (FormatException e) { throw new InvalidParameterException(e.Message, e); }
        var client = ClientFor(reference.Domain, auth);
        var puller = new ImagePuller(client, store, LayerMetadata);
        return Progress(async sink =>
        {
            if (reference.IsNameOnly) await puller.PullAllTagsAsync(reference.ToString(), wanted, sink, cancellationToken);
            else
            {
                var result = await puller.PullAsync(reference, wanted, sink, cancellationToken);
                Publish("image", "pull", reference.FamiliarString(), new Dictionary<string, string>(StringComparer.Ordinal) { ["name"] = reference.FamiliarName }, legacyId: true);
            }
        }, cancellationToken);
    }

    public IAsyncEnumerable<JsonMessage> PushAsync(string name, string? tag, AuthConfig? auth, CancellationToken cancellationToken)
    {
        ImageReference reference;
        try
        {
            reference = ImageReference.ParseNormalized(name);
            if (!string.IsNullOrEmpty(tag)) reference = reference.WithTag(tag);
        }
        catch (FormatException e) { throw new InvalidParameterException(e.Message, e); }
        if (!string.IsNullOrEmpty(reference.Tag) && !store.TryResolve(reference.ToString(), out _))
            throw NotFoundException.Image(reference.FamiliarString());
        var pusher = new ImagePusher(ClientFor(reference.Domain, auth), store, LayerMetadata);
        return Progress(async sink =>
        {
            foreach (var pushed in await pusher.PushAsync(reference.ToString(), sink, cancellationToken))
                Publish("image", "push", pushed.Reference.FamiliarString(), new Dictionary<string, string>(StringComparer.Ordinal) { ["name"] = pushed.Reference.FamiliarName }, legacyId: true);
        }, cancellationToken);
    }

    public async Task<AuthResponse> LoginAsync(AuthConfig auth, CancellationToken cancellationToken)
    {
        var credential = auth.Credential() ?? throw new InvalidParameterException("username is required");
        var domain = DistributionClient.NormalizeServer(auth.ServerAddress);
        try
        {
            // A client of its own: the daemon keeps no credentials from /auth (as dockerd keeps none); every pull
            // and push brings its own in X-Registry-Auth, so one user's login never authorises another's request.
            using var probe = Distribution.WithCredentials(CredentialProviders.None);
            await probe.LoginAsync(domain, credential, cancellationToken);
        }
        catch (DistributionException e) { throw new UnauthorizedException(e.Message); }
        catch (HttpRequestException e) { throw new UnavailableException($"Get \"{domain}/v2/\": {e.Message}"); }
        return new AuthResponse { Status = "Login Succeeded" };
    }

    public async Task<IReadOnlyList<ImageSearchResponseItem>> SearchAsync(string term, int? limit, Filters filters, AuthConfig? auth, CancellationToken cancellationToken)
    {
        ValidateFilters(filters, SearchFilters);
        var slash = term.IndexOf('/');
        var domain = slash > 0 && (term[..slash].Contains('.') || term[..slash].Contains(':') || term[..slash] == "localhost") ? term[..slash] : DockerHub.Domain;
        List<SearchResult> results;
        try { results = await ClientFor(domain, auth).SearchAsync(term, limit ?? 25, cancellationToken); }
        catch (DistributionException e) { throw Translate(e); }
        catch (HttpRequestException e) { throw new UnavailableException(e.Message); }
        var stars = filters.Get("stars").Select(s => int.TryParse(s, out var n) ? n : throw new InvalidParameterException($"invalid filter 'stars={s}'")).DefaultIfEmpty(0).Max();
        bool? official = filters.Has("is-official") ? ParseBoolFilter(filters, "is-official") : null;
        bool? automated = filters.Has("is-automated") ? ParseBoolFilter(filters, "is-automated") : null;
        return [.. results
            .Where(r => r.StarCount >= stars && (official is null || r.IsOfficial == official) && (automated is null || r.IsAutomated == automated))
            .Select(r => new ImageSearchResponseItem { Name = r.Name, Description = r.Description, StarCount = r.StarCount, IsOfficial = r.IsOfficial, IsAutomated = r.IsAutomated })];
    }

    private static readonly HashSet<string> SearchFilters = ["stars", "is-official", "is-automated"];

    private static EngineException Translate(DistributionException e)
        => e.IsNotFound ? new NotFoundException(e.Message)
            : e.IsUnauthorized ? new UnauthorizedException(e.Message)
            : new InvalidParameterException(e.Message, e);

    /// <summary>
    /// Runs a transfer that reports through a callback and yields its messages as JSON messages; a failure
    /// becomes an <see cref="EngineException"/> (a status code before the first message, an error line after).
    /// </summary>
    private static async IAsyncEnumerable<JsonMessage> Progress(Func<Action<ProgressMessage>, Task> run, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateUnbounded<JsonMessage>(new UnboundedChannelOptions { SingleReader = true });
        var task = Task.Run(async () =>
        {
            try { await run(m => channel.Writer.TryWrite(ToJsonMessage(m))); }
            finally { channel.Writer.TryComplete(); }
        }, cancellationToken);
        await foreach (var message in channel.Reader.ReadAllAsync(cancellationToken)) yield return message;
        Exception? failure = null;
        try { await task; }
        catch (DistributionException e) { failure = Translate(e); }
        catch (Berth.Storage.StorageException e) { failure = new InvalidParameterException(e.Message, e); }
        catch (Berth.Images.ImageException e) { failure = new InvalidParameterException(e.Message, e); }
        catch (HttpRequestException e) { failure = new UnavailableException(e.Message); }
        catch (FormatException e) { failure = new InvalidParameterException(e.Message, e); }
        if (failure is not null) throw failure;
    }

    private static JsonMessage ToJsonMessage(ProgressMessage m) => new()
    {
        Status = m.Status,
        Id = m.Id,
        Progress = m.Progress,
        ProgressDetail = m.ProgressDetail is null ? null
            : new Models.ProgressDetail { Current = m.ProgressDetail.Current == 0 ? null : m.ProgressDetail.Current, Total = m.ProgressDetail.Total == 0 ? null : m.ProgressDetail.Total },
        Error = m.Error,
        ErrorDetail = m.ErrorDetail is null ? null : new Models.ErrorDetail { Message = m.ErrorDetail.Message },
    };
}
