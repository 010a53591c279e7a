using System.Buffers;
using System.Globalization;
using System.Text;

namespace Berth.Storage.Archive;

/// <summary>One tar entry to write. Type is the ustar typeflag ('0', '1', '2', '3', '4', '5', '6').</summary>
internal record struct TarItem(string Name, byte Type, int Mode, int Uid, int Gid, long Size, long MtimeSeconds,
    string? LinkName = null, uint DeviceMajor = 0, uint DeviceMinor = 0, IReadOnlyList<KeyValuePair<string, byte[]>>? Xattrs = null);

/// <summary>
/// A small PAX tar writer. TarWriter's PAX records are strings, and binary xattr values (security.capability) are not
/// valid UTF-8, so headers are written here byte for byte. Output is deterministic: same tree, same bytes.
/// </summary>
internal sealed class TarBuilder(Stream output)
{
    private readonly byte[] block = new byte[512];
    private static readonly byte[] Zeros = new byte[1024];

    public void Add(in TarItem item, Stream? data = null)
    {
        var name = item.Type == (byte)'5' && !item.Name.EndsWith('/') ? item.Name + "/" : item.Name;
        var nameBytes = Encoding.UTF8.GetBytes(name);
        var linkBytes = item.LinkName is null ? [] : Encoding.UTF8.GetBytes(item.LinkName);
        List<(string Key, byte[] Value)>? pax = null;
        if (nameBytes.Length > 100) (pax ??= []).Add(("path", nameBytes));
        if (linkBytes.Length > 100) (pax ??= []).Add(("linkpath", linkBytes));
        if (item.Size > 0x1_FFFF_FFFF) (pax ??= []).Add(("size", Ascii(item.Size)));
        if (item.Uid > 0x1F_FFFF) (pax ??= []).Add(("uid", Ascii(item.Uid)));
        if (item.Gid > 0x1F_FFFF) (pax ??= []).Add(("gid", Ascii(item.Gid)));
        if (item.Xattrs is not null)
            foreach (var (key, value) in item.Xattrs.OrderBy(x => x.Key, StringComparer.Ordinal)) (pax ??= []).Add(("SCHILY.xattr." + key, value));
        if (pax is not null) WritePax(pax);

        Array.Clear(block);
        nameBytes.AsSpan(0, Math.Min(100, nameBytes.Length)).CopyTo(block);
        Octal(100, 8, item.Mode & 0xFFF);
        Octal(108, 8, item.Uid > 0x1F_FFFF ? 0 : item.Uid);
        Octal(116, 8, item.Gid > 0x1F_FFFF ? 0 : item.Gid);
        Octal(124, 12, item.Size > 0x1_FFFF_FFFF ? 0 : item.Size);
        Octal(136, 12, Math.Max(0, item.MtimeSeconds));
        block[156] = item.Type;
        linkBytes.AsSpan(0, Math.Min(100, linkBytes.Length)).CopyTo(block.AsSpan(157));
        "ustar\0"u8.CopyTo(block.AsSpan(257));
        "00"u8.CopyTo(block.AsSpan(263));
        if (item.Type is (byte)'3' or (byte)'4')
        {
            Octal(329, 8, item.DeviceMajor);
            Octal(337, 8, item.DeviceMinor);
        }
        Checksum();
        output.Write(block);
        if (item.Size > 0 && data is not null) CopyExactly(data, item.Size, item.Name);
        Pad(item.Size);
    }

    public void Finish()
    {
        output.Write(Zeros);
        output.Flush();
    }

    private void WritePax(List<(string Key, byte[] Value)> records)
    {
        var body = new MemoryStream();
        foreach (var (key, value) in records)
        {
            var keyBytes = Encoding.UTF8.GetBytes(key);
            var rest = 1 + keyBytes.Length + 1 + value.Length + 1; // ' ' key '=' value '\n'
            var length = rest + 1;
            while (length != rest + length.ToString(CultureInfo.InvariantCulture).Length) length = rest + length.ToString(CultureInfo.InvariantCulture).Length;
            body.Write(Encoding.ASCII.GetBytes(length.ToString(CultureInfo.InvariantCulture)));
            body.WriteByte((byte)' ');
            body.Write(keyBytes);
            body.WriteByte((byte)'=');
            body.Write(value);
            body.WriteByte((byte)'\n');
        }
        Array.Clear(block);
        "././@PaxHeader"u8.CopyTo(block);
        Octal(100, 8, 0x1A4);
        Octal(108, 8, 0);
        Octal(116, 8, 0);
        Octal(124, 12, body.Length);
        Octal(136, 12, 0);
        block[156] = (byte)'x';
        "ustar\0"u8.CopyTo(block.AsSpan(257));
        "00"u8.CopyTo(block.AsSpan(263));
        Checksum();
        output.Write(block);
        output.Write(body.GetBuffer(), 0, (int)body.Length);
        Pad(body.Length);
    }

    private void CopyExactly(Stream data, long size, string name)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            var remaining = size;
            while (remaining > 0)
            {
                var n = data.Read(buffer, 0, (int)Math.Min(buffer.Length, remaining));
                if (n == 0) throw new StorageException($"{name} shrank while it was being archived");
                output.Write(buffer, 0, n);
                remaining -= n;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
    }

    private void Pad(long size)
    {
        var pad = (int)((512 - size % 512) % 512);
        if (pad > 0) output.Write(Zeros, 0, pad);
    }

    private void Octal(int offset, int width, long value)
    {
        var digits = Convert.ToString(value, 8).PadLeft(width - 1, '0');
        Encoding.ASCII.GetBytes(digits, block.AsSpan(offset, width - 1));
        block[offset + width - 1] = 0;
    }

    private void Checksum()
    {
        "        "u8.CopyTo(block.AsSpan(148));
        var sum = 0;
        foreach (var b in block) sum += b;
        var digits = Convert.ToString(sum, 8).PadLeft(6, '0');
        Encoding.ASCII.GetBytes(digits, block.AsSpan(148, 6));
        block[154] = 0;
        block[155] = (byte)' ';
    }

    private static byte[] Ascii(long value) => Encoding.ASCII.GetBytes(value.ToString(CultureInfo.InvariantCulture));
}
