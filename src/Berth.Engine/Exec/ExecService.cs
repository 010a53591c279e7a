using System.Security.Cryptography;
using System.Text.Json;
using Berth.Engine.Containers;
using Berth.Engine.Events;
using Berth.Engine.Models;
using Berth.Engine.Supervision;
using Berth.Oci.Runtime;

namespace Berth.Engine.Exec;

/// <summary>
/// `docker exec`: an exec is created against a running container, started once (attached or detached), and
/// inspected for its Running flag and exit code. Its process is the container's own process spec with the
/// exec's command, environment, user, directory and terminal.
/// </summary>
public sealed class ExecService : IExecService
{
    private readonly ContainerStore store;
    private readonly EventBus events;
    private readonly Lock gate = new();
    private readonly Dictionary<string, ExecInstance> execs = new(StringComparer.Ordinal);

    public ExecService(ContainerStore store, EventBus events)
    {
        this.store = store;
        this.events = events;
    }

    private sealed class ExecInstance(string id, string containerId, ExecConfig config)
    {
        public string Id { get; } = id;
        public string ContainerId { get; } = containerId;
        public ExecConfig Config { get; } = config;
        public bool Started { get; set; }
        public bool Running { get; set; }
        public int? ExitCode { get; set; }
        public int Pid { get; set; }
        public ISupervisedExec? Process { get; set; }
        /// <summary>Set once the exit code is recorded.</summary>
        public TaskCompletionSource Finished { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public Task<IdResponse> CreateAsync(string containerIdOrName, ExecConfig config, CancellationToken cancellationToken)
    {
        if (config.Cmd is not { Count: > 0 }) throw new InvalidParameterException("No exec command specified");
        var c = store.Get(containerIdOrName);
        RequireRunning(c);
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        lock (gate) execs[id] = new ExecInstance(id, c.Id, config);
        lock (c.Gate) c.ExecIds.Add(id);
        Publish(c, "exec_create: " + string.Join(' ', config.Cmd), id);
        return Task.FromResult(new IdResponse { Id = id });
    }

    private static ISupervisedContainer RequireRunning(Container c)
    {
        lock (c.Gate)
        {
            if (c.State.Paused) throw new ConflictException($"container {c.Id} is paused, unpause the container before exec");
            if (c.State.Restarting) throw new ConflictException($"container {c.Id} is restarting, wait until the container is running");
            if (!c.State.Running || c.Supervised is null) throw new ConflictException($"container {c.Id} is not running");
            return c.Supervised;
        }
    }

    private ExecInstance Find(string execId)
    {
        lock (gate) return execs.TryGetValue(execId, out var e) ? e : throw NotFoundException.Exec(execId);
    }

    public async Task<IStdioSession?> StartAsync(string execId, ExecStartConfig config, CancellationToken cancellationToken)
    {
        var e = Find(execId);
        lock (gate)
        {
            if (e.Running) throw new ConflictException($"Error: Exec command {execId} is already running");
            if (e.Started) throw new ConflictException($"Error: Exec command {execId} has already run");
            e.Started = true;
        }
        Container c;
        ISupervisedContainer supervised;
        try
        {
            c = store.Get(e.ContainerId);
            supervised = RequireRunning(c);
        }
        catch
        {
            lock (gate) e.Started = false;
            throw;
        }
        var cfg = e.Config;
        var tty = cfg.Tty || config.Tty;
        var process = ProcessFor(c, cfg.Cmd!, cfg.Env, cfg.User, cfg.WorkingDir, tty, cfg.Privileged);
        var size = config.ConsoleSize ?? cfg.ConsoleSize;
        if (tty && size is [var h, var w] && h > 0 && w > 0) process.ConsoleSize = new Box { Height = (uint)h, Width = (uint)w };
        ISupervisedExec started;
        try
        {
            started = await supervised.ExecAsync(process, cfg.AttachStdin && !config.Detach, cancellationToken);
        }
        catch (EngineException ex)
        {
            lock (gate) { e.ExitCode = 126; }
            Publish(c, "exec_die", execId, ("exitCode", "126"));
            if (ex.Message.Contains("executable file not found", StringComparison.Ordinal) || ex.Message.Contains("no such file", StringComparison.OrdinalIgnoreCase))
            {
                lock (gate) e.ExitCode = 127;
                throw new InvalidParameterException(ex.Message);
            }
            throw;
        }
        lock (gate)
        {
            e.Process = started;
            e.Pid = started.Pid;
            e.Running = true;
        }
        Publish(c, "exec_start: " + string.Join(' ', cfg.Cmd!), execId);
        _ = WatchAsync(c, e, started);
        if (config.Detach)
        {
            if (started.Stdio is { } unused) await unused.DisposeAsync();
            return null;
        }
        return started.Stdio is { } stdio ? new ExitRecordedSession(stdio, e.Finished.Task) : null;
    }

    /// <summary>
    /// An exec's stdio whose output ends only once its exit code is recorded: the docker CLI inspects the exec
    /// as soon as the stream ends and takes that code (with a terminal the pty closes before the exit is seen).
    /// </summary>
    private sealed class ExitRecordedSession(IStdioSession inner, Task finished) : IStdioSession
    {
        public bool Tty => inner.Tty;
        public IAsyncEnumerable<OutputChunk> Output => ReadAsync();

        private async IAsyncEnumerable<OutputChunk> ReadAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await foreach (var chunk in inner.Output.WithCancellation(cancellationToken)) yield return chunk;
            await finished.WaitAsync(cancellationToken);
        }

        public ValueTask WriteStdinAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => inner.WriteStdinAsync(data, cancellationToken);
        public ValueTask CloseStdinAsync() => inner.CloseStdinAsync();
        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    private async Task WatchAsync(Container c, ExecInstance e, ISupervisedExec process)
    {
        int code;
        try { code = (await process.Exited).ExitCode; }
        catch (Exception ex) when (ex is EngineException or IOException or OperationCanceledException) { code = 137; }
        lock (gate)
        {
            e.Running = false;
            e.ExitCode = code;
        }
        e.Finished.TrySetResult();
        Publish(c, "exec_die", e.Id, ("exitCode", code.ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }

    public Task<ExecInspect> InspectAsync(string execId, CancellationToken cancellationToken)
    {
        var e = Find(execId);
        lock (gate)
        {
            var cmd = e.Config.Cmd ?? [];
            return Task.FromResult(new ExecInspect
            {
                ID = e.Id,
                ContainerID = e.ContainerId,
                Running = e.Running,
                ExitCode = e.ExitCode,
                Pid = e.Pid,
                CanRemove = false,
                DetachKeys = e.Config.DetachKeys ?? "",
                OpenStdin = e.Config.AttachStdin,
                OpenStdout = e.Config.AttachStdout,
                OpenStderr = e.Config.AttachStderr,
                ProcessConfig = new ProcessConfig
                {
                    Privileged = e.Config.Privileged, User = e.Config.User ?? "", Tty = e.Config.Tty,
                    Entrypoint = cmd.Count > 0 ? cmd[0] : "", Arguments = [.. cmd.Skip(1)],
                },
            });
        }
    }

    public async Task ResizeAsync(string execId, int height, int width, CancellationToken cancellationToken)
    {
        var e = Find(execId);
        ISupervisedExec? process;
        lock (gate) process = e.Running ? e.Process : null;
        if (process is null) throw new ConflictException($"Exec {execId} is not running");
        await process.ResizeAsync(height, width, cancellationToken);
    }

    /// <summary>The container's execs go with it.</summary>
    internal void ContainerRemoved(string containerId)
    {
        lock (gate)
            foreach (var id in execs.Where(kv => kv.Value.ContainerId == containerId).Select(kv => kv.Key).ToList())
                execs.Remove(id);
    }

    /// <summary>When the container stops its execs end (their exits arrive through the shim); finished ones are let go.</summary>
    internal void ContainerStopped(string containerId)
    {
        lock (gate)
            foreach (var id in execs.Where(kv => kv.Value.ContainerId == containerId && kv.Value.Started && !kv.Value.Running).Select(kv => kv.Key).ToList())
                execs.Remove(id);
        if (store.TryGet(containerId) is { } c)
            lock (c.Gate) c.ExecIds.Clear();
    }

    private void Publish(Container c, string action, string execId, params (string Key, string Value)[] extra)
    {
        Dictionary<string, string> attributes;
        lock (c.Gate)
        {
            attributes = c.Record.Config.Labels is null ? [] : new(c.Record.Config.Labels);
            attributes["image"] = string.IsNullOrEmpty(c.Record.Config.Image) ? c.Record.Image : c.Record.Config.Image;
            attributes["name"] = c.Name.TrimStart('/');
        }
        attributes["execID"] = execId;
        foreach (var (k, v) in extra) attributes[k] = v;
        events.Publish("container", action, c.Id, attributes);
    }

    // ---- the exec'd process ------------------------------------------------------------------------------

    private static readonly string[] AllCapabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
        "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
        "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ];

    /// <summary>
    /// A process inside <paramref name="c"/>: its spec's process (capabilities, rlimits, no_new_privs, env)
    /// with the given command; env entries override by name; a user is "uid[:gid]" or a name from the rootfs.
    /// </summary>
    public static Process ProcessFor(Container c, IReadOnlyList<string> command, IReadOnlyList<string>? env, string? user, string? workingDir, bool tty, bool privileged)
    {
        Process process;
        string? rootfs;
        lock (c.Gate)
        {
            var template = c.Spec?.Process;
            process = template is null
                ? new Process { Env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cwd = "/" }
                : JsonSerializer.Deserialize(JsonSerializer.SerializeToUtf8Bytes(template, RuntimeJsonContext.Default.Process), RuntimeJsonContext.Default.Process)!;
            rootfs = c.RootfsPath;
        }
        process.Args = [.. command];
        process.Terminal = tty;
        process.ConsoleSize = null;
        if (!string.IsNullOrEmpty(workingDir)) process.Cwd = workingDir;
        if (env is { Count: > 0 })
        {
            var merged = new List<string>(process.Env ?? []);
            foreach (var entry in env)
            {
                var key = entry.Split('=', 2)[0];
                merged.RemoveAll(e => e.Split('=', 2)[0] == key);
                merged.Add(entry);
            }
            process.Env = merged;
        }
        if (!string.IsNullOrEmpty(user)) process.User = ResolveUser(user, rootfs);
        if (privileged)
        {
            List<string> all = [.. AllCapabilities];
            process.Capabilities = new Capabilities { Bounding = all, Effective = [.. all], Permitted = [.. all] };
        }
        return process;
    }

    /// <summary>"uid", "uid:gid", "name", "name:group" against the container's /etc/passwd and /etc/group.</summary>
    internal static User ResolveUser(string user, string? rootfs)
    {
        var parts = user.Split(':', 2);
        uint uid, gid = 0;
        string? passwdGroup = null;
        if (!uint.TryParse(parts[0], out uid))
        {
            var entry = ReadDb(rootfs, "etc/passwd").FirstOrDefault(f => f.Length > 3 && f[0] == parts[0])
                ?? throw new InvalidParameterException($"unable to find user {parts[0]}: no matching entries in passwd file");
            uid = uint.Parse(entry[2], System.Globalization.CultureInfo.InvariantCulture);
            passwdGroup = entry[3];
        }
        else
        {
            var entry = ReadDb(rootfs, "etc/passwd").FirstOrDefault(f => f.Length > 3 && f[2] == parts[0]);
            passwdGroup = entry?[3];
        }
        if (parts.Length == 2)
        {
            if (!uint.TryParse(parts[1], out gid))
            {
                var group = ReadDb(rootfs, "etc/group").FirstOrDefault(f => f.Length > 2 && f[0] == parts[1])
                    ?? throw new InvalidParameterException($"unable to find group {parts[1]}: no matching entries in group file");
                gid = uint.Parse(group[2], System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        else if (passwdGroup is not null) gid = uint.Parse(passwdGroup, System.Globalization.CultureInfo.InvariantCulture);
        return new User { Uid = uid, Gid = gid };
    }

    private static IEnumerable<string[]> ReadDb(string? rootfs, string relative)
    {
        if (rootfs is null) return [];
        var path = Path.Combine(rootfs, relative);
        try { return File.ReadAllLines(path).Select(l => l.Split(':')); }
        catch (IOException) { return []; }
        catch (UnauthorizedAccessException) { return []; }
    }
}
