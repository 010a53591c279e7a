using Berth.Engine.Models;
using Berth.Oci.Image;
using Berth.Storage;

namespace Berth.Engine.Containers;

/// <summary>An image resolved for a container: its ID, its config, and the chain its layer sits on.</summary>
public sealed record ResolvedImage(string Id, ImageConfig Config, string? ChainId);

/// <summary>How the container service finds images (the image store in berthd, a fake in tests).</summary>
public interface IContainerImages
{
    /// <summary>Resolves a reference or ID; throws <see cref="NotFoundException"/> ("No such image: X") or 400 for a malformed reference.</summary>
    ResolvedImage Resolve(string reference);

    /// <summary>The image's size (its layers' bytes); 0 when it is gone.</summary>
    long Size(string imageId);
}

/// <summary>Everything the spec builder needs for one run of a container.</summary>
public sealed record SpecContext(
    ContainerRecord Container,
    ImageConfig? Image,
    /// <summary>The mounted root filesystem (absolute).</summary>
    string RootfsPath,
    /// <summary>A network namespace to join (from the network room), or null for a new one.</summary>
    string? NetworkNamespacePath,
    /// <summary>Where the spec writes the container's /etc/hostname, /etc/hosts and /etc/resolv.conf (all in data-root/containers/ID).</summary>
    string HostnamePath,
    string HostsPath,
    string ResolvConfPath,
    /// <summary>
    /// Namespaces of other running containers to join for NetworkMode/PidMode/IpcMode <c>container:X</c>, by OCI type
    /// ("network", "pid", "ipc") → /proc/PID/ns/… of X's init.
    /// </summary>
    IReadOnlyDictionary<string, string>? JoinNamespaces = null);

/// <summary>The spec room as the container service uses it.</summary>
public interface IContainerSpecFactory
{
    /// <summary>Create-time validation with Docker's messages (throws <see cref="InvalidParameterException"/>); returns warnings.</summary>
    IReadOnlyList<string> Validate(ContainerCreateRequest request, ImageConfig? image);

    /// <summary>The OCI config.json for one run.</summary>
    Oci.Runtime.Spec Build(SpecContext context);

    /// <summary>A container's resources as OCI resources (for `docker update` on a running container).</summary>
    Oci.Runtime.Resources Resources(Models.Resources resources);

    /// <summary>The Mounts inspect shows from create on (Docker registers the mount points at create); null: none until
    /// the first start.</summary>
    List<MountPoint>? MountPointsAtCreate(ContainerRecord record) => null;
}

/// <summary>What the network room gives a container at start: a namespace to join, its addresses, its nameservers.</summary>
public sealed record NetworkAttachment(string? NamespacePath, IReadOnlyList<string>? Addresses = null, IReadOnlyList<string>? Nameservers = null)
{
    /// <summary>
    /// When the namespace at <see cref="NamespacePath"/> is still being made (on a thread of its own): the start prepares
    /// everything else meanwhile and awaits this before the runtime joins the path. Null when it is ready.
    /// </summary>
    public Task? Ready { get; init; }
}

/// <summary>
/// The network room's seam: called before a container's spec is built (to make its namespace and endpoints;
/// it may fill Record.NetworkSettings) and after it stops. NetworkMode none/host are the spec's business.
/// </summary>
public interface INetworkAttacher
{
    Task<NetworkAttachment> AttachAsync(ContainerRecord container, CancellationToken cancellationToken);
    Task DetachAsync(ContainerRecord container, CancellationToken cancellationToken);
}

