using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using Berth.Engine;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Berth.Api;

/// <summary>
/// Docker's hijacked connections (attach, exec start). A client that sends "Connection: Upgrade" and
/// "Upgrade: tcp" gets 101 and a raw duplex stream; an older client that does not gets 200 and the output as
/// the response body, with stdin read from the request body.
/// </summary>
public static class Hijack
{
    public const string RawStream = "application/vnd.docker.raw-stream";
    public const string MultiplexedStream = "application/vnd.docker.multiplexed-stream";

    public static string ContentType(ApiVersion version, bool tty)
        => !tty && version >= new ApiVersion(1, 42) ? MultiplexedStream : RawStream;

    /// <summary>
    /// Switches the connection to the session's stdio and pumps both ways until the output ends or the client
    /// detaches. <paramref name="replay"/>, when given, writes earlier output (attach's logs=true) first.
    /// </summary>
    public static async Task RunAsync(ApiCall call, IStdioSession session, bool stdin, byte[] detachKeys,
        Func<Stream, CancellationToken, Task>? replay = null)
    {
        await using var _ = session;
        await using var connection = await HijackedConnection.OpenAsync(call, ContentType(call.Version, session.Tty));

        using var done = CancellationTokenSource.CreateLinkedTokenSource(call.Aborted);
        // As moby, only a terminal has detach keys: piped stdin is data, and may hold any bytes.
        var pumpIn = stdin ? PumpStdinAsync(connection.Input, session, session.Tty ? new DetachKeyScanner(detachKeys) : null, done) : Task.CompletedTask;
        var output = connection.Output;
        try
        {
            if (replay is not null)
            {
                await replay(output, done.Token);
                await output.FlushAsync(done.Token);
            }
            await foreach (var chunk in session.Output.WithCancellation(done.Token))
            {
                await StdFrame.WriteAsync(output, chunk.Stream, chunk.Data, session.Tty, done.Token);
                await output.FlushAsync(done.Token);
            }
        }
        catch (OperationCanceledException) { /* detached, or the client went away */ }
        catch (IOException) { /* the client closed the connection */ }
        catch (System.Net.Sockets.SocketException) { /* the client closed the connection */ }
        finally
        {
            await done.CancelAsync();
            try { await pumpIn; } catch (OperationCanceledException) { } catch (IOException) { }
        }
    }

