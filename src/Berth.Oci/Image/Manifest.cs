using System.Text.Json.Serialization;

namespace Berth.Oci.Image;

/// <summary>
/// An image manifest: OCI (image-manifest.md) or Docker schema2 (the same shape; its mediaType field says
/// which). Read once, the bytes it came from stay the truth: its digest is the digest of those bytes.
/// </summary>
public sealed class Manifest
{
    [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; set; } = 2;
    [JsonPropertyName("mediaType")] public string? MediaType { get; set; }
    [JsonPropertyName("artifactType")] public string? ArtifactType { get; set; }
    [JsonPropertyName("config")] public Descriptor? Config { get; set; }
    [JsonPropertyName("layers")] public List<Descriptor> Layers { get; set; } = [];
    [JsonPropertyName("subject")] public Descriptor? Subject { get; set; }
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; set; }
}

/// <summary>An image index (OCI image-index.md) or a Docker manifest list.</summary>
public sealed class ImageIndex
{
    [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; set; } = 2;
    [JsonPropertyName("mediaType")] public string? MediaType { get; set; }
    [JsonPropertyName("artifactType")] public string? ArtifactType { get; set; }
    [JsonPropertyName("manifests")] public List<Descriptor> Manifests { get; set; } = [];
    [JsonPropertyName("subject")] public Descriptor? Subject { get; set; }
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; set; }
}

/// <summary>The oci-layout file at the root of an OCI image layout.</summary>
public sealed class OciLayoutHeader
{
    public const string CurrentVersion = "1.0.0";
    [JsonPropertyName("imageLayoutVersion")] public string ImageLayoutVersion { get; set; } = CurrentVersion;
}

/// <summary>One entry of the manifest.json at the root of a `docker save` archive.</summary>
public sealed class DockerArchiveManifestEntry
{
    [JsonPropertyName("Config")] public string Config { get; set; } = "";
    [JsonPropertyName("RepoTags")] public List<string>? RepoTags { get; set; }
    [JsonPropertyName("Layers")] public List<string> Layers { get; set; } = [];
    /// <summary>Foreign layers: where to fetch the layer named by its diffID (key) from.</summary>
    [JsonPropertyName("LayerSources")] public Dictionary<string, Descriptor>? LayerSources { get; set; }
}
