using System.Buffers;
using System.Text;

namespace Berth.Images;

/// <summary>
/// A minimal deterministic ustar writer for image archives: names, modes and times are given, owners are 0,
/// so the same input always gives the same bytes (which System.Formats.Tar does not promise for PAX times).
/// </summary>
internal sealed class TarOut(Stream output)
{
    private static readonly byte[] Zeros = new byte[1024];

    public void Directory(string name, DateTimeOffset mtime) => Header(name.EndsWith('/') ? name : name + "/", 0, 0x1ed /*0755*/, mtime, (byte)'5', "");

    public void Symlink(string name, string target, DateTimeOffset mtime) => Header(name, 0, 0x1ff /*0777*/, mtime, (byte)'2', target);

    public void File(string name, ReadOnlySpan<byte> data, DateTimeOffset mtime)
    {
        Header(name, data.Length, 0x1a4 /*0644*/, mtime, (byte)'0', "");
        output.Write(data);
        Pad(data.Length);
    }

    /// <summary>A file of known <paramref name="size"/> copied from <paramref name="data"/>; a short stream is an error.</summary>
    public void File(string name, Stream data, long size, DateTimeOffset mtime)
    {
        Header(name, size, 0x1a4, mtime, (byte)'0', "");
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            var left = size;
            while (left > 0)
            {
                var n = data.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                if (n == 0) throw new ImageException($"{name}: the layer store gave {size - left} of {size} bytes");
                output.Write(buffer, 0, n);
                left -= n;
            }
            if (data.Read(buffer, 0, 1) != 0) throw new ImageException($"{name}: the layer store gave more than {size} bytes");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        Pad(size);
    }

    public void Finish()
    {
        output.Write(Zeros);
        output.Flush();
    }

    private void Pad(long size)
    {
        var rest = (int)(size % 512);
        if (rest != 0) output.Write(Zeros, 0, 512 - rest);
    }

    private void Header(string name, long size, int mode, DateTimeOffset mtime, byte type, string linkName)
    {
        Span<byte> h = stackalloc byte[512];
        h.Clear();
        var nameBytes = Encoding.UTF8.GetBytes(name);
        if (nameBytes.Length > 100) throw new ImageException($"tar name too long: {name}");
        nameBytes.CopyTo(h);
        Octal(h.Slice(100, 8), mode);
        Octal(h.Slice(108, 8), 0);
        Octal(h.Slice(116, 8), 0);
        if (size >= 1L << 33)
        {
            // GNU base-256 size for members of 8 GiB and more.
            h[124] = 0x80;
            for (var i = 0; i < 8; i++) h[135 - i] = (byte)(size >> (8 * i));
        }
        else Octal(h.Slice(124, 12), size);
        Octal(h.Slice(136, 12), Math.Max(0, mtime.ToUnixTimeSeconds()));
        h.Slice(148, 8).Fill((byte)' ');
        h[156] = type;
        Encoding.UTF8.GetBytes(linkName).CopyTo(h[157..]);
        "ustar\0"u8.CopyTo(h[257..]);
        "00"u8.CopyTo(h[263..]);
        var sum = 0;
        foreach (var b in h) sum += b;
        Octal(h.Slice(148, 7), sum);
        output.Write(h);
    }

    private static void Octal(Span<byte> field, long value)
    {
        // Zero-padded octal digits then NUL, as Go's archive/tar writes them.
        var digits = field.Length - 1;
        for (var i = digits - 1; i >= 0; i--) { field[i] = (byte)('0' + (value & 7)); value >>= 3; }
        field[digits] = 0;
    }
}
