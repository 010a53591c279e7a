using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Berth.Oci.Content;

namespace Berth.Oci.Image;

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Descriptor))]
[JsonSerializable(typeof(Manifest))]
[JsonSerializable(typeof(ImageIndex))]
[JsonSerializable(typeof(ImageConfig))]
[JsonSerializable(typeof(ContainerConfig))]
[JsonSerializable(typeof(OciLayoutHeader))]
[JsonSerializable(typeof(List<DockerArchiveManifestEntry>))]
[JsonSerializable(typeof(Dictionary<string, Dictionary<string, string>>))]
[JsonSerializable(typeof(MediaTypeProbe))]
public sealed partial class ImageJsonContext : JsonSerializerContext;

/// <summary>Only the fields that tell what a JSON document is.</summary>
public sealed class MediaTypeProbe
{
    [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; set; }
    [JsonPropertyName("mediaType")] public string? MediaType { get; set; }
    [JsonPropertyName("manifests")] public JsonElement? Manifests { get; set; }
    [JsonPropertyName("config")] public JsonElement? Config { get; set; }
    [JsonPropertyName("fsLayers")] public JsonElement? FsLayers { get; set; }
}

/// <summary>
/// Serialising image documents. Written bytes are compact and deterministic (the same model gives the same
/// bytes), non-ASCII stays UTF-8 as Go writes it; but a document read from elsewhere is kept as the bytes it
/// came in, never re-serialised, because its digest names those bytes.
/// </summary>
public static class ImageJson
{
    private static readonly JsonSerializerOptions Options = new(ImageJsonContext.Default.Options)
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
    private static readonly ImageJsonContext Context = new(Options);

    public static JsonTypeInfo<Descriptor> Descriptor => Context.Descriptor;
    public static JsonTypeInfo<Manifest> Manifest => Context.Manifest;
    public static JsonTypeInfo<ImageIndex> Index => Context.ImageIndex;
    public static JsonTypeInfo<ImageConfig> Config => Context.ImageConfig;
    public static JsonTypeInfo<OciLayoutHeader> LayoutHeader => Context.OciLayoutHeader;
    public static JsonTypeInfo<List<DockerArchiveManifestEntry>> DockerArchiveManifest => Context.ListDockerArchiveManifestEntry;
    public static JsonTypeInfo<Dictionary<string, Dictionary<string, string>>> Repositories => Context.DictionaryStringDictionaryStringString;

    public static byte[] Serialize<T>(T value, JsonTypeInfo<T> type) => JsonSerializer.SerializeToUtf8Bytes(value, type);

    /// <summary>Parses a document, turning any JSON error into one line naming what was being read.</summary>
    public static T Parse<T>(ReadOnlySpan<byte> json, JsonTypeInfo<T> type, string what) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(json, type) ?? throw new FormatException($"invalid {what}: null");
        }
        catch (JsonException e)
        {
            throw new FormatException($"invalid {what}: {e.Message}", e);
        }
    }

    public static Manifest ParseManifest(ReadOnlySpan<byte> json)
    {
        var m = Parse(json, Manifest, "image manifest");
        if (m.SchemaVersion != 2) throw new FormatException($"unsupported manifest schema version {m.SchemaVersion}");
        if (m.MediaType is not null && !MediaTypes.IsManifest(m.MediaType)) throw new UnsupportedMediaTypeException(m.MediaType, "manifest");
        if (m.Config is null || m.Config.Digest.IsEmpty) throw new FormatException("invalid image manifest: no config descriptor");
        return m;
    }

    public static ImageIndex ParseIndex(ReadOnlySpan<byte> json)
    {
        var i = Parse(json, Index, "image index");
        if (i.SchemaVersion != 2) throw new FormatException($"unsupported index schema version {i.SchemaVersion}");
        if (i.MediaType is not null && !MediaTypes.IsIndex(i.MediaType)) throw new UnsupportedMediaTypeException(i.MediaType, "index");
        return i;
    }

    public static ImageConfig ParseConfig(ReadOnlySpan<byte> json)
    {
        var c = Parse(json, Config, "image config");
        if (c.RootFs.Type != RootFs.LayersType) throw new FormatException($"invalid image config: rootfs type \"{c.RootFs.Type}\"");
        return c;
    }

    /// <summary>
    /// The media type of a manifest or index document: its mediaType field, else guessed from its shape as
    /// the image-spec allows (manifests → index; config → manifest). Schema 1 is refused by name.
    /// </summary>
    public static string DetectMediaType(ReadOnlySpan<byte> json)
    {
        var probe = Parse(json, Context.MediaTypeProbe, "manifest");
        if (probe.SchemaVersion == 1 || probe.FsLayers is not null) throw new UnsupportedMediaTypeException(MediaTypes.DockerManifestSchema1, "manifest (schema 1 is not supported)");
        if (!string.IsNullOrEmpty(probe.MediaType)) return probe.MediaType;
        if (probe.Manifests is not null) return MediaTypes.OciIndex;
        if (probe.Config is not null) return MediaTypes.OciManifest;
        throw new FormatException("invalid manifest: neither a manifest nor an index");
    }

    /// <summary>A descriptor of <paramref name="bytes"/> as stored.</summary>
    public static Descriptor Describe(string mediaType, ReadOnlySpan<byte> bytes) => new(mediaType, Digest.Sha256(bytes), bytes.Length);
}
