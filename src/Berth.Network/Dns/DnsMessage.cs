using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace Berth.Network.Dns;

public static class DnsType
{
    public const ushort A = 1, Ns = 2, Cname = 5, Soa = 6, Ptr = 12, Mx = 15, Txt = 16, Aaaa = 28, Srv = 33, Opt = 41, Any = 255;
}

public static class DnsRcode
{
    public const int NoError = 0, FormErr = 1, ServFail = 2, NxDomain = 3, NotImp = 4, Refused = 5;
}

public sealed record DnsQuestion(string Name, ushort Type, ushort Class = 1);

/// <summary>A resource record; <see cref="Data"/> is the raw RDATA (names inside it are written uncompressed).</summary>
public sealed record DnsRecord(string Name, ushort Type, ushort Class, uint Ttl, byte[] Data)
{
    public static DnsRecord Address(string name, IPAddress address, uint ttl = 600)
        => new(name, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? DnsType.A : DnsType.Aaaa, 1, ttl, address.GetAddressBytes());

    public static DnsRecord Pointer(string name, string target, uint ttl = 600) => new(name, DnsType.Ptr, 1, ttl, DnsMessage.EncodeName(target));
}

/// <summary>
/// A DNS message (RFC 1035 §4): header, questions and the three record sections. Parsing follows compression
/// pointers (bounded, so a pointer loop is a format error, not a hang); writing never compresses.
/// </summary>
public sealed class DnsMessage
{
    public ushort Id { get; set; }
    public bool IsResponse { get; set; }
    public int Opcode { get; set; }
    public bool Authoritative { get; set; }
    public bool Truncated { get; set; }
    public bool RecursionDesired { get; set; }
    public bool RecursionAvailable { get; set; }
    public int Rcode { get; set; }
    public List<DnsQuestion> Questions { get; } = [];
    public List<DnsRecord> Answers { get; } = [];
    public List<DnsRecord> Authority { get; } = [];
    public List<DnsRecord> Additional { get; } = [];

    /// <summary>A response to this query: same id, opcode, questions and RD bit.</summary>
    public DnsMessage CreateResponse(int rcode = DnsRcode.NoError)
    {
        var r = new DnsMessage { Id = Id, IsResponse = true, Opcode = Opcode, RecursionDesired = RecursionDesired, RecursionAvailable = true, Rcode = rcode };
        r.Questions.AddRange(Questions);
        return r;
    }

    public static DnsMessage Parse(ReadOnlySpan<byte> data)
    {
        if (data.Length < 12) throw new FormatException("DNS message shorter than its header");
        var flags = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
        var m = new DnsMessage
        {
            Id = BinaryPrimitives.ReadUInt16BigEndian(data),
            IsResponse = (flags & 0x8000) != 0,
            Opcode = (flags >> 11) & 0xf,
            Authoritative = (flags & 0x0400) != 0,
            Truncated = (flags & 0x0200) != 0,
            RecursionDesired = (flags & 0x0100) != 0,
            RecursionAvailable = (flags & 0x0080) != 0,
            Rcode = flags & 0xf,
        };
        int qd = BinaryPrimitives.ReadUInt16BigEndian(data[4..]), an = BinaryPrimitives.ReadUInt16BigEndian(data[6..]),
            ns = BinaryPrimitives.ReadUInt16BigEndian(data[8..]), ar = BinaryPrimitives.ReadUInt16BigEndian(data[10..]);
        var offset = 12;
        for (var i = 0; i < qd; i++)
        {
            var name = ReadName(data, ref offset);
            Need(data, offset, 4);
            m.Questions.Add(new DnsQuestion(name, BinaryPrimitives.ReadUInt16BigEndian(data[offset..]), BinaryPrimitives.ReadUInt16BigEndian(data[(offset + 2)..])));
            offset += 4;
        }
        ReadRecords(data, ref offset, an, m.Answers);
        ReadRecords(data, ref offset, ns, m.Authority);
        ReadRecords(data, ref offset, ar, m.Additional);
        return m;
    }

