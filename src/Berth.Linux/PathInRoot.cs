namespace Berth.Linux;

/// <summary>
/// Resolves a path as if <c>root</c> were "/": each component is looked at in turn, symlinks are read and
/// followed relative to the root (an absolute target restarts at the root), and ".." never climbs above
/// the root. Missing components are kept as written, so the result can be created. The result is always
/// the root or below it. (The idea of Go's securejoin.)
/// </summary>
public static class PathInRoot
{
    /// <summary>Linux's limit on symlinks followed in one lookup; more is ELOOP.</summary>
    public const int MaxSymlinks = 255;

    /// <summary>The host path that <paramref name="unsafePath"/> names inside <paramref name="root"/>.</summary>
    /// <exception cref="SyscallException">ELOOP after more than <see cref="MaxSymlinks"/> symlinks.</exception>
    public static string Resolve(string root, string unsafePath)
    {
        var rootPrefix = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        if (rootPrefix == "/") rootPrefix = "";
        var resolved = new List<string>();
        var pending = new Stack<string>();
        PushComponents(pending, unsafePath);
        var linksFollowed = 0;
        while (pending.TryPop(out var component))
        {
            if (component is "" or ".") continue;
            if (component == "..")
            {
                if (resolved.Count > 0) resolved.RemoveAt(resolved.Count - 1);
                continue;
            }
            var target = ReadLinkOrNull(Join(rootPrefix, resolved, component));
            if (target is null)
            {
                resolved.Add(component);
                continue;
            }
            if (++linksFollowed > MaxSymlinks) throw new SyscallException("resolve", Errno.ELOOP, unsafePath);
            if (target.StartsWith('/')) resolved.Clear();
            PushComponents(pending, target);
        }
        return resolved.Count == 0 ? (rootPrefix == "" ? "/" : rootPrefix) : Join(rootPrefix, resolved, null);
    }

    /// <summary>True when <paramref name="path"/>, taken lexically (no symlinks), climbs above "/" with "..".</summary>
    public static bool ClimbsAboveRoot(string path)
    {
        var depth = 0;
        foreach (var component in path.Split('/'))
        {
            if (component is "" or ".") continue;
            depth += component == ".." ? -1 : 1;
            if (depth < 0) return true;
        }
        return false;
    }

    private static void PushComponents(Stack<string> pending, string path)
    {
        var parts = path.Split('/');
        for (var i = parts.Length - 1; i >= 0; i--) pending.Push(parts[i]);
    }

    private static string Join(string rootPrefix, List<string> resolved, string? last)
    {
        var builder = new System.Text.StringBuilder(rootPrefix);
        foreach (var part in resolved) builder.Append('/').Append(part);
        if (last is not null) builder.Append('/').Append(last);
        return builder.ToString();
    }

    private static string? ReadLinkOrNull(string path)
    {
        try { return new FileInfo(path).LinkTarget; }
        catch (IOException) { return null; }              // e.g. a parent is a file: nothing to follow
        catch (UnauthorizedAccessException) { return null; }
    }
}
