using System.Text.Json.Serialization;

namespace Berth.Engine.Models;

// Field names are exactly those of moby's api/swagger.yaml (API 1.47). Properties are PascalCase like
// Docker's, so no naming policy is needed; the few lower-case ones carry [JsonPropertyName].

/// <summary>Serialises as <c>{}</c>: the value type of Docker's set-like maps (ExposedPorts, Volumes).</summary>
public sealed class EmptyObject
{
    public static readonly EmptyObject Instance = new();
}

public sealed class HealthConfig
{
    public List<string>? Test { get; set; }
    public long Interval { get; set; }
    public long Timeout { get; set; }
    public int Retries { get; set; }
    public long StartPeriod { get; set; }
    public long StartInterval { get; set; }
}

/// <summary>Swagger's ContainerConfig: the portable part of a container's configuration.</summary>
public class ContainerConfig
{
    public string? Hostname { get; set; }
    public string? Domainname { get; set; }
    public string? User { get; set; }
    public bool AttachStdin { get; set; }
    public bool AttachStdout { get; set; }
    public bool AttachStderr { get; set; }
    public Dictionary<string, EmptyObject>? ExposedPorts { get; set; }
    public bool Tty { get; set; }
    public bool OpenStdin { get; set; }
    public bool StdinOnce { get; set; }
    public List<string>? Env { get; set; }
    public List<string>? Cmd { get; set; }
    public HealthConfig? Healthcheck { get; set; }
    public bool? ArgsEscaped { get; set; }
    public string? Image { get; set; }
    public Dictionary<string, EmptyObject>? Volumes { get; set; }
    public string? WorkingDir { get; set; }
    public List<string>? Entrypoint { get; set; }
    public bool? NetworkDisabled { get; set; }
    public string? MacAddress { get; set; }
    public List<string>? OnBuild { get; set; }
    public Dictionary<string, string>? Labels { get; set; }
    public string? StopSignal { get; set; }
    public int? StopTimeout { get; set; }
    public List<string>? Shell { get; set; }
}

public sealed class ThrottleDevice
{
    public string? Path { get; set; }
    public long Rate { get; set; }
}

public sealed class WeightDevice
{
    public string? Path { get; set; }
    public int Weight { get; set; }
}

public sealed class DeviceMapping
{
    public string? PathOnHost { get; set; }
    public string? PathInContainer { get; set; }
    public string? CgroupPermissions { get; set; }
}

public sealed class Ulimit
{
    public string? Name { get; set; }
    public long Soft { get; set; }
    public long Hard { get; set; }
}

/// <summary>Swagger's Resources: the cgroup settings shared by HostConfig and the update body.</summary>
public class Resources
{
    public long CpuShares { get; set; }
    public long Memory { get; set; }
    public string? CgroupParent { get; set; }
    public int BlkioWeight { get; set; }
    public List<WeightDevice>? BlkioWeightDevice { get; set; }
    public List<ThrottleDevice>? BlkioDeviceReadBps { get; set; }
    public List<ThrottleDevice>? BlkioDeviceWriteBps { get; set; }
    public List<ThrottleDevice>? BlkioDeviceReadIOps { get; set; }
    public List<ThrottleDevice>? BlkioDeviceWriteIOps { get; set; }
    public long CpuPeriod { get; set; }
    public long CpuQuota { get; set; }
    public long CpuRealtimePeriod { get; set; }
    public long CpuRealtimeRuntime { get; set; }
    public string? CpusetCpus { get; set; }
    public string? CpusetMems { get; set; }
    public List<DeviceMapping>? Devices { get; set; }
    public List<string>? DeviceCgroupRules { get; set; }
    public long KernelMemoryTCP { get; set; }
    public long MemoryReservation { get; set; }
    public long MemorySwap { get; set; }
    public long? MemorySwappiness { get; set; }
    public long NanoCpus { get; set; }
    public bool? OomKillDisable { get; set; }
    public bool? Init { get; set; }
    public long? PidsLimit { get; set; }
    public List<Ulimit>? Ulimits { get; set; }
    public long CpuCount { get; set; }
    public long CpuPercent { get; set; }
    public long IOMaximumIOps { get; set; }
    public long IOMaximumBandwidth { get; set; }
}

public sealed class RestartPolicy
{
    /// <summary>"", "no", "always", "unless-stopped" or "on-failure".</summary>
    public string? Name { get; set; }
    public int MaximumRetryCount { get; set; }
}

public sealed class LogConfig
{
    public string? Type { get; set; }
    public Dictionary<string, string>? Config { get; set; }
}

public sealed class PortBinding
{
    public string? HostIp { get; set; }
    public string? HostPort { get; set; }
}

