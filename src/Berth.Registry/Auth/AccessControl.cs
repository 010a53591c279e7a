namespace Berth.Registry.Auth;

/// <summary>One thing a request needs: an action on a resource ("repository", "library/x", "push").</summary>
public sealed record AccessRequest(string Type, string Name, string Action)
{
    public static AccessRequest Pull(string repository) => new("repository", repository, "pull");
    public static AccessRequest Push(string repository) => new("repository", repository, "push");
    public static AccessRequest Delete(string repository) => new("repository", repository, "delete");
    public static readonly AccessRequest Catalog = new("registry", "catalog", "*");

    /// <summary>Groups requests into distribution's scope strings: "repository:x:pull,push".</summary>
    public static IEnumerable<string> Scopes(IEnumerable<AccessRequest> requests)
        => requests.GroupBy(r => (r.Type, r.Name)).Select(g => $"{g.Key.Type}:{g.Key.Name}:{string.Join(',', g.Select(r => r.Action).Distinct())}");
}

/// <summary>The outcome of an access check: granted (to whom), or the challenge to answer with.</summary>
public sealed record AuthResult(bool Granted, string? Account, string? Challenge, ErrorCode Code, string? Detail)
{
    public static AuthResult Allow(string? account) => new(true, account, null, ErrorCode.Unauthorized, null);
    public static AuthResult Refuse(string challenge, string detail, ErrorCode? code = null) => new(false, null, challenge, code ?? ErrorCode.Unauthorized, detail);
}

/// <summary>What the HTTP layer hands an access controller: the Authorization header and how the client reached us.</summary>
public readonly record struct AuthContext(string? Authorization, string Scheme, string Host);

/// <summary>distribution's access controller: decides whether a request may do what it needs.</summary>
public interface IAccessController
{
    AuthResult Authorize(AuthContext context, IReadOnlyList<AccessRequest> wanted);
}

/// <summary>No authentication: everything is allowed (distribution without an auth section).</summary>
public sealed class AllowAll : IAccessController
{
    public AuthResult Authorize(AuthContext context, IReadOnlyList<AccessRequest> wanted) => AuthResult.Allow(null);
}

/// <summary>htpasswd basic auth: any listed account may do anything, as distribution's htpasswd controller allows.</summary>
public sealed class HtpasswdAccess(Htpasswd users, string realm) : IAccessController
{
    public AuthResult Authorize(AuthContext context, IReadOnlyList<AccessRequest> wanted)
    {
        var challenge = $"Basic realm=\"{realm}\"";
        if (Htpasswd.ParseBasic(context.Authorization) is not { } credentials) return AuthResult.Refuse(challenge, "authentication required");
        return users.Verify(credentials.User, credentials.Password)
            ? AuthResult.Allow(credentials.User)
            : AuthResult.Refuse(challenge, "invalid username or password");
    }
}

/// <summary>
/// Bearer tokens (Docker Hub's flow): a request without a token, or whose token lacks a scope it needs, is
/// answered 401 with <c>WWW-Authenticate: Bearer realm=…,service=…,scope=…</c>, naming what to ask the
/// token service for.
/// </summary>
public sealed class TokenAccess(TokenSigner signer, string? realm, string service, TimeProvider? clock = null) : IAccessController
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    public string Realm(AuthContext context) => realm ?? $"{context.Scheme}://{context.Host}{TokenService.Path}";

    public AuthResult Authorize(AuthContext context, IReadOnlyList<AccessRequest> wanted)
    {
        var challenge = $"Bearer realm=\"{Realm(context)}\",service=\"{service}\"";
        if (wanted.Count > 0) challenge += $",scope=\"{string.Join(' ', AccessRequest.Scopes(wanted))}\"";
        var auth = context.Authorization;
        if (auth is null || !auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return AuthResult.Refuse(challenge, "authentication required");
        var claims = signer.Verify(auth[7..].Trim(), service, _clock.GetUtcNow());
        if (claims is null) return AuthResult.Refuse(challenge + ",error=\"invalid_token\"", "invalid or expired token");
        foreach (var w in wanted)
        {
            var granted = claims.Access.Any(a => a.Type == w.Type && a.Name == w.Name && (a.Actions.Contains(w.Action) || a.Actions.Contains("*")));
            if (!granted) return AuthResult.Refuse(challenge + ",error=\"insufficient_scope\"", $"token does not grant {w.Type}:{w.Name}:{w.Action}");
        }
        return AuthResult.Allow(claims.Subject);
    }
}
