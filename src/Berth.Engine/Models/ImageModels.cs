namespace Berth.Engine.Models;

public sealed class ImageRootFS
{
    public string Type { get; set; } = "layers";
    public List<string> Layers { get; set; } = [];
}

public sealed class ImageMetadata
{
    public string? LastTagTime { get; set; }
}

/// <summary>GET /images/{name}/json.</summary>
public sealed class ImageInspect
{
    public required string Id { get; set; }
    public List<string> RepoTags { get; set; } = [];
    public List<string> RepoDigests { get; set; } = [];
    public string Parent { get; set; } = "";
    public string Comment { get; set; } = "";
    /// <summary>RFC 3339 with nanoseconds.</summary>
    public string? Created { get; set; }
    public string DockerVersion { get; set; } = "";
    public string Author { get; set; } = "";
    public ContainerConfig? Config { get; set; }
    public string Architecture { get; set; } = "";
    public string? Variant { get; set; }
    public string Os { get; set; } = "linux";
    public string? OsVersion { get; set; }
    public long Size { get; set; }
    public long? VirtualSize { get; set; }
    public GraphDriverData? GraphDriver { get; set; }
    public ImageRootFS RootFS { get; set; } = new();
    public ImageMetadata? Metadata { get; set; }
}

/// <summary>An element of GET /images/json.</summary>
public sealed class ImageSummary
{
    public required string Id { get; set; }
    public string ParentId { get; set; } = "";
    public List<string> RepoTags { get; set; } = [];
    public List<string> RepoDigests { get; set; } = [];
    /// <summary>Unix seconds.</summary>
    public long Created { get; set; }
    public long Size { get; set; }
    public long SharedSize { get; set; } = -1;
    public long? VirtualSize { get; set; }
    public Dictionary<string, string> Labels { get; set; } = [];
    public int Containers { get; set; } = -1;
}

/// <summary>An element of GET /images/{name}/history.</summary>
public sealed class HistoryResponseItem
{
    /// <summary>The layer's image ID, or "&lt;missing&gt;" for layers of other images.</summary>
    public required string Id { get; set; }
    public long Created { get; set; }
    public string CreatedBy { get; set; } = "";
    public List<string>? Tags { get; set; }
    public long Size { get; set; }
    public string Comment { get; set; } = "";
}

/// <summary>An element of DELETE /images/{name} and of the image prune report.</summary>
public sealed class ImageDeleteResponseItem
{
    public string? Untagged { get; set; }
    public string? Deleted { get; set; }
}

public sealed class ImagePruneResponse
{
    public List<ImageDeleteResponseItem>? ImagesDeleted { get; set; }
    public long SpaceReclaimed { get; set; }
}
