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
    /// <summary>True once a createRuntime/poststop consumer must know the container had its own user namespace.</summary>
    [JsonPropertyName("newUserNamespace")] public bool NewUserNamespace { get; set; }
    /// <summary>Whether the config has poststart/poststop hooks, so `start` and `delete` parse config.json only when
    /// they must (parsing the spec is most of their work). Null in records written before these fields: parse then.</summary>
    [JsonPropertyName("hasPoststart")] public bool? HasPoststart { get; set; }
    [JsonPropertyName("hasPoststop")] public bool? HasPoststop { get; set; }
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
