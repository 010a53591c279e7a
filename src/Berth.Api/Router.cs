namespace Berth.Api;

/// <summary>
/// Matches "METHOD /path" against patterns such as <c>/containers/{id}/json</c>. A parameter written
/// <c>{name*}</c> spans one or more segments (image names contain '/'), followed by fixed segments.
/// </summary>
public sealed class Router<THandler>
{
    private readonly List<Route> routes = [];

    private sealed record Route(string Method, string Pattern, string[] Segments, THandler Handler);

    public void Add(string method, string pattern, THandler handler)
        => routes.Add(new Route(method, pattern, pattern.Trim('/').Split('/'), handler));

    public IEnumerable<(string Method, string Pattern)> Routes => routes.Select(r => (r.Method, r.Pattern));

    public enum Outcome { Found, NoSuchPath, WrongMethod }

    /// <summary>Finds the handler; HEAD falls back to GET when no HEAD route exists.</summary>
    public Outcome Match(string method, string path, out THandler? handler, out Dictionary<string, string> parameters)
    {
        handler = default;
        parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        var segments = path.Trim('/').Split('/');
        var pathMatched = false;
        Route? getForHead = null;
        Dictionary<string, string>? getParameters = null;
        // One dictionary for the attempts (cleared after a miss), not one per route: a request tries dozens of routes.
        var candidate = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var route in routes)
        {
            if (!TryMatch(route.Segments, segments, candidate)) { candidate.Clear(); continue; }
            pathMatched = true;
            if (route.Method == method)
            {
                handler = route.Handler;
                parameters = candidate;
                return Outcome.Found;
            }
            if (method == "HEAD" && route.Method == "GET" && getForHead is null) { getForHead = route; getParameters = candidate; }
            candidate = new Dictionary<string, string>(StringComparer.Ordinal); // the matched one may be kept for HEAD
        }
        if (getForHead is not null)
        {
            handler = getForHead.Handler;
            parameters = getParameters!;
            return Outcome.Found;
        }
        return pathMatched ? Outcome.WrongMethod : Outcome.NoSuchPath;
    }

    private static bool TryMatch(string[] pattern, string[] path, Dictionary<string, string> parameters)
    {
        var greedy = Array.FindIndex(pattern, s => s.EndsWith("*}", StringComparison.Ordinal));
        if (greedy < 0)
        {
            if (pattern.Length != path.Length) return false;
            for (var i = 0; i < pattern.Length; i++)
                if (!MatchSegment(pattern[i], path[i], parameters)) return false;
            return true;
        }
        var suffix = pattern.Length - greedy - 1;
        if (path.Length < pattern.Length) return false;
        for (var i = 0; i < greedy; i++)
            if (!MatchSegment(pattern[i], path[i], parameters)) return false;
        for (var i = 0; i < suffix; i++)
            if (!MatchSegment(pattern[^(i + 1)], path[^(i + 1)], parameters)) return false;
        var span = path[greedy..(path.Length - suffix)];
        if (span.Length == 0 || span.Any(s => s.Length == 0)) return false;
        parameters[pattern[greedy][1..^2]] = Uri.UnescapeDataString(string.Join('/', span));
        return true;
    }

    private static bool MatchSegment(string pattern, string segment, Dictionary<string, string> parameters)
    {
        if (pattern.Length > 2 && pattern[0] == '{' && pattern[^1] == '}')
        {
            if (segment.Length == 0) return false;
            parameters[pattern[1..^1]] = Uri.UnescapeDataString(segment);
            return true;
        }
        return string.Equals(pattern, segment, StringComparison.Ordinal);
    }
}
