using System.Text.Json;
using System.Text.Json.Serialization;
using Berth.Oci.Content;

namespace Berth.Distribution;

/// <summary>Where a layer (by diffID) is known to live as a blob: registry, repository, digest, media type, size.</summary>
public sealed class LayerLocation
{
    [JsonPropertyName("registry")] public string Registry { get; set; } = "";
    [JsonPropertyName("repository")] public string Repository { get; set; } = "";
    [JsonPropertyName("digest")] public Digest Digest { get; set; }
    [JsonPropertyName("mediaType")] public string MediaType { get; set; } = "";
    [JsonPropertyName("size")] public long Size { get; set; }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Dictionary<string, List<LayerLocation>>))]
internal sealed partial class LayerMetadataJsonContext : JsonSerializerContext;

/// <summary>
/// Docker's v2 metadata service in one small file: which compressed blob (in which registry and repository) a
/// layer came from or was pushed as. A push reads it to skip blobs the registry has (HEAD) or to mount them
/// from another repository instead of compressing and uploading the layer again.
/// </summary>
public sealed class LayerMetadata
{
    private const int MaxPerLayer = 16;
    private readonly string? _path;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, List<LayerLocation>> _locations;

    public LayerMetadata(string? path)
    {
        _path = path;
        _locations = new Dictionary<string, List<LayerLocation>>(StringComparer.Ordinal);
        if (path is null || !File.Exists(path)) return;
        try
        {
            var loaded = JsonSerializer.Deserialize(File.ReadAllBytes(path), LayerMetadataJsonContext.Default.DictionaryStringListLayerLocation);
            if (loaded is not null) foreach (var (k, v) in loaded) _locations[k] = v;
        }
        catch (JsonException) { } // a cache: a damaged one is started afresh
    }

    public IReadOnlyList<LayerLocation> Find(Digest diffId, string registry)
    {
        lock (_gate)
            return _locations.TryGetValue(diffId.ToString(), out var list) ? [.. list.Where(l => l.Registry == registry)] : [];
    }

    public void Add(Digest diffId, LayerLocation location)
    {
        lock (_gate)
        {
            if (!_locations.TryGetValue(diffId.ToString(), out var list)) _locations[diffId.ToString()] = list = [];
            list.RemoveAll(l => l.Registry == location.Registry && l.Repository == location.Repository && l.Digest == location.Digest);
            list.Insert(0, location);
            if (list.Count > MaxPerLayer) list.RemoveRange(MaxPerLayer, list.Count - MaxPerLayer);
            Save();
        }
    }

    private void Save()
    {
        if (_path is null) return;
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        var temp = _path + ".tmp-" + Environment.ProcessId + "-" + Environment.CurrentManagedThreadId;
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(_locations, LayerMetadataJsonContext.Default.DictionaryStringListLayerLocation));
        File.Move(temp, _path, overwrite: true);
    }
}
