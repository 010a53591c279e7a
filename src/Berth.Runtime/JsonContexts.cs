using System.Text.Json.Serialization;
using Berth.Runtime.State;

namespace Berth.Runtime;

[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ContainerRecord))]
[JsonSerializable(typeof(ContainerStateView))]
[JsonSerializable(typeof(List<ContainerStateView>))]
[JsonSerializable(typeof(Oci.Runtime.State))]
[JsonSerializable(typeof(List<int>))]
public sealed partial class RuntimeStateJsonContext : JsonSerializerContext;

/// <summary>Compact JSON: hooks' stdin state (one line), `ps -f json`.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Oci.Runtime.State))]
[JsonSerializable(typeof(List<int>))]
public sealed partial class CompactJsonContext : JsonSerializerContext;
