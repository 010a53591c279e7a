using System.Text;
using System.Text.Json;
using Berth.Linux;

namespace Berth.Shim;

/// <summary>The runtime's `delete --force ID` under ROOT, run in the shim's own process (berth-runtime's library, linked
/// into berth-shim): null on success, else the runtime's message; its warnings and error go to LOG.</summary>
public delegate string? LinkedDelete(string runtimeRoot, string containerId, string logPath);

/// <summary>
/// berth-shim: the parent of one container. It leaves berthd's session, becomes a child subreaper, gives the
/// container its stdio (pipes, or the pty master the runtime sends over a console socket), runs the runtime's
/// create, reports "created PID" or "error MESSAGE" on its stdout (with --run-on-start: reports "ready" and runs the
/// runtime's `run --detach` when the first Start comes), and then does almost nothing: one thread in one
/// poll(2) loop draining the container's output into the json-file log (so pipes never fill, whatever berthd
/// does), serving attach/wait/resize/start on shim.sock, and, when the init exits, recording the exit in exit.json,
/// running the runtime's delete (so berthd need not spawn it on `run --rm`'s path) and leaving once the clients
/// connected then have been told.
/// </summary>
public sealed class ContainerShim
{
    private const int DrainAfterExitMs = 2000, FlushClientsMs = 5000, BackPressureBytes = 1 << 20, ReleaseMemoryAfterMs = 1000, ReleaseMemoryAfterStartMs = 250;
    private long _releaseMemoryAt = long.MaxValue;

    private readonly ISyscalls _sys;
    private readonly ShimOptions _options;
    /// <summary>Set when berthd said the runtime is the linked berth-runtime: its delete needs no process.</summary>
    private readonly LinkedDelete? _linkedDelete;
    private readonly byte[] _scratch = new byte[32 * 1024];
    private readonly List<Client> _clients = [];
    private PollEntry[] _polls = new PollEntry[8];

    private int _listener = -1, _outFd = -1, _errFd = -1, _stdinFd = -1, _masterFd = -1, _initHandle = -1, _initPid;
    private JsonLogWriter? _log;
    private OomCounter? _oom;
    private byte[]? _stdinPending;
    private int _stdinPendingLength;
    private bool _stdinCloseRequested;
    private bool _initExited, _finished;
    private int _initStatus;
    private long _exitNanoseconds, _drainDeadline, _finishDeadline;
    private ExitRecord _exit;

    // The runtime's start and delete, run by the shim as children it watches in its loop (pidfds), never blocking it.
    private int _startPid, _startHandle = -1, _deletePid, _deleteHandle = -1;
    private Client? _startClient;
    private long _startLogOffset, _deleteLogOffset;
    private bool _deleting, _deleteDeferred, _deleteDone;
    private string? _deleteFailure;
    private List<string>? _runtimeEnvironment;
    /// <summary>What went wrong preparing the run after "ready" was reported (the log could not be opened).</summary>
    private string? _setupFailure;
    /// <summary>A run-on-start shim's stdin pipe, read end, kept for the run (the write end is _stdinFd from the start).</summary>
    private int _runStdinFd = -1;

    private sealed class Client(int fd)
    {
        public readonly int Fd = fd;
        public byte[] In = new byte[64];
        public int InLength;
        public byte[]? Out;
        public int OutStart, OutLength;
        public bool Waiting, Attached, Stdin, Stdout, Stderr, CloseAfterFlush, Closed;
        public int Pending => OutLength - OutStart;
    }

    private ContainerShim(ISyscalls sys, ShimOptions options, LinkedDelete? linkedDelete)
    {
        _sys = sys;
        _options = options;
        _linkedDelete = options.RuntimeLinked ? linkedDelete : null;
    }

    /// <summary>berth-shim's entry; <paramref name="linkedDelete"/> is the runtime's delete when the shim links
    /// berth-runtime's library (used only when berthd passes --linked-runtime).</summary>
    public static int Main(string[] args, LinkedDelete? linkedDelete = null)
    {
        var sys = LinuxSyscalls.Instance;
        if (args.Length > 0 && args[0] == "exec-wait") return ExecWaiter.Run(sys, args.AsSpan(1));
        if (args.Length > 0 && args[0] == "--standby") return Standby(sys, linkedDelete);
        ShimOptions options;
        try { options = ShimOptions.Parse(args); }
        catch (ArgumentException e) { Report(sys, "error " + e.Message); return 2; }
        return new ContainerShim(sys, options, linkedDelete).Run();
    }

    /// <summary>
    /// A shim started ahead by berthd (ShimSupervisor's standby): it waits on its stdin, one end of a socket pair, for a
    /// container's options (NUL-separated) with its listening socket (SCM_RIGHTS), then is that container's shim exactly
    /// as if started with them: the listener on fd 0, its shim.log on stdout and stderr. The end of the socket without a
    /// message (berthd stopped, or let its standby go) ends it.
    /// </summary>
    private static int Standby(ISyscalls sys, LinkedDelete? linkedDelete)
    {
        try { sys.ChangeDirectory("/"); } catch (SyscallException) { } // pins nothing of berthd's while it waits
        int listener;
        string text;
        try { listener = sys.ReceiveDescriptor(0, out text); }
        catch (SyscallException) { return 0; }
        if (listener < 0) return 0;
        ShimOptions options;
        try { options = ShimOptions.Parse(text.Split('\0', StringSplitOptions.RemoveEmptyEntries)); }
        catch (ArgumentException e) { Console.Error.WriteLine(e.Message); return 2; }
        try
        {
            Directory.CreateDirectory(options.StateDirectory);
            var log = sys.OpenFile(Path.Combine(options.StateDirectory, "shim.log"), OpenFlags.O_WRONLY | OpenFlags.O_CREAT | OpenFlags.O_APPEND, 0b110_100_000);
            sys.DuplicateTo(log, 1);
            sys.DuplicateTo(log, 2);
            sys.CloseFd(log);
        }
        catch (Exception e) when (e is SyscallException or IOException or UnauthorizedAccessException) { } // the shim runs on; its messages are lost
        sys.DuplicateTo(listener, 0);
        sys.CloseFd(listener);
        return new ContainerShim(sys, options, linkedDelete).Run();
    }

