using System.IO.Pipelines;

namespace Berth.Engine.Images;

/// <summary>
/// The image and storage libraries read and write streams synchronously; Kestrel's request and response bodies
/// allow only asynchronous I/O. These bridges run the synchronous work on a pool thread and move the bytes
/// with async I/O on the other side.
/// </summary>
internal static class StreamBridge
{
    /// <summary>A readable stream whose synchronous reads wait for the async reads of <paramref name="source"/> (use off the request thread).</summary>
    public static Stream BlockingReader(Stream source, CancellationToken cancellationToken) => new BlockingReadStream(source, cancellationToken);

    /// <summary>
    /// Runs <paramref name="produce"/> on a pool thread writing into a pipe, and copies the pipe to
    /// <paramref name="destination"/> asynchronously. Nothing reaches the destination before the producer's
    /// first write, so a producer that fails at once leaves the response unstarted (the API can still send a status).
    /// </summary>
    public static async Task ProduceAsync(Action<Stream> produce, Stream destination, CancellationToken cancellationToken)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 2 << 20, useSynchronizationContext: false));
        var producer = Task.Run(() =>
        {
            var output = pipe.Writer.AsStream(leaveOpen: true);
            try
            {
                produce(output);
                output.Flush();
                pipe.Writer.Complete();
            }
            catch (Exception e)
            {
                pipe.Writer.Complete(e);
                throw;
            }
        }, cancellationToken);
        try
        {
            await pipe.Reader.CopyToAsync(destination, cancellationToken);
            await pipe.Reader.CompleteAsync();
        }
        catch (Exception e)
        {
            // The client went away or the producer failed: stop the producer's writes, then report its error first.
            await pipe.Reader.CompleteAsync(e);
            try { await producer; }
            catch (Exception) when (producer.IsFaulted) { throw producer.Exception!.InnerException!; }
            throw;
        }
        await producer;
    }

    private sealed class BlockingReadStream(Stream source, CancellationToken cancellationToken) : Berth.Storage.Archive.ReadOnlyStream
    {
        public override int Read(Span<byte> buffer)
        {
            if (buffer.Length == 0) return 0;
            var rented = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length, 1 << 20));
            try
            {
                var n = source.ReadAsync(rented.AsMemory(0, Math.Min(buffer.Length, rented.Length)), cancellationToken).AsTask().GetAwaiter().GetResult();
                rented.AsSpan(0, n).CopyTo(buffer);
                return n;
            }
            finally { System.Buffers.ArrayPool<byte>.Shared.Return(rented); }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => source.ReadAsync(buffer, offset, count, ct);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => source.ReadAsync(buffer, ct);
    }
}
