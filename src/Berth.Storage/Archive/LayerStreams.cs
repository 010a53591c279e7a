using System.Buffers;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Threading.Channels;

namespace Berth.Storage.Archive;

internal static class LayerCompression
{
    /// <summary>OCI and Docker layer media types → compression; anything else is refused.</summary>
    public static Compression FromMediaType(string mediaType) => mediaType switch
    {
        "application/vnd.oci.image.layer.v1.tar" or "application/vnd.oci.image.layer.nondistributable.v1.tar"
            or "application/vnd.docker.image.rootfs.diff.tar" or "application/x-tar" => Compression.None,
        "application/vnd.oci.image.layer.v1.tar+gzip" or "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            or "application/vnd.docker.image.rootfs.diff.tar.gzip" or "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
            or "application/gzip" => Compression.Gzip,
        "application/vnd.oci.image.layer.v1.tar+zstd" or "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
            or "application/vnd.docker.image.rootfs.diff.tar.zstd" or "application/zstd" => Compression.Zstd,
        _ => throw new UnsupportedMediaTypeException(mediaType),
    };

    /// <summary>Wraps <paramref name="blob"/> in the decompressor; Auto sniffs gzip (1f 8b) and zstd (28 b5 2f fd) magic.</summary>
    public static Stream Decompress(Stream blob, Compression compression)
    {
        if (compression == Compression.Auto)
        {
            var peek = new PeekStream(blob, 4);
            var head = peek.Head;
            compression = head.Length >= 2 && head[0] == 0x1f && head[1] == 0x8b ? Compression.Gzip
                : head.Length >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd ? Compression.Zstd
                : Compression.None;
            blob = peek;
        }
        return compression switch
        {
            Compression.None => blob,
            Compression.Gzip => new GZipStream(blob, CompressionMode.Decompress, leaveOpen: true),
            Compression.Zstd => new ZstdSharp.DecompressionStream(blob, leaveOpen: true),
            _ => throw new ArgumentOutOfRangeException(nameof(compression)),
        };
    }
}

/// <summary>Replays a few first bytes read to sniff the format, then reads on.</summary>
internal sealed class PeekStream : ReadOnlyStream
{
    private readonly Stream inner;
    private readonly byte[] head;
    private int position;
    public ReadOnlySpan<byte> Head => head;

    public PeekStream(Stream inner, int count)
    {
        this.inner = inner;
        var buffer = new byte[count];
        var n = inner.ReadAtLeast(buffer, count, throwOnEndOfStream: false);
        head = buffer[..n];
    }

    public override int Read(Span<byte> buffer)
    {
        if (position < head.Length)
        {
            var n = Math.Min(buffer.Length, head.Length - position);
            head.AsSpan(position, n).CopyTo(buffer);
            position += n;
            return n;
        }
        return inner.Read(buffer);
    }
}

/// <summary>Hashes and counts the uncompressed layer as it streams (the diffID), stopping at the size limit.</summary>
internal sealed class DigestingReadStream(Stream inner, long limit) : ReadOnlyStream
{
    private readonly IncrementalHash hasher = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    public long Count { get; private set; }

    public override int Read(Span<byte> buffer)
    {
        int n;
        try { n = inner.Read(buffer); }
        catch (InvalidDataException e) { throw new InvalidLayerException($"corrupt compressed layer: {e.Message}", e); }
        catch (ZstdSharp.ZstdException e) { throw new InvalidLayerException($"corrupt zstd layer: {e.Message}", e); }
        Count += n;
        if (Count > limit) throw new InvalidLayerException($"layer is larger than the limit of {limit} bytes uncompressed");
        hasher.AppendData(buffer[..n]);
        return n;
    }

    public Oci.Content.Digest Digest() => Oci.Content.Digest.FromHash("sha256", hasher.GetHashAndReset());
    protected override void Dispose(bool disposing) { if (disposing) hasher.Dispose(); base.Dispose(disposing); }
}

/// <summary>
/// Runs the reading of <paramref name="inner"/> (decompression and hashing) on a thread of its own, a few buffers
/// ahead of the consumer, so unpacking is one pipeline on two cores: inflate+hash ∥ extract.
/// </summary>
internal sealed class ReadAheadStream : ReadOnlyStream
{
    private const int BufferSize = 256 << 10;
    private readonly Channel<(byte[] Buffer, int Count, Exception? Error)> full = Channel.CreateBounded<(byte[], int, Exception?)>(8);
    private readonly CancellationTokenSource stop = new();
    private readonly Task producer;
    private byte[]? current;
    private int offset, count;
    private bool ended;

    public ReadAheadStream(Stream inner)
    {
        producer = Task.Factory.StartNew(() => Produce(inner), TaskCreationOptions.LongRunning);
    }

    private void Produce(Stream inner)
    {
        var writer = full.Writer;
        try
        {
            while (true)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                var n = inner.ReadAtLeast(buffer.AsSpan(0, BufferSize), BufferSize, throwOnEndOfStream: false);
                if (!Write(writer, (buffer, n, null))) { ArrayPool<byte>.Shared.Return(buffer); return; }
                if (n == 0) return;
            }
        }
        catch (Exception e)
        {
            Write(writer, (Array.Empty<byte>(), 0, e));
        }
    }

    private bool Write(ChannelWriter<(byte[], int, Exception?)> writer, (byte[], int, Exception?) item)
    {
        try { writer.WriteAsync(item, stop.Token).AsTask().GetAwaiter().GetResult(); return true; }
        catch (OperationCanceledException) { return false; }
    }

    public override int Read(Span<byte> buffer)
    {
        while (current is null || offset == count)
        {
            if (ended) return 0;
            if (current is { Length: > 0 }) ArrayPool<byte>.Shared.Return(current);
            var (next, n, error) = full.Reader.ReadAsync().AsTask().GetAwaiter().GetResult();
            if (error is not null) { ended = true; System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error); }
            current = next; offset = 0; count = n;
            if (n == 0) { ended = true; return 0; }
        }
        var take = Math.Min(buffer.Length, count - offset);
        current.AsSpan(offset, take).CopyTo(buffer);
        offset += take;
        return take;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            stop.Cancel();
            while (full.Reader.TryRead(out var item)) if (item.Buffer.Length > 0) ArrayPool<byte>.Shared.Return(item.Buffer);
            try { producer.Wait(); } catch (AggregateException) { }
            while (full.Reader.TryRead(out var item)) if (item.Buffer.Length > 0) ArrayPool<byte>.Shared.Return(item.Buffer);
            stop.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>A forward-only readable stream: the base of every decoding, hashing and peeking stream in the rooms above.</summary>
public abstract class ReadOnlyStream : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public abstract override int Read(Span<byte> buffer);
    public override int ReadByte() { Span<byte> b = stackalloc byte[1]; return Read(b) == 1 ? b[0] : -1; }
}
