using Berth.Linux;
using static Berth.Linux.OpenFlags;

namespace Berth.Engine.Filesystem;

/// <summary>
/// Docker's symlink.FollowSymlinkInScope over a container's filesystem as dockerd sees it during docker cp: the
/// container's rootfs with its binds and volumes mounted on it. Berth does not mount them for the call, so each
/// component is looked up where it lives — below the rootfs, or below the source of the innermost bind or volume
/// holding it — and a symlink is followed as a container path (an absolute target restarts at the container's "/"),
/// which lets "/link -> /data" lead into the bind mounted at /data. ".." never climbs above "/"; a missing
/// component is kept as written. Each lookup is confined to its root (openat2 RESOLVE_IN_ROOT), so nothing here
/// reads outside the container or its mounts.
/// </summary>
internal sealed class ContainerPathResolver(ISyscalls sys, string rootfs, ContainerFilesystemTarget target)
{
    private const ulong InRoot = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

    /// <summary>
    /// The path with every directory component resolved; the last element is resolved too unless
    /// <paramref name="followFinal"/> is false. A trailing "/" or "/." of <paramref name="absolute"/> (the form
    /// <see cref="ContainerPaths.Absolute"/> gives) is kept, and makes the last element a directory component, as
    /// Go's filepath.Split makes it in Docker's container.ResolvePath.
    /// </summary>
    public string Resolve(string absolute, bool followFinal)
    {
        var suffix = absolute.EndsWith("/.", StringComparison.Ordinal) ? "/." : absolute.Length > 1 && absolute.EndsWith('/') ? "/" : "";
        var body = absolute[..^suffix.Length];
        string resolved;
        if (suffix.Length > 0 || followFinal) resolved = ResolveAll(body);
        else
        {
            var (directory, name) = ContainerPaths.Split(body);
            var parent = ResolveAll(directory);
            resolved = name.Length == 0 ? parent : parent == "/" ? "/" + name : parent + "/" + name;
        }
        if (suffix.Length == 0) return resolved;
        return resolved == "/" ? (suffix == "/." ? "/." : "/") : resolved + suffix;
    }

    // Docker's words (it names the host path; the container path says the same without showing the host).
    private string ResolveAll(string path) =>
        PathInRoot.Walk(path, ReadLinkOrNull, current => new EngineFailureException($"evalSymlinksInScope: too many links in {current}"));

    /// <summary>The target of the symlink at a symlink-free container path, or null when it is something else or missing.</summary>
    private string? ReadLinkOrNull(string containerPath)
    {
        var place = ContainerFilesystemService.Locate(rootfs, target, containerPath);
        var (directory, name) = ContainerPaths.Split(place.Path);
        if (name.Length == 0) return null; // a mount's root: what the mount shows is a directory, never a link
        using var root = OpenRootOrNull(place.Root);
        if (root is null) return null;
        using var parent = sys.TryOpenAt2(root, directory, O_PATH | O_DIRECTORY, InRoot, out _);
        if (parent is null || !sys.Lstat(parent, name, out var status) || !status.IsSymlink) return null;
        return sys.ReadLinkAt(parent, name);
    }

    /// <summary>The directory as an O_PATH handle, or null when it is missing (a bind whose source went away).</summary>
    private Microsoft.Win32.SafeHandles.SafeFileHandle? OpenRootOrNull(string directory)
    {
        try { return sys.OpenAt(null, directory, O_PATH | O_DIRECTORY); }
        catch (SyscallException) { return null; }
    }
}