    private static void ReadRecords(ReadOnlySpan<byte> data, ref int offset, int count, List<DnsRecord> into)
    {
        for (var i = 0; i < count; i++)
        {
            var name = ReadName(data, ref offset);
            Need(data, offset, 10);
            var type = BinaryPrimitives.ReadUInt16BigEndian(data[offset..]);
            var cls = BinaryPrimitives.ReadUInt16BigEndian(data[(offset + 2)..]);
            var ttl = BinaryPrimitives.ReadUInt32BigEndian(data[(offset + 4)..]);
            var length = BinaryPrimitives.ReadUInt16BigEndian(data[(offset + 8)..]);
            offset += 10;
            Need(data, offset, length);
            into.Add(new DnsRecord(name, type, cls, ttl, data.Slice(offset, length).ToArray()));
            offset += length;
        }
    }

    private static void Need(ReadOnlySpan<byte> data, int offset, int count)
    {
        if (offset + count > data.Length) throw new FormatException("DNS message truncated");
    }

    /// <summary>Reads a (possibly compressed) name at <paramref name="offset"/>, advancing past it; "" is the root.</summary>
    public static string ReadName(ReadOnlySpan<byte> data, ref int offset)
    {
        var name = new StringBuilder();
        var position = offset;
        var jumped = false;
        for (var hops = 0; ; hops++)
        {
            if (hops > 127) throw new FormatException("DNS name too long or a compression loop");
            Need(data, position, 1);
            var length = data[position];
            if (length == 0)
            {
                if (!jumped) offset = position + 1;
                break;
            }
            if ((length & 0xc0) == 0xc0)
            {
                Need(data, position, 2);
                if (!jumped) offset = position + 2;
                jumped = true;
                position = BinaryPrimitives.ReadUInt16BigEndian(data[position..]) & 0x3fff;
                continue;
            }
            if ((length & 0xc0) != 0) throw new FormatException("DNS label type not supported");
            Need(data, position + 1, length);
            if (name.Length > 0) name.Append('.');
            name.Append(Encoding.ASCII.GetString(data.Slice(position + 1, length)));
            if (name.Length > 255) throw new FormatException("DNS name too long");
            position += 1 + length;
        }
        return name.ToString();
    }

    public static byte[] EncodeName(string name)
    {
        var buffer = new List<byte>(name.Length + 2);
        foreach (var label in name.TrimEnd('.').Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            var bytes = Encoding.ASCII.GetBytes(label);
            if (bytes.Length > 63) throw new FormatException($"DNS label too long: {label}");
            buffer.Add((byte)bytes.Length);
            buffer.AddRange(bytes);
        }
        buffer.Add(0);
        return [.. buffer];
    }

    public byte[] ToBytes()
    {
        var b = new List<byte>(512);
        void U16(int v) { b.Add((byte)(v >> 8)); b.Add((byte)v); }
        U16(Id);
        U16((IsResponse ? 0x8000 : 0) | (Opcode & 0xf) << 11 | (Authoritative ? 0x0400 : 0) | (Truncated ? 0x0200 : 0)
            | (RecursionDesired ? 0x0100 : 0) | (RecursionAvailable ? 0x0080 : 0) | (Rcode & 0xf));
        U16(Questions.Count); U16(Answers.Count); U16(Authority.Count); U16(Additional.Count);
        foreach (var q in Questions)
        {
            b.AddRange(EncodeName(q.Name));
            U16(q.Type); U16(q.Class);
        }
        foreach (var section in (List<DnsRecord>[])[Answers, Authority, Additional])
            foreach (var r in section)
            {
                b.AddRange(EncodeName(r.Name));
                U16(r.Type); U16(r.Class);
                U16((int)(r.Ttl >> 16)); U16((int)(r.Ttl & 0xffff));
                U16(r.Data.Length);
                b.AddRange(r.Data);
            }
        return [.. b];
    }
}
