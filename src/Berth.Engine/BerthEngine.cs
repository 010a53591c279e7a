using Berth.Engine.Containers;
using Berth.Engine.Events;
using Berth.Engine.Exec;
using Berth.Engine.Models;
using Berth.Engine.Supervision;
using Berth.Images;
using Berth.Oci.Image;
using Berth.Storage;

namespace Berth.Engine;

/// <summary>What berthd gives the engine: its roots, runtimes and switches, and the rooms it plugs in.</summary>
public sealed class BerthEngineOptions
{
    public required string DataRoot { get; init; }
    public required string ExecRoot { get; init; }
    public string StorageDriver { get; init; } = "overlay2";
    public string DefaultRuntime { get; init; } = "berth";
    /// <summary>Runtime name → executable.</summary>
    public required IReadOnlyDictionary<string, string> Runtimes { get; init; }
    public bool LiveRestore { get; init; }
    /// <summary>Per-container runtime state under ExecRoot on tmpfs mounts of its own (berthd: yes; tests with fakes: no).</summary>
    public bool ExecStateOnTmpfs { get; init; }
    public bool Debug { get; init; }
    public string Version { get; init; } = "0.1.0";
    public required ISupervisor Supervisor { get; init; }
    public required IContainerSpecFactory Specs { get; init; }
    public TimeProvider Time { get; init; } = TimeProvider.System;
    public Func<BerthEngine, INetworkAttacher>? Networks { get; init; }
    public Func<BerthEngine, IContainerFilesystemService>? Filesystems { get; init; }
    public IContainerLogReader? Logs { get; init; }
}

/// <summary>
/// The engine: storage, images, containers, exec, events and system info over one data root and exec root.
/// <see cref="OpenAsync"/> restores what an earlier daemon left; <see cref="DisposeAsync"/> stops containers
/// (or, with live restore, lets them run on).
/// </summary>
public sealed class BerthEngine : IEngine, IAsyncDisposable
{
    public StorageRoot Storage { get; }
    public ImageStore ImageStore { get; }
    public EventBus Events { get; }
    public ContainerService ContainerService { get; }
    public ExecService ExecService { get; }
    public BerthEngineOptions Options { get; }

    public IContainerService Containers => ContainerService;
    public IExecService Exec => ExecService;
    public IImageService Images { get; }
    public Images.ImageService ImageService { get; }
    public ISystemService System { get; }

    private BerthEngine(BerthEngineOptions options)
    {
        Options = options;
        Directory.CreateDirectory(options.DataRoot);
        Directory.CreateDirectory(options.ExecRoot);
        Storage = StorageRoot.Open(options.DataRoot, options.StorageDriver);
        ImageStore = Berth.Images.ImageStore.Open(Path.Combine(options.DataRoot, "image"), Storage);
        Events = new EventBus(options.Time);
        var store = new ContainerStore(Path.Combine(options.DataRoot, "containers"));
        store.Load();
        var settings = new ContainerEngineSettings
        {
            DataRoot = options.DataRoot, ExecRoot = options.ExecRoot, DefaultRuntime = options.DefaultRuntime, Runtimes = options.Runtimes,
            LiveRestore = options.LiveRestore, ExecStateOnTmpfs = options.ExecStateOnTmpfs, StorageDriver = Storage.Layers.Driver, Time = options.Time,
        };
        ContainerService = new ContainerService(store, new StoreImages(ImageStore), Storage.Layers, options.Supervisor, options.Specs, Events, settings)
        {
            SnapshotUsage = key => Storage.Snapshots.Usage(key).Size,
            Logs = options.Logs,
        };
        ExecService = new ExecService(store, Events);
        ContainerService.Execs = ExecService;
        if (options.Networks is { } networks) ContainerService.Networks = networks(this);
        if (options.Filesystems is { } filesystems) ContainerService.Filesystems = filesystems(this);
        ImageService = new Images.ImageService(ImageStore, ContainerService, Events.Publish, options.Time);
        Images = ImageService;
        var facts = new DaemonFacts(options.Version, options.DataRoot, options.DefaultRuntime, options.Runtimes, options.LiveRestore, options.Debug, Storage.Layers.Driver);
        System = new EngineSystemService(this, new HostSystemService(facts, () => DaemonId(options.DataRoot)));
    }

    /// <summary>Opens the roots, repairs what a crash left in storage, and restores containers (reattach, restart policies).</summary>
    public static async Task<BerthEngine> OpenAsync(BerthEngineOptions options, CancellationToken cancellationToken = default)
    {
        var engine = new BerthEngine(options);
        engine.Storage.Layers.Repair();
        await engine.ContainerService.RestoreAsync(cancellationToken);
        return engine;
    }

    public async ValueTask DisposeAsync() => await ContainerService.ShutdownAsync(CancellationToken.None);

    private static string DaemonId(string dataRoot)
    {
        var path = Path.Combine(dataRoot, "engine-id");
        try
        {
            if (File.Exists(path)) return File.ReadAllText(path).Trim();
            var id = Guid.NewGuid().ToString();
            File.WriteAllText(path, id);
            return id;
        }
        catch (IOException) { return Guid.NewGuid().ToString(); }
    }

    /// <summary>Images for containers, from the image store.</summary>
    private sealed class StoreImages(ImageStore store) : IContainerImages
    {
        public ResolvedImage Resolve(string reference)
        {
            Oci.Content.Digest id;
            try { id = store.Resolve(reference); }
            catch (ImageNotFoundException e) { throw new NotFoundException(e.Message); } // the store names it as Docker does ("busybox:latest")
            catch (ImageException e) { throw new InvalidParameterException(e.Message); }
            catch (FormatException e) { throw new InvalidParameterException(e.Message); }
            var config = store.GetConfig(id);
            var chain = config.RootFs.DiffIds.Count == 0 ? null : ChainIds.Of(config.RootFs.DiffIds).ToString();
            return new ResolvedImage(id.ToString(), config, chain);
        }

        public long Size(string imageId)
            => Oci.Content.Digest.TryParse(imageId, out var id) && store.Exists(id) ? store.Size(id) : 0;
    }
}

/// <summary>/info, /version, /system/df and /events: host facts with the engine's counts, usage and event bus.</summary>
public sealed class EngineSystemService(BerthEngine engine, HostSystemService host) : ISystemService
{
    public async Task<SystemInfo> InfoAsync(CancellationToken cancellationToken)
    {
        var info = await host.InfoAsync(cancellationToken);
        var (all, running, paused, stopped) = engine.ContainerService.Counts();
        info.Containers = all;
        info.ContainersRunning = running;
        info.ContainersPaused = paused;
        info.ContainersStopped = stopped;
        info.Images = engine.ImageStore.Ids.Count;
        info.NEventsListener = engine.Events.Listeners;
        return info;
    }

    public Task<SystemVersion> VersionAsync(CancellationToken cancellationToken) => host.VersionAsync(cancellationToken);

    public async Task<SystemDiskUsage> DiskUsageAsync(CancellationToken cancellationToken)
    {
        var containers = await engine.ContainerService.ListAsync(new ContainerListOptions(true, -1, true, Filters.None), cancellationToken);
        var (layersSize, images) = engine.ImageService.DiskUsage();
        return new SystemDiskUsage { Containers = [.. containers], Images = images, LayersSize = layersSize };
    }

    public IAsyncEnumerable<EventMessage> EventsAsync(EventsOptions options, CancellationToken cancellationToken)
        => engine.Events.SubscribeAsync(options, cancellationToken);
}
