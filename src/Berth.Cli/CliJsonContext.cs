using System.Buffers;
using System.Text.Json;
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
public sealed partial class CliWriteJsonContext : JsonSerializerContext
{
    /// <summary>
    /// The request's JSON, written by the generated serialize handler straight into a writer: even the root type's
    /// JsonTypeInfo costs a run-time lookup of the type's attributes by reflection (perf: a tenth of `berth run`'s CPU).
    /// The writer has the serializer's settings (default escaping, not indented), so the bytes are the serializer's.
    /// </summary>
    public static byte[] CreateRequestBody(ContainerCreateRequest request)
    {
        var output = new ArrayBufferWriter<byte>(1024);
        using (var writer = new Utf8JsonWriter(output, new JsonWriterOptions { SkipValidation = true })) Default.ContainerCreateRequestSerializeHandler(writer, request);
        return output.WrittenSpan.ToArray();
    }
}

/// <summary>
/// The two small answers on `run`'s path (create, wait), read with Utf8JsonReader: through DockerJsonContext each costs its
/// JsonTypeInfo and those of its property types, built at run time with reflection (perf: ~7% of `berth run`'s CPU).
/// As DockerJsonContext reads: property names case-insensitive, unknown ones skipped, a missing Id an error.
/// </summary>
public static class CliJsonAnswers
{
    public static ContainerCreateResponse CreateResponse(byte[] json)
    {
        var reader = new Utf8JsonReader(json);
        string? id = null;
        List<string>? warnings = [];
        ReadObject(ref reader, (ref Utf8JsonReader r, string name) =>
        {
            if (name.Equals("Id", StringComparison.OrdinalIgnoreCase)) id = r.TokenType == JsonTokenType.Null ? null : r.GetString();
            else if (name.Equals("Warnings", StringComparison.OrdinalIgnoreCase)) warnings = ReadStrings(ref r);
            else r.Skip();
        });
        if (id is null) throw new JsonException("the daemon's create answer has no Id");
        return new ContainerCreateResponse { Id = id, Warnings = warnings! };
    }

    public static ContainerWaitResponse WaitResponse(byte[] json)
    {
        var reader = new Utf8JsonReader(json);
        var response = new ContainerWaitResponse();
        ReadObject(ref reader, (ref Utf8JsonReader r, string name) =>
        {
            if (name.Equals("StatusCode", StringComparison.OrdinalIgnoreCase)) response.StatusCode = r.GetInt64();
            else if (name.Equals("Error", StringComparison.OrdinalIgnoreCase))
            {
                if (r.TokenType == JsonTokenType.Null) { response.Error = null; return; }
                var error = new ContainerWaitExitError();
                ReadObjectAt(ref r, (ref Utf8JsonReader e, string field) =>
                {
                    if (field.Equals("Message", StringComparison.OrdinalIgnoreCase)) error.Message = e.TokenType == JsonTokenType.Null ? null : e.GetString();
                    else e.Skip();
                });
                response.Error = error;
            }
            else r.Skip();
        });
        return response;
    }

    private delegate void PropertyReader(ref Utf8JsonReader reader, string name);

    /// <summary>Reads the document's one object, calling <paramref name="property"/> on each value (the reader at its first token).</summary>
    private static void ReadObject(ref Utf8JsonReader reader, PropertyReader property)
    {
        if (!reader.Read()) throw new JsonException("the daemon's answer is empty");
        ReadObjectAt(ref reader, property);
    }

    private static void ReadObjectAt(ref Utf8JsonReader reader, PropertyReader property)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException($"a JSON object was expected, not {reader.TokenType}");
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var name = reader.GetString()!;
            reader.Read();
            property(ref reader, name);
        }
    }

    private static List<string>? ReadStrings(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException($"a JSON array was expected, not {reader.TokenType}");
        var values = new List<string>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray) values.Add(reader.GetString()!);
        return values;
    }
}
