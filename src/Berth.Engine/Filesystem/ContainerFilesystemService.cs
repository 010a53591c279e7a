using System.Formats.Tar;
using Berth.Engine.Containers;
using Berth.Engine.Images;
using Berth.Engine.Models;
using Berth.Linux;
using Berth.Storage;
using Microsoft.Win32.SafeHandles;
using static Berth.Linux.OpenFlags;

namespace Berth.Engine.Filesystem;

/// <summary>
/// A container as its filesystem operations need it. <see cref="Reference"/> is the ID or name the client
/// used (Docker's messages repeat it). <see cref="MountedRootfs"/> is where a running container's rootfs is
/// mounted on the host when the engine did not mount it with <see cref="ContainerLayer.Mount"/>; otherwise
/// leave it null and the layer is mounted (a counted mount: the running container's own, or one made for the
/// duration of the call). <see cref="User"/> is the container's Config.User (for copyUIDGID).
/// </summary>
public sealed record ContainerFilesystemTarget(string Reference, ContainerLayer Layer, string? MountedRootfs = null, bool ReadOnlyRootfs = false, string? User = null,
    IReadOnlyList<HostMount>? Mounts = null);

/// <summary>A bind mount or volume of a container: container path <see cref="Destination"/> shows host path <see cref="Source"/>.</summary>
public sealed record HostMount(string Destination, string Source, bool Writable);

