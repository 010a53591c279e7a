using System.Text.Json.Serialization;
using Berth.Engine.Models;

namespace Berth.Cli;

/// <summary>
/// The create request, written by source-generated code: DockerJsonContext's metadata for ContainerCreateRequest
/// (HostConfig, NetworkingConfig and every type under them) is built at run time on first use, with reflection over each
/// type's attributes; that was a third of `berth run`'s CPU (perf). Same output as DockerJsonContext: nulls left out.
/// </summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, GenerationMode = JsonSourceGenerationMode.Serialization)]
[JsonSerializable(typeof(ContainerCreateRequest))]
public sealed partial class CliWriteJsonContext : JsonSerializerContext;
