namespace Berth.Oci;

/// <summary>Go's path package rules for slash-separated paths, as dockerd and the Dockerfile builder apply them.</summary>
public static class SlashPath
{
    /// <summary>Go's path.Clean: collapses "//", drops ".", resolves ".." lexically, no trailing '/'; "." for empty.</summary>
    public static string Clean(string path)
    {
        if (path.Length == 0) return ".";
        var rooted = path[0] == '/';
        var parts = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part is "" or ".") continue;
            if (part == "..")
            {
                if (parts.Count > 0 && parts[^1] != "..") parts.RemoveAt(parts.Count - 1);
                else if (!rooted) parts.Add("..");
                continue;
            }
            parts.Add(part);
        }
        var joined = string.Join('/', parts);
        return rooted ? "/" + joined : joined.Length == 0 ? "." : joined;
    }
}
