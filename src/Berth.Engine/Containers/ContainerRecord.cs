using System.Text.Json.Serialization;
using Berth.Engine.Models;

namespace Berth.Engine.Containers;

/// <summary>
/// What the engine keeps about one container, persisted as data-root/containers/ID/config.v2.json (the
/// shape of dockerd's file of that name, HostConfig kept in the same file). Inspect is built from it.
/// </summary>
public sealed class ContainerRecord
{
    public required string ID { get; set; }
    /// <summary>RFC 3339 with nanoseconds.</summary>
    public required string Created { get; set; }
    /// <summary>With Docker's leading '/'.</summary>
    public required string Name { get; set; }
    public string Path { get; set; } = "";
    public List<string> Args { get; set; } = [];
    /// <summary>The container's configuration: the create request merged with the image's config.</summary>
    public ContainerConfig Config { get; set; } = new();
    public HostConfig HostConfig { get; set; } = new();
    public ContainerState State { get; set; } = new();
    /// <summary>The image ID ("sha256:…"); empty for an image-less container.</summary>
    public string Image { get; set; } = "";
    public string Driver { get; set; } = "";
    /// <summary>The container's writable layer in the layer store (its key there).</summary>
    public string LayerId { get; set; } = "";
    public string LogPath { get; set; } = "";
    public int RestartCount { get; set; }
    /// <summary>The OCI runtime's name (berth, runc, …), chosen at create.</summary>
    public string Runtime { get; set; } = "";
    public bool HasBeenStartedBefore { get; set; }
    /// <summary>Stopped by the user: unless-stopped does not bring it back at daemon start.</summary>
    public bool HasBeenManuallyStopped { get; set; }
    /// <summary>The spec's linux.cgroupsPath of the current run (stats, top, OOM).</summary>
    public string? CgroupsPath { get; set; }
    public string ResolvConfPath { get; set; } = "";
    public string HostnamePath { get; set; } = "";
    public string HostsPath { get; set; } = "";
    public string Platform { get; set; } = "linux";
    public NetworkSettings NetworkSettings { get; set; } = new();
    public List<MountPoint> Mounts { get; set; } = [];
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, PropertyNameCaseInsensitive = true)]
[JsonSerializable(typeof(ContainerRecord))]
internal sealed partial class ContainerRecordJsonContext : JsonSerializerContext;
