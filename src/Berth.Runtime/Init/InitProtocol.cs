using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Berth.Linux;

namespace Berth.Runtime.Init;

/// <summary>What the runtime tells a freshly exec'd `berth-runtime init` to do.</summary>
public sealed class InitRequest
{
    /// <summary>"create" (a container's init) or "exec" (a process joining a running container).</summary>
    [JsonPropertyName("kind")] public string Kind { get; set; } = "create";
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("bundle")] public string Bundle { get; set; } = "";
    [JsonPropertyName("rootfs")] public string Rootfs { get; set; } = "";
    /// <summary>The config (create), or a config whose process is the one to exec (exec).</summary>
    [JsonPropertyName("spec")] public string Spec { get; set; } = "";
    [JsonPropertyName("noPivot")] public bool NoPivot { get; set; }
    /// <summary>An inherited O_PATH descriptor of the exec fifo (opened by the runtime: the init may not be able to
    /// reach the state directory, e.g. as a mapped uid).</summary>
    [JsonPropertyName("fifoFd")] public int FifoFd { get; set; } = -1;
    /// <summary>An inherited descriptor connected to --console-socket, or -1.</summary>
    [JsonPropertyName("consoleSocket")] public int ConsoleSocket { get; set; } = -1;
    /// <summary>exec: an inherited descriptor of the container's root directory to chroot into, or -1.</summary>
    [JsonPropertyName("rootFd")] public int RootFd { get; set; } = -1;
    [JsonPropertyName("newUserNamespace")] public bool NewUserNamespace { get; set; }
    [JsonPropertyName("newCgroupNamespace")] public bool NewCgroupNamespace { get; set; }
    /// <summary>True when the parent must run prestart/createRuntime hooks once namespaces and mounts exist.</summary>
    [JsonPropertyName("runtimeHooks")] public bool RuntimeHooks { get; set; }
    /// <summary>The runtime-spec state JSON for the container's hooks (createContainer, startContainer).</summary>
    [JsonPropertyName("hookState")] public string? HookState { get; set; }
}

/// <summary>What init tells the runtime: "hooks" (run prestart/createRuntime, then answer "resume"), "ready", "error".</summary>
public sealed class InitReport
{
    [JsonPropertyName("type")] public string Type { get; set; } = "";
    [JsonPropertyName("message")] public string? Message { get; set; }
}

/// <summary>Length-prefixed JSON messages over the socket pair between the runtime and its init.</summary>
public sealed class InitChannel(ISyscalls sys, int fd) : IDisposable
{
    private bool _closed;
    public int Fd => fd;

    public void Send<T>(T message, JsonTypeInfo<T> type)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(message, type);
        var frame = new byte[4 + body.Length];
        BinaryPrimitives.WriteInt32LittleEndian(frame, body.Length);
        body.CopyTo(frame, 4);
        sys.WriteAll(fd, frame);
    }

    /// <summary>The next message, or null when the other side closed.</summary>
    public T? Receive<T>(JsonTypeInfo<T> type) where T : class
    {
        Span<byte> header = stackalloc byte[4];
        if (!ReadExactly(header)) return null;
        var length = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (length is < 0 or > 64 << 20) throw new RuntimeException("init channel: bad frame");
        var body = new byte[length];
        if (!ReadExactly(body)) return null;
        return JsonSerializer.Deserialize(body, type);
    }

    private bool ReadExactly(Span<byte> buffer)
    {
        var done = 0;
        while (done < buffer.Length)
        {
            var n = sys.ReadSome(fd, buffer[done..]);
            if (n == 0) return false;
            done += n;
        }
        return true;
    }

    public void Dispose()
    {
        if (_closed) return;
        _closed = true;
        sys.CloseFd(fd);
    }
}
