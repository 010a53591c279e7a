using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Berth.Shim;

/// <summary>
/// The shim's socket (shim.sock in its state directory) speaks frames: a kind byte, a little-endian 32-bit payload
/// length, the payload. A connection opens with one request: Wait (the shim answers Exit when the container has
/// exited and its output is in the log, and Deleted once it has run the runtime's delete, when Exit announced that),
/// Attach (the shim streams Stdout/Stderr frames, then End; the client may send Stdin and CloseStdin), Resize
/// (answered Ok or Failed), or Start (the shim runs the runtime's start and answers Ok or Failed with its message; a shim
/// started with --run-on-start runs the runtime's `run --detach` on the first Start and answers Ok with the init's pid in
/// ASCII, or Failed, after which it leaves). Exit comes before the runtime's delete, Deleted after it.
/// </summary>
public static class ShimProtocol
{
    public const string SocketName = "shim.sock";
    public const string InitPidFile = "init.pid";
    public const string ShimPidFile = "shim.pid";
    public const string RuntimeLogFile = "runtime.log";
    public const int HeaderSize = 5;
    public const int MaxPayload = 1 << 20;

    // Requests.
    public const byte Wait = (byte)'W', Attach = (byte)'A', Stdin = (byte)'I', CloseStdin = (byte)'C', Resize = (byte)'R', Start = (byte)'S';
    // Answers. Deleted carries nothing when the runtime's delete succeeded, else its message.
    public const byte Stdout = (byte)'O', Stderr = (byte)'E', End = (byte)'Z', Exit = (byte)'X', Ok = (byte)'K', Failed = (byte)'F', Deleted = (byte)'D';

    /// <summary>Attach flags (the payload's one byte).</summary>
    public const byte AttachStdin = 1, AttachStdout = 2, AttachStderr = 4;

    public static void WriteHeader(Span<byte> header, byte kind, int length)
    {
        header[0] = kind;
        BinaryPrimitives.WriteInt32LittleEndian(header[1..], length);
    }

    public static byte[] Frame(byte kind, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[HeaderSize + payload.Length];
        WriteHeader(frame, kind, payload.Length);
        payload.CopyTo(frame.AsSpan(HeaderSize));
        return frame;
    }

    public static byte[] ResizePayload(int height, int width)
    {
        var payload = new byte[4];
        BinaryPrimitives.WriteUInt16LittleEndian(payload, (ushort)Math.Clamp(height, 0, ushort.MaxValue));
        BinaryPrimitives.WriteUInt16LittleEndian(payload.AsSpan(2), (ushort)Math.Clamp(width, 0, ushort.MaxValue));
        return payload;
    }

    /// <summary>
    /// The Exit payload: "CODE OOM(0|1) FINISHED_UNIX_NANOSECONDS[ DELETES(0|1)]". DELETES 1: the shim runs the
    /// runtime's delete itself and tells its waiters with a Deleted frame (a shim without the field leaves it to berthd).
    /// </summary>
    public static byte[] ExitPayload(ExitRecord exit, bool shimDeletes = false)
        => Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"{exit.ExitCode} {(exit.OomKilled ? 1 : 0)} {exit.FinishedUnixNanoseconds}{(shimDeletes ? " 1" : "")}"));

    public static ExitRecord? ParseExit(ReadOnlySpan<byte> payload) => ParseExit(payload, out _);

    public static ExitRecord? ParseExit(ReadOnlySpan<byte> payload, out bool shimDeletes)
    {
        var parts = Encoding.ASCII.GetString(payload).Split(' ');
        shimDeletes = parts.Length == 4 && parts[3] == "1";
        if (parts.Length is not (3 or 4) || !int.TryParse(parts[0], CultureInfo.InvariantCulture, out var code)
            || !long.TryParse(parts[2], CultureInfo.InvariantCulture, out var finished)) return null;
        return new ExitRecord(code, finished, parts[1] == "1");
    }
}
