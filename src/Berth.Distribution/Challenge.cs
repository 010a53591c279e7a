namespace Berth.Distribution;

/// <summary>One challenge of a WWW-Authenticate header: a scheme ("bearer", "basic") and its parameters.</summary>
public sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public string? this[string key] => Parameters.TryGetValue(key, out var v) ? v : null;

    /// <summary>Parses <c>Bearer realm="…",service="…",scope="…"</c> (several challenges may share a header, comma-separated).</summary>
    public static List<AuthChallenge> Parse(IEnumerable<string> headers)
    {
        var result = new List<AuthChallenge>();
        foreach (var header in headers)
        {
            var i = 0;
            while (i < header.Length)
            {
                while (i < header.Length && (header[i] == ' ' || header[i] == ',')) i++;
                var start = i;
                while (i < header.Length && header[i] != ' ' && header[i] != ',') i++;
                if (i == start) break;
                var scheme = header[start..i].ToLowerInvariant();
                var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                while (i < header.Length)
                {
                    while (i < header.Length && (header[i] == ' ' || header[i] == ',')) i++;
                    var keyStart = i;
                    while (i < header.Length && header[i] != '=' && header[i] != ' ' && header[i] != ',') i++;
                    if (i >= header.Length || header[i] != '=')
                    {
                        i = keyStart; // the next challenge's scheme
                        break;
                    }
                    var key = header[keyStart..i];
                    i++;
                    string value;
                    if (i < header.Length && header[i] == '"')
                    {
                        var sb = new System.Text.StringBuilder();
                        i++;
                        while (i < header.Length && header[i] != '"')
                        {
                            if (header[i] == '\\' && i + 1 < header.Length) i++;
                            sb.Append(header[i++]);
                        }
                        i++;
                        value = sb.ToString();
                    }
                    else
                    {
                        var valueStart = i;
                        while (i < header.Length && header[i] != ',') i++;
                        value = header[valueStart..i].Trim();
                    }
                    parameters[key] = value;
                }
                result.Add(new AuthChallenge(scheme, parameters));
            }
        }
        return result;
    }
}
