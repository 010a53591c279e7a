using Berth.Engine.Models;

namespace Berth.Engine;

/// <summary>The engine as the Docker Engine API sees it. Every method reports client errors as <see cref="EngineException"/>s.</summary>
public interface IEngine
{
    IContainerService Containers { get; }
    IExecService Exec { get; }
    IImageService Images { get; }
    ISystemService System { get; }
    /// <summary>The /networks routes; engines without networking answer 501.</summary>
    Networks.INetworkService Networks => Berth.Engine.Networks.UnavailableNetworks.Instance;
    /// <summary>The /volumes routes; engines without volumes answer 501.</summary>
    Volumes.IVolumeService Volumes => Berth.Engine.Volumes.UnavailableVolumes.Instance;
    /// <summary>POST /build (the classic builder); engines without one answer 501.</summary>
    Build.IBuildService Build => Berth.Engine.Build.BuildServices.For(this);
}

/// <summary>Docker's filters query parameter, decoded: filter name → accepted values.</summary>
public sealed class Filters
{
    public static readonly Filters None = new(new Dictionary<string, List<string>>());
    public IReadOnlyDictionary<string, List<string>> Values { get; }
    public Filters(IReadOnlyDictionary<string, List<string>> values) => Values = values;
    public bool Has(string name) => Values.ContainsKey(name);
    public IReadOnlyList<string> Get(string name) => Values.TryGetValue(name, out var v) ? v : [];
}

public sealed record ContainerListOptions(bool All, int Limit, bool Size, Filters Filters);

public enum WaitCondition { NotRunning, NextExit, Removed }

public enum StdStream : byte { Stdin = 0, Stdout = 1, Stderr = 2 }

/// <summary>A piece of a container's output; <see cref="Time"/> is set for log entries.</summary>
public readonly record struct OutputChunk(StdStream Stream, ReadOnlyMemory<byte> Data, DateTimeOffset Time = default);

public sealed record LogsOptions(bool Follow, bool Stdout, bool Stderr, DateTimeOffset? Since, DateTimeOffset? Until, bool Timestamps, int? Tail);

/// <summary>A container's log: whether it was written by a TTY (then it is raw, one stream) and its entries.</summary>
public sealed record LogReader(bool Tty, IAsyncEnumerable<OutputChunk> Entries);

public sealed record AttachOptions(bool Stdin, bool Stdout, bool Stderr, bool Stream, bool Logs, string? DetachKeys);

/// <summary>
/// A live connection to a process's stdio (attach, exec start). Output ends when the process's
/// streams close; disposing detaches without stopping the process.
/// </summary>
public interface IStdioSession : IAsyncDisposable
{
    bool Tty { get; }
    IAsyncEnumerable<OutputChunk> Output { get; }
    ValueTask WriteStdinAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);
    /// <summary>The client closed its side: the process sees end-of-file on stdin (StdinOnce).</summary>
    ValueTask CloseStdinAsync();
}

public sealed record ArchiveUpload(string Path, bool NoOverwriteDirNonDir, bool CopyUidGid);

public interface IContainerService
{
    Task<IReadOnlyList<ContainerSummary>> ListAsync(ContainerListOptions options, CancellationToken cancellationToken);
    Task<ContainerCreateResponse> CreateAsync(string? name, string? platform, ContainerCreateRequest request, CancellationToken cancellationToken);
    Task<ContainerInspect> InspectAsync(string idOrName, bool size, CancellationToken cancellationToken);
    /// <summary>Throws <see cref="NotModifiedException"/> when the container is already running.</summary>
    Task StartAsync(string idOrName, CancellationToken cancellationToken);
    /// <summary>Throws <see cref="NotModifiedException"/> when the container is not running.</summary>
    Task StopAsync(string idOrName, int? timeoutSeconds, string? signal, CancellationToken cancellationToken);
    Task RestartAsync(string idOrName, int? timeoutSeconds, string? signal, CancellationToken cancellationToken);
    Task KillAsync(string idOrName, string? signal, CancellationToken cancellationToken);
    Task PauseAsync(string idOrName, CancellationToken cancellationToken);
    Task UnpauseAsync(string idOrName, CancellationToken cancellationToken);
    /// <summary>
    /// Registers a wait and returns once it is registered (so the API can send its headers, as Docker does);
    /// the inner task completes when the condition is met.
    /// </summary>
    Task<Task<ContainerWaitResponse>> WaitAsync(string idOrName, WaitCondition condition, CancellationToken cancellationToken);
    Task RemoveAsync(string idOrName, bool force, bool removeVolumes, bool removeLink, CancellationToken cancellationToken);
    Task<LogReader> LogsAsync(string idOrName, LogsOptions options, CancellationToken cancellationToken);
    Task<IStdioSession> AttachAsync(string idOrName, AttachOptions options, CancellationToken cancellationToken);
    Task ResizeAsync(string idOrName, int height, int width, CancellationToken cancellationToken);
    Task<ContainerTopResponse> TopAsync(string idOrName, string? psArgs, CancellationToken cancellationToken);
    /// <summary>One sample when <paramref name="stream"/> is false (two reads apart unless <paramref name="oneShot"/>), else until cancelled.</summary>
    IAsyncEnumerable<ContainerStats> StatsAsync(string idOrName, bool stream, bool oneShot, CancellationToken cancellationToken);
    Task<IReadOnlyList<FilesystemChange>> ChangesAsync(string idOrName, CancellationToken cancellationToken);
    /// <summary>Writes the container's filesystem as a tar to <paramref name="destination"/>; throws before writing when the container is unknown.</summary>
    Task ExportAsync(string idOrName, Stream destination, CancellationToken cancellationToken);
    Task<ContainerPathStat> StatPathAsync(string idOrName, string path, CancellationToken cancellationToken);
    /// <summary>Writes <paramref name="path"/> (file or directory) as a tar to <paramref name="destination"/>.</summary>
    Task GetArchiveAsync(string idOrName, string path, Stream destination, CancellationToken cancellationToken);
    Task PutArchiveAsync(string idOrName, ArchiveUpload upload, Stream tar, CancellationToken cancellationToken);
    Task RenameAsync(string idOrName, string newName, CancellationToken cancellationToken);
    Task<ContainerUpdateResponse> UpdateAsync(string idOrName, ContainerUpdateRequest update, CancellationToken cancellationToken);
    Task<ContainerPruneResponse> PruneAsync(Filters filters, CancellationToken cancellationToken);
}

