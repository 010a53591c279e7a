using System.Text.Json;
using System.Text.Json.Serialization;

namespace Berth.Runtime.State;

/// <summary>What the runtime remembers of a container in ROOT/ID/state.json. The status is not stored: it is derived
/// from the init process (pid and its start time, so a reused pid is not mistaken for the container).</summary>
public sealed class ContainerRecord
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("pid")] public int Pid { get; set; }
    [JsonPropertyName("pidStartTime")] public ulong PidStartTime { get; set; }
    [JsonPropertyName("bundle")] public string Bundle { get; set; } = "";
    [JsonPropertyName("rootfs")] public string Rootfs { get; set; } = "";
    [JsonPropertyName("created")] public string Created { get; set; } = "";
    [JsonPropertyName("owner")] public string Owner { get; set; } = "";
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; set; }
    /// <summary>The cgroups path given by the config (or the default one), so later verbs find the cgroup.</summary>
    [JsonPropertyName("cgroupsPath")] public string? CgroupsPath { get; set; }
    /// <summary>The cgroup's directory in each hierarchy as `create` made them, so `delete` removes them without finding the
    /// host's hierarchies again (reading mountinfo). Null in records written before this field.</summary>
    [JsonPropertyName("cgroupDirectories")] public List<string>? CgroupDirectories { get; set; }
    /// <summary>True once a createRuntime/poststop consumer must know the container had its own user namespace.</summary>
    [JsonPropertyName("newUserNamespace")] public bool NewUserNamespace { get; set; }
    /// <summary>Whether the config has poststart/poststop hooks, so `start` and `delete` parse config.json only when
    /// they must (parsing the spec is most of their work). Null in records written before these fields: parse then.</summary>
    [JsonPropertyName("hasPoststart")] public bool? HasPoststart { get; set; }
    [JsonPropertyName("hasPoststop")] public bool? HasPoststop { get; set; }
    /// <summary>The config as created (the bundle's config.json bytes), written last as "config" so that reading the
    /// record stops before it (<see cref="ReadJson"/>); read back with <see cref="ConfigOf"/>. Set only for writing.</summary>
    [JsonIgnore] public byte[]? Config { get; set; }

    // Written and read field by field: every verb loads this record, and System.Text.Json's per-process type
    // setup would be most of a short verb's work. The attributes above keep the names for the `state`-like views.
    public void WriteJson(Stream stream)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = AsciiJsonEncoder.Instance });
        w.WriteStartObject();
        w.WriteString("id", Id);
        w.WriteNumber("pid", Pid);
        w.WriteNumber("pidStartTime", PidStartTime);
        w.WriteString("bundle", Bundle);
        w.WriteString("rootfs", Rootfs);
        w.WriteString("created", Created);
        w.WriteString("owner", Owner);
        if (Annotations is not null)
        {
            w.WriteStartObject("annotations");
            foreach (var (key, value) in Annotations) w.WriteString(key, value);
            w.WriteEndObject();
        }
        if (CgroupsPath is not null) w.WriteString("cgroupsPath", CgroupsPath);
        if (CgroupDirectories is not null)
        {
            w.WriteStartArray("cgroupDirectories");
            foreach (var dir in CgroupDirectories) w.WriteStringValue(dir);
            w.WriteEndArray();
        }
        w.WriteBoolean("newUserNamespace", NewUserNamespace);
        if (HasPoststart is { } start) w.WriteBoolean("hasPoststart", start);
        if (HasPoststop is { } stop) w.WriteBoolean("hasPoststop", stop);
        if (Config is not null)
        {
            w.WritePropertyName(ConfigProperty);
            w.WriteRawValue(Config, skipInputValidation: true); // parsed and validated by create already
        }
        w.WriteEndObject();
    }

    private const string ConfigProperty = "config";

    /// <summary>The raw config at the end of state.json, or null when the record has none (earlier versions).</summary>
    public static byte[]? ConfigOf(byte[] json)
    {
        var r = new Utf8JsonReader(json);
        if (!r.Read() || r.TokenType != JsonTokenType.StartObject) throw new JsonException("state.json is not an object");
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            var isConfig = r.ValueTextEquals(ConfigProperty);
            r.Read();
            if (!isConfig) { r.Skip(); continue; }
            var start = (int)r.TokenStartIndex;
            r.Skip();
            return json[start..(int)r.BytesConsumed];
        }
        return null;
    }

    /// <summary>Parses state.json; unknown fields are skipped, and the trailing config is not read at all (most verbs
    /// need only the record). Throws JsonException when it is not such a record.</summary>
    public static ContainerRecord ReadJson(ReadOnlySpan<byte> json)
    {
        var r = new Utf8JsonReader(json);
        var record = new ContainerRecord();
        if (!r.Read() || r.TokenType != JsonTokenType.StartObject) throw new JsonException("state.json is not an object");
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            var name = r.GetString();
            r.Read();
            switch (name)
            {
                case "id": record.Id = r.GetString() ?? ""; break;
                case "pid": record.Pid = r.GetInt32(); break;
                case "pidStartTime": record.PidStartTime = r.GetUInt64(); break;
                case "bundle": record.Bundle = r.GetString() ?? ""; break;
                case "rootfs": record.Rootfs = r.GetString() ?? ""; break;
                case "created": record.Created = r.GetString() ?? ""; break;
                case "owner": record.Owner = r.GetString() ?? ""; break;
                case "cgroupsPath": record.CgroupsPath = r.GetString(); break;
                case "newUserNamespace": record.NewUserNamespace = r.GetBoolean(); break;
                case "cgroupDirectories":
                    if (r.TokenType == JsonTokenType.Null) break;
                    if (r.TokenType != JsonTokenType.StartArray) throw new JsonException("cgroupDirectories is not an array");
                    record.CgroupDirectories = [];
                    while (r.Read() && r.TokenType == JsonTokenType.String) record.CgroupDirectories.Add(r.GetString()!);
                    break;
                case "hasPoststart": record.HasPoststart = r.TokenType == JsonTokenType.Null ? null : r.GetBoolean(); break;
                case "hasPoststop": record.HasPoststop = r.TokenType == JsonTokenType.Null ? null : r.GetBoolean(); break;
                case ConfigProperty: return record; // always last
                case "annotations":
                    if (r.TokenType == JsonTokenType.Null) break;
                    if (r.TokenType != JsonTokenType.StartObject) throw new JsonException("annotations is not an object");
                    record.Annotations = new Dictionary<string, string>();
                    while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
                    {
                        var key = r.GetString()!;
                        r.Read();
                        record.Annotations[key] = r.GetString() ?? "";
                    }
                    break;
                default: r.Skip(); break;
            }
        }
        if (r.TokenType != JsonTokenType.EndObject) throw new JsonException("state.json is truncated");
        return record;
    }
}

/// <summary>The `state` verb's output, field for field as runc prints it (go-runc and podman parse it).</summary>
public sealed class ContainerStateView
{
    [JsonPropertyName("ociVersion")] public string OciVersion { get; set; } = "1.1.0";
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("pid")] public int Pid { get; set; }
    [JsonPropertyName("status")] public string Status { get; set; } = "";
    [JsonPropertyName("bundle")] public string Bundle { get; set; } = "";
    [JsonPropertyName("rootfs")] public string Rootfs { get; set; } = "";
    [JsonPropertyName("created")] public string Created { get; set; } = "";
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; set; }
    [JsonPropertyName("owner")] public string Owner { get; set; } = "";
}

public static class ContainerStatus
{
    public const string Creating = "creating", Created = "created", Running = "running", Paused = "paused", Stopped = "stopped";
}
