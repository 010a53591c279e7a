using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using Berth.Engine;
using Berth.Engine.Models;

namespace Berth.Api.Tests;

/// <summary>A container "web" (running, no TTY) and "tty" (running, TTY); everything else is unknown.</summary>
internal sealed class FakeContainers : UnimplementedContainerService
{
    public const string WebId = "4f1c3b2a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a";
    public const string TtyId = "aa1c3b2a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a";
    public readonly List<string> Calls = [];
    public ContainerCreateRequest? LastCreate;
    public TaskCompletionSource<ContainerWaitResponse> WaitResult { get; } = new();

    private static string Resolve(string idOrName) => idOrName switch
    {
        "web" or WebId => WebId,
        "tty" or TtyId => TtyId,
        _ when idOrName.Length >= 4 && WebId.StartsWith(idOrName, StringComparison.Ordinal) => WebId,
        _ => throw NotFoundException.Container(idOrName),
    };

    public override Task<IReadOnlyList<ContainerSummary>> ListAsync(ContainerListOptions options, CancellationToken cancellationToken)
    {
        Calls.Add($"list all={options.All} filters={string.Join(";", options.Filters.Values.Select(kv => kv.Key + "=" + string.Join(",", kv.Value)))}");
        IReadOnlyList<ContainerSummary> list =
        [
            new ContainerSummary
            {
                Id = WebId, Names = ["/web"], Image = "busybox", ImageID = "sha256:abc", Command = "sh -c 'sleep 1000'", Created = 1700000000,
                Ports = [new Port { IP = "0.0.0.0", PrivatePort = 80, PublicPort = 8080, Type = "tcp" }],
                Labels = new() { ["a"] = "b" }, State = "running", Status = "Up 5 seconds",
                HostConfig = new SummaryHostConfig { NetworkMode = "bridge" }, NetworkSettings = new SummaryNetworkSettings { Networks = new() { ["bridge"] = new EndpointSettings { IPAddress = "10.88.0.2" } } },
            },
        ];
        return Task.FromResult(list);
    }

    public override Task<ContainerCreateResponse> CreateAsync(string? name, string? platform, ContainerCreateRequest request, CancellationToken cancellationToken)
    {
        if (name == "web") throw new ConflictException($"Conflict. The container name \"/web\" is already in use by container \"{WebId}\". You have to remove (or rename) that container to be able to reuse that name.");
        LastCreate = request;
        Calls.Add($"create name={name}");
        return Task.FromResult(new ContainerCreateResponse { Id = WebId });
    }

    public override Task<ContainerInspect> InspectAsync(string idOrName, bool size, CancellationToken cancellationToken)
    {
        var id = Resolve(idOrName);
        return Task.FromResult(new ContainerInspect
        {
            Id = id, Created = DockerTime.Format(new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero).AddTicks(1234567)),
            Name = id == WebId ? "/web" : "/tty", Path = "sh", Args = ["-c", "sleep 1000"], Image = "sha256:abc",
            State = new ContainerState { Status = "running", Running = true, Pid = 4242, StartedAt = "2026-11-30T12:00:01.5Z", Health = new Health { Status = "healthy", Log = [] } },
            Config = new ContainerConfig { Image = "busybox", Tty = id == TtyId, Cmd = ["sh"], Env = ["PATH=/bin"], Labels = [] },
            HostConfig = new HostConfig { NetworkMode = "bridge", RestartPolicy = new RestartPolicy { Name = "no" } },
            GraphDriver = new GraphDriverData { Name = "overlay2" },
            NetworkSettings = new NetworkSettings { Networks = new() { ["bridge"] = new EndpointSettings { IPAddress = "10.88.0.2" } } },
        });
    }

    public override Task StartAsync(string idOrName, CancellationToken cancellationToken)
    {
        Resolve(idOrName);
        throw new NotModifiedException(); // both fake containers are running
    }

    public override Task StopAsync(string idOrName, int? timeoutSeconds, string? signal, CancellationToken cancellationToken)
    {
        Calls.Add($"stop {Resolve(idOrName)[..4]} t={timeoutSeconds} signal={signal}");
        return Task.CompletedTask;
    }

    public override Task RemoveAsync(string idOrName, bool force, bool removeVolumes, bool removeLink, CancellationToken cancellationToken)
    {
        Resolve(idOrName);
        if (!force) throw new ConflictException("cannot remove container \"/web\": container is running: stop the container before removing or force remove");
        return Task.CompletedTask;
    }

    public override Task<Task<ContainerWaitResponse>> WaitAsync(string idOrName, WaitCondition condition, CancellationToken cancellationToken)
    {
        Resolve(idOrName);
        Calls.Add($"wait {condition}");
        return Task.FromResult(WaitResult.Task);
    }

    public override Task<LogReader> LogsAsync(string idOrName, LogsOptions options, CancellationToken cancellationToken)
    {
        var id = Resolve(idOrName);
        var time = new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
        OutputChunk[] entries =
        [
            new(StdStream.Stdout, Encoding.UTF8.GetBytes("hello\n"), time),
            new(StdStream.Stderr, Encoding.UTF8.GetBytes("oops\n"), time.AddSeconds(1)),
        ];
        return Task.FromResult(new LogReader(id == TtyId, entries.ToAsyncEnumerable()));
    }

    public override Task<IStdioSession> AttachAsync(string idOrName, AttachOptions options, CancellationToken cancellationToken)
        => Task.FromResult<IStdioSession>(new EchoSession(Resolve(idOrName) == TtyId));

    public override async IAsyncEnumerable<ContainerStats> StatsAsync(string idOrName, bool stream, bool oneShot, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Resolve(idOrName);
        await Task.Yield();
        for (var i = 0; i < (stream ? 3 : 1); i++)
            yield return new ContainerStats { Id = WebId, Name = "/web", Read = DockerTime.Format(DateTimeOffset.UnixEpoch.AddSeconds(i)), MemoryStats = new MemoryStats { Usage = 1024, Limit = 4096 } };
    }

    public override Task<ContainerTopResponse> TopAsync(string idOrName, string? psArgs, CancellationToken cancellationToken)
    {
        Resolve(idOrName);
        return Task.FromResult(new ContainerTopResponse { Titles = ["PID", "CMD"], Processes = [["4242", "sleep 1000"]] });
    }

    public override Task<ContainerPathStat> StatPathAsync(string idOrName, string path, CancellationToken cancellationToken)
    {
        Resolve(idOrName);
        if (path != "/etc/hostname") throw new NotFoundException($"Could not find the file {path} in container {idOrName}");
        return Task.FromResult(new ContainerPathStat { Name = "hostname", Size = 13, Mode = 420, Mtime = "2026-11-30T12:00:00Z" });
    }
}

