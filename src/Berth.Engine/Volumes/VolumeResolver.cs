using System.Collections.Concurrent;
using Berth.Engine.Models;
using Berth.Engine.RuntimeSpec;
using Berth.Linux;
using static Berth.Linux.OpenFlags;

namespace Berth.Engine.Volumes;

/// <summary>
/// The spec room's <see cref="IVolumeResolver"/> over a <see cref="VolumeStore"/>: named volumes are made on first use,
/// anonymous ones (image VOLUME, bare `-v /path`) once per container and destination, and a volume that is still empty
/// is filled from the image's content at its destination (Docker's copy-up) unless the mount says nocopy. The rootfs
/// to copy from is announced per build with <see cref="BeginBuild"/>; what was resolved is read back with
/// <see cref="EndBuild"/> for the container's Mounts.
/// </summary>
public sealed class VolumeResolver(VolumeStore store, ISyscalls? sys = null) : IVolumeResolver
{
    private readonly ISyscalls _sys = sys ?? LinuxSyscalls.Instance;
    private readonly ConcurrentDictionary<string, Build> _builds = new(StringComparer.Ordinal);

    private sealed class Build(string rootfs)
    {
        public string Rootfs { get; } = rootfs;
        public Dictionary<string, (string Name, string Path)> Resolved { get; } = new(StringComparer.Ordinal);
    }

    public VolumeStore Store => store;

    public void BeginBuild(string containerId, string rootfsPath) => _builds[containerId] = new Build(rootfsPath);

    /// <summary>Destination → (volume name, host path) of the volumes resolved since <see cref="BeginBuild"/>.</summary>
    public IReadOnlyDictionary<string, (string Name, string Path)> EndBuild(string containerId)
        => _builds.TryRemove(containerId, out var b) ? b.Resolved : new Dictionary<string, (string, string)>();

    public (string Name, string HostPath) Resolve(string? name, string containerId, string destination, VolumeOptions? options)
    {
        var (volume, path) = name is null
            ? store.UseAnonymous(containerId, destination)
            : store.Use(name, containerId, options?.DriverConfig?.Options is { Count: > 0 } o ? o : null, options?.Labels);
        if (_builds.TryGetValue(containerId, out var build))
        {
            if (options?.NoCopy != true) CopyUp(build.Rootfs, destination, path);
            lock (build) build.Resolved[destination] = (volume, path);
        }
        return (volume, path);
    }

    /// <summary>Copies the image's content at <paramref name="destination"/> into an empty volume; the path is resolved
    /// inside the rootfs (a symlink in the image cannot point the copy at the host).</summary>
    private void CopyUp(string rootfs, string destination, string volumePath)
    {
        if (!Directory.Exists(volumePath) || Directory.EnumerateFileSystemEntries(volumePath).Any()) return;
        using var root = _sys.OpenAt(null, rootfs, O_PATH | O_DIRECTORY);
        using var source = _sys.TryOpenAt2(root, destination.TrimStart('/'), O_PATH | O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, out _);
        if (source is null) return; // nothing in the image there: the runtime makes the mount point
        var from = $"/proc/self/fd/{source.DangerousGetHandle()}";
        if (!Directory.EnumerateFileSystemEntries(from).Any()) return;
        try { _sys.CopyTree(from, volumePath); }
        catch (Exception e) when (e is SyscallException or IOException or UnauthorizedAccessException)
        {
            throw new EngineFailureException($"failed to copy image content at {destination} into its volume: {e.Message}", e);
        }
    }
}
