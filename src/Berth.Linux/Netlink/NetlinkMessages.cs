using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Berth.Linux.Netlink;

/// <summary>Netlink header constants (linux/netlink.h, linux/rtnetlink.h).</summary>
public static class Nl
{
    public const int HeaderSize = 16, NetlinkRoute = 0;
    public const ushort Noop = 1, Error = 2, Done = 3;
    public const ushort FRequest = 0x1, FMulti = 0x2, FAck = 0x4, FDump = 0x300, FReplace = 0x100, FExcl = 0x200, FCreate = 0x400;
    public const ushort AttrNested = 0x8000, AttrTypeMask = 0x3fff;
    public const ushort ExtAckMessage = 1;

    public const ushort NewLink = 16, DelLink = 17, GetLink = 18, SetLink = 19, NewAddr = 20, DelAddr = 21, GetAddr = 22,
        NewRoute = 24, DelRoute = 25, GetRoute = 26;

    public static int Align(int n) => (n + 3) & ~3;
}

/// <summary>struct ifinfomsg.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IfInfoMsg
{
    public byte Family; public byte Pad; public ushort Type; public int Index; public uint Flags; public uint Change;
}

/// <summary>struct ifaddrmsg.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IfAddrMsg
{
    public byte Family; public byte PrefixLength; public byte Flags; public byte Scope; public int Index;
}

/// <summary>struct rtmsg.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct RtMsg
{
    public byte Family; public byte DstLength; public byte SrcLength; public byte Tos;
    public byte Table; public byte Protocol; public byte Scope; public byte Type; public uint Flags;
}

/// <summary>Builds netlink datagrams: headers, fixed structs, attributes (nested ones too), 4-byte aligned.</summary>
public sealed class NetlinkWriter
{
    private byte[] _buffer = new byte[512];
    private int _length;

    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _length);
    public void Clear() => _length = 0;

    /// <summary>Starts a message; returns its offset for <see cref="EndMessage"/>.</summary>
    public int BeginMessage(ushort type, ushort flags, uint sequence)
    {
        var start = _length;
        var header = Reserve(Nl.HeaderSize);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], type);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], sequence);
        return start;
    }

    public void EndMessage(int start) => BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(start), (uint)(_length - start));

    public void Struct<T>(in T value) where T : unmanaged
    {
        var span = Reserve(Unsafe.SizeOf<T>());
        MemoryMarshal.Write(span, in value);
    }

    public void Attribute(ushort type, ReadOnlySpan<byte> value)
    {
        var span = Reserve(4 + value.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)(4 + value.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(span[2..], type);
        value.CopyTo(span[4..]);
    }

    public void AttributeU32(ushort type, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        Attribute(type, b);
    }

    public void AttributeU8(ushort type, byte value) => Attribute(type, [value]);

    /// <summary>A NUL-terminated string attribute (interface names, link kinds).</summary>
    public void AttributeString(ushort type, string value)
    {
        Span<byte> b = stackalloc byte[Encoding.UTF8.GetByteCount(value) + 1];
        Encoding.UTF8.GetBytes(value, b);
        b[^1] = 0;
        Attribute(type, b);
    }

    public int BeginNested(ushort type)
    {
        var start = _length;
        var span = Reserve(4);
        BinaryPrimitives.WriteUInt16LittleEndian(span[2..], (ushort)(type | Nl.AttrNested));
        return start;
    }

    public void EndNested(int start) => BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(start), (ushort)(_length - start));

    /// <summary>Reserves <paramref name="size"/> bytes plus padding to 4, zeroed; returns the unpadded span.</summary>
    private Span<byte> Reserve(int size)
    {
        var padded = Nl.Align(size);
        if (_length + padded > _buffer.Length) Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + padded));
        var span = _buffer.AsSpan(_length, padded);
        span.Clear();
        _length += padded;
        return span[..size];
    }
}

/// <summary>One message of a datagram.</summary>
public readonly ref struct NetlinkMessage(ushort type, ushort flags, uint sequence, ReadOnlySpan<byte> payload)
{
    public ushort Type { get; } = type;
    public ushort Flags { get; } = flags;
    public uint Sequence { get; } = sequence;
    public ReadOnlySpan<byte> Payload { get; } = payload;

    public T Struct<T>() where T : unmanaged => MemoryMarshal.Read<T>(Payload);
    /// <summary>The attributes that follow the fixed struct <typeparamref name="T"/>.</summary>
    public AttributeReader Attributes<T>() where T : unmanaged => new(Payload[Math.Min(Payload.Length, Nl.Align(Unsafe.SizeOf<T>()))..]);
}

/// <summary>Iterates the messages of a datagram (stops at a truncated one).</summary>
public ref struct MessageReader(ReadOnlySpan<byte> datagram)
{
    private ReadOnlySpan<byte> _rest = datagram;
    public NetlinkMessage Current { get; private set; }
    public readonly MessageReader GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_rest.Length < Nl.HeaderSize) return false;
        var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(_rest);
        if (length < Nl.HeaderSize || length > _rest.Length) return false;
        Current = new NetlinkMessage(BinaryPrimitives.ReadUInt16LittleEndian(_rest[4..]), BinaryPrimitives.ReadUInt16LittleEndian(_rest[6..]),
            BinaryPrimitives.ReadUInt32LittleEndian(_rest[8..]), _rest[Nl.HeaderSize..length]);
        _rest = _rest[Math.Min(_rest.Length, Nl.Align(length))..];
        return true;
    }
}

public readonly ref struct NetlinkAttribute(ushort type, ReadOnlySpan<byte> value)
{
    /// <summary>The type without the nested/byte-order flags.</summary>
    public ushort Type { get; } = (ushort)(type & Nl.AttrTypeMask);
    public ReadOnlySpan<byte> Value { get; } = value;
    public uint U32 => BinaryPrimitives.ReadUInt32LittleEndian(Value);
    public string String => Encoding.UTF8.GetString(Value.IndexOf((byte)0) is var z and >= 0 ? Value[..z] : Value);
    public AttributeReader Nested => new(Value);
}

/// <summary>Iterates a run of attributes (stops at a truncated one).</summary>
public ref struct AttributeReader(ReadOnlySpan<byte> attributes)
{
    private ReadOnlySpan<byte> _rest = attributes;
    public NetlinkAttribute Current { get; private set; }
    public readonly AttributeReader GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_rest.Length < 4) return false;
        var length = BinaryPrimitives.ReadUInt16LittleEndian(_rest);
        if (length < 4 || length > _rest.Length) return false;
        Current = new NetlinkAttribute(BinaryPrimitives.ReadUInt16LittleEndian(_rest[2..]), _rest[4..length]);
        _rest = _rest[Math.Min(_rest.Length, Nl.Align(length))..];
        return true;
    }
}

/// <summary>A request the kernel refused: the operation, errno, and the kernel's extended-ack text when it gave one.</summary>
public sealed class NetlinkException(string operation, int errno, string? kernelMessage)
    : Exception($"{operation}: {Errno.Describe(errno)}{(string.IsNullOrEmpty(kernelMessage) ? "" : " — " + kernelMessage)}")
{
    public int ErrorNumber { get; } = errno;
    public string? KernelMessage { get; } = kernelMessage;
}
