using System.Buffers.Binary;
using System.Net.Sockets;
using Berth.Linux;
using Berth.Shim;

namespace Berth.Engine.Supervision;

/// <summary>One connection to a shim's socket, speaking <see cref="ShimProtocol"/> frames.</summary>
internal sealed class ShimConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly byte[] _header = new byte[ShimProtocol.HeaderSize];

    private ShimConnection(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>Connects to shim.sock in <paramref name="stateDirectory"/>; null when no shim listens there.</summary>
    public static ShimConnection? TryConnect(IEventLoopCalls sys, string stateDirectory)
    {
        int fd;
        try { fd = sys.ConnectUnixSocketAnyLength(Path.Combine(stateDirectory, ShimProtocol.SocketName)); }
        catch (SyscallException) { return null; }
        return new ShimConnection(new Socket(new SafeSocketHandle(fd, ownsHandle: true)));
    }

    public static ShimConnection Connect(IEventLoopCalls sys, string stateDirectory, string containerId)
        => TryConnect(sys, stateDirectory) ?? throw new ConflictException($"Container {containerId} is not running");

    public async ValueTask SendAsync(byte kind, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var frame = new byte[ShimProtocol.HeaderSize + payload.Length];
            ShimProtocol.WriteHeader(frame, kind, payload.Length);
            payload.Span.CopyTo(frame.AsSpan(ShimProtocol.HeaderSize));
            await _stream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
        }
        finally { _writeLock.Release(); }
    }

    /// <summary>The next frame, or null at end of stream (the shim went away).</summary>
    public async ValueTask<(byte Kind, byte[] Payload)?> ReceiveAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (!await ReadExactlyOrEndAsync(_header, cancellationToken).ConfigureAwait(false)) return null;
            var length = BinaryPrimitives.ReadInt32LittleEndian(_header.AsSpan(1));
            if (length < 0 || length > ShimProtocol.MaxPayload) return null;
            var payload = length == 0 ? [] : new byte[length];
            if (length > 0 && !await ReadExactlyOrEndAsync(payload, cancellationToken).ConfigureAwait(false)) return null;
            return (_header[0], payload);
        }
        catch (IOException) { return null; }
        catch (SocketException) { return null; }
        catch (ObjectDisposedException) { return null; }
    }

    private async ValueTask<bool> ReadExactlyOrEndAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var done = 0;
        while (done < buffer.Length)
        {
            var n = await _stream.ReadAsync(buffer[done..], cancellationToken).ConfigureAwait(false);
            if (n == 0) return false;
            done += n;
        }
        return true;
    }

    public ValueTask DisposeAsync()
    {
        _stream.Dispose();
        return ValueTask.CompletedTask;
    }
}
