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
        var inRoot = Walk(unsafePath, path => ReadLinkOrNull(rootPrefix + path), _ => new SyscallException("resolve", Errno.ELOOP, unsafePath));
        return inRoot == "/" && rootPrefix != "" ? rootPrefix : rootPrefix + inRoot;
    }

    /// <summary>
    /// The walk behind <see cref="Resolve"/>, over any view of a tree: <paramref name="readLink"/> gives the target of
    /// the symlink at a symlink-free path ("/a/b", relative to the tree's root), or null when it is something else or
    /// missing. Returns the symlink-free path ("/" for the root); past <see cref="MaxSymlinks"/> links it throws what
    /// <paramref name="tooManyLinks"/> makes of the path it was at.
    /// </summary>
    public static string Walk(string path, Func<string, string?> readLink, Func<string, Exception> tooManyLinks)
    {
        var resolved = new List<string>();
        var pending = new Stack<string>();
        PushComponents(pending, path);
        var linksFollowed = 0;
        while (pending.TryPop(out var component))
        {
            if (component is "" or ".") continue;
            if (component == "..")
            {
                if (resolved.Count > 0) resolved.RemoveAt(resolved.Count - 1);
                continue;
            }
            resolved.Add(component);
            var current = "/" + string.Join('/', resolved);
            var target = readLink(current);
            if (target is null) continue;
            if (++linksFollowed > MaxSymlinks) throw tooManyLinks(current);
            resolved.RemoveAt(resolved.Count - 1);
            if (target.StartsWith('/')) resolved.Clear();
            PushComponents(pending, target);
        }
        return "/" + string.Join('/', resolved);
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

    private static string? ReadLinkOrNull(string path)
    {
        try { return new FileInfo(path).LinkTarget; }
        catch (IOException) { return null; }              // e.g. a parent is a file: nothing to follow
        catch (UnauthorizedAccessException) { return null; }
    }
}
