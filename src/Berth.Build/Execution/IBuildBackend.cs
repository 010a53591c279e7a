using Berth.Build.Dockerfile;
using Berth.Oci.Image;

namespace Berth.Build.Execution;

/// <summary>An image as the builder sees it: its ID ("sha256:…") and config.</summary>
public sealed record BuildImage(string Id, ImageConfig Config);

/// <summary>A layer the backend made (from a RUN or from files); opaque to the builder, handed back in a commit.</summary>
public interface IBuildLayer
{
    /// <summary>False when the change was empty (Docker then records an empty_layer history entry).</summary>
    bool HasChanges { get; }
}

/// <summary>A read-only view of an image's root filesystem as a host directory, for COPY --from and checks of the tree.</summary>
public interface IRootfsView : IAsyncDisposable
{
    string Path { get; }
}

/// <summary>A RUN mount with its variables expanded; <see cref="HostSource"/> is set for bind mounts (a context or stage path).</summary>
public sealed record ResolvedMount(RunMount Mount, string? HostSource);

/// <summary>One RUN step: a container from <see cref="ImageId"/> running <see cref="Args"/>.</summary>
public sealed record RunRequest
{
    /// <summary>An ID for the step's container (64 hex); a backend whose engine names containers itself may use its own.</summary>
    public required string ContainerId { get; init; }
    /// <summary>Called with the ID of the step's container once it exists (the builder reports it as "Running in …").</summary>
    public Func<string, ValueTask> Created { get; init; } = _ => ValueTask.CompletedTask;
    public required string? ImageId { get; init; }
    public required IReadOnlyList<string> Args { get; init; }
    public required IReadOnlyList<string> Env { get; init; }
    public string User { get; init; } = "";
    public string WorkingDir { get; init; } = "/";
    /// <summary>default (the daemon's bridge), none, host, or a network name from the build's --network.</summary>
    public string Network { get; init; } = "default";
    public IReadOnlyList<ResolvedMount> Mounts { get; init; } = [];
}

/// <summary>A finished RUN: its exit code, and the change it made when it succeeded.</summary>
public sealed record RunOutcome(int ExitCode, IBuildLayer? Layer);

public enum LayerEntryKind { Directory, File, Symlink }

/// <summary>
/// One entry of a layer made from files (COPY, ADD, WORKDIR): an absolute path in the image, its kind,
/// permission bits (with setuid/setgid/sticky), owner, time, and where its bytes come from.
/// </summary>
public sealed record LayerEntry(string Path, LayerEntryKind Kind, int Mode, int Uid, int Gid, DateTimeOffset ModTime)
{
    /// <summary>A host file whose bytes are copied.</summary>
    public string? SourceFile { get; init; }
    /// <summary>Inline bytes (heredoc sources).</summary>
    public byte[]? Data { get; init; }
    public string? LinkTarget { get; init; }
}

/// <summary>A step's result to record as a new image on top of <see cref="Parent"/>.</summary>
public sealed record CommitRequest(BuildImage? Parent, ContainerConfig Config, string CreatedBy, IBuildLayer? Layer)
{
    public string? Author { get; init; }
    /// <summary>The platform for an image FROM scratch ("linux/amd64").</summary>
    public string? Platform { get; init; }
}

/// <summary>What the builder needs from an engine. The engine's real backend runs RUN steps in containers; tests use an in-memory one.</summary>
public interface IBuildBackend
{
    /// <summary>The image a FROM or COPY --from names, pulled when absent or when <paramref name="pull"/> asks; progress lines go to <paramref name="progress"/>.</summary>
    Task<BuildImage> GetImageAsync(string reference, bool pull, string? platform, Func<BuildMessage, ValueTask> progress, CancellationToken cancellationToken);
    /// <summary>An image by ID, or null when it is gone (a cache entry pointing at it is then stale).</summary>
    Task<BuildImage?> FindImageAsync(string imageId, CancellationToken cancellationToken);
    /// <summary>A read-only view of an image's files; null <paramref name="imageId"/> gives an empty tree (scratch).</summary>
    Task<IRootfsView> OpenRootfsAsync(string? imageId, CancellationToken cancellationToken);
    /// <summary>Runs a step; output (stdout and stderr as they come) goes to <paramref name="output"/>.</summary>
    Task<RunOutcome> RunAsync(RunRequest request, Func<ReadOnlyMemory<byte>, ValueTask> output, CancellationToken cancellationToken);
    Task<IBuildLayer> CreateLayerAsync(string? parentImageId, IReadOnlyList<LayerEntry> entries, CancellationToken cancellationToken);
    Task<BuildImage> CommitAsync(CommitRequest request, CancellationToken cancellationToken);
    Task TagAsync(string imageId, string reference, CancellationToken cancellationToken);
}
