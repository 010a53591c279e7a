using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Berth.Linux;
using Berth.Oci.Runtime;
using Berth.Shim;

namespace Berth.Engine.Supervision;

/// <summary>A container under its berth-shim, as berthd sees it.</summary>
internal sealed class ShimContainer : ISupervisedContainer
{
    private readonly ISyscalls _sys;
    private readonly ShimSupervisor.LaunchRecord _record;
    private readonly string _stateDirectory;
    private readonly RuntimeCommand _runtime;
    private readonly ShimConnection? _waitConnection;
    private readonly TaskCompletionSource<ProcessExit> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    /// <summary>The shim's own delete after the exit: null when it succeeded, else why not (then berthd deletes).</summary>
    private readonly TaskCompletionSource<string?> _shimDeleted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _shimDeletes;
    private readonly CancellationTokenSource _disposed = new();
    private readonly bool _ownShimChild;

    private readonly string _shimPath;

    public ShimContainer(ISyscalls sys, string shimPath, ShimSupervisor.LaunchRecord record, string stateDirectory, int pid, ShimConnection? waitConnection, bool ownShimChild)
    {
        _sys = sys;
        _shimPath = shimPath;
        _record = record;
        _stateDirectory = stateDirectory;
        _runtime = new RuntimeCommand(record.RuntimePath, record.RuntimeRoot, stateDirectory);
        _waitConnection = waitConnection;
        _ownShimChild = ownShimChild;
        Pid = pid;
        _ = WaitForExitAsync();
    }

    public string ContainerId => _record.ContainerId;
    public int Pid { get; private set; }

    /// <summary>The shim creates nothing before StartAsync, which runs the runtime's `run --detach` and learns the pid.</summary>
    public bool RunsOnStart { get; init; }

    /// <summary>Called once the first StartAsync has its answer (the supervisor then starts its next standby shim).</summary>
    public Action? AfterStart { get; init; }

    /// <summary>A run-on-start shim's run failed: the shim left nothing behind and leaves; there is nothing to delete.</summary>
    private bool _runFailed;
    public Task<ProcessExit> Exited => _exited.Task;

    /// <summary>
    /// Holds the Wait request open; the shim answers Exit once the init has exited and its output is logged, then
    /// (when it said it deletes) Deleted once the runtime's delete is done: the exit is known at Exit, so berthd's own
    /// clean-up (the rootfs unmount) overlaps the shim's delete.
    /// </summary>
    private async Task WaitForExitAsync()
    {
        ExitRecord? exit = null;
        if (_waitConnection is not null)
        {
            try
            {
                await _waitConnection.SendAsync(ShimProtocol.Wait, default, _disposed.Token).ConfigureAwait(false);
                while (await _waitConnection.ReceiveAsync(_disposed.Token).ConfigureAwait(false) is { } frame)
                {
                    if (frame.Kind == ShimProtocol.Exit)
                    {
                        exit = ShimProtocol.ParseExit(frame.Payload, out var shimDeletes);
                        if (!shimDeletes || exit is null) break;
                        _shimDeletes = true;
                        _exited.TrySetResult(ShimSupervisor.ToProcessExit(exit)!);
                    }
                    else if (frame.Kind == ShimProtocol.Deleted)
                    {
                        _shimDeleted.TrySetResult(frame.Payload.Length == 0 ? null : Encoding.UTF8.GetString(frame.Payload));
                        break;
                    }
                }
            }
            catch (OperationCanceledException) { return; } // disposed: berthd lets go, the container runs on
            catch (IOException) { }
            catch (System.Net.Sockets.SocketException) { }
        }
        // The shim went away without telling (or was gone already): its exit record, if it wrote one.
        _shimDeleted.TrySetResult("the shim left without deleting the container");
        if (!_exited.Task.IsCompleted) exit ??= ExitRecord.Read(_stateDirectory);
        if (_ownShimChild) await Task.Run(() => { try { _sys.WaitForChild(_record.ShimPid, out _); } catch (SyscallException) { } }).ConfigureAwait(false);
        _exited.TrySetResult(ShimSupervisor.ToProcessExit(exit) ?? new ProcessExit(255, DateTimeOffset.UtcNow, false));
    }

