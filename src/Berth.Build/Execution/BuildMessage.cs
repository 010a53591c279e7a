using System.Text.Json.Serialization;

namespace Berth.Build.Execution;

/// <summary>
/// One line of Docker's JSON build stream: {"stream":…}, {"aux":{"ID":…}}, pull progress
/// ({"status":…,"id":…}), or {"errorDetail":{"code":…,"message":…},"error":…}.
/// </summary>
public sealed class BuildMessage
{
    [JsonPropertyName("stream")] public string? Stream { get; init; }
    [JsonPropertyName("status")] public string? Status { get; init; }
    [JsonPropertyName("id")] public string? Id { get; init; }
    [JsonPropertyName("progress")] public string? Progress { get; init; }
    [JsonPropertyName("progressDetail")] public ProgressDetail? ProgressDetail { get; init; }
    [JsonPropertyName("aux")] public AuxId? Aux { get; init; }
    [JsonPropertyName("errorDetail")] public ErrorDetail? ErrorDetail { get; init; }
    [JsonPropertyName("error")] public string? Error { get; init; }

    public static BuildMessage Text(string text) => new() { Stream = text };
    public static BuildMessage ImageId(string id) => new() { Aux = new AuxId { Id = id } };
    public static BuildMessage Failure(string message, int code) => new() { ErrorDetail = new ErrorDetail { Code = code, Message = message }, Error = message };

    // Docker's messages hold quotes and apostrophes; keep them readable as Go's encoder does.
    private static readonly BuildJsonContext Relaxed = new(new System.Text.Json.JsonSerializerOptions
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    });

    public byte[] ToJsonLine()
    {
        var bytes = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(this, Relaxed.BuildMessage);
        var line = new byte[bytes.Length + 1];
        bytes.CopyTo(line, 0);
        line[^1] = (byte)'\n';
        return line;
    }
}

public sealed class AuxId { [JsonPropertyName("ID")] public string Id { get; init; } = ""; }
public sealed class ProgressDetail
{
    [JsonPropertyName("current")] public long? Current { get; init; }
    [JsonPropertyName("total")] public long? Total { get; init; }
}
public sealed class ErrorDetail
{
    [JsonPropertyName("code")] public int Code { get; init; }
    [JsonPropertyName("message")] public string Message { get; init; } = "";
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(BuildMessage))]
public sealed partial class BuildJsonContext : JsonSerializerContext;