/// <summary>
/// `docker diff`, `docker export` and `docker cp` (HEAD/GET/PUT /containers/{id}/archive) over a container's
/// layer. Every path is resolved inside the container's root (openat2 RESOLVE_IN_ROOT), so "../../etc" and
/// symlinks pointing out of the container stay inside it. A path inside a bind mount or volume reads and writes
/// the mount's source, as Docker's (which mounts them for the call), and a directory copied out carries the
/// mounts below it. Symlinks on the way are followed across the mounts (<see cref="ContainerPathResolver"/>), so a
/// link of the container leading into a mount reaches the mount's source.
/// </summary>
/// <remarks>
/// A container that was created but never started has no recorded mounts and, in Berth, no volumes yet (Docker makes
/// them at create). With <paramref name="volumes"/> its volumes are resolved as its first start will resolve them (the
/// named volume, made when missing; its anonymous volume per destination, which the start then reuses), so docker cp
/// reads and writes their data as Docker's does.
/// </remarks>
public sealed class ContainerFilesystemService(ISyscalls? syscalls = null, IReadOnlyCollection<string>? engineMountPoints = null,
    RuntimeSpec.IVolumeResolver? volumes = null) : IContainerFilesystemService
{
    private const ulong InRoot = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

    /// <summary>
    /// What Docker's init layer holds (mount points and files the engine makes for every container): hidden
    /// from `docker diff`, as Docker's diff never shows them.
    /// </summary>
    public static readonly IReadOnlyList<string> DefaultEngineMountPoints =
        ["/.dockerenv", "/dev/console", "/dev/pts", "/dev/shm", "/etc/hostname", "/etc/hosts", "/etc/mtab", "/etc/resolv.conf", "/proc", "/sys"];

    private readonly ISyscalls sys = syscalls ?? LinuxSyscalls.Instance;
    private readonly IReadOnlyCollection<string> hidden = engineMountPoints ?? DefaultEngineMountPoints;

    // ---- the container service's seam ----

    /// <summary>
    /// The container as the container service describes it. Docker's messages name the container as the client
    /// wrote it; the seam carries the name, which is what clients write most.
    /// </summary>
    public static ContainerFilesystemTarget Target(ContainerFilesystem container) => Target(container, null);

    private static ContainerFilesystemTarget Target(ContainerFilesystem container, RuntimeSpec.IVolumeResolver? volumes) => new(
        container.Name.TrimStart('/'), container.Layer, container.RunningRootfs, container.HostConfig.ReadonlyRootfs, container.Config.User,
        HostMounts(container, volumes) is { Count: > 0 } mounts ? mounts : null);

    /// <summary>
    /// The binds and volumes with a host source: as recorded when the container last started, else (never started)
    /// the binds of its HostConfig and, given a <paramref name="volumes"/> resolver, its volumes.
    /// </summary>
    internal static List<HostMount> HostMounts(ContainerFilesystem container, RuntimeSpec.IVolumeResolver? volumes = null)
    {
        if (container.Mounts is { Count: > 0 } recorded)
            return [.. recorded.Where(m => m.Type is "bind" or "volume" && !string.IsNullOrEmpty(m.Source) && !string.IsNullOrEmpty(m.Destination))
                .Select(m => new HostMount(Oci.SlashPath.Clean(m.Destination!), m.Source!, m.RW))];
        List<RuntimeSpec.UserMount> declared;
        try { declared = RuntimeSpec.UserMounts.Parse(container.HostConfig, container.Config.Volumes); }
        catch (InvalidParameterException) { return []; }
        var mounts = new List<HostMount>();
        foreach (var m in declared)
        {
            if (m.Type == "bind" && !string.IsNullOrEmpty(m.Source))
                mounts.Add(new HostMount(Oci.SlashPath.Clean(m.Destination), m.Source, m.Writable));
            else if (m.Type == "volume" && volumes is not null)
                mounts.Add(new HostMount(Oci.SlashPath.Clean(m.Destination), volumes.Resolve(m.VolumeName, container.Id, m.Destination, m.VolumeOptions).HostPath, m.Writable));
        }
        return mounts;
    }

    /// <summary>The container as the filesystem operations see it; volumes of a never-started container only where cp needs them.</summary>
    private ContainerFilesystemTarget CopyTarget(ContainerFilesystem container) => Target(container, container.Running ? null : volumes);

    public Task<IReadOnlyList<FilesystemChange>> ChangesAsync(ContainerFilesystem container, CancellationToken cancellationToken)
        => ChangesAsync(Target(container), cancellationToken);
    public Task ExportAsync(ContainerFilesystem container, Stream destination, CancellationToken cancellationToken)
        => ExportAsync(Target(container), destination, cancellationToken);
    public Task<ContainerPathStat> StatPathAsync(ContainerFilesystem container, string path, CancellationToken cancellationToken)
        => StatPathAsync(CopyTarget(container), path, cancellationToken);
    public Task GetArchiveAsync(ContainerFilesystem container, string path, Stream destination, CancellationToken cancellationToken)
        => GetArchiveAsync(CopyTarget(container), path, destination, cancellationToken);
    public Task PutArchiveAsync(ContainerFilesystem container, ArchiveUpload upload, Stream tar, CancellationToken cancellationToken)
        => PutArchiveAsync(CopyTarget(container), upload, tar, cancellationToken);

    // ---- diff ----

    /// <summary>`docker diff`: A/C/D (kinds 1/0/2), sorted by path, without the engine's own mount points.</summary>
    public Task<IReadOnlyList<FilesystemChange>> ChangesAsync(ContainerFilesystemTarget target, CancellationToken cancellationToken)
        => Task.Run<IReadOnlyList<FilesystemChange>>(() => HideEngineMountPoints(target.Layer.Changes()), cancellationToken);

    internal List<FilesystemChange> HideEngineMountPoints(IReadOnlyList<Change> changes)
    {
        bool IsHidden(string path) => hidden.Any(h => path == h || path.StartsWith(h + "/", StringComparison.Ordinal));
        var removed = changes.Where(c => IsHidden(c.Path)).Select(c => c.Path).ToList();
        var kept = changes.Where(c => !IsHidden(c.Path)).ToList();
        if (removed.Count > 0)
        {
            // A directory reported changed only because the engine made something in it is not a change of the user's.
            kept = [.. kept.Where(c => c.Kind != ChangeKind.Modified
                || !removed.Any(r => r.StartsWith(c.Path + "/", StringComparison.Ordinal))
                || kept.Any(o => o.Path.StartsWith(c.Path + "/", StringComparison.Ordinal)))];
        }
        return [.. kept.Select(c => new FilesystemChange { Path = c.Path, Kind = (int)c.Kind })];
    }

    // ---- export ----

    /// <summary>`docker export`: the whole filesystem as one tar.</summary>
    public Task ExportAsync(ContainerFilesystemTarget target, Stream destination, CancellationToken cancellationToken)
    {
        if (target.MountedRootfs is null)
            return StreamBridge.ProduceAsync(output => target.Layer.Export(output), destination, cancellationToken);
        return StreamBridge.ProduceAsync(output =>
        {
            using var root = sys.OpenAt(null, target.MountedRootfs, O_RDONLY | O_DIRECTORY);
            sys.Fstat(root, out var st);
            using var tar = new TarWriter(output, TarEntryFormat.Gnu, leaveOpen: true);
            new TreeTarWriter(sys, tar).WriteDirectory(root, "", st);
        }, destination, cancellationToken);
    }

    // ---- docker cp ----

    /// <summary>HEAD /containers/{id}/archive: what the path is (a final symlink is not followed; its target is reported).</summary>
    public Task<ContainerPathStat> StatPathAsync(ContainerFilesystemTarget target, string path, CancellationToken cancellationToken)
        => Task.Run(() =>
        {
            using var rootfs = Acquire(target);
            var absolute = ContainerPaths.Absolute(path);
            var resolver = new ContainerPathResolver(sys, rootfs.Path, target);
            var place = Locate(rootfs.Path, target, resolver.Resolve(absolute, followFinal: false));
            using var root = place.OpenRoot(sys);
            var (directory, name, status) = ResolveForRead(root, target, path, place.Path);
            using (directory) return Stat(absolute, status, status.IsSymlink ? resolver.Resolve(absolute, followFinal: true) : "");
        }, cancellationToken);

    /// <summary>
    /// GET /containers/{id}/archive: the path as a tar named as Docker names it — a directory "dir/…" (its
    /// contents as "./…" for "dir/."), a file or a symlink (not followed) by its base name.
    /// </summary>
    public async Task GetArchiveAsync(ContainerFilesystemTarget target, string path, Stream destination, CancellationToken cancellationToken)
    {
        using var rootfs = Acquire(target);
        var absolute = ContainerPaths.Absolute(path);
        var located = new ContainerPathResolver(sys, rootfs.Path, target).Resolve(absolute, followFinal: false);
        var place = Locate(rootfs.Path, target, located);
        using var root = place.OpenRoot(sys);
        var (directory, name, status) = ResolveForRead(root, target, path, place.Path); // a 404 before any byte is written
        using (directory)
        {
            var archiveName = ContainerPaths.Base(absolute);
            var mountsBelow = status.IsDirectory ? MountsBelow(target, located, archiveName) : null;
            await StreamBridge.ProduceAsync(output =>
            {
                using var tar = new TarWriter(output, TarEntryFormat.Gnu, leaveOpen: true);
                var writer = new TreeTarWriter(sys, tar, mountsBelow);
                if (status.IsDirectory)
                {
                    using var source = name is "" or "." ? sys.OpenAt(directory, ".", O_RDONLY | O_DIRECTORY)
                        : sys.OpenAt(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                    writer.WriteDirectory(source, archiveName, status);
                }
                else writer.Write(directory, name, archiveName);
            }, destination, cancellationToken);
        }
    }

    /// <summary>
    /// PUT /containers/{id}/archive: extracts a tar into a directory of the container (a final symlink is
    /// followed, inside the container), as Docker's errors: 404 when it does not exist, 400 when it is not a
    /// directory, 400 when it is in a read-only bind mount or volume, 403 when it is in a read-only rootfs.
    /// </summary>
    public Task PutArchiveAsync(ContainerFilesystemTarget target, ArchiveUpload upload, Stream tar, CancellationToken cancellationToken)
        => Task.Run(() =>
        {
            using var rootfs = Acquire(target);
            using var root = sys.OpenAt(null, rootfs.Path, O_PATH | O_DIRECTORY);
            var absolute = ContainerPaths.Absolute(upload.Path);
            var resolved = new ContainerPathResolver(sys, rootfs.Path, target).Resolve(absolute, followFinal: true);
            var place = Locate(rootfs.Path, target, resolved);
            using var placeRoot = place.Mount is null ? null : place.OpenRoot(sys);
            var into = placeRoot ?? root;
            using var destination = sys.TryOpenAt2(into, place.Path, O_PATH, InRoot, out _)
                ?? throw new NotFoundException($"Could not find the file {upload.Path} in container {target.Reference}");
            sys.Fstat(destination, out var status);
            if (!status.IsDirectory) throw new InvalidParameterException("extraction point is not a directory");
            if (place.Mount is { Writable: false }) throw new InvalidParameterException("mounted volume is marked read-only");
            if (place.Mount is null && target.ReadOnlyRootfs) throw new ForbiddenException("container rootfs is marked read-only");
            var owner = upload.CopyUidGid && !string.IsNullOrEmpty(target.User) ? ContainerUsers.Lookup(sys, root, target.User) : ((int, int)?)null;
            // With binds or volumes, entries below the destination may lie in them: each is placed across the mounts.
            var mounted = target.Mounts is { Count: > 0 };
            using var places = mounted ? new ExtractionPlaces(sys, rootfs.Path, target) : new ExtractionPlaces(sys, root);
            var destinationPath = mounted ? Oci.SlashPath.Clean(resolved) : InRootPath(root, destination);
            using var extractor = new TarExtractor(sys, places, destinationPath, absolute, new ExtractOptions(upload.NoOverwriteDirNonDir, owner));
            extractor.Extract(StreamBridge.BlockingReader(tar, cancellationToken), cancellationToken);
        }, cancellationToken);

    // ---- helpers ----

    /// <summary>
    /// Docker's container.ResolvePath + lstat: the directory part resolved inside the root (symlinks followed),
    /// the last element not followed. Throws Docker's 404 when any part is missing.
    /// </summary>
    private (SafeFileHandle Directory, string Name, FileStatus Status) ResolveForRead(SafeFileHandle root, ContainerFilesystemTarget target, string path, string pathInRoot)
    {
        var (directoryPath, name) = ContainerPaths.Split(pathInRoot);
        var directory = sys.TryOpenAt2(root, directoryPath, O_PATH | O_DIRECTORY, InRoot, out _)
            ?? throw new NotFoundException($"Could not find the file {path} in container {target.Reference}");
        if (!sys.Lstat(directory, name is "" ? "." : name, out var status))
        {
            directory.Dispose();
            throw new NotFoundException($"Could not find the file {path} in container {target.Reference}");
        }
        return (directory, name, status);
    }

    /// <summary>
    /// The stat header: a symlink's target fully evaluated in the container's filesystem (its mounts included), as an
    /// absolute container path (docker cp -L follows it).
    /// </summary>
    private static ContainerPathStat Stat(string absolute, in FileStatus status, string linkTarget) => new()
    {
        Name = ContainerPaths.Base(absolute),
        Size = status.Size,
        Mode = GoFileMode.FromUnix(status.Mode),
        Mtime = DockerTime.Format(status.Mtime),
        LinkTarget = linkTarget,
    };

    /// <summary>The container path of an fd opened inside the root (what its symlinks resolved to).</summary>
    private string InRootPath(SafeFileHandle root, SafeFileHandle handle)
    {
        using var fds = sys.OpenAt(null, "/proc/self/fd", O_PATH | O_DIRECTORY);
        var rootPath = sys.ReadLinkAt(fds, root.DangerousGetHandle().ToString(System.Globalization.CultureInfo.InvariantCulture));
        var path = sys.ReadLinkAt(fds, handle.DangerousGetHandle().ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (path == rootPath) return "/";
        if (rootPath == "/") return path;
        if (!path.StartsWith(rootPath + "/", StringComparison.Ordinal))
            throw new EngineFailureException($"destination {path} is not below the container's root {rootPath}");
        return path[rootPath.Length..];
    }

    /// <summary>
    /// Where a container path is on the host: below the container's root, or below the source of the bind mount or
    /// volume holding it (the innermost). <see cref="Place.Path"/> is the path inside <see cref="Place.Root"/>, with
    /// the trailing "/" or "/." the client wrote. A mount of a single file is reached through its directory.
    /// </summary>
    internal static Place Locate(string rootfs, ContainerFilesystemTarget target, string absolute)
    {
        var cleaned = Oci.SlashPath.Clean(absolute);
        HostMount? holder = null;
        foreach (var m in target.Mounts ?? [])
            if (m.Destination != "/" && (cleaned == m.Destination || cleaned.StartsWith(m.Destination + "/", StringComparison.Ordinal))
                && (holder is null || m.Destination.Length > holder.Destination.Length))
                holder = m;
        if (holder is null) return new Place(rootfs, absolute, null);
        var inner = absolute[holder.Destination.Length..];
        if (inner.Length == 0) inner = "/";
        if (inner == "/" && !Directory.Exists(holder.Source) && Path.GetDirectoryName(holder.Source.TrimEnd('/')) is { Length: > 0 } parent)
            return new Place(parent, "/" + Path.GetFileName(holder.Source.TrimEnd('/')), holder);
        return new Place(holder.Source, inner, holder);
    }

    internal sealed record Place(string Root, string Path, HostMount? Mount)
    {
        public SafeFileHandle OpenRoot(ISyscalls sys) => sys.OpenAt(null, Root, O_PATH | O_DIRECTORY);
    }

    /// <summary>
    /// The binds and volumes strictly below the container directory <paramref name="absolute"/>, by the archive name
    /// their directory gets when the directory is archived as <paramref name="archiveName"/>.
    /// </summary>
    private static Dictionary<string, string>? MountsBelow(ContainerFilesystemTarget target, string absolute, string archiveName)
    {
        if (target.Mounts is not { Count: > 0 } mounts) return null;
        var directory = Oci.SlashPath.Clean(absolute);
        var prefix = TreeTarWriter.ChildPrefix(archiveName);
        Dictionary<string, string>? below = null;
        foreach (var m in mounts)
        {
            var relative = directory == "/" ? m.Destination.TrimStart('/')
                : m.Destination.StartsWith(directory + "/", StringComparison.Ordinal) ? m.Destination[(directory.Length + 1)..] : null;
            if (string.IsNullOrEmpty(relative)) continue;
            (below ??= new(StringComparer.Ordinal))[prefix + relative] = m.Source;
        }
        return below;
    }

    private static RootfsLease Acquire(ContainerFilesystemTarget target)
    {
        if (target.MountedRootfs is { } mounted) return new RootfsLease(mounted, null);
        try { return new RootfsLease(target.Layer.Mount(), target.Layer); }
        catch (Exception e) when (e is StorageException or SyscallException or IOException)
        {
            throw new EngineFailureException($"mounting the filesystem of container {target.Reference}: {e.Message}", e);
        }
    }

    private sealed class RootfsLease(string path, ContainerLayer? mounted) : IDisposable
    {
        private ContainerLayer? mounted = mounted;
        public string Path { get; } = path;
        public void Dispose()
        {
            mounted?.Unmount();
            mounted = null;
        }
    }
}