    /// <summary>The shim runs the runtime's start (no process of berthd's own); a shim that does not know Start
    /// hangs up, and then berthd runs it.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try { await StartCoreAsync(cancellationToken).ConfigureAwait(false); }
        finally { AfterStart?.Invoke(); }
    }

    private async Task StartCoreAsync(CancellationToken cancellationToken)
    {
        var runs = RunsOnStart && Pid == 0;
        var connection = ShimConnection.TryConnect(_sys, _stateDirectory);
        if (connection is not null)
        {
            await using (connection.ConfigureAwait(false))
            {
                await connection.SendAsync(ShimProtocol.Start, default, cancellationToken).ConfigureAwait(false);
                // Never abandon a half-done start: the shim answers when the runtime's process has ended.
                var reply = await connection.ReceiveAsync(CancellationToken.None).ConfigureAwait(false);
                if (reply is { Kind: ShimProtocol.Ok } ok)
                {
                    if (runs)
                    {
                        if (!int.TryParse(ok.Payload, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid) || pid <= 0)
                            throw new RuntimeCommandException("start", "berth-shim answered the run without the container's pid");
                        Pid = pid;
                    }
                    return;
                }
                if (reply is { Kind: ShimProtocol.Failed } failed)
                {
                    _runFailed = runs;
                    throw new RuntimeCommandException("start", Encoding.UTF8.GetString(failed.Payload));
                }
            }
        }
        if (runs)
        {
            _runFailed = true;
            throw new RuntimeCommandException("start", $"berth-shim went away before starting the container{ShimLog()}");
        }
        await _runtime.RunAsync(cancellationToken, "start", ContainerId).ConfigureAwait(false);
    }

    private string ShimLog()
    {
        try
        {
            var text = File.ReadAllText(Path.Combine(_stateDirectory, "shim.log")).Trim();
            return text.Length == 0 ? "" : ": " + (text.Length > 500 ? text[^500..] : text);
        }
        catch (IOException) { return ""; }
    }

    public Task SignalAsync(int signal, bool all, CancellationToken cancellationToken)
    {
        var s = signal.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return all ? _runtime.RunAsync(cancellationToken, "kill", "--all", ContainerId, s) : _runtime.RunAsync(cancellationToken, "kill", ContainerId, s);
    }

    public Task PauseAsync(CancellationToken cancellationToken) => _runtime.RunAsync(cancellationToken, "pause", ContainerId);
    public Task ResumeAsync(CancellationToken cancellationToken) => _runtime.RunAsync(cancellationToken, "resume", ContainerId);

    public async Task UpdateResourcesAsync(Resources resources, CancellationToken cancellationToken)
    {
        var file = Path.Combine(_stateDirectory, $"resources-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(resources, RuntimeJsonContext.Default.Resources), cancellationToken).ConfigureAwait(false);
        try { await _runtime.RunAsync(cancellationToken, "update", "--resources", file, ContainerId).ConfigureAwait(false); }
        finally { File.Delete(file); }
    }

    public async Task<IStdioSession> AttachAsync(AttachOptions options, CancellationToken cancellationToken)
    {
        var connection = ShimConnection.TryConnect(_sys, _stateDirectory);
        if (connection is null) return EndedSession.Create(_record.Tty);
        byte flags = 0;
        if (options.Stdin) flags |= ShimProtocol.AttachStdin;
        if (options.Stdout) flags |= ShimProtocol.AttachStdout;
        if (options.Stderr) flags |= ShimProtocol.AttachStderr;
        await connection.SendAsync(ShimProtocol.Attach, new[] { flags }, cancellationToken).ConfigureAwait(false);
        // Before a run-on-start container's Start: the shim reads this attach before the Start, which connects after it,
        // so it sees all output without waiting here for the acknowledgement (the session skips it).
        if (RunsOnStart && Pid == 0) return new ShimStdioSession(connection, _record.Tty, acknowledgementPending: true);
        // The shim acknowledges the attach: output written after this point reaches the session.
        var first = await connection.ReceiveAsync(cancellationToken).ConfigureAwait(false);
        return new ShimStdioSession(connection, _record.Tty, first is { Kind: ShimProtocol.Ok } ? null : first);
    }

    public async Task ResizeAsync(int height, int width, CancellationToken cancellationToken)
    {
        var connection = ShimConnection.Connect(_sys, _stateDirectory, ContainerId);
        await using (connection.ConfigureAwait(false))
        {
            await connection.SendAsync(ShimProtocol.Resize, ShimProtocol.ResizePayload(height, width), cancellationToken).ConfigureAwait(false);
            var reply = await connection.ReceiveAsync(cancellationToken).ConfigureAwait(false);
            if (reply is { Kind: ShimProtocol.Failed } failed) throw new ConflictException(Encoding.UTF8.GetString(failed.Payload));
        }
    }

    public Task<ISupervisedExec> ExecAsync(Process process, bool attachStdin, CancellationToken cancellationToken)
        => RuntimeExec.StartAsync(_sys, _shimPath, _runtime, _stateDirectory, ContainerId, process, attachStdin, cancellationToken);

    public async Task DeleteAsync(bool force, CancellationToken cancellationToken)
    {
        if (RunsOnStart && Pid == 0)
        {
            // Nothing was created: the shim runs create and start together and did not get that far, or its run failed
            // and it cleaned up. Only the shim is there: a shim still waiting for Start is told to go.
            if (!_runFailed) StopWaitingShim();
            await Task.WhenAny(Exited, Task.Delay(5000, CancellationToken.None)).ConfigureAwait(false);
            return;
        }
        // After the exit, the shim deletes: wait for its word, and only when it failed run the delete here.
        if (_exited.Task.IsCompleted && _shimDeletes)
        {
            string? failure;
            try { failure = await _shimDeleted.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false); }
            catch (TimeoutException) { failure = "the shim's delete did not end"; }
            if (failure is null) return;
        }
        if (force) await _runtime.RunAsync(cancellationToken, "delete", "--force", ContainerId).ConfigureAwait(false);
        else await _runtime.RunAsync(cancellationToken, "delete", ContainerId).ConfigureAwait(false);
        // The init is gone now; the shim records that and leaves. Give it a moment so the exit is in.
        await Task.WhenAny(Exited, Task.Delay(5000, cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>A run-on-start shim that was never told to start: it holds nothing but its socket, so it is killed
    /// (only while it is berthd's unreaped child, so its pid cannot name another process).</summary>
    private void StopWaitingShim()
    {
        if (!_ownShimChild || _exited.Task.IsCompleted) return;
        try { _sys.SendSignal(_record.ShimPid, 9); } catch (SyscallException) { }
        try { File.Delete(Path.Combine(_stateDirectory, ShimProtocol.SocketName)); } catch (IOException) { }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_exited.Task.IsCompleted) _disposed.Cancel();
        if (_waitConnection is not null) await _waitConnection.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>Live stdio of a container through its shim's Attach.</summary>
internal sealed class ShimStdioSession(ShimConnection connection, bool tty, (byte Kind, byte[] Payload)? firstFrame = null, bool acknowledgementPending = false) : IStdioSession
{
    private const int StdinChunk = 32 * 1024;

    public bool Tty => tty;

    public IAsyncEnumerable<OutputChunk> Output => ReadOutput(CancellationToken.None);

    private async IAsyncEnumerable<OutputChunk> ReadOutput([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // A shim that does not acknowledge attaches (older than this engine) sent output or End first.
        var pending = firstFrame;
        var skipOk = acknowledgementPending;
        while ((pending ?? await connection.ReceiveAsync(cancellationToken).ConfigureAwait(false)) is { } frame)
        {
            pending = null;
            if (skipOk)
            {
                skipOk = false;
                if (frame.Kind == ShimProtocol.Ok) continue;
            }
            switch (frame.Kind)
            {
                case ShimProtocol.Stdout: yield return new OutputChunk(StdStream.Stdout, frame.Payload); break;
                case ShimProtocol.Stderr: yield return new OutputChunk(StdStream.Stderr, frame.Payload); break;
                case ShimProtocol.End: yield break;
            }
        }
    }

    public async ValueTask WriteStdinAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        for (var offset = 0; offset < data.Length; offset += StdinChunk)
        {
            var piece = data.Slice(offset, Math.Min(StdinChunk, data.Length - offset));
            try { await connection.SendAsync(ShimProtocol.Stdin, piece, cancellationToken).ConfigureAwait(false); }
            catch (IOException) { return; } // the container is gone: its stdin with it
        }
    }

    public async ValueTask CloseStdinAsync()
    {
        try { await connection.SendAsync(ShimProtocol.CloseStdin, default, CancellationToken.None).ConfigureAwait(false); }
        catch (IOException) { }
    }

    public ValueTask DisposeAsync() => connection.DisposeAsync();
}

/// <summary>The stdio of a container whose shim has gone: no output, stdin goes nowhere.</summary>
internal sealed class EndedSession(bool tty) : IStdioSession
{
    public static IStdioSession Create(bool tty) => new EndedSession(tty);
    public bool Tty => tty;
    public IAsyncEnumerable<OutputChunk> Output => Empty();
    private static async IAsyncEnumerable<OutputChunk> Empty()
    {
        await Task.CompletedTask.ConfigureAwait(false);
        yield break;
    }
    public ValueTask WriteStdinAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    public ValueTask CloseStdinAsync() => ValueTask.CompletedTask;
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
