using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Berth.Engine.Containers;
using Berth.Engine.Events;
using Berth.Engine.Models;
using Berth.Engine.Supervision;
using Berth.Oci.Image;
using Berth.Storage;
using Berth.Testing;

namespace Berth.Engine.Tests.Containers;

/// <summary>A supervisor whose containers are plain objects: tests make them exit and see what the engine sent them.</summary>
internal sealed class FakeSupervisor : ISupervisor
{
    private int nextPid = 1000;
    public List<FakeContainer> Created { get; } = [];
    public Dictionary<string, FakeContainer> Live { get; } = [];
    public Dictionary<string, ProcessExit> RecordedExits { get; } = [];
    /// <summary>When set, create fails with this message (as a runtime error).</summary>
    public string? FailCreate { get; set; }
    /// <summary>Whether a container dies on SIGTERM (else only SIGKILL ends it).</summary>
    public bool DieOnTerm { get; set; } = true;
    /// <summary>Whether a signal call returns only a while after the death it causes has been handled, as a runtime's
    /// `kill` may return after its container is gone.</summary>
    public bool SignalReturnsLate { get; set; }
    /// <summary>As ShimSupervisor.RunOnStart: the runtime first runs at the start.</summary>
    public bool RuntimeRunsAtStart { get; set; }

    public Task<ISupervisedContainer> CreateAsync(LaunchRequest request, CancellationToken cancellationToken)
    {
        if (FailCreate is { } message) throw new EngineFailureException(message);
        var c = new FakeContainer(this, request, Interlocked.Increment(ref nextPid));
        lock (Created) { Created.Add(c); Live[request.ContainerId] = c; }
        return Task.FromResult<ISupervisedContainer>(c);
    }

    public ISupervisedContainer? Reattach(string containerId, string stateDirectory)
    {
        lock (Created) return Live.TryGetValue(containerId, out var c) && !c.Exited.IsCompleted ? c.Reattached() : null;
    }

    public ProcessExit? ReadRecordedExit(string stateDirectory)
    {
        lock (Created) return RecordedExits.GetValueOrDefault(Path.GetFileName(stateDirectory));
    }

    public FakeContainer Last(string id)
    {
        lock (Created) return Created.Last(c => c.Request.ContainerId == id);
    }
}

internal sealed class FakeContainer(FakeSupervisor owner, LaunchRequest request, int pid) : ISupervisedContainer
{
    private TaskCompletionSource<ProcessExit> exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public LaunchRequest Request { get; } = request;
    public List<string> Calls { get; } = [];
    public bool Started { get; private set; }
    public string ContainerId => Request.ContainerId;
    public int Pid { get; } = pid;
    public Task<ProcessExit> Exited => exit.Task;
    public Channel<OutputChunk> Output { get; } = Channel.CreateUnbounded<OutputChunk>();

    public FakeContainer Reattached() { Calls.Add("reattach"); return this; }

    private void Log(string call) { lock (Calls) Calls.Add(call); }

    public Task StartAsync(CancellationToken cancellationToken) { Log("start"); Started = true; return Task.CompletedTask; }

    public void Exit(int code, bool oom = false) { Output.Writer.TryComplete(); exit.TrySetResult(new ProcessExit(code, DateTimeOffset.UtcNow, oom)); }

    public async Task SignalAsync(int signal, bool all, CancellationToken cancellationToken)
    {
        Log($"signal {signal}");
        if (exit.Task.IsCompleted) throw new ConflictException("not running");
        if (signal == 9 || (signal == 15 && owner.DieOnTerm)) Exit(128 + signal);
        if (owner.SignalReturnsLate) await Task.Delay(100, CancellationToken.None);
    }

    public Task PauseAsync(CancellationToken cancellationToken) { Log("pause"); return Task.CompletedTask; }
    public Task ResumeAsync(CancellationToken cancellationToken) { Log("resume"); return Task.CompletedTask; }
    public Task UpdateResourcesAsync(Oci.Runtime.Resources resources, CancellationToken cancellationToken) { Log($"update memory={resources.Memory?.Limit}"); return Task.CompletedTask; }

    public Task<IStdioSession> AttachAsync(AttachOptions options, CancellationToken cancellationToken)
    {
        Log("attach");
        return Task.FromResult<IStdioSession>(new FakeSession(Output.Reader));
    }

    public Task ResizeAsync(int height, int width, CancellationToken cancellationToken) { Log($"resize {height}x{width}"); return Task.CompletedTask; }

