using Berth.Linux;
using Microsoft.Win32.SafeHandles;
using static Berth.Linux.OpenFlags;

namespace Berth.Engine.Filesystem;

/// <summary>
/// Where the entries of a tar extracted into a container go: the root an entry lies in (the container's rootfs, or the
/// source of a bind or volume, which dockerd has mounted on the rootfs while it extracts) and the entry's path there.
/// Without mounts everything is in the one root and a path is taken as it is (openat2 RESOLVE_IN_ROOT follows its
/// symlinks inside that root). With mounts, an entry's directory is resolved across them first
/// (<see cref="ContainerPathResolver"/>), so "data/new.txt" extracted at "/" goes into the bind mounted at /data and a
/// link of the container leads into a mount, as with Docker.
/// </summary>
internal sealed class ExtractionPlaces : IDisposable
{
    private readonly ISyscalls sys;
    private readonly SafeFileHandle? single;
    private readonly string? rootfs;
    private readonly ContainerFilesystemTarget? target;
    private readonly ContainerPathResolver? resolver;
    private readonly Dictionary<string, SafeFileHandle> roots = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> resolvedDirectories = new(StringComparer.Ordinal);

    /// <summary>Everything in <paramref name="root"/> (not owned).</summary>
    public ExtractionPlaces(ISyscalls sys, SafeFileHandle root)
    {
        this.sys = sys;
        single = root;
    }

    /// <summary>The rootfs with the target's binds and volumes.</summary>
    public ExtractionPlaces(ISyscalls sys, string rootfs, ContainerFilesystemTarget target)
    {
        this.sys = sys;
        this.rootfs = rootfs;
        this.target = target;
        resolver = new ContainerPathResolver(sys, rootfs, target);
    }

    /// <summary>
    /// The root holding the entry at container path <paramref name="path"/> (absolute, clean), the entry's path in it
    /// ("/" when the entry is that mount's root itself) and the mount, if it is one.
    /// </summary>
    public (SafeFileHandle Root, string Path, HostMount? Mount) Entry(string path)
    {
        if (single is not null) return (single, path, null);
        var (directory, name) = ContainerPaths.Split(path);
        if (!resolvedDirectories.TryGetValue(directory, out var resolved))
            resolvedDirectories[directory] = resolved = Oci.SlashPath.Clean(resolver!.Resolve(directory, followFinal: true));
        var place = ContainerFilesystemService.Locate(rootfs!, target!, resolved == "/" ? "/" + name : resolved + "/" + name);
        if (!roots.TryGetValue(place.Root, out var root))
            roots[place.Root] = root = sys.OpenAt(null, place.Root, O_PATH | O_DIRECTORY);
        return (root, Oci.SlashPath.Clean(place.Path), place.Mount);
    }

    /// <summary>A symlink was made or something removed: directories may now resolve elsewhere.</summary>
    public void Changed() => resolvedDirectories.Clear();

    public void Dispose()
    {
        foreach (var root in roots.Values) root.Dispose();
        roots.Clear();
    }
}
