using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Berth.Linux;
using Berth.Shim;

namespace Berth.Engine.Supervision;

/// <summary>
/// <see cref="ISupervisor"/> over berth-shim: one small process per container, started in a session of its own so
/// that it outlives berthd (SIGKILL included). berthd talks to it over shim.sock in the container's state directory;
/// the shim runs the runtime's create and start (or one `run --detach`) and, after the exit, its delete; berthd runs
/// the other short verbs (kill, pause, resume, update, exec) itself.
/// </summary>
public sealed class ShimSupervisor : ISupervisor
{
    /// <summary>What berthd needs to drive a container again after a restart; written beside the shim's socket.</summary>
    internal sealed record LaunchRecord(string ContainerId, string RuntimePath, string RuntimeRoot, string Bundle, bool Tty, int ShimPid);

    public const string LaunchFile = "launch.json";

    private readonly ISyscalls _sys;

    /// <summary>The berth-shim executable (artifacts/bin/berth-shim beside berthd).</summary>
    public string ShimPath { get; }

    /// <summary>Environment of the shims (berthd's, without .NET runtime knobs meant for berthd). GC knobs such as
    /// DOTNET_GCgen0size / GCHeapHardLimit / GCConserveMemory were measured: they change nothing in a shim's PSS.</summary>
    public IReadOnlyList<string> ShimEnvironment { get; init; } = DefaultShimEnvironment();

    /// <summary>
    /// The shim creates nothing until <see cref="ISupervisedContainer.StartAsync"/>, which runs the runtime's
    /// `run --detach` (create and start in one runtime process, as runc and berth-runtime offer) instead of a create
    /// now and a start then. Attaches made between the two still see all output: the process begins at the start.
    /// Off: create at <see cref="CreateAsync"/> (the pid is known from then on, the runtime shows the container as
    /// created), start at StartAsync.
    /// </summary>
    public bool RunOnStart { get; init; } = true;

    public bool RuntimeRunsAtStart => RunOnStart;

    /// <summary>
    /// The berth-runtime built and shipped with the shim (by default the one beside it): berth-shim links that runtime's
    /// library, so for a container whose runtime is exactly this executable berthd tells the shim (--linked-runtime) to run
    /// the runtime's delete in its own process, one process start less at the end of every container. Any other runtime
    /// (runc, another berth-runtime build, an --add-runtime path) is run as a command. Null: always as a command.
    /// </summary>
    public string? LinkedRuntimePath { get; init; }