    public List<Oci.Runtime.Process> Execs { get; } = [];
    /// <summary>What an exec'd process exits with (by its first argument).</summary>
    public Func<Oci.Runtime.Process, (int Code, string Output)> ExecBehaviour { get; set; } = _ => (0, "");

    public Task<ISupervisedExec> ExecAsync(Oci.Runtime.Process process, bool attachStdin, CancellationToken cancellationToken)
    {
        lock (Execs) Execs.Add(process);
        var (code, output) = ExecBehaviour(process);
        var channel = Channel.CreateUnbounded<OutputChunk>();
        if (output.Length > 0) channel.Writer.TryWrite(new OutputChunk(StdStream.Stdout, System.Text.Encoding.UTF8.GetBytes(output)));
        channel.Writer.TryComplete();
        return Task.FromResult<ISupervisedExec>(new FakeExec(Pid + 500, new FakeSession(channel.Reader), Task.FromResult(new ProcessExit(code, DateTimeOffset.UtcNow, false))));
    }

    /// <summary>When set, the runtime's delete lasts until it completes (what the container service does meanwhile is seen).</summary>
    public TaskCompletionSource? HoldDelete { get; set; }

    public async Task DeleteAsync(bool force, CancellationToken cancellationToken)
    {
        Log("delete");
        if (HoldDelete is { } hold) await hold.Task;
    }
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

internal sealed class FakeExec(int pid, IStdioSession stdio, Task<ProcessExit> exited) : ISupervisedExec
{
    public int Pid => pid;
    public IStdioSession? Stdio => stdio;
    public Task<ProcessExit> Exited => exited;
    public Task ResizeAsync(int height, int width, CancellationToken cancellationToken) => Task.CompletedTask;
}

internal sealed class FakeSession(ChannelReader<OutputChunk> reader) : IStdioSession
{
    public bool Tty => false;
    public List<byte> Stdin { get; } = [];
    public IAsyncEnumerable<OutputChunk> Output => Read();
    private async IAsyncEnumerable<OutputChunk> Read([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var chunk in reader.ReadAllAsync(cancellationToken)) yield return chunk;
    }
    public ValueTask WriteStdinAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) { Stdin.AddRange(data.ToArray()); return ValueTask.CompletedTask; }
    public ValueTask CloseStdinAsync() => ValueTask.CompletedTask;
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>Images by name: each has a config (Cmd, Env…) and no layers.</summary>
internal sealed class FakeImages : IContainerImages
{
    public Dictionary<string, ResolvedImage> Known { get; } = [];

    public FakeImages Add(string name, ImageConfig config)
    {
        var id = "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name)));
        var image = new ResolvedImage(id, config, null);
        Known[name] = image;
        Known[id] = image;
        return this;
    }

    public ResolvedImage Resolve(string reference)
        => Known.TryGetValue(reference, out var image) || Known.TryGetValue(reference + ":latest", out image) ? image : throw NotFoundException.Image(reference);

    public long Size(string imageId) => 0;
}

/// <summary>A spec with the container's command; validation refuses a Memory of 1 with a Docker-like message.</summary>
internal sealed class FakeSpecs : IContainerSpecFactory
{
    public IReadOnlyList<string> Validate(ContainerCreateRequest request, ImageConfig? image)
    {
        if (request.HostConfig?.Memory == 1) throw new InvalidParameterException("Minimum memory limit allowed is 6MB");
        return [];
    }

    public Oci.Runtime.Spec Build(SpecContext context) => new()
    {
        Process = new Oci.Runtime.Process { Args = [context.Container.Path, .. context.Container.Args], Env = context.Container.Config.Env, Cwd = "/" },
        Root = new Oci.Runtime.Root { Path = context.RootfsPath },
        Hostname = context.Container.Config.Hostname,
        Linux = new Oci.Runtime.Linux { CgroupsPath = "/berth-test/" + context.Container.ID },
    };

