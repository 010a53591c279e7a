using System.Text.RegularExpressions;

namespace Berth.Build.Context;

/// <summary>Path resolution confined to a root directory, and Go's filepath.Match.</summary>
public static class ScopedPath
{
    private const int MaxSymlinks = 255;

    /// <summary>
    /// The host path for <paramref name="relativePath"/> under <paramref name="root"/>, following symlinks as
    /// if <paramref name="root"/> were "/": an absolute link target restarts at the root and ".." stops
    /// there, so the result never leaves the root (moby's FollowSymlinkInScope).
    /// </summary>
    public static string Resolve(string root, string relativePath, bool followFinal = true)
    {
        var pending = new List<string>(relativePath.Split('/', StringSplitOptions.RemoveEmptyEntries));
        pending.Reverse();
        var resolved = new List<string>();
        var links = 0;
        while (pending.Count > 0)
        {
            var part = pending[^1];
            pending.RemoveAt(pending.Count - 1);
            if (part == ".") continue;
            if (part == "..")
            {
                if (resolved.Count > 0) resolved.RemoveAt(resolved.Count - 1);
                continue;
            }
            var full = Path.Combine(root, Path.Combine([.. resolved, part]));
            var isFinal = pending.Count == 0;
            var target = isFinal && !followFinal ? null : new FileInfo(full).LinkTarget;
            if (target is null)
            {
                resolved.Add(part);
                continue;
            }
            if (++links > MaxSymlinks) throw new BuildException($"too many links in \"{relativePath}\"");
            if (target.StartsWith('/')) resolved.Clear();
            var parts = target.Split('/', StringSplitOptions.RemoveEmptyEntries);
            for (var i = parts.Length - 1; i >= 0; i--) pending.Add(parts[i]);
        }
        return resolved.Count == 0 ? root : Path.Combine(root, Path.Combine([.. resolved]));
    }

    /// <summary>Whether <paramref name="pattern"/> has any of Go's filepath.Match metacharacters.</summary>
    public static bool HasWildcards(string pattern) => pattern.IndexOfAny(['*', '?', '[', '\\']) >= 0;

    /// <summary>Go's filepath.Match: * and ? never match '/', [a-z] and [^a-z] classes, \ escapes.</summary>
    public static bool GoMatch(string pattern, string name)
    {
        var sb = new System.Text.StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '*': sb.Append("[^/]*"); break;
                case '?': sb.Append("[^/]"); break;
                case '\\':
                    if (i + 1 >= pattern.Length) throw new BuildException($"syntax error in pattern: {pattern}");
                    sb.Append(Regex.Escape(pattern[++i].ToString()));
                    break;
                case '[':
                {
                    var end = i + 1;
                    if (end < pattern.Length && pattern[end] == '^') end++;
                    if (end < pattern.Length && pattern[end] == ']') end++;
                    while (end < pattern.Length && pattern[end] != ']') end++;
                    if (end >= pattern.Length) throw new BuildException($"syntax error in pattern: {pattern}");
                    var body = pattern[(i + 1)..end];
                    var negate = body.StartsWith('^');
                    if (negate) body = body[1..];
                    sb.Append(negate ? "[^/" : "[").Append(body.Replace("\\", "\\\\").Replace("[", "\\[")).Append(']');
                    i = end;
                    break;
                }
                default: sb.Append(Regex.Escape(c.ToString())); break;
            }
        }
        return Regex.IsMatch(name, sb.Append('$').ToString(), RegexOptions.CultureInvariant | RegexOptions.Singleline);
    }
}
