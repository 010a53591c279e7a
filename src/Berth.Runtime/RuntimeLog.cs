using System.Text;
using System.Text.Json;

namespace Berth.Runtime;

/// <summary>
/// The runtime's log, as containerd and dockerd use runc's: errors go to stderr and to --log FILE; with
/// --log-format json each line is {"level":"error","msg":"...","time":"..."} (containerd reads the last error
/// from it to explain a failure). Opened lazily: nothing is touched on the success path unless --debug.
/// </summary>
public static class RuntimeLog
{
    private static string? _path;
    private static bool _json;
    public static bool DebugEnabled { get; private set; }

    public static void Configure(string? path, string format, bool debug)
    {
        _path = string.IsNullOrEmpty(path) ? null : path;
        _json = format == "json";
        DebugEnabled = debug;
    }

    public static void Error(string message)
    {
        Console.Error.WriteLine(message);
        Append("error", message);
    }

    public static void Warn(string message)
    {
        if (_path is null) Console.Error.WriteLine("warning: " + message);
        else Append("warning", message);
    }

    public static void Debug(string message)
    {
        if (!DebugEnabled) return;
        if (_path is null) Console.Error.WriteLine("debug: " + message);
        else Append("debug", message);
    }

    /// <summary>One log line in the chosen format.</summary>
    public static string Format(string level, string message, DateTime utc, bool json)
    {
        var time = utc.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", System.Globalization.CultureInfo.InvariantCulture);
        if (!json) return $"time=\"{time}\" level={level} msg=\"{message.Replace("\"", "\\\"")}\"";
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("level", level);
            w.WriteString("msg", message);
            w.WriteString("time", time);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void Append(string level, string message)
    {
        if (_path is null) return;
        try { File.AppendAllText(_path, Format(level, message, DateTime.UtcNow, _json) + "\n"); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