public sealed class BindOptions
{
    public string? Propagation { get; set; }
    public bool NonRecursive { get; set; }
    public bool CreateMountpoint { get; set; }
    public bool ReadOnlyNonRecursive { get; set; }
    public bool ReadOnlyForceRecursive { get; set; }
}

public sealed class DriverConfig
{
    public string? Name { get; set; }
    public Dictionary<string, string>? Options { get; set; }
}

public sealed class VolumeOptions
{
    public bool NoCopy { get; set; }
    public Dictionary<string, string>? Labels { get; set; }
    public DriverConfig? DriverConfig { get; set; }
    public string? Subpath { get; set; }
}

public sealed class TmpfsOptions
{
    public long SizeBytes { get; set; }
    public int Mode { get; set; }
    public List<List<string>>? Options { get; set; }
}

/// <summary>Swagger's Mount: an entry of HostConfig.Mounts (what <c>--mount</c> produces).</summary>
public sealed class Mount
{
    public string? Target { get; set; }
    public string? Source { get; set; }
    /// <summary>"bind", "volume", "tmpfs", "npipe" or "cluster".</summary>
    public string? Type { get; set; }
    public bool ReadOnly { get; set; }
    public string? Consistency { get; set; }
    public BindOptions? BindOptions { get; set; }
    public VolumeOptions? VolumeOptions { get; set; }
    public TmpfsOptions? TmpfsOptions { get; set; }
}

public sealed class HostConfig : Resources
{
    public List<string>? Binds { get; set; }
    public string? ContainerIDFile { get; set; }
    public LogConfig? LogConfig { get; set; }
    public string? NetworkMode { get; set; }
    public Dictionary<string, List<PortBinding>?>? PortBindings { get; set; }
    public RestartPolicy? RestartPolicy { get; set; }
    public bool AutoRemove { get; set; }
    public string? VolumeDriver { get; set; }
    public List<string>? VolumesFrom { get; set; }
    public List<Mount>? Mounts { get; set; }
    public List<int>? ConsoleSize { get; set; }
    public Dictionary<string, string>? Annotations { get; set; }
    public List<string>? CapAdd { get; set; }
    public List<string>? CapDrop { get; set; }
    public string? CgroupnsMode { get; set; }
    public List<string>? Dns { get; set; }
    public List<string>? DnsOptions { get; set; }
    public List<string>? DnsSearch { get; set; }
    public List<string>? ExtraHosts { get; set; }
    public List<string>? GroupAdd { get; set; }
    public string? IpcMode { get; set; }
    public string? Cgroup { get; set; }
    public List<string>? Links { get; set; }
    public int OomScoreAdj { get; set; }
    public string? PidMode { get; set; }
    public bool Privileged { get; set; }
    public bool PublishAllPorts { get; set; }
    public bool ReadonlyRootfs { get; set; }
    public List<string>? SecurityOpt { get; set; }
    public Dictionary<string, string>? StorageOpt { get; set; }
    public Dictionary<string, string>? Tmpfs { get; set; }
    public string? UTSMode { get; set; }
    public string? UsernsMode { get; set; }
    public long ShmSize { get; set; }
    public Dictionary<string, string>? Sysctls { get; set; }
    public string? Runtime { get; set; }
    public string? Isolation { get; set; }
    public List<string>? MaskedPaths { get; set; }
    public List<string>? ReadonlyPaths { get; set; }
}

public sealed class EndpointIPAMConfig
{
    public string? IPv4Address { get; set; }
    public string? IPv6Address { get; set; }
    public List<string>? LinkLocalIPs { get; set; }
}

public sealed class EndpointSettings
{
    public EndpointIPAMConfig? IPAMConfig { get; set; }
    public List<string>? Links { get; set; }
    public string? MacAddress { get; set; }
    public List<string>? Aliases { get; set; }
    public Dictionary<string, string>? DriverOpts { get; set; }
    public string? NetworkID { get; set; }
    public string? EndpointID { get; set; }
    public string? Gateway { get; set; }
    public string? IPAddress { get; set; }
    public int IPPrefixLen { get; set; }
    public string? IPv6Gateway { get; set; }
    public string? GlobalIPv6Address { get; set; }
    public long GlobalIPv6PrefixLen { get; set; }
    public List<string>? DNSNames { get; set; }
}

public sealed class NetworkingConfig
{
    public Dictionary<string, EndpointSettings>? EndpointsConfig { get; set; }
}

/// <summary>The body of POST /containers/create: ContainerConfig plus HostConfig and NetworkingConfig.</summary>
public sealed class ContainerCreateRequest : ContainerConfig
{
    public HostConfig? HostConfig { get; set; }
    public NetworkingConfig? NetworkingConfig { get; set; }
}

