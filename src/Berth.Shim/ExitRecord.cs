using System.Text;
using System.Text.Json;
using Berth.Linux;

namespace Berth.Shim;

/// <summary>
/// How the container's init ended, as the shim records it in its state directory (exit.json, written to a temporary
/// file and renamed, so a reader sees all of it or nothing): exit code (128 + signal when killed), the time, whether
/// its memory cgroup OOM-killed a process.
/// </summary>
public readonly record struct ExitRecord(int ExitCode, long FinishedUnixNanoseconds, bool OomKilled)
{
    public const string FileName = "exit.json";

    public string ToJson()
        => $"{{\"exitCode\":{ExitCode},\"finishedAt\":\"{JsonLogFormat.FormatTime(FinishedUnixNanoseconds)}\",\"oomKilled\":{(OomKilled ? "true" : "false")}}}\n";

    public void WriteTo(IDescriptorCalls files, IEventLoopCalls loop, string stateDirectory)
    {
        var path = Path.Combine(stateDirectory, FileName);
        var temporary = path + ".tmp";
        var fd = files.OpenFile(temporary, OpenFlags.O_WRONLY | OpenFlags.O_CREAT | OpenFlags.O_TRUNC, 0b110_100_100);
        try { files.WriteAll(fd, Encoding.ASCII.GetBytes(ToJson())); }
        finally { files.CloseFd(fd); }
        loop.Rename(temporary, path);
    }

    public static ExitRecord? Read(string stateDirectory)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(Path.Combine(stateDirectory, FileName)); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
        return Parse(bytes);
    }

    public static ExitRecord? Parse(ReadOnlySpan<byte> json)
    {
        int? code = null;
        long? finished = null;
        var oom = false;
        try
        {
            var reader = new Utf8JsonReader(json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("exitCode"u8)) { reader.Read(); code = reader.GetInt32(); }
                else if (reader.ValueTextEquals("finishedAt"u8))
                {
                    reader.Read();
                    if (JsonLogFormat.TryParseTime(reader.ValueSpan, out var t)) finished = t;
                }
                else if (reader.ValueTextEquals("oomKilled"u8)) { reader.Read(); oom = reader.TokenType == JsonTokenType.True; }
                else { reader.Read(); reader.TrySkip(); }
            }
        }
        catch (JsonException) { return null; }
        catch (FormatException) { return null; }
        catch (InvalidOperationException) { return null; }
        return code is { } c && finished is { } f ? new ExitRecord(c, f, oom) : null;
    }
}
