using System.Runtime.CompilerServices;
using Berth.Engine.Models;

namespace Berth.Engine;

// Services whose every operation answers 501 "… is not implemented yet". berthd serves them until the
// engine lands; tests derive from them and override only what they exercise.

public class UnimplementedContainerService : IContainerService
{
    protected static EngineException Missing(string what) => new NotImplementedYetException(what);
    public virtual Task<IReadOnlyList<ContainerSummary>> ListAsync(ContainerListOptions options, CancellationToken cancellationToken) => throw Missing("listing containers");
    public virtual Task<ContainerCreateResponse> CreateAsync(string? name, string? platform, ContainerCreateRequest request, CancellationToken cancellationToken) => throw Missing("creating containers");
    public virtual Task<ContainerInspect> InspectAsync(string idOrName, bool size, CancellationToken cancellationToken) => throw Missing("inspecting containers");
    public virtual Task StartAsync(string idOrName, CancellationToken cancellationToken) => throw Missing("starting containers");
    public virtual Task StopAsync(string idOrName, int? timeoutSeconds, string? signal, CancellationToken cancellationToken) => throw Missing("stopping containers");
    public virtual Task RestartAsync(string idOrName, int? timeoutSeconds, string? signal, CancellationToken cancellationToken) => throw Missing("restarting containers");
    public virtual Task KillAsync(string idOrName, string? signal, CancellationToken cancellationToken) => throw Missing("killing containers");
    public virtual Task PauseAsync(string idOrName, CancellationToken cancellationToken) => throw Missing("pausing containers");
    public virtual Task UnpauseAsync(string idOrName, CancellationToken cancellationToken) => throw Missing("unpausing containers");
    public virtual Task<Task<ContainerWaitResponse>> WaitAsync(string idOrName, WaitCondition condition, CancellationToken cancellationToken) => throw Missing("waiting for containers");
    public virtual Task RemoveAsync(string idOrName, bool force, bool removeVolumes, bool removeLink, CancellationToken cancellationToken) => throw Missing("removing containers");
    public virtual Task<LogReader> LogsAsync(string idOrName, LogsOptions options, CancellationToken cancellationToken) => throw Missing("container logs");
    public virtual Task<IStdioSession> AttachAsync(string idOrName, AttachOptions options, CancellationToken cancellationToken) => throw Missing("attaching to containers");
    public virtual Task ResizeAsync(string idOrName, int height, int width, CancellationToken cancellationToken) => throw Missing("resizing container terminals");
    public virtual Task<ContainerTopResponse> TopAsync(string idOrName, string? psArgs, CancellationToken cancellationToken) => throw Missing("listing container processes");
    public virtual IAsyncEnumerable<ContainerStats> StatsAsync(string idOrName, bool stream, bool oneShot, CancellationToken cancellationToken) => Unimplemented.Throwing<ContainerStats>("container stats");
    public virtual Task<IReadOnlyList<FilesystemChange>> ChangesAsync(string idOrName, CancellationToken cancellationToken) => throw Missing("container changes");
    public virtual Task ExportAsync(string idOrName, Stream destination, CancellationToken cancellationToken) => throw Missing("exporting containers");
    public virtual Task<ContainerPathStat> StatPathAsync(string idOrName, string path, CancellationToken cancellationToken) => throw Missing("container archives");
    public virtual Task GetArchiveAsync(string idOrName, string path, Stream destination, CancellationToken cancellationToken) => throw Missing("container archives");
    public virtual Task PutArchiveAsync(string idOrName, ArchiveUpload upload, Stream tar, CancellationToken cancellationToken) => throw Missing("container archives");
    public virtual Task RenameAsync(string idOrName, string newName, CancellationToken cancellationToken) => throw Missing("renaming containers");
    public virtual Task<ContainerUpdateResponse> UpdateAsync(string idOrName, ContainerUpdateRequest update, CancellationToken cancellationToken) => throw Missing("updating containers");
    public virtual Task<ContainerPruneResponse> PruneAsync(Filters filters, CancellationToken cancellationToken) => throw Missing("pruning containers");
}