public sealed class ContainerCreateResponse
{
    public required string Id { get; set; }
    public List<string> Warnings { get; set; } = [];
}

public sealed class Port
{
    public string? IP { get; set; }
    public int PrivatePort { get; set; }
    public int? PublicPort { get; set; }
    /// <summary>"tcp", "udp" or "sctp".</summary>
    public required string Type { get; set; }
}

public sealed class MountPoint
{
    public string? Type { get; set; }
    public string? Name { get; set; }
    public string? Source { get; set; }
    public string? Destination { get; set; }
    public string? Driver { get; set; }
    public string? Mode { get; set; }
    public bool RW { get; set; }
    public string? Propagation { get; set; }
}

public sealed class SummaryHostConfig
{
    public string? NetworkMode { get; set; }
    public Dictionary<string, string>? Annotations { get; set; }
}

public sealed class SummaryNetworkSettings
{
    public Dictionary<string, EndpointSettings>? Networks { get; set; }
}

/// <summary>An element of GET /containers/json (docker ps).</summary>
public sealed class ContainerSummary
{
    public required string Id { get; set; }
    /// <summary>Names with their leading '/'.</summary>
    public List<string> Names { get; set; } = [];
    public string? Image { get; set; }
    public string? ImageID { get; set; }
    public string? Command { get; set; }
    /// <summary>Unix seconds.</summary>
    public long Created { get; set; }
    public List<Port> Ports { get; set; } = [];
    public long? SizeRw { get; set; }
    public long? SizeRootFs { get; set; }
    public Dictionary<string, string> Labels { get; set; } = [];
    /// <summary>created, running, paused, restarting, exited, removing or dead.</summary>
    public string? State { get; set; }
    /// <summary>Humanised, e.g. "Up 5 seconds" or "Exited (0) 2 minutes ago".</summary>
    public string? Status { get; set; }
    public SummaryHostConfig? HostConfig { get; set; }
    public SummaryNetworkSettings? NetworkSettings { get; set; }
    public List<MountPoint> Mounts { get; set; } = [];
}

public sealed class HealthcheckResult
{
    public string? Start { get; set; }
    public string? End { get; set; }
    public int ExitCode { get; set; }
    public string? Output { get; set; }
}

public sealed class Health
{
    /// <summary>none, starting, healthy or unhealthy.</summary>
    public string? Status { get; set; }
    public int FailingStreak { get; set; }
    public List<HealthcheckResult>? Log { get; set; }
}

public sealed class ContainerState
{
    public string Status { get; set; } = "created";
    public bool Running { get; set; }
    public bool Paused { get; set; }
    public bool Restarting { get; set; }
    public bool OOMKilled { get; set; }
    public bool Dead { get; set; }
    public int Pid { get; set; }
    public int ExitCode { get; set; }
    public string Error { get; set; } = "";
    /// <summary>RFC 3339 with nanoseconds; Go's zero time "0001-01-01T00:00:00Z" when never started.</summary>
    public string StartedAt { get; set; } = DockerTime.Zero;
    public string FinishedAt { get; set; } = DockerTime.Zero;
    public Health? Health { get; set; }
}

public sealed class GraphDriverData
{
    public required string Name { get; set; }
    public Dictionary<string, string> Data { get; set; } = [];
}

public sealed class Address
{
    public string? Addr { get; set; }
    public int PrefixLen { get; set; }
}

public sealed class NetworkSettings
{
    public string? Bridge { get; set; }
    public string? SandboxID { get; set; }
    public bool HairpinMode { get; set; }
    public string? LinkLocalIPv6Address { get; set; }
    public int LinkLocalIPv6PrefixLen { get; set; }
    public Dictionary<string, List<PortBinding>?>? Ports { get; set; }
    public string? SandboxKey { get; set; }
    public List<Address>? SecondaryIPAddresses { get; set; }
    public List<Address>? SecondaryIPv6Addresses { get; set; }
    public string? EndpointID { get; set; }
    public string? Gateway { get; set; }
    public string? GlobalIPv6Address { get; set; }
    public int GlobalIPv6PrefixLen { get; set; }
    public string? IPAddress { get; set; }
    public int IPPrefixLen { get; set; }
    public string? IPv6Gateway { get; set; }
    public string? MacAddress { get; set; }
    public Dictionary<string, EndpointSettings>? Networks { get; set; }
}

