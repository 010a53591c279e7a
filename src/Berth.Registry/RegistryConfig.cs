using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace Berth.Registry;

/// <summary>One rule of the built-in token service: which account gets which actions on which repositories.</summary>
/// <param name="Account">An account name, or "*" for any authenticated account, or "" for anonymous clients.</param>
/// <param name="Repository">A repository name, or a prefix ending in "*".</param>
public sealed record AccessRule(string Account, string Repository, IReadOnlyList<string> Actions);

/// <summary>
/// berth-registry's configuration. Keys are distribution's where they mean the same (storage.filesystem.
/// rootdirectory, storage.delete.enabled, http.addr, http.tls.certificate/key, auth.htpasswd.realm/path,
/// auth.token.realm/service/issuer); the built-in token service adds auth.token.htpasswd (whose accounts may
/// ask for tokens), auth.token.signingkey (an EC P-256 PEM; a fresh key per start when absent),
/// auth.token.expiration (seconds) and auth.token.access (rules; default: every account may pull and push
/// everything, anonymous clients nothing).
/// </summary>
public sealed class RegistryConfig
{
    public string Addr { get; set; } = "127.0.0.1:5000";
    public string RootDirectory { get; set; } = "/var/lib/berth-registry";
    public bool DeleteEnabled { get; set; }
    public string? TlsCertificate { get; set; }
    public string? TlsKey { get; set; }
    public string LogLevel { get; set; } = "warn";

    public string? HtpasswdPath { get; set; }
    public string HtpasswdRealm { get; set; } = "berth-registry";

    /// <summary>Where clients get tokens (an absolute URL); when null with token auth on, the registry's own /auth/token.</summary>
    public string? TokenRealm { get; set; }
    public string? TokenService { get; set; }
    public string TokenIssuer { get; set; } = "berth-registry";
    public string? TokenHtpasswd { get; set; }
    public string? TokenSigningKey { get; set; }
    public int TokenExpirationSeconds { get; set; } = 300;
    public List<AccessRule> TokenAccess { get; } = [];
    public bool TokenAuth { get; set; }

    /// <summary>Reads a distribution-style YAML file; unknown keys are ignored as distribution ignores them.</summary>
    public static RegistryConfig Load(string path)
    {
        var config = new RegistryConfig();
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new FormatException($"cannot read configuration {path}: {e.Message}"); }
        config.Apply(text, path);
        return config;
    }

    public void Apply(string yaml, string source = "configuration")
    {
        var stream = new YamlStream();
        try { stream.Load(new StringReader(yaml)); }
        catch (YamlDotNet.Core.YamlException e) { throw new FormatException($"{source}: invalid YAML at line {e.Start.Line}: {e.Message}"); }
        if (stream.Documents.Count == 0) return;
        if (stream.Documents[0].RootNode is not YamlMappingNode root) throw new FormatException($"{source}: the top level must be a mapping");

        if (Scalar(root, "storage", "filesystem", "rootdirectory") is { } dir) RootDirectory = dir;
        if (Scalar(root, "storage", "delete", "enabled") is { } del) DeleteEnabled = Bool(del, "storage.delete.enabled");
        if (Scalar(root, "http", "addr") is { } addr) Addr = addr;
        if (Scalar(root, "http", "tls", "certificate") is { } cert) TlsCertificate = cert;
        if (Scalar(root, "http", "tls", "key") is { } key) TlsKey = key;
        if (Scalar(root, "log", "level") is { } level) LogLevel = level;
        if (Scalar(root, "auth", "htpasswd", "path") is { } htpasswd) HtpasswdPath = htpasswd;
        if (Scalar(root, "auth", "htpasswd", "realm") is { } realm) HtpasswdRealm = realm;
        if (Node(root, "auth", "token") is YamlMappingNode token)
        {
            TokenAuth = true;
            TokenRealm = Scalar(token, "realm");
            TokenService = Scalar(token, "service");
            TokenIssuer = Scalar(token, "issuer") ?? TokenIssuer;
            TokenHtpasswd = Scalar(token, "htpasswd");
            TokenSigningKey = Scalar(token, "signingkey");
            if (Scalar(token, "expiration") is { } exp)
                TokenExpirationSeconds = int.TryParse(exp, NumberStyles.None, CultureInfo.InvariantCulture, out var s) && s > 0
                    ? s : throw new FormatException($"{source}: auth.token.expiration must be a positive number of seconds");
            if (Node(token, "access") is YamlSequenceNode rules)
                foreach (var rule in rules.Children.OfType<YamlMappingNode>())
                {
                    var actions = Node(rule, "actions") is YamlSequenceNode list
                        ? list.Children.OfType<YamlScalarNode>().Select(a => a.Value ?? "").ToList()
                        : (Scalar(rule, "actions") ?? "pull").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToList();
                    TokenAccess.Add(new AccessRule(Node(rule, "account") is YamlScalarNode account ? account.Value ?? "" : "*", Scalar(rule, "repository") ?? "*", actions));
                }
        }
    }

    private static bool Bool(string value, string key) => value.ToLowerInvariant() switch
    {
        "true" or "yes" or "on" => true,
        "false" or "no" or "off" => false,
        _ => throw new FormatException($"{key}: expected true or false, got \"{value}\""),
    };

    private static YamlNode? Node(YamlNode node, params string[] keys)
    {
        foreach (var k in keys)
        {
            if (node is not YamlMappingNode map || !map.Children.TryGetValue(new YamlScalarNode(k), out var child)) return null;
            node = child;
        }
        return node;
    }

    private static string? Scalar(YamlNode node, params string[] keys) => Node(node, keys) is YamlScalarNode s && !string.IsNullOrEmpty(s.Value) ? s.Value : null;
}
