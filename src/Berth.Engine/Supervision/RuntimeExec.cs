using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using Berth.Linux;
using Microsoft.Win32.SafeHandles;
using OciProcess = Berth.Oci.Runtime.Process;

namespace Berth.Engine.Supervision;

/// <summary>
/// exec, run by berthd: `berth-shim exec-wait` runs the runtime's exec detached (runc takes a console socket only
/// then), becomes the process's parent as a subreaper and exits with its status, so berthd learns the exit code by
/// waiting for that helper. stdio are pipes passed through, or a pty whose master the runtime sends to berthd over a
/// console socket. An exec does not survive a berthd restart (Docker's don't either).
/// </summary>
internal sealed class RuntimeExec : ISupervisedExec
{
    private readonly System.Diagnostics.Process _process;
    private readonly string _pidFile;
    private readonly FileStream? _master;
    private readonly ISyscalls _sys;
    private readonly TaskCompletionSource<ProcessExit> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _pid;

    private RuntimeExec(ISyscalls sys, System.Diagnostics.Process process, string pidFile, FileStream? master, ExecStdioSession stdio)
    {
        _sys = sys;
        _process = process;
        _pidFile = pidFile;
        _master = master;
        Stdio = stdio;
    }

    public int Pid
    {
        get
        {
            if (_pid == 0)
            {
                try { _pid = int.Parse(File.ReadAllText(_pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture); }
                catch (Exception e) when (e is IOException or FormatException) { }
            }
            return _pid;
        }
    }

    public IStdioSession? Stdio { get; }
    public Task<ProcessExit> Exited => _exited.Task;

    public Task ResizeAsync(int height, int width, CancellationToken cancellationToken)
    {
        if (_master is null) throw new ConflictException("the exec has no terminal");
        _sys.SetWindowSize((int)_master.SafeFileHandle.DangerousGetHandle(), (ushort)Math.Clamp(height, 0, ushort.MaxValue), (ushort)Math.Clamp(width, 0, ushort.MaxValue));
        return Task.CompletedTask;
    }

    public static async Task<ISupervisedExec> StartAsync(ISyscalls sys, string shimPath, RuntimeCommand runtime, string stateDirectory, string containerId,
        OciProcess process, bool attachStdin, CancellationToken cancellationToken)
    {
        var tag = Guid.NewGuid().ToString("N")[..12];
        var processFile = Path.Combine(stateDirectory, $"exec-{tag}.json");
        var pidFile = Path.Combine(stateDirectory, $"exec-{tag}.pid");
        await File.WriteAllTextAsync(processFile, JsonSerializer.Serialize(process, Berth.Oci.Runtime.RuntimeJsonContext.Default.Process), cancellationToken).ConfigureAwait(false);

        Socket? consoleListener = null;
        string? consolePath = null;
        if (process.Terminal)
        {
            consolePath = Path.Combine(stateDirectory, $"exec-{tag}.sock");
            if (System.Text.Encoding.UTF8.GetByteCount(consolePath) >= 108) consolePath = Path.Combine(Path.GetTempPath(), $"berth-exec-{tag}.sock");
            consoleListener = new Socket(new SafeSocketHandle(sys.ListenUnixSocket(consolePath, 1), ownsHandle: true));
        }

        var psi = new ProcessStartInfo(shimPath)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        var verb = new List<string> { "exec", "--detach", "--process", processFile, "--pid-file", pidFile };
        if (consolePath is not null) verb.AddRange(["--console-socket", consolePath]);
        verb.Add(containerId);
        foreach (var a in (string[])["exec-wait", pidFile, "--", runtime.RuntimePath, .. runtime.Arguments(verb)]) psi.ArgumentList.Add(a);
        var logLength = LogLength(runtime.LogPath);

        System.Diagnostics.Process child;
        try { child = System.Diagnostics.Process.Start(psi) ?? throw new EngineFailureException($"cannot run {runtime.RuntimePath}"); }
        catch
        {
            Cleanup();
            throw;
        }

        FileStream? master = null;
        if (consoleListener is not null)
        {
            var accept = consoleListener.AcceptAsync(cancellationToken).AsTask();
            var finished = child.WaitForExitAsync(CancellationToken.None);
            if (await Task.WhenAny(accept, finished).ConfigureAwait(false) == accept)
            {
                using var connection = await accept.ConfigureAwait(false);
                var fd = await Task.Run(() => sys.ReceiveDescriptor((int)connection.Handle, out _)).ConfigureAwait(false);
                if (fd >= 0) master = new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.ReadWrite, 1);
            }
            consoleListener.Dispose();
            try { File.Delete(consolePath!); } catch (IOException) { }
        }
        if (!attachStdin && master is null) child.StandardInput.Close();

        var stdio = new ExecStdioSession(child, master);
        var exec = new RuntimeExec(sys, child, pidFile, master, stdio);
        _ = exec.WaitAsync(runtime, logLength, processFile);
        return exec;

        void Cleanup()
        {
            consoleListener?.Dispose();
            try { File.Delete(processFile); } catch (IOException) { }
            if (consolePath is not null) try { File.Delete(consolePath); } catch (IOException) { }
        }
    }

