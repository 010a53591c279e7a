using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Berth.Cli;

/// <summary>How a hijacked attach/exec connection is driven.</summary>
public sealed record SessionOptions
{
    public bool Tty { get; init; }
    public bool Stdin { get; init; }
    /// <summary>POST target for window sizes ("/containers/ID/resize", "/exec/ID/resize"), or null.</summary>
    public string? ResizePath { get; init; }
    /// <summary>The detach sequence (only honoured with a TTY, as docker does).</summary>
    public byte[] DetachKeys { get; init; } = Cli.DetachKeys.Default;
    /// <summary>The container that receives the signals berth gets (--sig-proxy), or null.</summary>
    public string? SignalTarget { get; init; }
}

public sealed partial class BerthCli
{
    private ITerminal terminal = PosixTerminal.Instance;
    private Stream? stdinStream;

    /// <summary>For tests: the terminal seam.</summary>
    public ITerminal Terminal { get => terminal; set => terminal = value; }

    /// <summary>The byte stream container input comes from: fd 0 read directly (Console's stdin stream edits lines on a terminal).</summary>
    public Stream Stdin
    {
        get => stdinStream ??= new FileStream(new SafeFileHandle(0, ownsHandle: false), FileAccess.Read, 1, isAsync: false);
        set => stdinStream = value;
    }

    // Signals a foreground `berth run` passes on to its container, as docker's sig-proxy does (not SIGCHLD, SIGWINCH, SIGPIPE…).
    private static readonly (PosixSignal Signal, string Name)[] ProxiedSignals =
    [
        (PosixSignal.SIGINT, "SIGINT"), (PosixSignal.SIGTERM, "SIGTERM"), (PosixSignal.SIGHUP, "SIGHUP"), (PosixSignal.SIGQUIT, "SIGQUIT"),
        ((PosixSignal)10, "SIGUSR1"), ((PosixSignal)12, "SIGUSR2"),
    ];

    /// <summary>
    /// Drives a hijacked connection: output to stdout/stderr, stdin to the connection (half-closed at EOF), and
    /// with a TTY the terminal in raw mode, the window size sent at start and on SIGWINCH, and the detach keys
    /// watched. The terminal is restored on every way out. Returns true if the user detached.
    /// </summary>
    private async Task<bool> StreamAsync(Stream connection, SessionOptions options)
    {
        var registrations = new List<PosixSignalRegistration>();
        IDisposable? raw = null;
        EventHandler? restoreAtExit = null;
        try
        {
            if (options.Tty && options.Stdin && terminal.IsTerminal(0))
            {
                raw = terminal.MakeRaw(0);
                if (raw is not null)
                {
                    var restore = raw;
                    restoreAtExit = (_, _) => restore.Dispose();
                    AppDomain.CurrentDomain.ProcessExit += restoreAtExit;
                    // Killed while raw: restore first, then let the signal take its course.
                    foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT })
                        registrations.Add(PosixSignalRegistration.Create(signal, _ => restore.Dispose()));
                }
            }
            if (options.Tty && options.ResizePath is { } resizePath && terminal.IsTerminal(1) && !OperatingSystem.IsWindows())
            {
                await ResizeAsync(resizePath);
                registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGWINCH, context => { context.Cancel = true; _ = ResizeAsync(resizePath); }));
            }
            if (options.SignalTarget is { } target && !options.Tty)
            {
                foreach (var (signal, name) in ProxiedSignals)
                    registrations.Add(PosixSignalRegistration.Create(signal, context =>
                    {
                        context.Cancel = true;
                        _ = ForwardSignalAsync(target, name);
                    }));
            }

            if (!options.Stdin)
            {
                await DaemonClient.DemuxAsync(connection, RawStdout, RawStderr, options.Tty);
                return false;
            }
            // The connection blocks its reader (BlockingSocketStream): the output gets a thread of its own beside stdin's.
            var output = Task.Run(() => DaemonClient.DemuxAsync(connection, RawStdout, RawStderr, options.Tty));
            var input = PumpStdinAsync(connection, options.Tty ? new DetachKeys(options.DetachKeys) : null);
            if (await Task.WhenAny(output, input) == input && await input)
            {
                await connection.DisposeAsync();
                return true;
            }
            // Stdin ended (and was half-closed) or the container's output ended: the output decides.
            await output;
            return false;
        }
        finally
        {
            foreach (var registration in registrations) registration.Dispose();
            raw?.Dispose();
            if (restoreAtExit is not null) AppDomain.CurrentDomain.ProcessExit -= restoreAtExit;
        }
    }

    private async Task ResizeAsync(string path)
    {
        if (terminal.Size(1) is not { } size) return;
        try
        {
            await Client.PostAsync($"{path}?h={size.Rows.ToString(CultureInfo.InvariantCulture)}&w={size.Columns.ToString(CultureInfo.InvariantCulture)}");
        }
        catch (DaemonException) { } // a container that just exited cannot be resized; nothing to tell
        catch (ConnectException) { }
    }

    private async Task ForwardSignalAsync(string container, string signal)
    {
        try { await Client.PostAsync($"/containers/{container}/kill?signal={signal}"); }
        catch (DaemonException) { }
        catch (ConnectException) { }
    }

    /// <summary>Copies stdin to the connection until EOF (then half-closes it) or the detach keys (returns true).</summary>
    private async Task<bool> PumpStdinAsync(Stream connection, DetachKeys? detachKeys)
    {
        var buffer = new byte[32 * 1024];
        try
        {
            while (true)
            {
                var n = await Stdin.ReadAsync(buffer);
                if (n == 0) break;
                if (detachKeys is null)
                {
                    await connection.WriteAsync(buffer.AsMemory(0, n));
                    continue;
                }
                var (forward, detach) = detachKeys.Filter(buffer.AsSpan(0, n));
                if (forward.Length > 0) await connection.WriteAsync(forward);
                if (detach) return true;
            }
            await connection.FlushAsync();
            DaemonClient.CloseWrite(connection);
        }
        catch (IOException) { }
        catch (ObjectDisposedException) { }
        return false;
    }
}