    private string StatePath(string name) => Path.Combine(_options.StateDirectory, name);

    private int Run()
    {
        try { _sys.StartSession(); } catch (SyscallException) { } // already a session leader
        try
        {
            _sys.BecomeSubreaper();
            _sys.IgnoreBrokenPipe();
            Directory.CreateDirectory(_options.StateDirectory);
            _sys.ChangeDirectory(_options.StateDirectory); // nothing of the shim pins berthd's working directory
            File.WriteAllText(StatePath(ShimProtocol.ShimPidFile), Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (_options.ListenerOnStdin)
            {
                // berthd's listening socket (non-blocking, as accept here needs): posix_spawn of the shim's children
                // puts their own stdin on fd 0, so it goes to none of them.
                _listener = 0;
            }
            else
            {
                _sys.Unlink(StatePath(ShimProtocol.SocketName));
                _listener = _sys.ListenUnixSocket(StatePath(ShimProtocol.SocketName), 16);
            }
            if (!_options.RunOnStart) OpenLog();
            else if (_options.OpenStdin && !_options.Tty)
            {
                // Attached stdin may send before the start (docker run -i): it waits in the pipe the run will be given.
                (_runStdinFd, _stdinFd) = _sys.CreatePipe();
                _sys.SetNonBlocking(_stdinFd);
            }
        }
        catch (Exception e) when (e is SyscallException or IOException or UnauthorizedAccessException)
        {
            Report(_sys, "error " + e.Message);
            CleanUpFailedStart();
            return 1;
        }

        if (_options.RunOnStart)
        {
            // The runtime's create and start are one `run --detach` when berthd's Start comes: attaches made before it
            // (docker run) are in place before the process writes, and one runtime process less runs per container.
            // With berthd's own listener its requests are queued already: no "ready" is awaited.
            if (!_options.ListenerOnStdin) Report(_sys, "ready");
            // What only the run needs is made while berthd connects its attaches and sends the Start; a failure here
            // is the Start's answer.
            try
            {
                OpenLog();
                _runtimeEnvironment ??= RuntimeEnvironment();
            }
            catch (Exception e) when (e is SyscallException or IOException or UnauthorizedAccessException)
            {
                _setupFailure = e.Message;
            }
        }
        else
        {
            string? error;
            try { error = Launch("create"); }
            catch (Exception e) when (e is SyscallException or IOException or UnauthorizedAccessException or FormatException)
            {
                error = e.Message;
            }
            if (error is not null)
            {
                Report(_sys, "error " + error);
                CleanUpFailedStart();
                return 1;
            }
            Report(_sys, "created " + _initPid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        var devNull = _sys.OpenFile("/dev/null", OpenFlags.O_RDWR);
        _sys.DuplicateTo(devNull, 1); // berthd reads the report to end of file
        _sys.CloseFd(devNull);
        // The release of start-up pages reads /proc/self/smaps (a millisecond or more): not while berthd's Start is on
        // its way, but once the start has been answered, or after a second without one.
        _releaseMemoryAt = Environment.TickCount64 + ReleaseMemoryAfterMs;
        Loop();
        return 0;
    }

    private void OpenLog()
    {
        if (_options.LogPath is null) return;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(_options.LogPath))!);
        _log = new JsonLogWriter(_sys, _options.LogPath, _options.LogMaxSize, _options.LogMaxFiles);
    }

    private static void Report(ISyscalls sys, string line)
    {
        try { sys.WriteAll(1, Encoding.UTF8.GetBytes(line.ReplaceLineEndings(" ").Trim() + "\n")); }
        catch (SyscallException) { } // nobody is listening: berthd went away while we started
    }

    private void CleanUpFailedStart()
    {
        _log?.Dispose();
        if (_listener >= 0) _sys.CloseFd(_listener);
        try { _sys.Unlink(StatePath(ShimProtocol.SocketName)); _sys.Unlink(StatePath(ShimProtocol.ShimPidFile)); }
        catch (SyscallException) { }
    }

    // ---------------------------------------------------------------- create

    /// <summary>
    /// Runs the runtime's create, or its `run --detach` (create and start in one process), with the container's stdio;
    /// null on success, else the runtime's message. While `run` runs, the container already writes: its output goes to
    /// the log and to attached clients as in the loop.
    /// </summary>
    private string? Launch(string verb)
    {
        var running = verb == "run";
        var devNull = _sys.OpenFile("/dev/null", OpenFlags.O_RDWR);
        int childIn = devNull, childOut, childErr, consoleListener = -1;
        string? consolePath = null;
        int captureOut = -1, captureErr;
        if (_options.Tty)
        {
            consolePath = StatePath("console.sock");
            if (Encoding.UTF8.GetByteCount(consolePath) >= 108) consolePath = $"/tmp/berth-console-{Environment.ProcessId}.sock";
            _sys.Unlink(consolePath);
            consoleListener = _sys.ListenUnixSocket(consolePath, 1);
            childOut = devNull;
            (captureErr, childErr) = _sys.CreatePipe();
        }
        else
        {
            (captureOut, childOut) = _sys.CreatePipe();
            (captureErr, childErr) = _sys.CreatePipe();
            if (_runStdinFd >= 0) (childIn, _runStdinFd) = (_runStdinFd, -1);
            else if (_options.OpenStdin) (childIn, _stdinFd) = _sys.CreatePipe();
        }

        var argv = new List<string>
        {
            _options.Runtime, "--root", _options.RuntimeRoot, "--log", StatePath(ShimProtocol.RuntimeLogFile), "--log-format", "json",
            verb, "--bundle", _options.Bundle, "--pid-file", StatePath(ShimProtocol.InitPidFile),
        };
        if (running) argv.Add("--detach");
        if (consolePath is not null) argv.AddRange(["--console-socket", consolePath]);
        argv.Add(_options.ContainerId);
        _sys.Unlink(StatePath(ShimProtocol.InitPidFile));
        _sys.Unlink(StatePath(ExitRecord.FileName));

        int runtimePid;
        try { runtimePid = _sys.SpawnProcess(_options.Runtime, argv, _runtimeEnvironment ??= RuntimeEnvironment(), childIn, childOut, childErr); }
        finally
        {
            if (childIn != devNull) _sys.CloseFd(childIn);
            if (childOut != devNull) _sys.CloseFd(childOut);
            _sys.CloseFd(childErr);
            _sys.CloseFd(devNull);
        }

        // While create runs: keep its stderr (the runtime's messages; for pipes, also the container's stderr, which
        // is silent until start) and take the pty master when the runtime sends it. While `run` runs, the pipes are
        // the container's output already: logged and sent to clients.
        if (running && !_options.Tty)
        {
            _outFd = captureOut;
            _errFd = captureErr;
            captureOut = captureErr = -1;
            _sys.SetNonBlocking(_outFd);
            _sys.SetNonBlocking(_errFd);
        }
        var captured = new MemoryStream();
        var runtimeHandle = _sys.OpenProcessHandle(runtimePid);
        Span<PollEntry> polls = stackalloc PollEntry[4];
        while (true)
        {
            var n = 0;
            polls[n++] = new PollEntry(runtimeHandle, PollEntry.In);
            if (captureErr >= 0) polls[n++] = new PollEntry(captureErr, PollEntry.In);
            if (captureOut >= 0) polls[n++] = new PollEntry(captureOut, PollEntry.In);
            if (consoleListener >= 0) polls[n++] = new PollEntry(consoleListener, PollEntry.In);
            if (running && _outFd >= 0) polls[n++] = new PollEntry(_outFd, PollEntry.In);
            if (running && _errFd >= 0) polls[n++] = new PollEntry(_errFd, PollEntry.In);
            _sys.Poll(polls[..n], -1);
            for (var i = 1; i < n; i++)
            {
                if (!polls[i].Readable) continue;
                var fd = polls[i].Fd;
                if (running && (fd == _outFd || fd == _errFd))
                {
                    ReadOutput(fd, stderr: fd == _errFd);
                    continue;
                }
                if (fd == consoleListener)
                {
                    var connection = _sys.Accept(consoleListener);
                    if (connection < 0) continue;
                    if (_sys.WaitReadable([connection], 10_000) == 0) _masterFd = _sys.ReceiveDescriptor(connection, out _);
                    _sys.CloseFd(connection);
                    continue;
                }
                var read = _sys.ReadSome(fd, _scratch);
                if (read > 0 && captured.Length < 64 * 1024) captured.Write(_scratch, 0, read);
                if (read == 0)
                {
                    _sys.CloseFd(fd);
                    if (fd == captureErr) captureErr = -1; else captureOut = -1;
                }
            }
            if (polls[0].Readable) break;
        }
        _sys.WaitForChild(runtimePid, out var status);
        _sys.CloseFd(runtimeHandle);
        if (consoleListener >= 0)
        {
            _sys.CloseFd(consoleListener);
            _sys.Unlink(consolePath!);
        }
        if (_options.Tty && captureErr >= 0) { _sys.CloseFd(captureErr); captureErr = -1; }

        string? failure = null;
        if (!WaitStatus.Exited(status) || WaitStatus.ExitCode(status) != 0)
        {
            failure = LastRuntimeError() ?? LastLine(captured)
                ?? $"{Path.GetFileName(_options.Runtime)} {verb} exited with status {WaitStatus.ShellCode(status)}";
        }
        else
        {
            _initPid = int.Parse(File.ReadAllText(StatePath(ShimProtocol.InitPidFile)).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            if (_options.Tty && _masterFd < 0) failure = "the runtime sent no terminal over the console socket";
        }
        if (failure is not null)
        {
            if (captureOut >= 0) _sys.CloseFd(captureOut);
            if (captureErr >= 0) _sys.CloseFd(captureErr);
            if (_outFd >= 0) { _sys.CloseFd(_outFd); _outFd = -1; }
            if (_errFd >= 0) { _sys.CloseFd(_errFd); _errFd = -1; }
            if (_stdinFd >= 0) { _sys.CloseFd(_stdinFd); _stdinFd = -1; }
            if (_masterFd >= 0) { _sys.CloseFd(_masterFd); _masterFd = -1; }
            if (_initPid > 0) ForceDeleteQuietly();
            _initPid = 0;
            return failure;
        }

        // The init is the shim's child now (`run` and create leave it to their parent, a subreaper); not reaped yet, so
        // its pidfd opens even when it has exited already.
        _initHandle = _sys.OpenProcessHandle(_initPid);
        // After create the init waits for start, in its cgroup. After `run` it may have exited already (a zombie's
        // /proc/PID/cgroup names the root): then the cgroup comes from the bundle's config.json. The cgroup is the
        // run's own, new: its OOM count starts at zero.
        _oom = running ? OomCounter.ForRun(_initPid, _options.Bundle) : OomCounter.ForProcess(_initPid);
        if (_options.Tty)
        {
            _outFd = _masterFd;
            if (_options.OpenStdin) _stdinFd = _masterFd;
            _sys.SetNonBlocking(_masterFd);
        }
        else
        {
            if (!running)
            {
                _outFd = captureOut;
                _errFd = captureErr;
                _sys.SetNonBlocking(_outFd);
                _sys.SetNonBlocking(_errFd);
            }
            if (_stdinFd >= 0) _sys.SetNonBlocking(_stdinFd);
        }
        return null;
    }

    /// <summary>The shim's environment without the GC knobs berthd sets for the shim itself.</summary>
    private static List<string> RuntimeEnvironment()
    {
        var env = new List<string>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            var name = (string)e.Key;
            if (name.StartsWith("DOTNET_", StringComparison.Ordinal)) continue;
            env.Add(name + "=" + (string?)e.Value);
        }
        if (!env.Exists(v => v.StartsWith("PATH=", StringComparison.Ordinal))) env.Add("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        return env;
    }

    /// <summary>The runtime's `delete --force` after a failed create or run, its outcome ignored: leave nothing running.</summary>
    private void ForceDeleteQuietly()
    {
        if (_linkedDelete is not null)
        {
            _linkedDelete(_options.RuntimeRoot, _options.ContainerId, StatePath(ShimProtocol.RuntimeLogFile));
            return;
        }
        var devNull = _sys.OpenFile("/dev/null", OpenFlags.O_RDWR);
        try
        {
            var pid = _sys.SpawnProcess(_options.Runtime, [_options.Runtime, "--root", _options.RuntimeRoot, "delete", "--force", _options.ContainerId],
                _runtimeEnvironment ??= RuntimeEnvironment(), devNull, devNull, devNull);
            _sys.WaitForChild(pid, out _);
        }
        catch (SyscallException) { }
        finally { _sys.CloseFd(devNull); }
    }

    /// <summary>Starts a runtime verb with its --log in the state directory and no stdio; returns its pid.</summary>
    private int SpawnRuntime(params string[] verb)
    {
        var devNull = _sys.OpenFile("/dev/null", OpenFlags.O_RDWR);
        try
        {
            return _sys.SpawnProcess(_options.Runtime,
                [_options.Runtime, "--root", _options.RuntimeRoot, "--log", StatePath(ShimProtocol.RuntimeLogFile), "--log-format", "json", .. verb],
                _runtimeEnvironment ??= RuntimeEnvironment(), devNull, devNull, devNull);
        }
        finally { _sys.CloseFd(devNull); }
    }

    private long RuntimeLogLength()
    {
        try { return new FileInfo(StatePath(ShimProtocol.RuntimeLogFile)).Length; }
        catch (IOException) { return 0; }
    }

    /// <summary>The last error the runtime wrote to its --log (runc's and berth-runtime's JSON lines) after byte <paramref name="from"/>.</summary>
    private string? LastRuntimeError(long from = 0)
    {
        string[] lines;
        try
        {
            using var file = new FileStream(StatePath(ShimProtocol.RuntimeLogFile), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            if (from > file.Length) from = 0;
            file.Seek(from, SeekOrigin.Begin);
            lines = new StreamReader(file).ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (IOException) { return null; }
        for (var i = lines.Length - 1; i >= 0; i--)
        {
            try
            {
                using var doc = JsonDocument.Parse(lines[i]);
                if (doc.RootElement.TryGetProperty("level", out var level) && level.GetString() is "error" or "fatal"
                    && doc.RootElement.TryGetProperty("msg", out var msg) && msg.GetString() is { Length: > 0 } text) return text;
            }
            catch (JsonException) { }
        }
        return null;
    }

    private static string? LastLine(MemoryStream captured)
    {
        var text = Encoding.UTF8.GetString(captured.GetBuffer(), 0, (int)captured.Length).Trim();
        if (text.Length == 0) return null;
        var last = text.LastIndexOf('\n');
        return last < 0 ? text : text[(last + 1)..];
    }

    // ---------------------------------------------------------------- the loop

    private void Loop()
    {
        while (true)
        {
            var n = BuildPollSet();
            var timeout = -1;
            if (_finished) timeout = Remaining(_finishDeadline);
            else if (_initExited) timeout = Remaining(_drainDeadline);
            if (_releaseMemoryAt != long.MaxValue) timeout = timeout < 0 ? Remaining(_releaseMemoryAt) : Math.Min(timeout, Remaining(_releaseMemoryAt));
            _sys.Poll(_polls.AsSpan(0, n), timeout);

            ReapChildren();
            for (var i = 0; i < n; i++)
            {
                ref var p = ref _polls[i];
                if (p.Returned == 0) continue;
                var fd = p.Fd;
                if (fd == _listener) AcceptClients();
                else if (fd == _outFd)
                {
                    if (_stdinFd == _outFd && (p.Returned & PollEntry.Out) != 0) FlushStdin();
                    if (p.Readable) ReadOutput(_outFd, stderr: false);
                }
                else if (fd == _errFd && p.Readable) ReadOutput(_errFd, stderr: true);
                else if (fd == _initHandle || fd == _startHandle || fd == _deleteHandle) { } // ReapChildren took care of it
                else if (fd == _stdinFd && p.Writable && (p.Events & PollEntry.Out) != 0) FlushStdin();
                else
                {
                    var client = FindClient(fd);
                    if (client is null) continue;
                    if (p.Writable && client.Pending > 0) FlushClient(client);
                    if ((p.Returned & (PollEntry.In | PollEntry.HangUp | PollEntry.Error)) != 0) ReadClient(client);
                }
            }
            _clients.RemoveAll(c => c.Closed);
            if (_startPid == 0 && Environment.TickCount64 >= _releaseMemoryAt)
            {
                _releaseMemoryAt = long.MaxValue;
                StartupMemory.Release(_sys);
            }

            if (_initExited && !_finished && ((_outFd < 0 && _errFd < 0) || Environment.TickCount64 >= _drainDeadline)) Finish();
            if (_finished)
            {
                // Waiters stay until they are told Deleted, the start's client until it has its answer.
                var busy = _startPid != 0 || (_deleting && !_deleteDone);
                foreach (var c in _clients) if (c.Pending == 0 && !(busy && (c.Waiting || c == _startClient))) CloseClient(c);
                _clients.RemoveAll(c => c.Closed);
                if ((_clients.Count == 0 && !busy) || Environment.TickCount64 >= _finishDeadline) break;
            }
        }
        foreach (var c in _clients) CloseClient(c);
    }

    private static int Remaining(long deadline) => (int)Math.Clamp(deadline - Environment.TickCount64, 0, int.MaxValue);

    private int BuildPollSet()
    {
        var needed = 8 + _clients.Count;
        if (_polls.Length < needed) _polls = new PollEntry[needed * 2];
        var n = 0;
        var outputBlocked = false;
        foreach (var c in _clients) if (c.Attached && c.Pending > BackPressureBytes) outputBlocked = true;
        if (_listener >= 0) _polls[n++] = new PollEntry(_listener, PollEntry.In);
        if (!outputBlocked)
        {
            if (_outFd >= 0) _polls[n++] = new PollEntry(_outFd, (short)(PollEntry.In | (_stdinFd == _outFd && _stdinPendingLength > 0 ? PollEntry.Out : 0)));
            if (_errFd >= 0) _polls[n++] = new PollEntry(_errFd, PollEntry.In);
        }
        if (_initHandle >= 0) _polls[n++] = new PollEntry(_initHandle, PollEntry.In);
        if (_startHandle >= 0) _polls[n++] = new PollEntry(_startHandle, PollEntry.In);
        if (_deleteHandle >= 0) _polls[n++] = new PollEntry(_deleteHandle, PollEntry.In);
        if (_stdinFd >= 0 && _stdinFd != _outFd && _stdinPendingLength > 0) _polls[n++] = new PollEntry(_stdinFd, PollEntry.Out);
        var stdinBlocked = _stdinPendingLength > BackPressureBytes;
        foreach (var c in _clients)
        {
            short events = 0;
            if (!(stdinBlocked && c.Stdin) && !_finished) events |= PollEntry.In;
            if (c.Pending > 0) events |= PollEntry.Out;
            _polls[n++] = new PollEntry(c.Fd, events);
        }
        return n;
    }

    private Client? FindClient(int fd)
    {
        foreach (var c in _clients) if (c.Fd == fd && !c.Closed) return c;
        return null;
    }

    private void ReapChildren()
    {
        while (true)
        {
            var pid = _sys.ReapAnyChild(out var status);
            if (pid <= 0) return;
            if (pid == _startPid) { StartDone(status); continue; }
            if (pid == _deletePid) { DeleteDone(status); continue; }
            if (pid != _initPid || _initExited) continue;
            _initExited = true;
            _initStatus = status;
            _exitNanoseconds = _sys.RealtimeNanoseconds();
            _drainDeadline = Environment.TickCount64 + DrainAfterExitMs;
            _sys.CloseFd(_initHandle);
            _initHandle = -1;
        }
    }

    private void ReadOutput(int fd, bool stderr)
    {
        var n = _sys.TryRead(fd, _scratch);
        if (n < 0) return;
        var now = _sys.RealtimeNanoseconds();
        if (n == 0)
        {
            _log?.Flush(stderr, now);
            if (fd == _stdinFd) _stdinFd = -1; // a pty: stdin and output are the master
            _sys.CloseFd(fd);
            if (stderr) _errFd = -1; else _outFd = -1;
            if (fd == _masterFd) _masterFd = -1;
            return;
        }
        var data = _scratch.AsSpan(0, n);
        _log?.Append(stderr, data, now);
        var kind = stderr ? ShimProtocol.Stderr : ShimProtocol.Stdout;
        foreach (var c in _clients)
        {
            if (c.Attached && !c.CloseAfterFlush && (stderr ? c.Stderr : c.Stdout)) Send(c, kind, data);
        }
    }

    /// <summary>
    /// Accepts the waiting connections and reads what each has sent already, in the order they connected: a client that
    /// sent an Attach before it (or another) connected for the Start has its attach in place before the run begins,
    /// with no acknowledgement awaited in between.
    /// </summary>
    private void AcceptClients()
    {
        while (_listener >= 0)
        {
            var fd = _sys.Accept(_listener);
            if (fd < 0) return;
            // An earlier connection may have been accepted before its request arrived (berthd writes an Attach, then connects
            // for the Start): what it has sent since comes before anything of this one's.
            foreach (var earlier in _clients.ToArray())
                if (!earlier.Closed) ReadClient(earlier);
            var client = new Client(fd);
            _clients.Add(client);
            ReadClient(client);
        }
    }

    private void ReadClient(Client client)
    {
        if (client.In.Length - client.InLength < 512 && client.In.Length < ShimProtocol.HeaderSize + ShimProtocol.MaxPayload)
            Array.Resize(ref client.In, Math.Min(Math.Max(client.In.Length * 2, 4096), ShimProtocol.HeaderSize + ShimProtocol.MaxPayload));
        var n = _sys.TryRead(client.Fd, client.In.AsSpan(client.InLength));
        if (n < 0) return;
        if (n == 0) { Disconnected(client); return; }
        client.InLength += n;
        var offset = 0;
        while (client.InLength - offset >= ShimProtocol.HeaderSize)
        {
            var kind = client.In[offset];
            var length = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(client.In.AsSpan(offset + 1));
            if (length < 0 || length > ShimProtocol.MaxPayload) { Disconnected(client); return; }
            if (client.InLength - offset - ShimProtocol.HeaderSize < length)
            {
                if (client.In.Length < ShimProtocol.HeaderSize + length) Array.Resize(ref client.In, ShimProtocol.HeaderSize + length + offset);
                break;
            }
            Handle(client, kind, client.In.AsSpan(offset + ShimProtocol.HeaderSize, length));
            offset += ShimProtocol.HeaderSize + length;
            if (client.Closed) return;
        }
        if (offset > 0)
        {
            client.In.AsSpan(offset, client.InLength - offset).CopyTo(client.In);
            client.InLength -= offset;
            if (client.InLength == 0 && client.In.Length > 64 * 1024) client.In = new byte[64];
        }
    }

    private void Handle(Client client, byte kind, ReadOnlySpan<byte> payload)
    {
        switch (kind)
        {
            case ShimProtocol.Wait:
                client.Waiting = true;
                if (!_finished) break;
                Send(client, ShimProtocol.Exit, ShimProtocol.ExitPayload(_exit, _deleting));
                if (_deleting && !_deleteDone) break; // Deleted follows when the delete ends
                client.CloseAfterFlush = true;
                if (_deleting) Send(client, ShimProtocol.Deleted, DeleteFailureBytes());
                break;
            case ShimProtocol.Start:
                BeginStart(client);
                break;
            case ShimProtocol.Attach:
                var flags = payload.Length > 0 ? payload[0] : (byte)0;
                client.Attached = true;
                client.Stdin = (flags & ShimProtocol.AttachStdin) != 0;
                client.Stdout = (flags & ShimProtocol.AttachStdout) != 0;
                client.Stderr = (flags & ShimProtocol.AttachStderr) != 0;
                // Acknowledged, so an attach made before start (docker run) is in place before the process writes.
                Send(client, ShimProtocol.Ok, default);
                if (_finished) { Send(client, ShimProtocol.End, default); client.CloseAfterFlush = true; }
                break;
            case ShimProtocol.Stdin:
                WriteStdin(payload);
                break;
            case ShimProtocol.CloseStdin:
                if (ClosesStdinOnDetach) RequestStdinClose();
                break;
            case ShimProtocol.Resize:
                if (_masterFd < 0 || payload.Length < 4) { Send(client, ShimProtocol.Failed, "the container has no terminal"u8); break; }
                try
                {
                    _sys.SetWindowSize(_masterFd, System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(payload),
                        System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(payload[2..]));
                    Send(client, ShimProtocol.Ok, default);
                }
                catch (SyscallException e) { Send(client, ShimProtocol.Failed, Encoding.UTF8.GetBytes(e.Message)); }
                break;
            default:
                Disconnected(client);
                break;
        }
    }

    private void Disconnected(Client client)
    {
        if (client.Attached && client.Stdin && ClosesStdinOnDetach) RequestStdinClose();
        CloseClient(client);
    }

    /// <summary>
    /// As moby: a client leaving closes a StdinOnce container's stdin, except on a terminal, where leaving is
    /// detaching (Ctrl-P Ctrl-Q) and the shell must live on.
    /// </summary>
    private bool ClosesStdinOnDetach => _options.StdinOnce && !_options.Tty;

    private void CloseClient(Client client)
    {
        if (client.Closed) return;
        client.Closed = true;
        _sys.CloseFd(client.Fd);
    }

    private void Send(Client client, byte kind, ReadOnlySpan<byte> payload)
    {
        if (client.Closed) return;
        var frame = ShimProtocol.HeaderSize + payload.Length;
        if (client.Pending == 0)
        {
            client.OutStart = client.OutLength = 0;
            if (client.Out is null || client.Out.Length < frame) client.Out = new byte[Math.Max(frame, 4096)];
        }
        else if (client.Out!.Length - client.OutLength < frame)
        {
            var pending = client.Pending;
            var bigger = new byte[Math.Max(pending + frame, client.Out.Length * 2)];
            client.Out.AsSpan(client.OutStart, pending).CopyTo(bigger);
            client.Out = bigger;
            client.OutStart = 0;
            client.OutLength = pending;
        }
        ShimProtocol.WriteHeader(client.Out.AsSpan(client.OutLength), kind, payload.Length);
        payload.CopyTo(client.Out.AsSpan(client.OutLength + ShimProtocol.HeaderSize));
        client.OutLength += frame;
        FlushClient(client);
    }

    private void FlushClient(Client client)
    {
        while (client.Pending > 0)
        {
            var n = _sys.TryWrite(client.Fd, client.Out.AsSpan(client.OutStart, client.Pending));
            if (n == -1) return;
            if (n < 0) { Disconnected(client); return; }
            client.OutStart += n;
        }
        client.OutStart = client.OutLength = 0;
        if (client.Out is { Length: > 64 * 1024 }) client.Out = null; // give a burst's buffer back
        if (client.CloseAfterFlush) CloseClient(client);
    }

    /// <summary>Before a run-on-start shim has run the container on a terminal, there is no master yet: stdin waits.</summary>
    private bool StdinWaitsForTheRun => _options.RunOnStart && _options.Tty && _initPid == 0 && !_finished;

    private void WriteStdin(ReadOnlySpan<byte> data)
    {
        if ((_stdinFd < 0 && !StdinWaitsForTheRun) || _stdinCloseRequested || data.IsEmpty) return;
        if (_stdinPendingLength == 0 && _stdinFd >= 0)
        {
            var n = _sys.TryWrite(_stdinFd, data);
            if (n == -2) { StdinGone(); return; }
            if (n > 0) data = data[n..];
            if (data.IsEmpty) return;
        }
        if (_stdinPending is null || _stdinPending.Length - _stdinPendingLength < data.Length)
            Array.Resize(ref _stdinPending, Math.Max(_stdinPendingLength + data.Length, 4096));
        data.CopyTo(_stdinPending.AsSpan(_stdinPendingLength));
        _stdinPendingLength += data.Length;
    }

    private void FlushStdin()
    {
        if (_stdinPending is null || _stdinFd < 0) return;
        var n = _sys.TryWrite(_stdinFd, _stdinPending.AsSpan(0, _stdinPendingLength));
        if (n == -2) { StdinGone(); return; }
        if (n <= 0) return;
        _stdinPending.AsSpan(n, _stdinPendingLength - n).CopyTo(_stdinPending);
        _stdinPendingLength -= n;
        if (_stdinPendingLength == 0)
        {
            _stdinPending = null;
            if (_stdinCloseRequested) StdinGone();
        }
    }

    private void RequestStdinClose()
    {
        if (_options.Tty || _stdinFd < 0) return; // a terminal has no half-close
        _stdinCloseRequested = true;
        if (_stdinPendingLength == 0) StdinGone();
    }

    private void StdinGone()
    {
        _stdinPending = null;
        _stdinPendingLength = 0;
        if (_stdinFd >= 0 && _stdinFd != _outFd) _sys.CloseFd(_stdinFd);
        _stdinFd = -1;
    }

    private void Finish()
    {
        // A request that came in beside the exit (a client accepted in this round, its Wait not read yet) is read now:
        // closing a connection with unread data resets it, and its Wait deserves the Exit.
        for (var i = 0; i < _clients.Count; i++) if (!_clients[i].Closed) ReadClient(_clients[i]);
        var now = _sys.RealtimeNanoseconds();
        if (_outFd >= 0) { _log?.Flush(false, now); _sys.CloseFd(_outFd); _outFd = -1; }
        if (_errFd >= 0) { _log?.Flush(true, now); _sys.CloseFd(_errFd); _errFd = -1; }
        if (_stdinFd >= 0 && _stdinFd != _masterFd) _sys.CloseFd(_stdinFd);
        _stdinFd = _masterFd = -1;
        _log?.Dispose();
        _exit = new ExitRecord(WaitStatus.ShellCode(_initStatus), _exitNanoseconds, _oom?.Killed() == true);
        try { _exit.WriteTo(_sys, _sys, _options.StateDirectory); }
        catch (Exception e) when (e is SyscallException or IOException) { Console.Error.WriteLine("berth-shim: recording the exit: " + e.Message); }
        _sys.CloseFd(_listener);
        _listener = -1;
        try { _sys.Unlink(StatePath(ShimProtocol.SocketName)); } catch (SyscallException) { }
        _finished = true;
        _finishDeadline = Environment.TickCount64 + FlushClientsMs;
        // The exit is told first, then the runtime's delete is started (its spawn waits for the delete's exec): berthd's
        // clean-up runs beside the delete, and Deleted follows on the same connections.
        _deleting = true;
        var exitPayload = ShimProtocol.ExitPayload(_exit, shimDeletes: true);
        foreach (var c in _clients)
        {
            if (c.Closed) continue;
            if (c.Attached) Send(c, ShimProtocol.End, default);
            if (c.Waiting) Send(c, ShimProtocol.Exit, exitPayload);
            if (c == _startClient || c.Waiting) continue; // answered later: the start's result, Deleted
            c.CloseAfterFlush = true;
            if (c.Pending == 0) CloseClient(c);
        }
        BeginDelete();
    }

    // ---------------------------------------------------------------- start and delete

    /// <summary>
    /// Start: the runtime's start, run by the shim (a vfork+exec of a small process) instead of berthd (whose
    /// Process.Start costs more and adds a hand-off); the answer goes to the client when the start process ends.
    /// </summary>
    private void BeginStart(Client client)
    {
        if (_startClient is not null) { Send(client, ShimProtocol.Failed, "a start is already in progress"u8); return; }
        if (_options.RunOnStart && _initPid == 0 && !_finished)
        {
            RunContainer(client);
            return;
        }
        _startLogOffset = RuntimeLogLength();
        try
        {
            _startPid = SpawnRuntime("start", _options.ContainerId);
            _startHandle = _sys.OpenProcessHandle(_startPid);
        }
        catch (SyscallException e)
        {
            if (_startPid == 0) { Send(client, ShimProtocol.Failed, Encoding.UTF8.GetBytes("starting the runtime: " + e.Message)); return; }
        }
        _startClient = client;
    }

    /// <summary>
    /// The first Start of a run-on-start shim: the runtime's `run --detach`, answered Ok with the init's pid, or Failed
    /// with the runtime's message, after which nothing of the container is left and the shim leaves.
    /// </summary>
    private void RunContainer(Client client)
    {
        string? error;
        try { error = _setupFailure ?? Launch("run"); }
        catch (Exception e) when (e is SyscallException or IOException or UnauthorizedAccessException or FormatException)
        {
            // The run may have gone through before this failed (its pid file unreadable): leave nothing running.
            error = e.Message;
            ForceDeleteQuietly();
            _initPid = 0;
        }
        client.CloseAfterFlush = true;
        if (error is null)
        {
            Send(client, ShimProtocol.Ok, Encoding.ASCII.GetBytes(_initPid.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            DeferMemoryRelease();
            return;
        }
        Send(client, ShimProtocol.Failed, Encoding.UTF8.GetBytes(error));
        // Nothing ran: no exit to record and nothing to delete. Waiters see the connection end; the shim leaves.
        _log?.Dispose();
        _log = null;
        _sys.CloseFd(_listener);
        _listener = -1;
        try { _sys.Unlink(StatePath(ShimProtocol.SocketName)); _sys.Unlink(StatePath(ShimProtocol.ShimPidFile)); } catch (SyscallException) { }
        _finished = true;
        _finishDeadline = Environment.TickCount64 + FlushClientsMs;
        foreach (var c in _clients) if (c != client) CloseClient(c);
    }

    private void StartDone(int status)
    {
        if (_startHandle >= 0) _sys.CloseFd(_startHandle);
        _startHandle = -1;
        _startPid = 0;
        var client = _startClient;
        _startClient = null;
        if (client is not null && !client.Closed)
        {
            client.CloseAfterFlush = true;
            if (WaitStatus.Exited(status) && WaitStatus.ExitCode(status) == 0) Send(client, ShimProtocol.Ok, default);
            else
            {
                var message = LastRuntimeError(_startLogOffset) ?? $"{Path.GetFileName(_options.Runtime)} start exited with status {WaitStatus.ShellCode(status)}";
                Send(client, ShimProtocol.Failed, Encoding.UTF8.GetBytes(message));
            }
        }
        if (_deleteDeferred) BeginDelete();
        DeferMemoryRelease();
    }

    /// <summary>
    /// Once the start is answered the loop may shed its start-up pages (a read of /proc/self/smaps, a millisecond of
    /// CPU), but not while a freshly started container does its first work beside it on a small machine: a little
    /// later, by when a short-lived container (run --rm … true) is gone and the shim with it.
    /// </summary>
    private void DeferMemoryRelease()
    {
        if (_releaseMemoryAt != long.MaxValue) _releaseMemoryAt = Environment.TickCount64 + ReleaseMemoryAfterStartMs;
    }

    /// <summary>
    /// Once the init has exited: the runtime's delete (cgroups, runtime state), so the container is gone by the time
    /// berthd hears Deleted; after a start still running, which must not find its state removed under it.
    /// </summary>
    private void BeginDelete()
    {
        _deleting = true;
        if (_startPid != 0) { _deleteDeferred = true; return; }
        _deleteDeferred = false;
        if (_linkedDelete is not null)
        {
            // The container has exited and its waiters have their Exit: nothing else needs the loop for the
            // millisecond the delete takes here, a fraction of a runtime process's start.
            DeleteFinished(_linkedDelete(_options.RuntimeRoot, _options.ContainerId, StatePath(ShimProtocol.RuntimeLogFile)));
            return;
        }
        _deleteLogOffset = RuntimeLogLength();
        try
        {
            _deletePid = SpawnRuntime("delete", "--force", _options.ContainerId);
            _deleteHandle = _sys.OpenProcessHandle(_deletePid);
        }
        catch (SyscallException e)
        {
            if (_deletePid == 0) DeleteFinished("running the runtime's delete: " + e.Message);
        }
    }

    private void DeleteDone(int status)
    {
        if (_deleteHandle >= 0) _sys.CloseFd(_deleteHandle);
        _deleteHandle = -1;
        _deletePid = 0;
        DeleteFinished(WaitStatus.Exited(status) && WaitStatus.ExitCode(status) == 0 ? null
            : LastRuntimeError(_deleteLogOffset) ?? $"{Path.GetFileName(_options.Runtime)} delete exited with status {WaitStatus.ShellCode(status)}");
    }

    private void DeleteFinished(string? failure)
    {
        _deleteDone = true;
        _deleteFailure = failure;
        var payload = DeleteFailureBytes();
        foreach (var c in _clients)
        {
            if (c.Closed || !c.Waiting || !_finished) continue;
            c.CloseAfterFlush = true;
            Send(c, ShimProtocol.Deleted, payload);
        }
    }

    private byte[] DeleteFailureBytes() => _deleteFailure is null ? [] : Encoding.UTF8.GetBytes(_deleteFailure);
}