/// <summary>GET /containers/{id}/json (swagger's ContainerInspectResponse).</summary>
public sealed class ContainerInspect
{
    public required string Id { get; set; }
    /// <summary>RFC 3339 with nanoseconds.</summary>
    public required string Created { get; set; }
    public string Path { get; set; } = "";
    public List<string> Args { get; set; } = [];
    public ContainerState State { get; set; } = new();
    public string Image { get; set; } = "";
    public string ResolvConfPath { get; set; } = "";
    public string HostnamePath { get; set; } = "";
    public string HostsPath { get; set; } = "";
    public string LogPath { get; set; } = "";
    /// <summary>With Docker's leading '/'.</summary>
    public required string Name { get; set; }
    public int RestartCount { get; set; }
    public string Driver { get; set; } = "";
    public string Platform { get; set; } = "linux";
    public string MountLabel { get; set; } = "";
    public string ProcessLabel { get; set; } = "";
    public string AppArmorProfile { get; set; } = "";
    public List<string>? ExecIDs { get; set; }
    public HostConfig HostConfig { get; set; } = new();
    public GraphDriverData? GraphDriver { get; set; }
    public long? SizeRw { get; set; }
    public long? SizeRootFs { get; set; }
    public List<MountPoint> Mounts { get; set; } = [];
    public ContainerConfig Config { get; set; } = new();
    public NetworkSettings NetworkSettings { get; set; } = new();
}

public sealed class ContainerWaitExitError
{
    public string? Message { get; set; }
}

public sealed class ContainerWaitResponse
{
    public long StatusCode { get; set; }
    public ContainerWaitExitError? Error { get; set; }
}

public sealed class ContainerTopResponse
{
    public List<string> Titles { get; set; } = [];
    public List<List<string>> Processes { get; set; } = [];
}

public sealed class FilesystemChange
{
    public required string Path { get; set; }
    /// <summary>0: modified, 1: added, 2: deleted.</summary>
    public int Kind { get; set; }
}

/// <summary>The body of POST /containers/{id}/update: Resources plus RestartPolicy.</summary>
public sealed class ContainerUpdateRequest : Resources
{
    public RestartPolicy? RestartPolicy { get; set; }
}

public sealed class ContainerUpdateResponse
{
    public List<string> Warnings { get; set; } = [];
}

public sealed class ContainerPruneResponse
{
    public List<string>? ContainersDeleted { get; set; }
    public long SpaceReclaimed { get; set; }
}

/// <summary>The X-Docker-Container-Path-Stat header of the archive routes (base64 of this JSON).</summary>
public sealed class ContainerPathStat
{
    [JsonPropertyName("name")] public required string Name { get; set; }
    [JsonPropertyName("size")] public long Size { get; set; }
    /// <summary>Go's os.FileMode bits (type bits in the high bits, as Go encodes them).</summary>
    [JsonPropertyName("mode")] public uint Mode { get; set; }
    [JsonPropertyName("mtime")] public required string Mtime { get; set; }
    [JsonPropertyName("linkTarget")] public string LinkTarget { get; set; } = "";
}

/// <summary>The body of POST /containers/{id}/exec.</summary>
public sealed class ExecConfig
{
    public bool AttachStdin { get; set; }
    public bool AttachStdout { get; set; }
    public bool AttachStderr { get; set; }
    public List<int>? ConsoleSize { get; set; }
    public string? DetachKeys { get; set; }
    public bool Tty { get; set; }
    public List<string>? Env { get; set; }
    public List<string>? Cmd { get; set; }
    public bool Privileged { get; set; }
    public string? User { get; set; }
    public string? WorkingDir { get; set; }
}

/// <summary>The body of POST /exec/{id}/start.</summary>
public sealed class ExecStartConfig
{
    public bool Detach { get; set; }
    public bool Tty { get; set; }
    public List<int>? ConsoleSize { get; set; }
}

public sealed class ProcessConfig
{
    [JsonPropertyName("privileged")] public bool Privileged { get; set; }
    [JsonPropertyName("user")] public string User { get; set; } = "";
    [JsonPropertyName("tty")] public bool Tty { get; set; }
    [JsonPropertyName("entrypoint")] public string Entrypoint { get; set; } = "";
    [JsonPropertyName("arguments")] public List<string> Arguments { get; set; } = [];
}

/// <summary>GET /exec/{id}/json.</summary>
public sealed class ExecInspect
{
    public bool CanRemove { get; set; }
    public string? DetachKeys { get; set; }
    public required string ID { get; set; }
    public bool Running { get; set; }
    public int? ExitCode { get; set; }
    public ProcessConfig ProcessConfig { get; set; } = new();
    public bool OpenStdin { get; set; }
    public bool OpenStderr { get; set; }
    public bool OpenStdout { get; set; }
    public required string ContainerID { get; set; }
    public int Pid { get; set; }
}

public sealed class IdResponse
{
    public required string Id { get; set; }
}
