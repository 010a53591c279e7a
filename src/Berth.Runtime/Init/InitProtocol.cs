using System.Buffers.Binary;
using Berth.Linux;

namespace Berth.Runtime.Init;

/// <summary>What the runtime tells a freshly exec'd `berth-runtime init` to do.</summary>
public sealed class InitRequest
{
    /// <summary>"create" (a container's init) or "exec" (a process joining a running container).</summary>
    public string Kind { get; set; } = "create";
    public string Id { get; set; } = "";
    public string Bundle { get; set; } = "";
    public string Rootfs { get; set; } = "";
    /// <summary>The config as UTF-8 JSON (create), or a config whose process is the one to exec (exec).</summary>
    public byte[] Spec { get; set; } = [];
    public bool NoPivot { get; set; }
    /// <summary>An inherited O_PATH descriptor of the exec fifo (opened by the runtime: the init may not be able to
    /// reach the state directory, e.g. as a mapped uid); -1 for a `run` that starts the process as soon as it is ready.</summary>
    public int FifoFd { get; set; } = -1;
    /// <summary>An inherited descriptor connected to --console-socket, or -1.</summary>
    public int ConsoleSocket { get; set; } = -1;
    /// <summary>exec: an inherited descriptor of the container's root directory to chroot into, or -1.</summary>
    public int RootFd { get; set; } = -1;
    public bool NewUserNamespace { get; set; }
    public bool NewCgroupNamespace { get; set; }
    /// <summary>True when the parent must run prestart/createRuntime hooks once namespaces and mounts exist.</summary>
    public bool RuntimeHooks { get; set; }
    /// <summary>The runtime-spec state JSON for the container's hooks (createContainer, startContainer); null without hooks.</summary>
    public string? HookState { get; set; }
    /// <summary>Variables appended to the process's environment (LISTEN_FDS/LISTEN_PID for passed sockets).</summary>
    public string[] ExtraEnv { get; set; } = [];
    /// <summary>How many descriptors from 3 up the process keeps (LISTEN_FDS, --preserve-fds); all above close at exec.</summary>
    public int PreservedFds { get; set; }

    // A binary frame, not JSON: both ends are this program, and System.Text.Json's per-process type metadata
    // setup would cost more than the message on the container start path.
    public byte[] Encode()
    {
        using var buffer = new MemoryStream(256 + Spec.Length);
        using (var w = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Kind); w.Write(Id); w.Write(Bundle); w.Write(Rootfs);
            w.Write(Spec.Length); w.Write(Spec);
            w.Write(NoPivot); w.Write(FifoFd); w.Write(ConsoleSocket); w.Write(RootFd);
            w.Write(NewUserNamespace); w.Write(NewCgroupNamespace); w.Write(RuntimeHooks);
            w.Write(HookState is not null); if (HookState is not null) w.Write(HookState);
            w.Write(ExtraEnv.Length); foreach (var e in ExtraEnv) w.Write(e);
            w.Write(PreservedFds);
        }
        return buffer.ToArray();
    }

    public static InitRequest Decode(byte[] frame)
    {
        using var r = new BinaryReader(new MemoryStream(frame), System.Text.Encoding.UTF8);
        var request = new InitRequest
        {
            Kind = r.ReadString(), Id = r.ReadString(), Bundle = r.ReadString(), Rootfs = r.ReadString(),
            Spec = r.ReadBytes(r.ReadInt32()),
            NoPivot = r.ReadBoolean(), FifoFd = r.ReadInt32(), ConsoleSocket = r.ReadInt32(), RootFd = r.ReadInt32(),
            NewUserNamespace = r.ReadBoolean(), NewCgroupNamespace = r.ReadBoolean(), RuntimeHooks = r.ReadBoolean(),
            HookState = r.ReadBoolean() ? r.ReadString() : null,
        };
        var extra = new string[r.ReadInt32()];
        for (var i = 0; i < extra.Length; i++) extra[i] = r.ReadString();
        request.ExtraEnv = extra;
        request.PreservedFds = r.ReadInt32();
        return request;
    }
}

/// <summary>What init tells the runtime: "hooks" (run prestart/createRuntime, then answer "resume"), "ready", "error".</summary>
public sealed class InitReport
{
    public string Type { get; set; } = "";
    public string? Message { get; set; }

    public byte[] Encode()
    {
        using var buffer = new MemoryStream();
        using (var w = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Type);
            w.Write(Message is not null); if (Message is not null) w.Write(Message);
        }
        return buffer.ToArray();
    }

    public static InitReport Decode(byte[] frame)
    {
        using var r = new BinaryReader(new MemoryStream(frame), System.Text.Encoding.UTF8);
        return new InitReport { Type = r.ReadString(), Message = r.ReadBoolean() ? r.ReadString() : null };
    }
}

/// <summary>Length-prefixed messages over the socket pair between the runtime and its init.</summary>
public sealed class InitChannel(ISyscalls sys, int fd) : IDisposable
{
    private bool _closed;
    public int Fd => fd;

    public void Send(InitRequest request) => SendFrame(request.Encode());
    public void Send(InitReport report) => SendFrame(report.Encode());

    /// <summary>The next request, or null when the other side closed.</summary>
    public InitRequest? ReceiveRequest() => ReceiveFrame() is { } frame ? InitRequest.Decode(frame) : null;

    /// <summary>The next report, or null when the other side closed.</summary>
    public InitReport? ReceiveReport() => ReceiveFrame() is { } frame ? InitReport.Decode(frame) : null;

    private void SendFrame(byte[] body)
    {
        var frame = new byte[4 + body.Length];
        BinaryPrimitives.WriteInt32LittleEndian(frame, body.Length);
        body.CopyTo(frame, 4);
        sys.WriteAll(fd, frame);
    }

    private byte[]? ReceiveFrame()
    {
        Span<byte> header = stackalloc byte[4];
        if (!ReadExactly(header)) return null;
        var length = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (length is < 0 or > 64 << 20) throw new RuntimeException("init channel: bad frame");
        var body = new byte[length];
        if (!ReadExactly(body)) return null;
        return body;
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
