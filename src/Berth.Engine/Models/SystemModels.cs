using System.Text.Json.Serialization;

namespace Berth.Engine.Models;

public sealed class ComponentVersion
{
    public required string Name { get; set; }
    public required string Version { get; set; }
    public Dictionary<string, string>? Details { get; set; }
}

public sealed class PlatformName
{
    public string Name { get; set; } = "";
}

/// <summary>GET /version.</summary>
public sealed class SystemVersion
{
    public PlatformName? Platform { get; set; }
    public List<ComponentVersion>? Components { get; set; }
    public required string Version { get; set; }
    public required string ApiVersion { get; set; }
    public required string MinAPIVersion { get; set; }
    public string GitCommit { get; set; } = "";
    public string GoVersion { get; set; } = "";
    public string Os { get; set; } = "linux";
    public string Arch { get; set; } = "amd64";
    public string KernelVersion { get; set; } = "";
    public bool? Experimental { get; set; }
    public string? BuildTime { get; set; }
}

public sealed class PluginsInfo
{
    public List<string> Volume { get; set; } = [];
    public List<string> Network { get; set; } = [];
    public List<string>? Authorization { get; set; }
    public List<string> Log { get; set; } = [];
}

public sealed class IndexInfo
{
    public string? Name { get; set; }
    public List<string> Mirrors { get; set; } = [];
    public bool Secure { get; set; }
    public bool Official { get; set; }
}

public sealed class RegistryServiceConfig
{
    public List<string> InsecureRegistryCIDRs { get; set; } = [];
    public Dictionary<string, IndexInfo> IndexConfigs { get; set; } = [];
    public List<string> Mirrors { get; set; } = [];
}

public sealed class RuntimeInfo
{
    [JsonPropertyName("path")] public string? Path { get; set; }
    [JsonPropertyName("runtimeArgs")] public List<string>? RuntimeArgs { get; set; }
}

public sealed class Commit
{
    public string ID { get; set; } = "";
    public string? Expected { get; set; }
}

public sealed class SwarmInfo
{
    public string NodeID { get; set; } = "";
    public string NodeAddr { get; set; } = "";
    /// <summary>"inactive" for a daemon outside any swarm.</summary>
    public string LocalNodeState { get; set; } = "inactive";
    public bool ControlAvailable { get; set; }
    public string Error { get; set; } = "";
    public List<object>? RemoteManagers { get; set; }
}

public sealed class DefaultAddressPool
{
    public string? Base { get; set; }
    public int Size { get; set; }
}

