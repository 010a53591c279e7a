using System.Text.Json.Serialization;

namespace Berth.Engine.Models;

// Docker's network shapes (api/swagger.yaml v1.47: Network, NetworkCreateRequest, …).

public sealed class IPAMConfig
{
    public string? Subnet { get; set; }
    public string? IPRange { get; set; }
    public string? Gateway { get; set; }
    public Dictionary<string, string>? AuxiliaryAddresses { get; set; }
}

public sealed class IPAM
{
    public string Driver { get; set; } = "default";
    public List<IPAMConfig>? Config { get; set; }
    public Dictionary<string, string>? Options { get; set; }
}

public sealed class NetworkContainer
{
    public string Name { get; set; } = "";
    public string EndpointID { get; set; } = "";
    public string MacAddress { get; set; } = "";
    public string IPv4Address { get; set; } = "";
    public string IPv6Address { get; set; } = "";
}

public sealed class ConfigReference
{
    public string Network { get; set; } = "";
}

/// <summary>GET /networks and /networks/{id}.</summary>
public sealed class NetworkResource
{
    public required string Name { get; set; }
    public required string Id { get; set; }
    public string Created { get; set; } = "";
    public string Scope { get; set; } = "local";
    public string Driver { get; set; } = "bridge";
    public bool EnableIPv4 { get; set; } = true;
    public bool EnableIPv6 { get; set; }
    public IPAM IPAM { get; set; } = new();
    public bool Internal { get; set; }
    public bool Attachable { get; set; }
    public bool Ingress { get; set; }
    public ConfigReference ConfigFrom { get; set; } = new();
    public bool ConfigOnly { get; set; }
    public Dictionary<string, NetworkContainer> Containers { get; set; } = [];
    public Dictionary<string, string> Options { get; set; } = [];
    public Dictionary<string, string> Labels { get; set; } = [];
}

public sealed class NetworkCreateRequest
{
    public string? Name { get; set; }
    public bool? CheckDuplicate { get; set; }
    public string? Driver { get; set; }
    public string? Scope { get; set; }
    public bool Internal { get; set; }
    public bool Attachable { get; set; }
    public bool Ingress { get; set; }
    public bool ConfigOnly { get; set; }
    public ConfigReference? ConfigFrom { get; set; }
    public IPAM? IPAM { get; set; }
    public bool? EnableIPv4 { get; set; }
    public bool? EnableIPv6 { get; set; }
    public Dictionary<string, string>? Options { get; set; }
    public Dictionary<string, string>? Labels { get; set; }
}

public sealed class NetworkCreateResponse
{
    public required string Id { get; set; }
    public string Warning { get; set; } = "";
}

public sealed class NetworkConnectRequest
{
    public string? Container { get; set; }
    public EndpointSettings? EndpointConfig { get; set; }
}

public sealed class NetworkDisconnectRequest
{
    public string? Container { get; set; }
    public bool Force { get; set; }
}

public sealed class NetworkPruneResponse
{
    public List<string> NetworksDeleted { get; set; } = [];
}

/// <summary>Source-generated JSON of the network shapes, with DockerJsonContext's options (a second partial part of
/// that context would make the generator emit its types twice).</summary>
[JsonSourceGenerationOptions(
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    PropertyNameCaseInsensitive = true,
    ReadCommentHandling = System.Text.Json.JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(NetworkResource))]
[JsonSerializable(typeof(List<NetworkResource>))]
[JsonSerializable(typeof(NetworkCreateRequest))]
[JsonSerializable(typeof(NetworkCreateResponse))]
[JsonSerializable(typeof(NetworkConnectRequest))]
[JsonSerializable(typeof(NetworkDisconnectRequest))]
[JsonSerializable(typeof(NetworkPruneResponse))]
public sealed partial class NetworkJsonContext : JsonSerializerContext;
