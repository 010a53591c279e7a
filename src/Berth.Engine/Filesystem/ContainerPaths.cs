using Berth.Oci;

namespace Berth.Engine.Filesystem;

/// <summary>
/// Go's path rules as the docker CLI and dockerd apply them to container paths (filepath.Join, Clean, Base,
/// Split and archive.PreserveTrailingDotOrSeparator), so names and rebasing match Docker's byte for byte.
/// </summary>
internal static class ContainerPaths
{
    /// <summary>
    /// The path as an absolute, cleaned container path, keeping a trailing "/" or "/." the client wrote (it
    /// changes what cp copies: "dir/." is the directory's contents). ".." never climbs above "/".
    /// </summary>
    public static string Absolute(string path)
    {
        var cleaned = SlashPath.Clean("/" + path);
        if (path.EndsWith("/.", StringComparison.Ordinal) || path == ".")
            return cleaned == "/" ? "/." : cleaned + "/.";
        if (path.EndsWith('/') && cleaned != "/") return cleaned + "/";
        return cleaned;
    }

    /// <summary>Go's filepath.Base: the last element, trailing slashes ignored; "/" for the root, "." for empty.</summary>
    public static string Base(string path)
    {
        if (path.Length == 0) return ".";
        var trimmed = path.TrimEnd('/');
        if (trimmed.Length == 0) return "/";
        var slash = trimmed.LastIndexOf('/');
        return slash < 0 ? trimmed : trimmed[(slash + 1)..];
    }

    /// <summary>Go's filepath.Split: everything up to and including the last slash, and the rest.</summary>
    public static (string Directory, string File) Split(string path)
    {
        var slash = path.LastIndexOf('/');
        return (path[..(slash + 1)], path[(slash + 1)..]);
    }

    /// <summary>
    /// A tar entry name as a path relative to the extraction directory, or null when it climbs out of it
    /// (Docker's breakout check). "" is the directory itself.
    /// </summary>
    public static string? RelativeInside(string entryName)
    {
        var parts = new List<string>();
        foreach (var part in entryName.Split('/'))
        {
            if (part is "" or ".") continue;
            if (part == "..")
            {
                if (parts.Count == 0) return null;
                parts.RemoveAt(parts.Count - 1);
                continue;
            }
            parts.Add(part);
        }
        return string.Join('/', parts);
    }
}

/// <summary>Go's os.FileMode bits, as the X-Docker-Container-Path-Stat header carries them.</summary>
internal static class GoFileMode
{
    private const uint ModeDir = 1u << 31, ModeSymlink = 1u << 27, ModeDevice = 1u << 26, ModeNamedPipe = 1u << 25,
        ModeSocket = 1u << 24, ModeSetuid = 1u << 23, ModeSetgid = 1u << 22, ModeCharDevice = 1u << 21, ModeSticky = 1u << 20;

    public static uint FromUnix(int mode)
    {
        var result = (uint)mode & 0x1FF;
        if ((mode & 0x800) != 0) result |= ModeSetuid;
        if ((mode & 0x400) != 0) result |= ModeSetgid;
        if ((mode & 0x200) != 0) result |= ModeSticky;
        result |= (mode & Berth.Linux.FileTypes.S_IFMT) switch
        {
            Berth.Linux.FileTypes.S_IFDIR => ModeDir,
            Berth.Linux.FileTypes.S_IFLNK => ModeSymlink,
            Berth.Linux.FileTypes.S_IFIFO => ModeNamedPipe,
            Berth.Linux.FileTypes.S_IFSOCK => ModeSocket,
            Berth.Linux.FileTypes.S_IFBLK => ModeDevice,
            Berth.Linux.FileTypes.S_IFCHR => ModeDevice | ModeCharDevice,
            _ => 0,
        };
        return result;
    }
}
