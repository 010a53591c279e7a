using System.Text.Json;
using System.Text.Json.Serialization;

namespace Berth.Network;

/// <summary>A network as Berth keeps it (persisted in StateDirectory/networks.json).</summary>
public sealed class NetworkRecord
{
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    /// <summary>"bridge", or "host"/"null" for the predefined host and none networks (which own no kernel objects).</summary>
    public string Driver { get; set; } = "bridge";
    public DateTimeOffset Created { get; set; }
    public bool Internal { get; set; }
    public bool Attachable { get; set; }
    public bool EnableIPv6 { get; set; }
    /// <summary>The default "bridge" network: no embedded DNS, no name resolution between containers.</summary>
    public bool IsDefault { get; set; }
    /// <summary>The Linux bridge's name ("" for host/none).</summary>
    public string Bridge { get; set; } = "";
    public int Mtu { get; set; }
    public Dictionary<string, string> Options { get; set; } = [];
    public Dictionary<string, string> Labels { get; set; } = [];
    public List<SubnetRecord> Subnets { get; set; } = [];
    /// <summary>Endpoints by container id.</summary>
    public Dictionary<string, EndpointRecord> Endpoints { get; set; } = [];

    public bool HasBridge => Driver == "bridge";
    public bool HasDns => HasBridge && !IsDefault;
}

public sealed class SubnetRecord
{
    public string Subnet { get; set; } = "";
    public string Gateway { get; set; } = "";
    public string? IPRange { get; set; }
}

public sealed class EndpointRecord
{
    public string ContainerId { get; set; } = "";
    public string ContainerName { get; set; } = "";
    public string EndpointId { get; set; } = "";
    public string HostVeth { get; set; } = "";
    public string InterfaceName { get; set; } = "eth0";
    public string NetnsPath { get; set; } = "";
    public string MacAddress { get; set; } = "";
    public string? IPv4 { get; set; }
    public int IPv4PrefixLength { get; set; }
    public string? IPv6 { get; set; }
    public int IPv6PrefixLength { get; set; }
    public List<string> Aliases { get; set; } = [];
    public List<PortRecord> Ports { get; set; } = [];
}

public sealed class PortRecord
{
    public string Protocol { get; set; } = "tcp";
    public int ContainerPort { get; set; }
    public string HostIp { get; set; } = "0.0.0.0";
    public int HostPort { get; set; }
}

public sealed class NetworkStateFile
{
    public List<NetworkRecord> Networks { get; set; } = [];
}

[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(NetworkStateFile))]
[JsonSerializable(typeof(NetworkRecord))]
internal sealed partial class NetworkStateJson : JsonSerializerContext
{
    public static NetworkRecord Clone(NetworkRecord r)
        => JsonSerializer.Deserialize(JsonSerializer.SerializeToUtf8Bytes(r, Default.NetworkRecord), Default.NetworkRecord)!;
}
