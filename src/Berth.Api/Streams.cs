using System.Buffers.Binary;
using Berth.Engine;

namespace Berth.Api;

/// <summary>Docker's stdcopy framing: an 8-byte header [stream, 0, 0, 0, big-endian uint32 size] before each chunk.</summary>
public static class StdFrame
{
    public const int HeaderSize = 8;

    public static void WriteHeader(Span<byte> header, StdStream stream, int length)
    {
        header[0] = (byte)stream;
        header[1] = header[2] = header[3] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(header[4..], (uint)length);
    }

    /// <summary>Writes one chunk, framed unless <paramref name="raw"/> (a TTY has one stream and no frames).</summary>
    public static async ValueTask WriteAsync(Stream destination, StdStream stream, ReadOnlyMemory<byte> data, bool raw, CancellationToken cancellationToken)
    {
        if (data.IsEmpty) return;
        if (!raw)
        {
            var header = new byte[HeaderSize];
            WriteHeader(header, stream, data.Length);
            await destination.WriteAsync(header, cancellationToken);
        }
        await destination.WriteAsync(data, cancellationToken);
    }
}

/// <summary>
/// Finds Docker's detach sequence (default Ctrl-P Ctrl-Q) in a client's stdin. Bytes that could start the
/// sequence are held back; when the sequence breaks they are passed on, so nothing typed is lost.
/// </summary>
public sealed class DetachKeyScanner(byte[] sequence)
{
    public static readonly byte[] Default = [0x10, 0x11];
    private int matched;

    public bool Detached { get; private set; }

    /// <summary>Parses Docker's detach-keys syntax: comma-separated single characters or ctrl-X; null on error.</summary>
    public static byte[]? Parse(string? keys)
    {
        if (string.IsNullOrEmpty(keys)) return Default;
        var codes = new List<byte>();
        foreach (var part in keys.Split(','))
        {
            if (part.Length == 1) { codes.Add((byte)part[0]); continue; }
            var key = part.Trim();
            if (!key.StartsWith("ctrl-", StringComparison.Ordinal) || key.Length != 6) return null;
            var c = char.ToLowerInvariant(key[5]);
            if (c is >= 'a' and <= 'z') codes.Add((byte)(c - 'a' + 1));
            else if (c == '@') codes.Add(0);
            else if (c is '[' or '\\' or ']' or '^' or '_') codes.Add((byte)(c - '[' + 27));
            else return null;
        }
        return codes.Count == 0 ? null : [.. codes];
    }

    /// <summary>Returns what to forward from <paramref name="input"/>; sets <see cref="Detached"/> when the sequence completes.</summary>
    public byte[] Feed(ReadOnlySpan<byte> input)
    {
        if (sequence.Length == 0) return input.ToArray();
        var output = new List<byte>(input.Length);
        foreach (var b in input)
        {
            if (Detached) break;
            if (b == sequence[matched])
            {
                if (++matched == sequence.Length) Detached = true;
                continue;
            }
            // The held prefix was ordinary input after all.
            for (var i = 0; i < matched; i++) output.Add(sequence[i]);
            matched = 0;
            if (b == sequence[0]) { matched = 1; if (sequence.Length == 1) Detached = true; continue; }
            output.Add(b);
        }
        return [.. output];
    }
}