/// <summary>GET /info.</summary>
public sealed class SystemInfo
{
    public string ID { get; set; } = "";
    public int Containers { get; set; }
    public int ContainersRunning { get; set; }
    public int ContainersPaused { get; set; }
    public int ContainersStopped { get; set; }
    public int Images { get; set; }
    public string Driver { get; set; } = "";
    public List<List<string>> DriverStatus { get; set; } = [];
    public string DockerRootDir { get; set; } = "";
    public PluginsInfo Plugins { get; set; } = new();
    public bool MemoryLimit { get; set; }
    public bool SwapLimit { get; set; }
    public bool KernelMemoryTCP { get; set; }
    public bool CpuCfsPeriod { get; set; }
    public bool CpuCfsQuota { get; set; }
    public bool CPUShares { get; set; }
    public bool CPUSet { get; set; }
    public bool PidsLimit { get; set; }
    public bool OomKillDisable { get; set; }
    public bool IPv4Forwarding { get; set; }
    public bool BridgeNfIptables { get; set; }
    public bool BridgeNfIp6tables { get; set; }
    public bool Debug { get; set; }
    public int NFd { get; set; }
    public int NGoroutines { get; set; }
    public string SystemTime { get; set; } = "";
    public string LoggingDriver { get; set; } = "json-file";
    public string CgroupDriver { get; set; } = "cgroupfs";
    public string CgroupVersion { get; set; } = "1";
    public int NEventsListener { get; set; }
    public string KernelVersion { get; set; } = "";
    public string OperatingSystem { get; set; } = "";
    public string OSVersion { get; set; } = "";
    public string OSType { get; set; } = "linux";
    public string Architecture { get; set; } = "x86_64";
    public int NCPU { get; set; }
    public long MemTotal { get; set; }
    public string IndexServerAddress { get; set; } = "https://index.docker.io/v1/";
    public RegistryServiceConfig? RegistryConfig { get; set; }
    public string HttpProxy { get; set; } = "";
    public string HttpsProxy { get; set; } = "";
    public string NoProxy { get; set; } = "";
    public string Name { get; set; } = "";
    public List<string> Labels { get; set; } = [];
    public bool ExperimentalBuild { get; set; }
    public string ServerVersion { get; set; } = "";
    public Dictionary<string, RuntimeInfo> Runtimes { get; set; } = [];
    public string DefaultRuntime { get; set; } = "";
    public SwarmInfo Swarm { get; set; } = new();
    public bool LiveRestoreEnabled { get; set; }
    public string Isolation { get; set; } = "";
    public string InitBinary { get; set; } = "";
    public Commit ContainerdCommit { get; set; } = new();
    public Commit RuncCommit { get; set; } = new();
    public Commit InitCommit { get; set; } = new();
    public List<string> SecurityOptions { get; set; } = [];
    public List<DefaultAddressPool>? DefaultAddressPools { get; set; }
    public List<string>? Warnings { get; set; }
    public List<string>? CDISpecDirs { get; set; }
}

public sealed class VolumeUsageData
{
    public long Size { get; set; }
    public long RefCount { get; set; }
}

public sealed class Volume
{
    public required string Name { get; set; }
    public string Driver { get; set; } = "local";
    public string Mountpoint { get; set; } = "";
    public string? CreatedAt { get; set; }
    public Dictionary<string, string>? Labels { get; set; }
    public string Scope { get; set; } = "local";
    public Dictionary<string, string>? Options { get; set; }
    public VolumeUsageData? UsageData { get; set; }
}

public sealed class BuildCacheRecord
{
    public required string ID { get; set; }
    public string Type { get; set; } = "regular";
    public string Description { get; set; } = "";
    public bool InUse { get; set; }
    public bool Shared { get; set; }
    public long Size { get; set; }
    public string? CreatedAt { get; set; }
    public string? LastUsedAt { get; set; }
    public int UsageCount { get; set; }
}

/// <summary>GET /system/df.</summary>
public sealed class SystemDiskUsage
{
    public long LayersSize { get; set; }
    public List<ImageSummary> Images { get; set; } = [];
    public List<ContainerSummary> Containers { get; set; } = [];
    public List<Volume> Volumes { get; set; } = [];
    public List<BuildCacheRecord> BuildCache { get; set; } = [];
}

public sealed class EventActor
{
    public string ID { get; set; } = "";
    public Dictionary<string, string> Attributes { get; set; } = [];
}

/// <summary>One message of GET /events.</summary>
public sealed class EventMessage
{
    /// <summary>container, image, volume, network, daemon, plugin, node, service, secret or config.</summary>
    public required string Type { get; set; }
    public required string Action { get; set; }
    public EventActor Actor { get; set; } = new();
    [JsonPropertyName("scope")] public string Scope { get; set; } = "local";
    [JsonPropertyName("time")] public long Time { get; set; }
    [JsonPropertyName("timeNano")] public long TimeNano { get; set; }
    // The pre-1.22 fields the docker CLI still prints for containers.
    [JsonPropertyName("status")] public string? Status { get; set; }
    [JsonPropertyName("id")] public string? Id { get; set; }
    [JsonPropertyName("from")] public string? From { get; set; }
}

public sealed class ErrorResponse
{
    [JsonPropertyName("message")] public required string Message { get; set; }
}
