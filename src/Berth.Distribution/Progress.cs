using System.Globalization;
using System.Text.Json.Serialization;

namespace Berth.Distribution;

/// <summary>Docker's JSONMessage progressDetail: bytes done of a total (both absent for plain statuses).</summary>
public sealed class ProgressDetail
{
    [JsonPropertyName("current"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public long Current { get; set; }
    [JsonPropertyName("total"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public long Total { get; set; }
}

public sealed class ErrorDetail
{
    [JsonPropertyName("message")] public string Message { get; set; } = "";
}

/// <summary>The result of a push, as Docker's aux message carries it.</summary>
public sealed class PushResult
{
    [JsonPropertyName("Tag")] public string Tag { get; set; } = "";
    [JsonPropertyName("Digest")] public string Digest { get; set; } = "";
    [JsonPropertyName("Size")] public long Size { get; set; }
}

/// <summary>
/// One line of pull/push progress in the shape of Docker's JSONMessage ({"status","progressDetail","progress","id"}),
/// so the engine can forward it as is and the docker CLI draws its bars from it.
/// </summary>
public sealed class ProgressMessage
{
    [JsonPropertyName("status")] public string? Status { get; set; }
    [JsonPropertyName("progressDetail")] public ProgressDetail? ProgressDetail { get; set; }
    [JsonPropertyName("progress")] public string? Progress { get; set; }
    [JsonPropertyName("id")] public string? Id { get; set; }
    [JsonPropertyName("aux")] public PushResult? Aux { get; set; }
    [JsonPropertyName("errorDetail")] public ErrorDetail? ErrorDetail { get; set; }
    [JsonPropertyName("error")] public string? Error { get; set; }

    public static ProgressMessage Plain(string status) => new() { Status = status };
    public static ProgressMessage Layer(string id, string status) => new() { Status = status, Id = id, ProgressDetail = new ProgressDetail() };
    public static ProgressMessage Bytes(string id, string status, long current, long total)
        => new() { Status = status, Id = id, ProgressDetail = new ProgressDetail { Current = current, Total = total }, Progress = Bar(current, total) };
    public static ProgressMessage Failure(string message) => new() { Error = message, ErrorDetail = new ErrorDetail { Message = message } };

    /// <summary>Docker's textual bar: "[=====>      ]  1.23MB/4.56MB".</summary>
    public static string Bar(long current, long total)
    {
        const int width = 50;
        if (total <= 0) return $"{HumanSize(current)}";
        var filled = (int)Math.Min(width, width * current / total);
        var bar = filled >= width ? new string('=', width) : new string('=', filled) + ">" + new string(' ', Math.Max(0, width - filled - 1));
        return $"[{bar}] {HumanSize(current),8}/{HumanSize(total)}";
    }

    /// <summary>go-units' HumanSize: decimal units with four significant digits.</summary>
    public static string HumanSize(long bytes)
    {
        string[] units = ["B", "kB", "MB", "GB", "TB", "PB"];
        double size = bytes;
        var unit = 0;
        while (size >= 1000 && unit < units.Length - 1) { size /= 1000; unit++; }
        return size.ToString("0.###", CultureInfo.InvariantCulture) + units[unit];
    }

    public override string ToString() => System.Text.Json.JsonSerializer.Serialize(this, ProgressJsonContext.Default.ProgressMessage);
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ProgressMessage))]
public sealed partial class ProgressJsonContext : JsonSerializerContext;

/// <summary>Serialises progress callbacks from concurrent transfers, and throttles byte counts to a few per second per layer.</summary>
internal sealed class ProgressSink(Action<ProgressMessage>? callback)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, long> _lastReport = new(StringComparer.Ordinal);

    public void Report(ProgressMessage message)
    {
        if (callback is null) return;
        lock (_gate) callback(message);
    }

    public void Bytes(string id, string status, long current, long total)
    {
        if (callback is null) return;
        var now = Environment.TickCount64;
        lock (_gate)
        {
            if (current < total && _lastReport.TryGetValue(id, out var last) && now - last < 100) return;
            _lastReport[id] = now;
            callback(ProgressMessage.Bytes(id, status, current, total));
        }
    }
}
