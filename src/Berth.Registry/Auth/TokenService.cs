using System.Globalization;
using System.Text.Json;

namespace Berth.Registry.Auth;

/// <summary>
/// The built-in token service (Docker Hub's auth.docker.io flow): GET /auth/token?service=…&amp;scope=…
/// with basic credentials (or none, for anonymous access) answers
/// <c>{"token","access_token","expires_in","issued_at"}</c>. Each requested action is granted only when a
/// rule allows it for the account; what is not allowed is left out of the token (the registry then refuses
/// the request that needs it), as distribution's token servers do.
/// </summary>
public sealed class TokenService(TokenSigner signer, string service, Htpasswd? users, IReadOnlyList<AccessRule> rules, TimeSpan lifetime, TimeProvider? clock = null)
{
    public const string Path = "/auth/token";
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    /// <summary>Rules when none are configured: every account may pull, push and delete anything and list the catalog.</summary>
    public static IReadOnlyList<AccessRule> DefaultRules { get; } = [new AccessRule("*", "*", ["pull", "push", "delete", "*"])];

    /// <summary>The status and JSON body for a token request.</summary>
    public (int Status, byte[] Body, string? Challenge) Handle(string? authorization, string? requestedService, IEnumerable<string> scopes, string? accountParameter)
    {
        string account = "";
        // Only basic credentials say who asks; any other Authorization (a stale bearer token) is an anonymous request.
        if (authorization is not null && authorization.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            if (Htpasswd.ParseBasic(authorization) is not { } credentials || users is null || !users.Verify(credentials.User, credentials.Password))
                return (401, Error("UNAUTHORIZED", "invalid username or password"), $"Basic realm=\"{service}\"");
            account = credentials.User;
        }
        if (requestedService is not null && requestedService != service)
            return (400, Error("DENIED", $"unknown service {requestedService}"), null);
        _ = accountParameter; // docker login sends ?account=; the credentials decide who it is.

        var access = new List<ResourceAccess>();
        foreach (var scope in scopes.SelectMany(s => s.Split(' ', StringSplitOptions.RemoveEmptyEntries)))
        {
            var first = scope.IndexOf(':');
            var last = scope.LastIndexOf(':');
            if (first <= 0 || last == first) return (400, Error("DENIED", $"invalid scope {scope}"), null);
            var type = scope[..first];
            var name = scope[(first + 1)..last];
            var actions = scope[(last + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries);
            var granted = actions.Where(a => Allowed(account, type, name, a)).Distinct().ToList();
            if (granted.Count > 0) access.Add(new ResourceAccess(type, name, granted));
        }
        var now = _clock.GetUtcNow();
        var token = signer.Issue(account, service, access, lifetime, now);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("token", token);
            w.WriteString("access_token", token);
            w.WriteNumber("expires_in", (int)lifetime.TotalSeconds);
            w.WriteString("issued_at", now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
            w.WriteEndObject();
        }
        return (200, buffer.WrittenSpan.ToArray(), null);
    }

    private bool Allowed(string account, string type, string name, string action)
    {
        foreach (var rule in rules.Count == 0 ? DefaultRules : rules)
        {
            var who = rule.Account == "*" ? account.Length > 0 : rule.Account == account;
            if (!who) continue;
            var what = type == "registry"
                ? rule.Repository == "*" && name == "catalog"
                : rule.Repository == "*" || rule.Repository == name || (rule.Repository.EndsWith('*') && name.StartsWith(rule.Repository[..^1], StringComparison.Ordinal));
            if (what && (rule.Actions.Contains(action) || rule.Actions.Contains("*")))
                return true;
        }
        return false;
    }

    internal static byte[] Error(string code, string message)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartArray("errors");
            w.WriteStartObject();
            w.WriteString("code", code);
            w.WriteString("message", message);
            w.WriteNull("detail");
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
