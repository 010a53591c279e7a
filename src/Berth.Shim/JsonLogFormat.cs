using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Berth.Shim;

/// <summary>
/// One line of Docker's json-file log driver: {"log":"…","stream":"stdout","time":"RFC3339Nano"} and a newline.
/// The bytes are what dockerd writes: its string escaping (HTML-safe, \u00XX for control characters, U+FFFD for
/// invalid UTF-8, U+2028/2029 escaped), UTC time with trailing zeros of the fraction trimmed.
/// </summary>
public static class JsonLogFormat
{
    private static ReadOnlySpan<byte> Hex => "0123456789abcdef"u8;

    /// <summary>The longest line an entry of <paramref name="logLength"/> bytes can format to.</summary>
    public static int MaxLength(int logLength) => logLength * 6 + 80;

    /// <summary>Formats one entry into <paramref name="output"/> (at least <see cref="MaxLength"/> long); returns its length.</summary>
    public static int Format(Span<byte> output, ReadOnlySpan<byte> log, bool stderr, long unixNanoseconds)
    {
        var n = 0;
        Put(output, ref n, "{\"log\":\""u8);
        n += Escape(log, output[n..]);
        Put(output, ref n, stderr ? "\",\"stream\":\"stderr\",\"time\":\""u8 : "\",\"stream\":\"stdout\",\"time\":\""u8);
        n += FormatTime(unixNanoseconds, output[n..]);
        Put(output, ref n, "\"}\n"u8);
        return n;
    }

    private static void Put(Span<byte> output, ref int n, ReadOnlySpan<byte> text)
    {
        text.CopyTo(output[n..]);
        n += text.Length;
    }

    /// <summary>JSON string escaping as dockerd's json-file writer does it.</summary>
    public static int Escape(ReadOnlySpan<byte> text, Span<byte> output)
    {
        var n = 0;
        var i = 0;
        while (i < text.Length)
        {
            var b = text[i];
            if (b < 0x80)
            {
                switch (b)
                {
                    case (byte)'"': output[n++] = (byte)'\\'; output[n++] = (byte)'"'; break;
                    case (byte)'\\': output[n++] = (byte)'\\'; output[n++] = (byte)'\\'; break;
                    case (byte)'\n': output[n++] = (byte)'\\'; output[n++] = (byte)'n'; break;
                    case (byte)'\r': output[n++] = (byte)'\\'; output[n++] = (byte)'r'; break;
                    case (byte)'\t': output[n++] = (byte)'\\'; output[n++] = (byte)'t'; break;
                    case (byte)'<' or (byte)'>' or (byte)'&':
                    default:
                        if (b < 0x20 || b is (byte)'<' or (byte)'>' or (byte)'&')
                        {
                            output[n++] = (byte)'\\'; output[n++] = (byte)'u'; output[n++] = (byte)'0'; output[n++] = (byte)'0';
                            output[n++] = Hex[b >> 4]; output[n++] = Hex[b & 0xF];
                        }
                        else output[n++] = b;
                        break;
                }
                i++;
                continue;
            }
            var status = Rune.DecodeFromUtf8(text[i..], out var rune, out var consumed);
            if (status != OperationStatus.Done)
            {
                "\\ufffd"u8.CopyTo(output[n..]);
                n += 6;
                i++; // one replacement per invalid byte, as Go's utf8.DecodeRune
                continue;
            }
            if (rune.Value is 0x2028 or 0x2029)
            {
                (rune.Value == 0x2028 ? "\\u2028"u8 : "\\u2029"u8).CopyTo(output[n..]);
                n += 6;
            }
            else
            {
                text.Slice(i, consumed).CopyTo(output[n..]);
                n += consumed;
            }
            i += consumed;
        }
        return n;
    }

    /// <summary>Go's time.RFC3339Nano in UTC: 2006-01-02T15:04:05.999999999Z (no fraction when it is zero).</summary>
    public static int FormatTime(long unixNanoseconds, Span<byte> output)
    {
        var seconds = Math.DivRem(unixNanoseconds, 1_000_000_000L, out var nanos);
        if (nanos < 0) { nanos += 1_000_000_000L; seconds--; }
        var t = DateTime.UnixEpoch.AddSeconds(seconds);
        var n = 0;
        Digits(output, ref n, t.Year, 4); output[n++] = (byte)'-';
        Digits(output, ref n, t.Month, 2); output[n++] = (byte)'-';
        Digits(output, ref n, t.Day, 2); output[n++] = (byte)'T';
        Digits(output, ref n, t.Hour, 2); output[n++] = (byte)':';
        Digits(output, ref n, t.Minute, 2); output[n++] = (byte)':';
        Digits(output, ref n, t.Second, 2);
        if (nanos != 0)
        {
            var digits = 9;
            while (nanos % 10 == 0) { nanos /= 10; digits--; }
            output[n++] = (byte)'.';
            Digits(output, ref n, nanos, digits);
        }
        output[n++] = (byte)'Z';
        return n;
    }