    public ShimSupervisor(string shimPath, ISyscalls? sys = null)
    {
        ShimPath = shimPath;
        _sys = sys ?? LinuxSyscalls.Instance;
        LinkedRuntimePath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(shimPath)) ?? "/", "berth-runtime");
    }

    private bool IsLinkedRuntime(string runtimePath)
        => LinkedRuntimePath is not null && Path.IsPathRooted(runtimePath) && Path.GetFullPath(runtimePath) == Path.GetFullPath(LinkedRuntimePath);

    /// <summary>berth-shim next to the running executable (berthd's directory), else on PATH.</summary>
    public static string FindShim()
    {
        var beside = Path.Combine(AppContext.BaseDirectory, "berth-shim");
        if (File.Exists(beside)) return beside;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "berth-shim");
            if (File.Exists(candidate)) return candidate;
        }
        return beside;
    }

    private static List<string> DefaultShimEnvironment()
    {
        var env = new List<string>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            var name = (string)e.Key;
            if (name.StartsWith("DOTNET_", StringComparison.Ordinal) || name.StartsWith("COMPlus_", StringComparison.Ordinal)) continue;
            env.Add(name + "=" + (string?)e.Value);
        }
        return env;
    }

    public async Task<ISupervisedContainer> CreateAsync(LaunchRequest request, CancellationToken cancellationToken)
    {
        if (!File.Exists(ShimPath)) throw new EngineFailureException($"berth-shim not found at {ShimPath}");
        Directory.CreateDirectory(request.StateDirectory);
        if (request.LogPath is not null) Directory.CreateDirectory(Path.GetDirectoryName(request.LogPath)!);
        var options = new ShimOptions
        {
            ContainerId = request.ContainerId, Bundle = request.BundleDirectory, Runtime = request.RuntimePath, RuntimeRoot = request.RuntimeRoot,
            StateDirectory = request.StateDirectory, LogPath = request.LogPath, LogMaxSize = request.LogMaxSize, LogMaxFiles = request.LogMaxFiles,
            Tty = request.Tty, OpenStdin = request.OpenStdin, StdinOnce = request.StdinOnce, RunOnStart = RunOnStart,
            RuntimeLinked = IsLinkedRuntime(request.RuntimePath), ListenerOnStdin = RunOnStart,
        };
        if (RunOnStart) return LaunchListening(request, options);

        var (reportRead, reportWrite) = _sys.CreatePipe();
        var devNull = _sys.OpenFile("/dev/null", OpenFlags.O_RDWR);
        int shimLog;
        try { shimLog = _sys.OpenFile(Path.Combine(request.StateDirectory, "shim.log"), OpenFlags.O_WRONLY | OpenFlags.O_CREAT | OpenFlags.O_APPEND, 0b110_100_000); }
        catch { _sys.CloseFd(reportRead); _sys.CloseFd(reportWrite); _sys.CloseFd(devNull); throw; }
        int shimPid;
        try { shimPid = _sys.SpawnProcess(ShimPath, ["berth-shim", .. options.ToArguments()], ShimEnvironment, devNull, reportWrite, shimLog); }
        catch (SyscallException e)
        {
            _sys.CloseFd(reportRead);
            throw new EngineFailureException($"starting berth-shim: {e.Message}");
        }
        finally
        {
            _sys.CloseFd(reportWrite);
            _sys.CloseFd(devNull);
            _sys.CloseFd(shimLog);
        }

        // What a restarted berthd needs is written while the shim starts (removed again if it fails).
        var record = new LaunchRecord(request.ContainerId, request.RuntimePath, request.RuntimeRoot, request.BundleDirectory, request.Tty, shimPid);
        File.WriteAllText(Path.Combine(request.StateDirectory, LaunchFile), JsonSerializer.Serialize(record, SupervisionJsonContext.Default.LaunchRecord));

        // The shim answers one line once the runtime's create is done: "created PID" or "error MESSAGE"; a run-on-start
        // shim "ready" once it listens.
        var report = await Task.Run(() => ReadReport(reportRead), CancellationToken.None).ConfigureAwait(false);
        var pid = 0;
        if (!(RunOnStart && report == "ready") && (!report.StartsWith("created ", StringComparison.Ordinal) || !int.TryParse(report.AsSpan(8), out pid)))
        {
            Reap(shimPid);
            RemoveStateFiles(request.StateDirectory);
            var message = report.StartsWith("error ", StringComparison.Ordinal) ? report[6..]
                : $"berth-shim exited without creating the container{ShimLogTail(request.StateDirectory)}";
            throw new RuntimeCommandException("create", message);
        }

        var connection = ShimConnection.TryConnect(_sys, request.StateDirectory);
        return new ShimContainer(_sys, ShimPath, record, request.StateDirectory, pid, connection, ownShimChild: true) { RunsOnStart = pid == 0 };
    }

    /// <summary>
    /// A run-on-start shim gets its socket from berthd, bound and listening, as its stdin: berthd connects at once, and its
    /// requests (Wait, the attaches made before the start, Start) queue while the shim starts, which reads them in the
    /// order they connected. No report is awaited: a shim that fails to start closes those connections, and the Start
    /// fails with its shim.log.
    /// </summary>
    private ShimContainer LaunchListening(LaunchRequest request, ShimOptions options)
    {
        var socketPath = Path.Combine(request.StateDirectory, ShimProtocol.SocketName);
        _sys.Unlink(socketPath); // a stale one from a run that did not end cleanly
        int listener;
        try { listener = _sys.ListenUnixSocket(socketPath, 16); }
        catch (SyscallException e) { throw new EngineFailureException($"making the shim's socket: {e.Message}"); }
        int shimPid;
        try
        {
            if (HandToStandby(options, listener) is { } standbyPid) shimPid = standbyPid;
            else
            {
                var shimLog = _sys.OpenFile(Path.Combine(request.StateDirectory, "shim.log"), OpenFlags.O_WRONLY | OpenFlags.O_CREAT | OpenFlags.O_APPEND, 0b110_100_000);
                try { shimPid = _sys.SpawnProcess(ShimPath, ["berth-shim", .. options.ToArguments()], ShimEnvironment, listener, shimLog, shimLog); }
                finally { _sys.CloseFd(shimLog); }
            }
        }
        catch (SyscallException e)
        {
            _sys.Unlink(socketPath);
            throw new EngineFailureException($"starting berth-shim: {e.Message}");
        }
        finally { _sys.CloseFd(listener); }

        var record = new LaunchRecord(request.ContainerId, request.RuntimePath, request.RuntimeRoot, request.BundleDirectory, request.Tty, shimPid);
        File.WriteAllText(Path.Combine(request.StateDirectory, LaunchFile), JsonSerializer.Serialize(record, SupervisionJsonContext.Default.LaunchRecord));
        var connection = ShimConnection.TryConnect(_sys, request.StateDirectory);
        var stateRoot = Path.GetDirectoryName(request.StateDirectory) ?? "/";
        return new ShimContainer(_sys, ShimPath, record, request.StateDirectory, 0, connection, ownShimChild: true)
        {
            RunsOnStart = true,
            // The next container's shim starts once this one's start is answered: not beside the runtime's run on a
            // small machine, but long before a next `run` usually comes.
            AfterStart = KeepStandby ? () => StartStandby(stateRoot) : null,
        };
    }

    // ---------------------------------------------------------------- the standby shim

    /// <summary>
    /// Keep one run-on-start shim started ahead (`berth-shim --standby`): a container's start then hands it its options
    /// and listener over a socket pair instead of starting a process, so the shim's start-up (the NativeAOT runtime's
    /// initialisation, a millisecond or two) is off the start's path. It costs one idle shim per berthd.
    /// </summary>
    public bool KeepStandby { get; init; } = true;

    private readonly Lock _standbyGate = new();
    private (int Pid, int Socket)? _standby;

    /// <summary>The standby shim waiting for a container, if one is.</summary>
    public int? StandbyPid { get { lock (_standbyGate) return _standby?.Pid; } }
    private bool _standbyStarting, _standbyStopped;

    /// <summary>Gives the standby shim this container's options and listener; its pid, or null when there is none (or it
    /// is gone), and then the caller starts a shim itself.</summary>
    private int? HandToStandby(ShimOptions options, int listener)
    {
        (int Pid, int Socket)? standby;
        lock (_standbyGate) { standby = _standby; _standby = null; }
        if (standby is not { } s) return null;
        try
        {
            _sys.SendDescriptor(s.Socket, listener, string.Join('\0', options.ToArguments()));
            return s.Pid;
        }
        catch (SyscallException)
        {
            // It died (killed by someone): gone for good, reaped here, as it is berthd's child.
            try { _sys.SendSignal(s.Pid, 9); _sys.WaitForChild(s.Pid, out _); } catch (SyscallException) { }
            return null;
        }
        finally { _sys.CloseFd(s.Socket); }
    }

    /// <summary>Starts a standby shim when there is none, off the caller's thread. <paramref name="stateRoot"/> is only shown
    /// in its command line (where berthd's containers' state lives), so that `ps` names whose shim it is.</summary>
    private void StartStandby(string stateRoot)
    {
        lock (_standbyGate)
        {
            if (_standby is not null || _standbyStarting || _standbyStopped) return;
            _standbyStarting = true;
        }
        _ = Task.Run(() =>
        {
            (int Pid, int Socket)? started = null;
            try
            {
                var (mine, theirs) = _sys.CreateSocketPair();
                var devNull = -1;
                try
                {
                    devNull = _sys.OpenFile("/dev/null", OpenFlags.O_RDWR);
                    started = (_sys.SpawnProcess(ShimPath, ["berth-shim", "--standby", "--state-root", stateRoot], ShimEnvironment, theirs, devNull, devNull), mine);
                }
                catch (SyscallException) { _sys.CloseFd(mine); }
                finally
                {
                    _sys.CloseFd(theirs);
                    if (devNull >= 0) _sys.CloseFd(devNull);
                }
            }
            catch (SyscallException) { } // no standby: the next start spawns its shim as without one
            (int Pid, int Socket)? unwanted = null;
            lock (_standbyGate)
            {
                _standbyStarting = false;
                if (_standby is not null || _standbyStopped) unwanted = started;
                else _standby = started;
            }
            if (unwanted is { } u) StopStandby(u);
        });
    }

    /// <summary>Lets the standby shim go (it reads the end of its socket and exits) and reaps it; none is started after.</summary>
    public void StopStandby()
    {
        (int Pid, int Socket)? standby;
        lock (_standbyGate)
        {
            _standbyStopped = true;
            standby = _standby;
            _standby = null;
        }
        if (standby is { } s) StopStandby(s);
    }

    private void StopStandby((int Pid, int Socket) standby)
    {
        _sys.CloseFd(standby.Socket);
        try { _sys.WaitForChild(standby.Pid, out _); } catch (SyscallException) { }
    }

    private string ReadReport(int fd)
    {
        var buffer = new byte[4096];
        var length = 0;
        try
        {
            while (length < buffer.Length)
            {
                var n = _sys.ReadSome(fd, buffer.AsSpan(length));
                if (n == 0) break;
                length += n;
                if (Array.IndexOf(buffer, (byte)'\n', 0, length) >= 0) break;
            }
        }
        finally { _sys.CloseFd(fd); }
        return Encoding.UTF8.GetString(buffer, 0, length).Trim();
    }

    private void Reap(int pid)
    {
        try { _sys.WaitForChild(pid, out _); } catch (SyscallException) { }
    }

    private static string ShimLogTail(string stateDirectory)
    {
        try
        {
            var text = File.ReadAllText(Path.Combine(stateDirectory, "shim.log")).Trim();
            return text.Length == 0 ? "" : ": " + (text.Length > 500 ? text[^500..] : text);
        }
        catch (IOException) { return ""; }
    }

    private static void RemoveStateFiles(string stateDirectory)
    {
        foreach (var name in new[] { ShimProtocol.InitPidFile, ShimProtocol.ShimPidFile, ShimProtocol.RuntimeLogFile, ShimProtocol.SocketName, "shim.log", LaunchFile, ExitRecord.FileName })
        {
            try { File.Delete(Path.Combine(stateDirectory, name)); } catch (IOException) { }
        }
    }

    public ISupervisedContainer? Reattach(string containerId, string stateDirectory)
    {
        LaunchRecord? record;
        try { record = JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(stateDirectory, LaunchFile)), SupervisionJsonContext.Default.LaunchRecord); }
        catch (Exception e) when (e is IOException or JsonException) { return null; }
        if (record is null) return null;
        var connection = ShimConnection.TryConnect(_sys, stateDirectory);
        if (connection is null) return null;
        int pid;
        try { pid = int.Parse(File.ReadAllText(Path.Combine(stateDirectory, ShimProtocol.InitPidFile)).Trim(), System.Globalization.CultureInfo.InvariantCulture); }
        catch (Exception e) when (e is IOException or FormatException)
        {
            _ = connection.DisposeAsync();
            return null;
        }
        return new ShimContainer(_sys, ShimPath, record with { ContainerId = containerId }, stateDirectory, pid, connection, ownShimChild: false);
    }

    public ProcessExit? ReadRecordedExit(string stateDirectory) => ToProcessExit(ExitRecord.Read(stateDirectory));

    internal static ProcessExit? ToProcessExit(ExitRecord? record)
        => record is { } r ? new ProcessExit(r.ExitCode, DateTimeOffset.UnixEpoch.AddTicks(r.FinishedUnixNanoseconds / 100), r.OomKilled) : null;
}

[JsonSerializable(typeof(ShimSupervisor.LaunchRecord))]
internal sealed partial class SupervisionJsonContext : JsonSerializerContext;
