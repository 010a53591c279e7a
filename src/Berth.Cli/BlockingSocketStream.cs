using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Berth.Cli;

/// <summary>
/// A unix-socket connection to the daemon driven by blocking calls on the caller's thread, its async methods included
/// (they complete before they return). The CLI mostly waits on one answer at a time, and System.Net.Sockets costs a
/// command more than its requests: its first socket starts the epoll thread, and every answer is handed from that thread
/// to a thread-pool worker and on to the waiting one (perf, `berth run --rm true`: those threads and hand-offs were a
/// third of the CLI's CPU, and 89 context switches against 15 without). Where the CLI waits on two things at once (stdin
/// and the container's output) the second gets a thread of its own; live stats keep System.Net.Sockets.
/// </summary>
internal sealed partial class BlockingSocketStream : Stream
{
    private const int AF_UNIX = 1;
    private const int SOCK_STREAM = 1;
    private const int SOCK_CLOEXEC = 0x80000;
    private const int MSG_NOSIGNAL = 0x4000;
    private const int SHUT_WR = 1;
    private const int SHUT_RDWR = 2;
    private const int EINTR = 4;
    private const int SunPathLength = 108; // sizeof(sockaddr_un.sun_path) on Linux

    private readonly SocketHandle handle;

    private BlockingSocketStream(SocketHandle handle) => this.handle = handle;

    /// <summary>Connects to the socket at <paramref name="path"/>; an IOException names the failure.</summary>
    public static unsafe BlockingSocketStream Connect(string path)
    {
        var address = stackalloc byte[2 + SunPathLength];
        new Span<byte>(address, 2 + SunPathLength).Clear();
        *(ushort*)address = AF_UNIX;
        var pathBytes = Encoding.UTF8.GetBytes(path);
        if (pathBytes.Length >= SunPathLength) throw new IOException($"socket path too long: {path}");
        pathBytes.CopyTo(new Span<byte>(address + 2, SunPathLength));
        var handle = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (handle.IsInvalid) throw Failure("socket");
        int result;
        do result = connect(handle, address, 2 + pathBytes.Length + 1);
        while (result != 0 && Marshal.GetLastPInvokeError() == EINTR);
        if (result != 0)
        {
            var error = Failure("connect");
            handle.Dispose();
            throw error;
        }
        return new BlockingSocketStream(handle);
    }

    private static IOException Failure(string call)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new IOException($"{call}: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
    }

    public override unsafe int Read(Span<byte> buffer)
    {
        if (buffer.Length == 0) return 0;
        fixed (byte* data = buffer)
        {
            while (true)
            {
                var n = recv(handle, data, buffer.Length, 0);
                if (n >= 0) return (int)n;
                if (Marshal.GetLastPInvokeError() != EINTR) throw Failure("recv");
            }
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled<int>(cancellationToken);
        try { return new ValueTask<int>(Read(buffer.Span)); }
        catch (Exception e) { return ValueTask.FromException<int>(e); }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override unsafe void Write(ReadOnlySpan<byte> buffer)
    {
        fixed (byte* data = buffer)
        {
            var sent = 0;
            while (sent < buffer.Length)
            {
                var n = send(handle, data + sent, buffer.Length - sent, MSG_NOSIGNAL);
                if (n >= 0) sent += (int)n;
                else if (Marshal.GetLastPInvokeError() != EINTR) throw Failure("send");
            }
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled(cancellationToken);
        try
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
        catch (Exception e) { return ValueTask.FromException(e); }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Half-closes the connection: the daemon reads the end of stdin, the answer still comes.</summary>
    public void ShutdownWrite()
    {
        if (!handle.IsClosed) shutdown(handle, SHUT_WR);
    }

    public override void Flush() { }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    protected override void Dispose(bool disposing)
    {
        if (disposing && !handle.IsClosed)
        {
            // A thread blocked in recv on the socket (the output of a session the user detached from) wakes at the
            // shutdown; the descriptor itself is closed once no call is using it (the SafeHandle's count).
            shutdown(handle, SHUT_RDWR);
            handle.Dispose();
        }
        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    private sealed class SocketHandle() : SafeHandleMinusOneIsInvalid(ownsHandle: true)
    {
        protected override bool ReleaseHandle() => close((int)handle) == 0;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial SocketHandle socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int connect(SocketHandle fd, byte* address, int length);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint recv(SocketHandle fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint send(SocketHandle fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int shutdown(SocketHandle fd, int how);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}