    private static void Digits(Span<byte> output, ref int n, long value, int width)
    {
        for (var k = width - 1; k >= 0; k--) { output[n + k] = (byte)('0' + value % 10); value /= 10; }
        n += width;
    }

    public static string FormatTime(long unixNanoseconds)
    {
        Span<byte> buffer = stackalloc byte[40];
        return System.Text.Encoding.ASCII.GetString(buffer[..FormatTime(unixNanoseconds, buffer)]);
    }

    /// <summary>Parses RFC 3339 with up to nanoseconds and any offset; returns nanoseconds since the Unix epoch.</summary>
    public static bool TryParseTime(ReadOnlySpan<byte> text, out long unixNanoseconds)
    {
        unixNanoseconds = 0;
        // yyyy-MM-ddTHH:mm:ss[.fffffffff](Z|±hh:mm)
        if (text.Length < 20 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':') return false;
        if (!Number(text[..4], out var year) || !Number(text.Slice(5, 2), out var month) || !Number(text.Slice(8, 2), out var day)
            || !Number(text.Slice(11, 2), out var hour) || !Number(text.Slice(14, 2), out var minute) || !Number(text.Slice(17, 2), out var second)) return false;
        var i = 19;
        long nanos = 0;
        if (i < text.Length && text[i] == '.')
        {
            i++;
            var digits = 0;
            while (i < text.Length && text[i] >= '0' && text[i] <= '9')
            {
                if (digits < 9) { nanos = nanos * 10 + (text[i] - '0'); digits++; }
                i++;
            }
            if (digits == 0) return false;
            for (; digits < 9; digits++) nanos *= 10;
        }
        if (i >= text.Length) return false;
        long offsetSeconds = 0;
        if (text[i] is (byte)'Z' or (byte)'z') i++;
        else if (text[i] is (byte)'+' or (byte)'-')
        {
            if (text.Length < i + 6 || text[i + 3] != ':' || !Number(text.Slice(i + 1, 2), out var oh) || !Number(text.Slice(i + 4, 2), out var om)) return false;
            offsetSeconds = (oh * 3600 + om * 60) * (text[i] == '-' ? -1 : 1);
            i += 6;
        }
        else return false;
        if (i != text.Length) return false;
        if (month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 60) return false;
        var utc = new DateTime(year, month, day, hour, minute, Math.Min(second, 59), DateTimeKind.Utc);
        var unixSeconds = (long)(utc - DateTime.UnixEpoch).TotalSeconds - offsetSeconds;
        unixNanoseconds = unixSeconds * 1_000_000_000L + nanos;
        return true;

        static bool Number(ReadOnlySpan<byte> s, out int value)
        {
            value = 0;
            foreach (var c in s)
            {
                if (c < '0' || c > '9') return false;
                value = value * 10 + (c - '0');
            }
            return true;
        }
    }

    /// <summary>One decoded entry: its stream (true for stderr), the raw log bytes and the time.</summary>
    public readonly record struct Entry(bool Stderr, byte[] Log, long UnixNanoseconds);

    /// <summary>Decodes one line of a json-file log; false for a line that is not an entry (torn or foreign).</summary>
    public static bool TryParse(ReadOnlySpan<byte> line, out Entry entry)
    {
        entry = default;
        byte[]? log = null;
        var stderr = false;
        long time = 0;
        var haveTime = false;
        try
        {
            var reader = new Utf8JsonReader(line);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("log"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String) return false;
                    log = Unescaped(ref reader);
                }
                else if (reader.ValueTextEquals("stream"u8))
                {
                    reader.Read();
                    stderr = reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("stderr"u8);
                }
                else if (reader.ValueTextEquals("time"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String) return false;
                    haveTime = reader.HasValueSequence || reader.ValueIsEscaped
                        ? TryParseTime(Unescaped(ref reader), out time)
                        : TryParseTime(reader.ValueSpan, out time);
                }
                else
                {
                    reader.Read();
                    reader.TrySkip();
                }
            }
        }
        catch (JsonException) { return false; }
        if (log is null || !haveTime) return false;
        entry = new Entry(stderr, log, time);
        return true;
    }

    private static byte[] Unescaped(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped) return reader.ValueSpan.ToArray();
        var buffer = new byte[reader.ValueSpan.Length];
        var length = reader.CopyString(buffer);
        return buffer.AsSpan(0, length).ToArray();
    }
}