    private static long LogLength(string path)
    {
        try { return new FileInfo(path).Length; } catch (IOException) { return 0; }
    }

    private async Task WaitAsync(RuntimeCommand runtime, long logLength, string processFile)
    {
        await _process.WaitForExitAsync().ConfigureAwait(false);
        var code = _process.ExitCode;
        var started = Pid != 0;
        if (!started)
        {
            // The runtime failed before the process ran: Docker's 126 (cannot run), 127 (not found).
            var message = runtime.LastError(logLength) ?? "";
            code = message.Contains("not found", StringComparison.OrdinalIgnoreCase) || message.Contains("no such file", StringComparison.OrdinalIgnoreCase) ? 127 : 126;
        }
        try { File.Delete(processFile); File.Delete(_pidFile); } catch (IOException) { }
        _exited.TrySetResult(new ProcessExit(code, DateTimeOffset.UtcNow, false));
        _process.Dispose();
    }
}

/// <summary>An exec's stdio: the runtime's pipes, or the pty master. Output is pumped as it comes; once the session is
/// disposed it is drained and dropped, so the process never blocks on a full pipe.</summary>
internal sealed class ExecStdioSession : IStdioSession
{
    private readonly System.Diagnostics.Process _process;
    private readonly FileStream? _master;
    private readonly Channel<OutputChunk> _output = Channel.CreateBounded<OutputChunk>(new BoundedChannelOptions(64) { SingleReader = true });
    private volatile bool _disposed;

    public ExecStdioSession(System.Diagnostics.Process process, FileStream? master)
    {
        _process = process;
        _master = master;
        var pumps = master is null
            ? new[] { PumpAsync(process.StandardOutput.BaseStream, StdStream.Stdout), PumpAsync(process.StandardError.BaseStream, StdStream.Stderr) }
            : new[] { PumpAsync(master, StdStream.Stdout), DrainAsync(process.StandardOutput.BaseStream), DrainAsync(process.StandardError.BaseStream) };
        _ = Task.WhenAll(pumps).ContinueWith(_ => _output.Writer.TryComplete(), TaskScheduler.Default);
    }

    public bool Tty => _master is not null;

    public IAsyncEnumerable<OutputChunk> Output => ReadAll(CancellationToken.None);

    private async IAsyncEnumerable<OutputChunk> ReadAll([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var chunk in _output.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false)) yield return chunk;
    }

    private async Task PumpAsync(Stream source, StdStream stream)
    {
        var buffer = new byte[32 * 1024];
        try
        {
            while (true)
            {
                var n = await source.ReadAsync(buffer).ConfigureAwait(false);
                if (n == 0) break;
                if (_disposed) continue;
                await _output.Writer.WriteAsync(new OutputChunk(stream, buffer.AsSpan(0, n).ToArray())).ConfigureAwait(false);
            }
        }
        catch (IOException) { } // a pty master reads EIO once the last process holding the terminal is gone
        catch (ChannelClosedException) { }
    }

    private static async Task DrainAsync(Stream source)
    {
        var buffer = new byte[4096];
        try { while (await source.ReadAsync(buffer).ConfigureAwait(false) > 0) { } }
        catch (IOException) { }
    }

    public async ValueTask WriteStdinAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        try
        {
            if (_master is not null) await _master.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            else
            {
                await _process.StandardInput.BaseStream.WriteAsync(data, cancellationToken).ConfigureAwait(false);
                await _process.StandardInput.BaseStream.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (IOException) { }
        catch (ObjectDisposedException) { }
        catch (InvalidOperationException) { }
    }

    public ValueTask CloseStdinAsync()
    {
        if (_master is null)
        {
            try { _process.StandardInput.Close(); } catch (IOException) { } catch (InvalidOperationException) { }
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        _disposed = true;
        // Let pumps blocked on a full channel go on draining.
        while (_output.Reader.TryRead(out _)) { }
        return ValueTask.CompletedTask;
    }
}
