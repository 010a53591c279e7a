using System.Text.Json.Serialization;
using Berth.Oci.Content;

namespace Berth.Oci.Image;

/// <summary>A content descriptor (image-spec descriptor.md).</summary>
public sealed class Descriptor
{
    [JsonPropertyName("mediaType")] public string MediaType { get; set; } = "";
    [JsonPropertyName("digest")] public Digest Digest { get; set; }
    [JsonPropertyName("size")] public long Size { get; set; }
    [JsonPropertyName("urls")] public List<string>? Urls { get; set; }
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; set; }
    [JsonPropertyName("data")] public string? Data { get; set; }
    [JsonPropertyName("platform")] public Platform? Platform { get; set; }
    [JsonPropertyName("artifactType")] public string? ArtifactType { get; set; }

    public Descriptor() { }
    public Descriptor(string mediaType, Digest digest, long size) { MediaType = mediaType; Digest = digest; Size = size; }

    public string? Annotation(string key) => Annotations is not null && Annotations.TryGetValue(key, out var v) ? v : null;
}

/// <summary>The platform an image runs on (image-spec image-index.md).</summary>
public sealed record class Platform
{
    [JsonPropertyName("architecture")] public string Architecture { get; init; } = "";
    [JsonPropertyName("os")] public string Os { get; init; } = "";
    [JsonPropertyName("os.version")] public string? OsVersion { get; init; }
    [JsonPropertyName("os.features")] public List<string>? OsFeatures { get; init; }
    [JsonPropertyName("variant")] public string? Variant { get; init; }

    public Platform() { }
    public Platform(string os, string architecture, string? variant = null)
    {
        Os = os; Architecture = architecture; Variant = string.IsNullOrEmpty(variant) ? null : variant;
    }

    /// <summary>"os/arch[/variant]", as Docker prints and parses it.</summary>
    public override string ToString() => string.IsNullOrEmpty(Variant) ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";
}

/// <summary>Annotation keys the image tools agree on.</summary>
public static class Annotations
{
    public const string RefName = "org.opencontainers.image.ref.name";
    public const string Created = "org.opencontainers.image.created";
    public const string ContainerdImageName = "io.containerd.image.name";
    /// <summary>BuildKit marks attestation manifests in an index with this.</summary>
    public const string DockerReferenceType = "vnd.docker.reference.type";
}
