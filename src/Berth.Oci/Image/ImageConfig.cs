using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Berth.Oci.Content;

namespace Berth.Oci.Image;

/// <summary>
/// An image configuration (image-spec config.md; Docker's image JSON is a superset). Fields this model does
/// not name (Docker's container, container_config, docker_version…) are kept in <see cref="Extra"/> so that
/// reading and rewriting a config (commit, change) loses nothing.
/// </summary>
public sealed class ImageConfig
{
    [JsonPropertyName("created"), JsonConverter(typeof(Rfc3339TimeConverter))] public DateTimeOffset? Created { get; set; }
    [JsonPropertyName("author")] public string? Author { get; set; }
    /// <summary>Docker's image comment (the message of import and commit).</summary>
    [JsonPropertyName("comment")] public string? Comment { get; set; }
    [JsonPropertyName("architecture")] public string Architecture { get; set; } = "";
    [JsonPropertyName("os")] public string Os { get; set; } = "";
    [JsonPropertyName("os.version")] public string? OsVersion { get; set; }
    [JsonPropertyName("os.features")] public List<string>? OsFeatures { get; set; }
    [JsonPropertyName("variant")] public string? Variant { get; set; }
    [JsonPropertyName("config")] public ContainerConfig? Config { get; set; }
    [JsonPropertyName("rootfs")] public RootFs RootFs { get; set; } = new();
    [JsonPropertyName("history")] public List<HistoryEntry>? History { get; set; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; set; }

    [JsonIgnore] public Platform Platform => new(Os, Architecture, Variant) { OsVersion = OsVersion, OsFeatures = OsFeatures };
}

/// <summary>The execution parameters an image gives its containers (Docker's capitalised field names).</summary>
public sealed class ContainerConfig
{
    [JsonPropertyName("User")] public string? User { get; set; }
    [JsonPropertyName("ExposedPorts")] public SortedDictionary<string, EmptyObject>? ExposedPorts { get; set; }
    [JsonPropertyName("Env")] public List<string>? Env { get; set; }
    [JsonPropertyName("Entrypoint")] public List<string>? Entrypoint { get; set; }
    [JsonPropertyName("Cmd")] public List<string>? Cmd { get; set; }
    [JsonPropertyName("Volumes")] public SortedDictionary<string, EmptyObject>? Volumes { get; set; }
    [JsonPropertyName("WorkingDir")] public string? WorkingDir { get; set; }
    [JsonPropertyName("Labels")] public SortedDictionary<string, string>? Labels { get; set; }
    [JsonPropertyName("StopSignal")] public string? StopSignal { get; set; }
    [JsonPropertyName("ArgsEscaped")] public bool? ArgsEscaped { get; set; }
    [JsonPropertyName("Healthcheck")] public HealthcheckConfig? Healthcheck { get; set; }
    [JsonPropertyName("OnBuild")] public List<string>? OnBuild { get; set; }
    [JsonPropertyName("Shell")] public List<string>? Shell { get; set; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; set; }

    /// <summary>A deep copy (through JSON, so it stays complete as fields are added).</summary>
    public ContainerConfig Clone()
        => JsonSerializer.Deserialize(JsonSerializer.SerializeToUtf8Bytes(this, ImageJsonContext.Default.ContainerConfig), ImageJsonContext.Default.ContainerConfig)!;
}

/// <summary>The empty JSON object Docker uses as the value of port and volume sets.</summary>
public sealed class EmptyObject
{
    public static readonly EmptyObject Instance = new();
}

/// <summary>Docker's HEALTHCHECK: durations in nanoseconds.</summary>
public sealed class HealthcheckConfig
{
    [JsonPropertyName("Test")] public List<string>? Test { get; set; }
    [JsonPropertyName("Interval")] public long? Interval { get; set; }
    [JsonPropertyName("Timeout")] public long? Timeout { get; set; }
    [JsonPropertyName("StartPeriod")] public long? StartPeriod { get; set; }
    [JsonPropertyName("StartInterval")] public long? StartInterval { get; set; }
    [JsonPropertyName("Retries")] public int? Retries { get; set; }
}

public sealed class RootFs
{
    public const string LayersType = "layers";
    [JsonPropertyName("type")] public string Type { get; set; } = LayersType;
    [JsonPropertyName("diff_ids")] public List<Digest> DiffIds { get; set; } = [];

    /// <summary>The chain ID of the whole stack (image-spec config.md "Layer ChainID"); empty for no layers.</summary>
    public Digest ChainId() => ChainIds.Of(DiffIds);
}

public sealed class HistoryEntry
{
    [JsonPropertyName("created"), JsonConverter(typeof(Rfc3339TimeConverter))] public DateTimeOffset? Created { get; set; }
    [JsonPropertyName("created_by")] public string? CreatedBy { get; set; }
    [JsonPropertyName("author")] public string? Author { get; set; }
    [JsonPropertyName("comment")] public string? Comment { get; set; }
    [JsonPropertyName("empty_layer")] public bool? EmptyLayer { get; set; }
}

/// <summary>ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).</summary>
public static class ChainIds
{
    /// <summary>The diffID of an empty layer tar (1024 zero bytes): Docker records such a layer as an empty_layer history entry.</summary>
    public static readonly Digest EmptyTar = Digest.Parse("sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef");

    public static Digest Next(Digest parentChainId, Digest diffId)
        => parentChainId.IsEmpty ? diffId : Digest.Sha256(System.Text.Encoding.ASCII.GetBytes($"{parentChainId} {diffId}"));

    public static Digest Of(IEnumerable<Digest> diffIds)
    {
        var chain = default(Digest);
        foreach (var d in diffIds) chain = Next(chain, d);
        return chain;
    }

    /// <summary>The chain ID of every prefix of the stack, bottom first.</summary>
    public static List<Digest> All(IEnumerable<Digest> diffIds)
    {
        var result = new List<Digest>();
        var chain = default(Digest);
        foreach (var d in diffIds) result.Add(chain = Next(chain, d));
        return result;
    }
}

/// <summary>
/// RFC 3339 times as Go writes them (UTC as "Z", fraction without trailing zeros); reads any offset and any
/// number of fraction digits (Go writes nine; .NET keeps seven).
/// </summary>
public sealed class Rfc3339TimeConverter : JsonConverter<DateTimeOffset?>
{
    public override bool HandleNull => true;

    public override DateTimeOffset? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        var text = reader.GetString();
        if (string.IsNullOrEmpty(text)) return null;
        return Parse(text) ?? throw new JsonException($"invalid time \"{text}\"");
    }

    public static DateTimeOffset? Parse(string text)
    {
        // Trim a fraction longer than .NET's seven digits before parsing.
        var dot = text.IndexOf('.');
        if (dot > 0)
        {
            var end = dot + 1;
            while (end < text.Length && char.IsAsciiDigit(text[end])) end++;
            if (end - dot - 1 > 7) text = text[..(dot + 8)] + text[end..];
        }
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : null;
    }

    public override void Write(Utf8JsonWriter writer, DateTimeOffset? value, JsonSerializerOptions options)
    {
        if (value is null) { writer.WriteNullValue(); return; }
        writer.WriteStringValue(Format(value.Value));
    }

    public static string Format(DateTimeOffset value)
    {
        var utc = value.ToUniversalTime();
        var text = utc.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff", CultureInfo.InvariantCulture).TrimEnd('0').TrimEnd('.');
        return text + "Z";
    }
}