/// <summary>Echoes stdin to stdout; ends its output when stdin closes.</summary>
internal sealed class EchoSession(bool tty) : IStdioSession
{
    private readonly Channel<OutputChunk> output = Channel.CreateUnbounded<OutputChunk>();
    public bool Tty => tty;
    public IAsyncEnumerable<OutputChunk> Output => output.Reader.ReadAllAsync();

    public ValueTask WriteStdinAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        output.Writer.TryWrite(new OutputChunk(StdStream.Stdout, data.ToArray()));
        return ValueTask.CompletedTask;
    }

    public ValueTask CloseStdinAsync()
    {
        output.Writer.TryWrite(new OutputChunk(StdStream.Stderr, "bye\n"u8.ToArray()));
        output.Writer.TryComplete();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        output.Writer.TryComplete();
        return ValueTask.CompletedTask;
    }
}

internal sealed class FakeImages : UnimplementedImageService
{
    public override Task<IReadOnlyList<ImageSummary>> ListAsync(ImageListOptions options, CancellationToken cancellationToken)
    {
        IReadOnlyList<ImageSummary> list = [new ImageSummary { Id = "sha256:abc", RepoTags = ["busybox:latest"], Created = 1700000000, Size = 4_200_000 }];
        return Task.FromResult(list);
    }

    public override Task<ImageInspect> InspectAsync(string name, CancellationToken cancellationToken)
        => name is "busybox" or "library/busybox:latest"
            ? Task.FromResult(new ImageInspect { Id = "sha256:abc", RepoTags = [name], Created = "2026-11-30T12:00:00Z", Architecture = "amd64", Size = 4_200_000, Config = new ContainerConfig { Cmd = ["sh"] }, RootFS = new ImageRootFS { Layers = ["sha256:def"] } })
            : throw NotFoundException.Image(name);

    public override Task<IReadOnlyList<HistoryResponseItem>> HistoryAsync(string name, CancellationToken cancellationToken)
    {
        IReadOnlyList<HistoryResponseItem> list = [new HistoryResponseItem { Id = "sha256:abc", Created = 1700000000, CreatedBy = "import", Tags = ["busybox:latest"], Size = 4_200_000 }];
        return Task.FromResult(list);
    }

    public override async IAsyncEnumerable<JsonMessage> LoadAsync(Stream tar, bool quiet, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var length = 0L;
        var buffer = new byte[8192];
        int n;
        while ((n = await tar.ReadAsync(buffer, cancellationToken)) > 0) length += n;
        yield return new JsonMessage { Stream = $"Loaded {length} bytes\n" };
        throw new InvalidParameterException("not a docker archive");
    }
}
