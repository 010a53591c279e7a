using System.Runtime.InteropServices;
using Berth.Linux;

namespace Berth.Runtime.Terminal;

/// <summary>
/// `run` in the foreground with process.terminal and no --console-socket (runc's behaviour): the runtime keeps the
/// pty master and relays it to its own stdio. The runtime's stdin, when a terminal, goes raw (the container's pty
/// does the line editing and signals) and lends its window size to the pty, again on every SIGWINCH.
/// </summary>
public sealed class TerminalRelay : IDisposable
{
    private readonly ISyscalls _sys;
    private readonly int _master;
    private readonly byte[]? _savedMode;
    private readonly Thread _output;
    private readonly PosixSignalRegistration? _resize;
    private bool _disposed;

    private TerminalRelay(ISyscalls sys, int master)
    {
        _sys = sys;
        _master = master;
        _savedMode = sys.MakeTerminalRaw(0);
        if (_savedMode is not null && OperatingSystem.IsLinux())
        {
            CopyWindowSize();
            _resize = PosixSignalRegistration.Create(PosixSignal.SIGWINCH, _ => CopyWindowSize());
        }
        _output = new Thread(() => Pump(_master, 1)) { IsBackground = true, Name = "pty output" };
        _output.Start();
        // Input never ends by itself while stdin is a terminal: a background thread the process exit ends.
        new Thread(() => Pump(0, _master)) { IsBackground = true, Name = "pty input" }.Start();
    }

    public static TerminalRelay Start(ISyscalls sys, int master) => new(sys, master);

    private void CopyWindowSize()
    {
        if (_sys.TryGetWindowSize(0, out var rows, out var columns))
            try { _sys.SetWindowSize(_master, rows, columns); } catch (SyscallException) { }
    }

    /// <summary>Copies until end of file or an error (EIO on the master once every slave descriptor is closed).</summary>
    private void Pump(int from, int to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var n = _sys.ReadSome(from, buffer);
                if (n <= 0) return;
                _sys.WriteAll(to, buffer.AsSpan(0, n));
            }
        }
        catch (SyscallException) { }
    }

    /// <summary>After the container process exited: lets the output drain (bounded: a process it left behind may
    /// hold the pty), then restores the terminal.</summary>
    public void Finish(int drainMs = 2000)
    {
        _output.Join(drainMs);
        Dispose();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _resize?.Dispose();
        if (_savedMode is not null) try { _sys.RestoreTerminalMode(0, _savedMode); } catch (SyscallException) { }
    }
}
