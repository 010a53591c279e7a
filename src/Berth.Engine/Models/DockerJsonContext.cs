using System.Text.Json.Serialization;

namespace Berth.Engine.Models;

/// <summary>
/// Source-generated JSON for every Docker API model (NativeAOT needs no reflection). Reading is
/// case-insensitive as Go's encoding/json is; writing leaves out nulls, as Docker's omitempty does.
/// </summary>
[JsonSourceGenerationOptions(
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    PropertyNameCaseInsensitive = true,
    ReadCommentHandling = System.Text.Json.JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(ContainerCreateRequest))]
[JsonSerializable(typeof(ContainerConfig))]
[JsonSerializable(typeof(ContainerCreateResponse))]
[JsonSerializable(typeof(List<ContainerSummary>))]
[JsonSerializable(typeof(ContainerInspect))]
[JsonSerializable(typeof(ContainerWaitResponse))]
[JsonSerializable(typeof(ContainerTopResponse))]
[JsonSerializable(typeof(List<FilesystemChange>))]
[JsonSerializable(typeof(ContainerUpdateRequest))]
[JsonSerializable(typeof(ContainerUpdateResponse))]
[JsonSerializable(typeof(ContainerPruneResponse))]
[JsonSerializable(typeof(ContainerPathStat))]
[JsonSerializable(typeof(ContainerStats))]
[JsonSerializable(typeof(ExecConfig))]
[JsonSerializable(typeof(ExecStartConfig))]
[JsonSerializable(typeof(ExecInspect))]
[JsonSerializable(typeof(IdResponse))]
[JsonSerializable(typeof(List<ImageSummary>))]
[JsonSerializable(typeof(ImageInspect))]
[JsonSerializable(typeof(List<HistoryResponseItem>))]
[JsonSerializable(typeof(List<ImageDeleteResponseItem>))]
[JsonSerializable(typeof(ImagePruneResponse))]
[JsonSerializable(typeof(SystemInfo))]
[JsonSerializable(typeof(SystemVersion))]
[JsonSerializable(typeof(SystemDiskUsage))]
[JsonSerializable(typeof(EventMessage))]
[JsonSerializable(typeof(JsonMessage))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(Dictionary<string, List<string>>))]
[JsonSerializable(typeof(Dictionary<string, Dictionary<string, bool>>))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(List<string>))]
public sealed partial class DockerJsonContext : JsonSerializerContext;