public class UnimplementedExecService : IExecService
{
    private static EngineException Missing(string what) => new NotImplementedYetException(what);
    public virtual Task<IdResponse> CreateAsync(string containerIdOrName, ExecConfig config, CancellationToken cancellationToken) => throw Missing("exec");
    public virtual Task<IStdioSession?> StartAsync(string execId, ExecStartConfig config, CancellationToken cancellationToken) => throw Missing("exec");
    public virtual Task<ExecInspect> InspectAsync(string execId, CancellationToken cancellationToken) => throw Missing("exec");
    public virtual Task ResizeAsync(string execId, int height, int width, CancellationToken cancellationToken) => throw Missing("exec");
}

public class UnimplementedImageService : IImageService
{
    private static EngineException Missing(string what) => new NotImplementedYetException(what);
    public virtual Task<IReadOnlyList<ImageSummary>> ListAsync(ImageListOptions options, CancellationToken cancellationToken) => throw Missing("listing images");
    public virtual Task<ImageInspect> InspectAsync(string name, CancellationToken cancellationToken) => throw Missing("inspecting images");
    public virtual Task<IReadOnlyList<HistoryResponseItem>> HistoryAsync(string name, CancellationToken cancellationToken) => throw Missing("image history");
    public virtual Task TagAsync(string name, string repository, string? tag, CancellationToken cancellationToken) => throw Missing("tagging images");
    public virtual Task<IReadOnlyList<ImageDeleteResponseItem>> RemoveAsync(string name, bool force, bool noPrune, CancellationToken cancellationToken) => throw Missing("removing images");
    public virtual Task<ImagePruneResponse> PruneAsync(Filters filters, CancellationToken cancellationToken) => throw Missing("pruning images");
    public virtual IAsyncEnumerable<JsonMessage> LoadAsync(Stream tar, bool quiet, CancellationToken cancellationToken) => Unimplemented.Throwing<JsonMessage>("loading images");
    public virtual Task SaveAsync(IReadOnlyList<string> names, Stream destination, CancellationToken cancellationToken) => throw Missing("saving images");
    public virtual IAsyncEnumerable<JsonMessage> ImportAsync(Stream tar, ImageImportOptions options, CancellationToken cancellationToken) => Unimplemented.Throwing<JsonMessage>("importing images");
    public virtual Task<IdResponse> CommitAsync(CommitOptions options, CancellationToken cancellationToken) => throw Missing("committing containers");
}

public class UnimplementedSystemService : ISystemService
{
    private static EngineException Missing(string what) => new NotImplementedYetException(what);
    public virtual Task<SystemInfo> InfoAsync(CancellationToken cancellationToken) => throw Missing("info");
    public virtual Task<SystemVersion> VersionAsync(CancellationToken cancellationToken) => throw Missing("version");
    public virtual Task<SystemDiskUsage> DiskUsageAsync(CancellationToken cancellationToken) => throw Missing("disk usage");
    public virtual IAsyncEnumerable<EventMessage> EventsAsync(EventsOptions options, CancellationToken cancellationToken) => Unimplemented.Throwing<EventMessage>("events");
}

internal static class Unimplemented
{
    /// <summary>A sequence that fails with 501 when first read (so the API can still answer with a status code).</summary>
    public static async IAsyncEnumerable<T> Throwing<T>(string what, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await Task.CompletedTask;
        if (what.Length >= 0) throw new NotImplementedYetException(what);
        yield break;
    }
}

/// <summary>An engine assembled from the given services (any left out answer 501).</summary>
public sealed class CompositeEngine(
    IContainerService? containers = null, IExecService? exec = null, IImageService? images = null, ISystemService? system = null) : IEngine
{
    public IContainerService Containers { get; } = containers ?? new UnimplementedContainerService();
    public IExecService Exec { get; } = exec ?? new UnimplementedExecService();
    public IImageService Images { get; } = images ?? new UnimplementedImageService();
    public ISystemService System { get; } = system ?? new UnimplementedSystemService();
}
