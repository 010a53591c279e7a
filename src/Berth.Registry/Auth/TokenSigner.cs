using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Berth.Registry.Auth;

/// <summary>What a token grants: actions on one resource (distribution's "access" claim entry).</summary>
public sealed record ResourceAccess(string Type, string Name, IReadOnlyList<string> Actions);

/// <summary>A verified token's claims that matter to the registry.</summary>
public sealed record TokenClaims(string Subject, string Audience, DateTimeOffset Expires, IReadOnlyList<ResourceAccess> Access);

/// <summary>
/// Issues and verifies the registry's bearer tokens: JWTs signed with ES256 (EC P-256, signature in JWS's
/// r‖s form), carrying distribution's claims (iss, sub, aud, exp, nbf, iat, jti, access). The key is an EC
/// P-256 PEM when configured, else made fresh at start (tokens then die with the process, which is fine
/// for tokens that live minutes).
/// </summary>
public sealed class TokenSigner : IDisposable
{
    private readonly ECDsa _key;
    private readonly string _keyId;
    public string Issuer { get; }

    public TokenSigner(string issuer, string? pemPath = null)
    {
        Issuer = issuer;
        _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        if (pemPath is not null)
        {
            try { _key.ImportFromPem(File.ReadAllText(pemPath)); }
            catch (Exception e) when (e is IOException or ArgumentException or CryptographicException)
            {
                throw new FormatException($"cannot read token signing key {pemPath}: {e.Message}");
            }
        }
        // libtrust's key ID shape is not needed by our own verifier; a digest of the public key names it.
        _keyId = Convert.ToHexStringLower(SHA256.HashData(_key.ExportSubjectPublicKeyInfo()))[..32];
    }

    public string Issue(string subject, string audience, IReadOnlyList<ResourceAccess> access, TimeSpan lifetime, DateTimeOffset now)
    {
        var header = Json(w =>
        {
            w.WriteString("typ", "JWT");
            w.WriteString("alg", "ES256");
            w.WriteString("kid", _keyId);
        });
        var claims = Json(w =>
        {
            w.WriteString("iss", Issuer);
            w.WriteString("sub", subject);
            w.WriteString("aud", audience);
            w.WriteNumber("exp", (now + lifetime).ToUnixTimeSeconds());
            w.WriteNumber("nbf", now.AddSeconds(-10).ToUnixTimeSeconds());
            w.WriteNumber("iat", now.ToUnixTimeSeconds());
            w.WriteString("jti", Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));
            w.WriteStartArray("access");
            foreach (var a in access)
            {
                w.WriteStartObject();
                w.WriteString("type", a.Type);
                w.WriteString("name", a.Name);
                w.WriteStartArray("actions");
                foreach (var action in a.Actions) w.WriteStringValue(action);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        });
        var signingInput = Base64Url(header) + "." + Base64Url(claims);
        var signature = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return signingInput + "." + Base64Url(signature);
    }

    /// <summary>The claims of a token this signer issued and that is still valid for <paramref name="audience"/>; null otherwise.</summary>
    public TokenClaims? Verify(string token, string audience, DateTimeOffset now)
    {
        var parts = token.Split('.');
        if (parts.Length != 3) return null;
        byte[] header, payload, signature;
        try { header = FromBase64Url(parts[0]); payload = FromBase64Url(parts[1]); signature = FromBase64Url(parts[2]); }
        catch (FormatException) { return null; }
        if (!_key.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
            return null;
        try
        {
            using (var h = JsonDocument.Parse(header))
                if (!h.RootElement.TryGetProperty("alg", out var alg) || alg.GetString() != "ES256") return null;
            using var doc = JsonDocument.Parse(payload);
            var root = doc.RootElement;
            if (root.GetProperty("iss").GetString() != Issuer) return null;
            var aud = root.GetProperty("aud");
            var audiences = aud.ValueKind == JsonValueKind.Array ? aud.EnumerateArray().Select(a => a.GetString()).ToList() : [aud.GetString()];
            if (!audiences.Contains(audience)) return null;
            var expires = DateTimeOffset.FromUnixTimeSeconds(root.GetProperty("exp").GetInt64());
            if (expires <= now) return null;
            if (root.TryGetProperty("nbf", out var nbf) && DateTimeOffset.FromUnixTimeSeconds(nbf.GetInt64()) > now) return null;
            var access = new List<ResourceAccess>();
            if (root.TryGetProperty("access", out var list) && list.ValueKind == JsonValueKind.Array)
                foreach (var a in list.EnumerateArray())
                    access.Add(new ResourceAccess(a.GetProperty("type").GetString() ?? "", a.GetProperty("name").GetString() ?? "",
                        [.. a.GetProperty("actions").EnumerateArray().Select(x => x.GetString() ?? "")]));
            return new TokenClaims(root.TryGetProperty("sub", out var sub) ? sub.GetString() ?? "" : "", audience, expires, access);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
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

    public static string Base64Url(ReadOnlySpan<byte> data) => Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static byte[] FromBase64Url(string text)
    {
        var s = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s + new string('=', (4 - s.Length % 4) % 4));
    }

    public void Dispose() => _key.Dispose();
}