    private static async Task PumpStdinAsync(Stream input, IStdioSession session, DetachKeyScanner? scanner, CancellationTokenSource done)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(32 * 1024);
        try
        {
            while (true)
            {
                var n = await input.ReadAsync(buffer, done.Token);
                if (n == 0)
                {
                    await session.CloseStdinAsync();
                    // On a terminal the client's end is a detach (moby ends the attach; the shell lives on).
                    if (session.Tty) await done.CancelAsync();
                    return;
                }
                if (scanner is null)
                {
                    // Each write completes before the next read, so the buffer is handed over as is.
                    await session.WriteStdinAsync(buffer.AsMemory(0, n), done.Token);
                    continue;
                }
                var forward = scanner.Feed(buffer.AsSpan(0, n));
                if (forward.Length > 0) await session.WriteStdinAsync(forward, done.Token);
                if (scanner.Detached) { await done.CancelAsync(); return; }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>
/// The two directions of a hijacked request. Kestrel upgrades only requests without a body, but the docker
/// CLI sends exec start's options as a JSON body with "Upgrade: tcp"; for those the 101 is written here and
/// the connection's transport is taken over, as moby's hijack does, and Kestrel never answers the request.
/// A client that asks for no upgrade (API before 1.22 style) gets a 200 whose body is the output.
/// </summary>
internal sealed class HijackedConnection : IAsyncDisposable
{
    private enum Kind { Upgraded, Raw, Body }

    private readonly Kind kind;
    private readonly HttpContext http;
    private readonly RawConnectionFeature? raw;

    public Stream Input { get; }
    public Stream Output { get; }

    private HijackedConnection(Kind kind, HttpContext http, Stream input, Stream output, RawConnectionFeature? raw = null)
    {
        this.kind = kind;
        this.http = http;
        Input = input;
        Output = output;
        this.raw = raw;
    }

    public static async Task<HijackedConnection> OpenAsync(ApiCall call, string contentType)
    {
        var http = call.Http;
        // The client half-closes when its stdin ends (CloseWrite) and keeps reading the output.
        http.Features.Get<HalfCloseFeature>()?.AllowHalfClose();
        var upgrade = http.Features.Get<IHttpUpgradeFeature>();
        if (upgrade is { IsUpgradableRequest: true })
        {
            call.Response.Headers.Connection = "Upgrade";
            call.Response.Headers.Upgrade = "tcp";
            call.Response.ContentType = contentType;
            var duplex = await upgrade.UpgradeAsync();
            return new HijackedConnection(Kind.Upgraded, http, duplex, duplex);
        }
        if (WantsUpgrade(call.Request) && http.Features.Get<RawConnectionFeature>() is { } raw)
        {
            // What is left of the body would otherwise be read as stdin.
            await call.Request.Body.CopyToAsync(Stream.Null, call.Aborted);
            var head = new StringBuilder("HTTP/1.1 101 UPGRADED\r\n");
            head.Append("Content-Type: ").Append(contentType).Append("\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n");
            foreach (var (name, values) in call.Response.Headers)
                if (!name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
                    foreach (var value in values) head.Append(name).Append(": ").Append(value).Append("\r\n");
            head.Append("\r\n");
            var input = raw.Transport.Input.AsStream(leaveOpen: true);
            // A plain socket is written directly: its bytes are in the kernel when a write returns, so the
            // connection can be closed right after the last one without a race against Kestrel's sender.
            Stream output = raw.Socket is { } socket ? new NetworkStream(socket, ownsSocket: false) : raw.Transport.Output.AsStream(leaveOpen: true);
            await output.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()), call.Aborted);
            await output.FlushAsync(call.Aborted);
            return new HijackedConnection(Kind.Raw, http, input, output, raw);
        }
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        call.Response.StatusCode = StatusCodes.Status200OK;
        call.Response.ContentType = contentType;
        await call.Response.StartAsync(call.Aborted);
        await call.Response.Body.FlushAsync(call.Aborted);
        return new HijackedConnection(Kind.Body, http, call.Request.Body, call.Response.Body);
    }

    private static bool WantsUpgrade(HttpRequest request)
    {
        foreach (var value in request.Headers.Upgrade)
            if (value is not null && value.Contains("tcp", StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    public async ValueTask DisposeAsync()
    {
        switch (kind)
        {
            case Kind.Upgraded:
                await Output.DisposeAsync();
                break;
            case Kind.Raw:
                try
                {
                    if (raw!.Socket is { } socket) socket.Shutdown(SocketShutdown.Send);
                    else if (http.Features.Get<Microsoft.AspNetCore.Server.Kestrel.Core.Features.ISslStreamFeature>()?.SslStream is { } tls)
                    {
                        // Under TLS the stream ends with TLS's own end (close_notify, which a Go client reads as EOF); the
                        // connection then closes gracefully once the client closes it or Kestrel's pipeline ends, since the
                        // abort below only stops Kestrel's response (TlsHijackConnection keeps the transport).
                        await Output.FlushAsync();
                        await tls.ShutdownAsync();
                    }
                    else await raw.Transport.Output.CompleteAsync();
                }
                catch (SocketException) { }
                catch (ObjectDisposedException) { }
                catch (IOException) { } // the client went away
                await Output.DisposeAsync();
                // Kestrel still holds the request open; aborting it closes the connection without the response
                // Kestrel would otherwise write after the stream.
                http.Abort();
                break;
        }
    }
}

/// <summary>
/// What Kestrel's HTTP layer sees of a TLS connection: the connection itself, except that an abort while the
/// connection is hijacked stops the HTTP layer without resetting the socket (Kestrel's abort closes with a RST, which
/// could overtake the end of the stream still on its way to the client); the socket then closes gracefully when the
/// pipeline ends.
/// </summary>
internal sealed class TlsHijackConnection(Microsoft.AspNetCore.Connections.ConnectionContext inner, HalfCloseFeature hijack) : Microsoft.AspNetCore.Connections.ConnectionContext
{
    public override string ConnectionId { get => inner.ConnectionId; set => inner.ConnectionId = value; }
    public override IFeatureCollection Features => inner.Features;
    public override IDictionary<object, object?> Items { get => inner.Items; set => inner.Items = value; }
    public override IDuplexPipe Transport { get => inner.Transport; set => inner.Transport = value; }
    public override CancellationToken ConnectionClosed { get => inner.ConnectionClosed; set => inner.ConnectionClosed = value; }
    public override System.Net.EndPoint? LocalEndPoint { get => inner.LocalEndPoint; set => inner.LocalEndPoint = value; }
    public override System.Net.EndPoint? RemoteEndPoint { get => inner.RemoteEndPoint; set => inner.RemoteEndPoint = value; }

    public override void Abort(Microsoft.AspNetCore.Connections.ConnectionAbortedException abortReason)
    {
        if (!hijack.Hijacked) inner.Abort(abortReason);
    }

    public override void Abort()
    {
        if (!hijack.Hijacked) inner.Abort();
    }

    public override ValueTask DisposeAsync() => inner.DisposeAsync();
}

/// <summary>A connection's transport and, when it is not under TLS, its socket: what a raw hijack takes over.</summary>
public sealed record RawConnectionFeature(IDuplexPipe Transport, Socket? Socket);

/// <summary>
/// Lets a hijacked connection outlive the client's FIN. Kestrel aborts a connection as soon as its input
/// ends; Docker clients half-close after the last byte of stdin and still read the container's output.
/// A connection middleware hands Kestrel this token instead of the transport's, and fires it on the
/// client's FIN only while the connection is not hijacked.
/// </summary>
public sealed class HalfCloseFeature : IDisposable
{
    private readonly CancellationTokenSource closed = new();
    private volatile bool allowHalfClose;

    public CancellationToken Closed => closed.Token;

    public void AllowHalfClose() => allowHalfClose = true;

    /// <summary>Whether the connection has been taken over by a hijack (attach, exec).</summary>
    public bool Hijacked => allowHalfClose;

    public void OnTransportClosed()
    {
        if (!allowHalfClose) closed.Cancel();
    }

    public void Dispose() => closed.Dispose();
}
