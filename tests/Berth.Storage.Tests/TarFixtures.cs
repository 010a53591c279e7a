using System.Formats.Tar;
using System.IO.Compression;
using System.Text;

namespace Berth.Storage.Tests;

/// <summary>Handcrafted layer tars for the tests.</summary>
internal sealed class LayerTar
{
    private readonly MemoryStream buffer = new();
    private readonly TarWriter writer;
    public static readonly DateTimeOffset Time = new(2020, 1, 2, 3, 4, 5, TimeSpan.Zero);

    public LayerTar(TarEntryFormat format = TarEntryFormat.Pax) { Format = format; writer = new TarWriter(buffer, format, leaveOpen: true); }
    public TarEntryFormat Format { get; }

    private TarEntry New(TarEntryType type, string name) => Format switch
    {
        TarEntryFormat.Gnu => new GnuTarEntry(type, name),
        TarEntryFormat.Ustar => new UstarTarEntry(type, name),
        _ => new PaxTarEntry(type, name),
    };

    public LayerTar Dir(string name, int mode = 0x1ED, DateTimeOffset? mtime = null, int uid = 0, int gid = 0)
    {
        var e = New(TarEntryType.Directory, name);
        e.Mode = (UnixFileMode)mode; e.ModificationTime = mtime ?? Time; e.Uid = uid; e.Gid = gid;
        writer.WriteEntry(e);
        return this;
    }

    public LayerTar File(string name, string content, int mode = 0x1A4, int uid = 0, int gid = 0, DateTimeOffset? mtime = null)
        => File(name, Encoding.UTF8.GetBytes(content), mode, uid, gid, mtime);

    public LayerTar File(string name, byte[] content, int mode = 0x1A4, int uid = 0, int gid = 0, DateTimeOffset? mtime = null)
    {
        var e = New(TarEntryType.RegularFile, name);
        e.Mode = (UnixFileMode)mode; e.Uid = uid; e.Gid = gid; e.ModificationTime = mtime ?? Time;
        e.DataStream = new MemoryStream(content);
        writer.WriteEntry(e);
        return this;
    }

    public LayerTar Symlink(string name, string target)
    {
        var e = New(TarEntryType.SymbolicLink, name);
        e.LinkName = target; e.Mode = (UnixFileMode)0x1FF; e.ModificationTime = Time;
        writer.WriteEntry(e);
        return this;
    }

    public LayerTar HardLink(string name, string target)
    {
        var e = New(TarEntryType.HardLink, name);
        e.LinkName = target; e.ModificationTime = Time;
        writer.WriteEntry(e);
        return this;
    }

    public LayerTar Device(string name, TarEntryType type, int major, int minor, int mode = 0x1B6)
    {
        var e = (PosixTarEntry)New(type, name);
        e.DeviceMajor = major; e.DeviceMinor = minor; e.Mode = (UnixFileMode)mode; e.ModificationTime = Time;
        writer.WriteEntry(e);
        return this;
    }

    public LayerTar Whiteout(string name) => File(name, "", 0);

    public byte[] Bytes()
    {
        writer.Dispose();
        return buffer.ToArray();
    }

    public static byte[] Gzip(byte[] tar)
    {
        var output = new MemoryStream();
        using (var gz = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(tar);
        return output.ToArray();
    }

    public static byte[] Zstd(byte[] tar)
    {
        using var compressor = new ZstdSharp.Compressor(3);
        return compressor.Wrap(tar).ToArray();
    }
}

/// <summary>A stream that fails the test if read (a register that should not read its blob).</summary>
internal sealed class UnreadableStream : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => 0; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new InvalidOperationException("the blob was read");
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