    public Oci.Runtime.Resources Resources(Resources resources)
        => new() { Memory = resources.Memory > 0 ? new Oci.Runtime.Memory { Limit = resources.Memory } : null };
}

/// <summary>A container service over a temp data root (vfs layers), fake images, specs and supervisor.</summary>
/// <summary>The real layer store, with the durability each container layer was created with.</summary>
internal sealed class RecordingLayers(ILayerStore inner) : ILayerStore
{
    public Dictionary<string, Durability> Created { get; } = [];
    public string Driver => inner.Driver;
    public Layer Register(Stream blob, string mediaType, string? parentChainId, Oci.Content.Digest? expectedDiffId = null, CancellationToken ct = default)
        => inner.Register(blob, mediaType, parentChainId, expectedDiffId, ct);
    public Layer Register(Stream blob, Compression compression, string? parentChainId, Oci.Content.Digest? expectedDiffId = null, CancellationToken ct = default)
        => inner.Register(blob, compression, parentChainId, expectedDiffId, ct);
    public Layer? Get(string chainId) => inner.Get(chainId);
    public IEnumerable<Layer> List() => inner.List();
    public void Delete(string chainId) => inner.Delete(chainId);
    public Stream OpenDiff(string chainId) => inner.OpenDiff(chainId);
    public ContainerLayer CreateContainerLayer(string id, string? parentChainId) => CreateContainerLayer(id, parentChainId, Durability.Durable);
    public ContainerLayer CreateContainerLayer(string id, string? parentChainId, Durability durability)
    {
        lock (Created) Created[id] = durability;
        return inner.CreateContainerLayer(id, parentChainId, durability);
    }
    public ContainerLayer? GetContainerLayer(string id) => inner.GetContainerLayer(id);
    public IEnumerable<ContainerLayer> ListContainerLayers() => inner.ListContainerLayers();
    public void DeleteContainerLayer(string id) => inner.DeleteContainerLayer(id);
    public void DeleteContainerLayer(string id, bool deferContent) => inner.DeleteContainerLayer(id, deferContent);
    public ConsistencyReport Check() => inner.Check();
    public ConsistencyReport Repair() => inner.Repair();
}

internal sealed class EngineHarness : IDisposable
{
    public TempDir Temp { get; } = new();
    public StorageRoot Storage { get; }
    public RecordingLayers Layers { get; }
    public FakeSupervisor Supervisor { get; } = new();
    public FakeImages Images { get; } = new();
    public EventBus Events { get; } = new();
    public ContainerService Service { get; set; }
    public Exec.ExecService Exec { get; set; }
    public bool LiveRestore { get; set; }

    public EngineHarness()
    {
        Storage = StorageRoot.Open(Temp.Combine("data"), "vfs");
        Layers = new RecordingLayers(Storage.Layers);
        Images.Add("busybox:latest", new ImageConfig { Os = "linux", Architecture = "amd64", Config = new Oci.Image.ContainerConfig { Cmd = ["sh"], Env = ["PATH=/bin"] } });
        Images.Add("app:latest", new ImageConfig
        {
            Os = "linux", Config = new Oci.Image.ContainerConfig { Entrypoint = ["/app"], Cmd = ["--serve"], Labels = new() { ["tier"] = "web" }, StopSignal = "SIGINT" },
        });
        (Service, Exec) = Open();
    }

    /// <summary>A fresh service over the same roots (a daemon restart).</summary>
    public (ContainerService, Exec.ExecService) Open()
    {
        var store = new ContainerStore(Temp.Combine("data", "containers"));
        store.Load();
        var settings = new ContainerEngineSettings
        {
            DataRoot = Temp.Combine("data"), ExecRoot = Temp.Combine("exec"), Runtimes = new Dictionary<string, string> { ["berth"] = "/bin/true" },
            LiveRestore = LiveRestore, StorageDriver = "vfs",
        };
        var service = new ContainerService(store, Images, Layers, Supervisor, new FakeSpecs(), Events, settings);
        var exec = new Exec.ExecService(store, Events);
        service.Execs = exec;
        return (service, exec);
    }

    public async Task RestartDaemonAsync()
    {
        await Service.ShutdownAsync(CancellationToken.None);
        (Service, Exec) = Open();
        await Service.RestoreAsync(CancellationToken.None);
    }

    public Task<ContainerCreateResponse> CreateAsync(string? name = null, string image = "busybox", List<string>? cmd = null, Action<ContainerCreateRequest>? configure = null)
    {
        var request = new ContainerCreateRequest { Image = image, Cmd = cmd, HostConfig = new HostConfig() };
        configure?.Invoke(request);
        return Service.CreateAsync(name, null, request, CancellationToken.None);
    }

    public List<string> Actions(string id) => [.. Events.SubscribeAsync(new EventsOptions(DateTimeOffset.UnixEpoch, DateTimeOffset.UtcNow, Filters.None), CancellationToken.None)
        .ToBlockingEnumerable().Where(e => e.Actor.ID == id).Select(e => e.Action)];

    public void Dispose() => Temp.Dispose();
}