/// <summary>No networking beyond the spec's own (a fresh namespace with loopback).</summary>
public sealed class NoNetworkAttacher : INetworkAttacher
{
    public static readonly NoNetworkAttacher Instance = new();
    public Task<NetworkAttachment> AttachAsync(ContainerRecord container, CancellationToken cancellationToken) => Task.FromResult(new NetworkAttachment(null));
    public Task DetachAsync(ContainerRecord container, CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>A container's filesystem as the image and filesystem rooms see it (diff, export, cp, commit).</summary>
public sealed record ContainerFilesystem(
    string Id,
    /// <summary>With the leading '/'.</summary>
    string Name,
    ContainerLayer Layer,
    /// <summary>The rootfs as the running container sees it (mounted by the engine), or null when it is not running: then mount the layer.</summary>
    string? RunningRootfs,
    bool Running,
    bool Paused,
    /// <summary>The image ID ("sha256:…"), or empty.</summary>
    string Image,
    Models.ContainerConfig Config,
    HostConfig HostConfig,
    /// <summary>The container's binds and volumes as inspect shows them (docker cp reads and writes their sources).</summary>
    IReadOnlyList<MountPoint>? Mounts = null);

/// <summary>How other rooms find containers without the container service's locks.</summary>
public interface IContainerDirectory
{
    /// <summary>Docker's lookup (ID, name, unique prefix); throws <see cref="NotFoundException"/>.</summary>
    ContainerFilesystem Filesystem(string idOrName);
}

/// <summary>Paths and switches of the daemon the container service runs in.</summary>
public sealed class ContainerEngineSettings
{
    public required string DataRoot { get; init; }
    public required string ExecRoot { get; init; }
    public string DefaultRuntime { get; init; } = "berth";
    /// <summary>Runtime name → executable.</summary>
    public IReadOnlyDictionary<string, string> Runtimes { get; init; } = new Dictionary<string, string>();
    public bool LiveRestore { get; init; }
    /// <summary>Containers' state directories, bundles and runtime roots under ExecRoot on tmpfs mounts berthd makes.</summary>
    public bool ExecStateOnTmpfs { get; init; }
    public string StorageDriver { get; init; } = "overlay2";
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>
/// The filesystem room's side of diff, export and docker cp. The container service finds the container
/// (and whether it runs) and calls these; <see cref="BuiltInContainerFilesystemService"/> serves diff and
/// export from the layer alone until the full room is plugged in.
/// </summary>
public interface IContainerFilesystemService
{
    Task<IReadOnlyList<FilesystemChange>> ChangesAsync(ContainerFilesystem container, CancellationToken cancellationToken);
    Task ExportAsync(ContainerFilesystem container, Stream destination, CancellationToken cancellationToken);
    Task<ContainerPathStat> StatPathAsync(ContainerFilesystem container, string path, CancellationToken cancellationToken);
    Task GetArchiveAsync(ContainerFilesystem container, string path, Stream destination, CancellationToken cancellationToken);
    Task PutArchiveAsync(ContainerFilesystem container, ArchiveUpload upload, Stream tar, CancellationToken cancellationToken);
}

public sealed class BuiltInContainerFilesystemService : IContainerFilesystemService
{
    public Task<IReadOnlyList<FilesystemChange>> ChangesAsync(ContainerFilesystem container, CancellationToken cancellationToken)
        => Task.Run(() => (IReadOnlyList<FilesystemChange>)[.. container.Layer.Changes().Select(c => new FilesystemChange { Path = c.Path, Kind = (int)c.Kind })], cancellationToken);

    public Task ExportAsync(ContainerFilesystem container, Stream destination, CancellationToken cancellationToken)
        => Task.Run(() => container.Layer.Export(destination), cancellationToken);

    public Task<ContainerPathStat> StatPathAsync(ContainerFilesystem container, string path, CancellationToken cancellationToken) => throw new NotImplementedYetException("container archives");
    public Task GetArchiveAsync(ContainerFilesystem container, string path, Stream destination, CancellationToken cancellationToken) => throw new NotImplementedYetException("container archives");
    public Task PutArchiveAsync(ContainerFilesystem container, ArchiveUpload upload, Stream tar, CancellationToken cancellationToken) => throw new NotImplementedYetException("container archives");
}

/// <summary>Reads a container's json-file log (the shim room's reader in berthd).</summary>
public interface IContainerLogReader
{
    /// <summary>
    /// Entries of the log at <paramref name="logPath"/> per <paramref name="options"/>; when following, new
    /// entries until <paramref name="runEnded"/> completes (the container stopped) or the caller cancels.
    /// </summary>
    IAsyncEnumerable<OutputChunk> ReadAsync(string logPath, LogsOptions options, Task runEnded, CancellationToken cancellationToken);
}