public interface IExecService
{
    Task<IdResponse> CreateAsync(string containerIdOrName, ExecConfig config, CancellationToken cancellationToken);
    /// <summary>Starts the exec; returns null when detached, else its stdio.</summary>
    Task<IStdioSession?> StartAsync(string execId, ExecStartConfig config, CancellationToken cancellationToken);
    Task<ExecInspect> InspectAsync(string execId, CancellationToken cancellationToken);
    Task ResizeAsync(string execId, int height, int width, CancellationToken cancellationToken);
}

public sealed record ImageListOptions(bool All, Filters Filters, bool SharedSize, bool Digests);

public sealed record ImageImportOptions(string? Repository, string? Tag, string? Message, IReadOnlyList<string> Changes, string? Platform);

public sealed record CommitOptions(string Container, string? Repository, string? Tag, string? Comment, string? Author, bool Pause, IReadOnlyList<string> Changes, ContainerConfig? Config);

public interface IImageService
{
    Task<IReadOnlyList<ImageSummary>> ListAsync(ImageListOptions options, CancellationToken cancellationToken);
    Task<ImageInspect> InspectAsync(string name, CancellationToken cancellationToken);
    Task<IReadOnlyList<HistoryResponseItem>> HistoryAsync(string name, CancellationToken cancellationToken);
    Task TagAsync(string name, string repository, string? tag, CancellationToken cancellationToken);
    Task<IReadOnlyList<ImageDeleteResponseItem>> RemoveAsync(string name, bool force, bool noPrune, CancellationToken cancellationToken);
    Task<ImagePruneResponse> PruneAsync(Filters filters, CancellationToken cancellationToken);
    /// <summary>Loads a docker-archive (or OCI layout) tar; progress lines such as {"stream":"Loaded image: busybox:latest\n"}.</summary>
    IAsyncEnumerable<JsonMessage> LoadAsync(Stream tar, bool quiet, CancellationToken cancellationToken);
    /// <summary>Writes the named images as one docker-archive tar.</summary>
    Task SaveAsync(IReadOnlyList<string> names, Stream destination, CancellationToken cancellationToken);
    /// <summary>Imports a root filesystem tar as a one-layer image (POST /images/create?fromSrc=-).</summary>
    IAsyncEnumerable<JsonMessage> ImportAsync(Stream tar, ImageImportOptions options, CancellationToken cancellationToken);
    Task<IdResponse> CommitAsync(CommitOptions options, CancellationToken cancellationToken);
}

public sealed record EventsOptions(DateTimeOffset? Since, DateTimeOffset? Until, Filters Filters);

public interface ISystemService
{
    Task<SystemInfo> InfoAsync(CancellationToken cancellationToken);
    Task<SystemVersion> VersionAsync(CancellationToken cancellationToken);
    Task<SystemDiskUsage> DiskUsageAsync(CancellationToken cancellationToken);
    /// <summary>Past events from <see cref="EventsOptions.Since"/>, then live ones until <see cref="EventsOptions.Until"/> or cancellation.</summary>
    IAsyncEnumerable<EventMessage> EventsAsync(EventsOptions options, CancellationToken cancellationToken);
}
