using System.Buffers;
using System.IO.Compression;
using System.Text;

namespace Berth.Storage.Archive;

/// <summary>
/// Sits under TarReader and records every byte of the layer tar that is not file content (headers, PAX and GNU
/// records, padding, the end blocks), so the exact tar, and with it the diffID, can be rebuilt later from this
/// record plus the unpacked files (what Docker's tar-split does). Records, in a zlib stream:
/// 'M' len bytes — raw tar bytes; 'F' len path size — that many bytes of content from the unpacked file.
/// </summary>
internal sealed class TarSplitCapture : ReadOnlyStream
{
    private readonly Stream inner;
    private readonly ArrayBufferWriter<byte> pending = new(4096);
    private readonly BinaryWriter? record;
    private long offset;           // bytes read so far: block alignment of what is pending
    private long pendingStart;
    private long dataCount;
    public bool DataMode { get; private set; }

    public TarSplitCapture(Stream inner, Stream? recordOutput)
    {
        this.inner = inner;
        if (recordOutput is not null) record = new BinaryWriter(new ZLibStream(recordOutput, CompressionLevel.Fastest), Encoding.UTF8);
    }

    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer);
        if (DataMode) dataCount += n;
        else pending.Write(buffer[..n]);
        offset += n;
        return n;
    }

    /// <summary>The raw bytes read since the last file content: the headers of the entry just returned by TarReader.</summary>
    public ReadOnlySpan<byte> PendingHeaders => pending.WrittenSpan;
    /// <summary>Where <see cref="PendingHeaders"/> starts relative to a 512-byte block boundary.</summary>
    public int PendingMisalignment => (int)(pendingStart % 512);

    public void BeginData()
    {
        FlushMetadata();
        DataMode = true;
        dataCount = 0;
    }

    public long EndData(string path)
    {
        DataMode = false;
        pendingStart = offset;
        if (record is not null && dataCount > 0)
        {
            record.Write((byte)'F');
            record.Write(path);
            record.Write7BitEncodedInt64(dataCount);
        }
        return dataCount;
    }

    private void FlushMetadata()
    {
        if (record is not null && pending.WrittenCount > 0)
        {
            record.Write((byte)'M');
            record.Write7BitEncodedInt(pending.WrittenCount);
            record.Write(pending.WrittenSpan);
        }
        pending.ResetWrittenCount();
        pendingStart = offset;
    }

    /// <summary>Records the tail (end blocks and anything after them) and closes the record.</summary>
    public void Finish()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
        try { while (Read(buffer) > 0) { } }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
        FlushMetadata();
        record?.Write((byte)'E');
        record?.Dispose();
    }

    protected override void Dispose(bool disposing) { if (disposing) record?.Dispose(); base.Dispose(disposing); }
}

/// <summary>Rebuilds a layer tar from its tar-split record and the unpacked files (opened through <paramref name="openFile"/>).</summary>
internal sealed class TarSplitReplay(Stream record, Func<string, Stream> openFile) : ReadOnlyStream
{
    private readonly BinaryReader reader = new(new ZLibStream(record, CompressionMode.Decompress), Encoding.UTF8);
    private byte[] metadata = [];
    private int metadataOffset, metadataCount;
    private Stream? file;
    private string? filePath;
    private long fileRemaining;
    private bool ended;

    public override int Read(Span<byte> buffer)
    {
        while (true)
        {
            if (metadataOffset < metadataCount)
            {
                var n = Math.Min(buffer.Length, metadataCount - metadataOffset);
                metadata.AsSpan(metadataOffset, n).CopyTo(buffer);
                metadataOffset += n;
                return n;
            }
            if (file is not null)
            {
                if (fileRemaining == 0) { file.Dispose(); file = null; continue; }
                var n = file.Read(buffer[..(int)Math.Min(buffer.Length, fileRemaining)]);
                if (n == 0) throw new StorageException($"layer content changed on disk: {filePath} is shorter than when it was unpacked");
                fileRemaining -= n;
                return n;
            }
            if (ended) return 0;
            switch (reader.ReadByte())
            {
                case (byte)'M':
                    metadataCount = reader.Read7BitEncodedInt();
                    if (metadata.Length < metadataCount) metadata = new byte[Math.Max(metadataCount, 4096)];
                    reader.ReadExactlyInto(metadata, 0, metadataCount);
                    metadataOffset = 0;
                    break;
                case (byte)'F':
                    filePath = reader.ReadString();
                    fileRemaining = reader.Read7BitEncodedInt64();
                    file = openFile(filePath);
                    break;
                case (byte)'E':
                    ended = true;
                    break;
                default:
                    throw new StorageException("corrupt tar-split record");
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) { file?.Dispose(); reader.Dispose(); }
        base.Dispose(disposing);
    }
}

internal static class BinaryReaderExtensions
{
    public static void ReadExactlyInto(this BinaryReader reader, byte[] buffer, int offset, int count)
    {
        while (count > 0)
        {
            var n = reader.Read(buffer, offset, count);
            if (n == 0) throw new EndOfStreamException();
            offset += n; count -= n;
        }
    }
}
