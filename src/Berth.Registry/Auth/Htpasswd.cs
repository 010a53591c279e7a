using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Berth.Registry.Auth;

/// <summary>
/// An htpasswd file of bcrypt entries ("user:$2y$…", as `htpasswd -B` writes them). bcrypt is slow on
/// purpose, so a pair that verified once is remembered by a salted hash of it: a client that sends basic
/// credentials with every request pays the bcrypt cost once, not per request. The file is reread when it
/// changes.
/// </summary>
public sealed class Htpasswd
{
    private readonly string _path;
    private readonly byte[] _salt = RandomNumberGenerator.GetBytes(32);
    private readonly ConcurrentDictionary<string, byte> _verified = new(StringComparer.Ordinal);
    private Dictionary<string, string> _entries = new(StringComparer.Ordinal);
    private DateTime _loadedWriteTime;
    private readonly Lock _gate = new();

    public Htpasswd(string path)
    {
        _path = path;
        Reload();
    }

    private void Reload()
    {
        var writeTime = File.GetLastWriteTimeUtc(_path);
        if (writeTime == _loadedWriteTime && _entries.Count > 0) return;
        var entries = new Dictionary<string, string>(StringComparer.Ordinal);
        string[] lines;
        try { lines = File.ReadAllLines(_path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new FormatException($"cannot read htpasswd file {_path}: {e.Message}"); }
        foreach (var raw in lines)
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var colon = line.IndexOf(':');
            if (colon <= 0) continue;
            var hash = line[(colon + 1)..];
            if (!hash.StartsWith("$2", StringComparison.Ordinal)) continue; // distribution accepts bcrypt only
            entries[line[..colon]] = hash;
        }
        _entries = entries;
        _loadedWriteTime = writeTime;
        _verified.Clear();
    }

    public bool Verify(string user, string password)
    {
        lock (_gate) Reload();
        if (!_entries.TryGetValue(user, out var hash)) return false;
        var key = Convert.ToBase64String(HMACSHA256.HashData(_salt, Encoding.UTF8.GetBytes(user + "\0" + password + "\0" + hash)));
        if (_verified.ContainsKey(key)) return true;
        bool ok;
        try { ok = BCrypt.Net.BCrypt.Verify(password, hash); }
        catch (BCrypt.Net.SaltParseException) { ok = false; }
        if (ok) _verified[key] = 0;
        return ok;
    }

    /// <summary>Parses "Basic base64(user:password)"; null when the header is not basic credentials.</summary>
    public static (string User, string Password)? ParseBasic(string? authorization)
    {
        if (authorization is null || !authorization.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)) return null;
        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(authorization[6..].Trim()));
            var colon = text.IndexOf(':');
            return colon < 0 ? null : (text[..colon], text[(colon + 1)..]);
        }
        catch (FormatException) { return null; }
    }
}
