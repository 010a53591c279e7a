using System.Buffers;
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

    /// <summary>Switches the connection to the session's stdio and pumps both ways until the output ends or the client detaches.</summary>
    public static async Task RunAsync(ApiCall call, IStdioSession session, bool stdin, byte[] detachKeys)
    {
        await using var _ = session;
        var contentType = ContentType(call.Version, session.Tty);
        Stream input, output;
        var upgrade = call.Http.Features.Get<IHttpUpgradeFeature>();
        if (upgrade is { IsUpgradableRequest: true })
        {
            // The client half-closes when its stdin ends (CloseWrite) and keeps reading the output.
            call.Http.Features.Get<HalfCloseFeature>()?.AllowHalfClose();
            call.Response.Headers.Connection = "Upgrade";
            call.Response.Headers.Upgrade = "tcp";
            call.Response.ContentType = contentType;
            var duplex = await upgrade.UpgradeAsync();
            input = output = duplex;
        }
        else
        {
            call.Http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            call.Response.StatusCode = StatusCodes.Status200OK;
            call.Response.ContentType = contentType;
            await call.Response.StartAsync(call.Aborted);
            await call.Response.Body.FlushAsync(call.Aborted);
            input = call.Request.Body;
            output = call.Response.Body;
        }

        using var done = CancellationTokenSource.CreateLinkedTokenSource(call.Aborted);
        var pumpIn = stdin ? PumpStdinAsync(input, session, new DetachKeyScanner(detachKeys), done) : Task.CompletedTask;
        try
        {
            await foreach (var chunk in session.Output.WithCancellation(done.Token))
            {
                await StdFrame.WriteAsync(output, chunk.Stream, chunk.Data, session.Tty, done.Token);
                await output.FlushAsync(done.Token);
            }
        }
        catch (OperationCanceledException) { /* detached, or the client went away */ }
        catch (IOException) { /* the client closed the connection */ }
        finally
        {
            await done.CancelAsync();
            try { await pumpIn; } catch (OperationCanceledException) { } catch (IOException) { }
            if (ReferenceEquals(input, output)) await output.DisposeAsync();
        }
    }

    private static async Task PumpStdinAsync(Stream input, IStdioSession session, DetachKeyScanner scanner, CancellationTokenSource done)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(32 * 1024);
        try
        {
            while (true)
            {
                var n = await input.ReadAsync(buffer, done.Token);
                if (n == 0) { await session.CloseStdinAsync(); return; }
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

    public void OnTransportClosed()
    {
        if (!allowHalfClose) closed.Cancel();
    }

    public void Dispose() => closed.Dispose();
}
