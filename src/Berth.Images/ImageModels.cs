using System.Text.Json.Serialization;
using Berth.Oci.Content;
using Berth.Oci.Image;

namespace Berth.Images;

/// <summary>What the store keeps about an image besides its config (which is in the content store).</summary>
public sealed class ImageRecord
{
    /// <summary>The image this one was committed or built on (Docker's parent; empty for pulled/loaded images).</summary>
    [JsonPropertyName("Parent")] public string? Parent { get; set; }
    [JsonPropertyName("Added")] public DateTimeOffset Added { get; set; }
    [JsonPropertyName("LastTagTime")] public DateTimeOffset? LastTagTime { get; set; }
    /// <summary>Manifests (in the content store) this image was pulled or loaded by: they give RepoDigests and are GC roots.</summary>
    [JsonPropertyName("Manifests")] public List<Digest>? Manifests { get; set; }
}

/// <summary>The persisted index: image records by ID, and Docker's repositories.json shape for references.</summary>
public sealed class ImageStoreState
{
    [JsonPropertyName("Images")] public SortedDictionary<string, ImageRecord> Images { get; set; } = new(StringComparer.Ordinal);
    [JsonPropertyName("Repositories")] public SortedDictionary<string, SortedDictionary<string, string>> Repositories { get; set; } = new(StringComparer.Ordinal);
}

[JsonSourceGenerationOptions(WriteIndented = false, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ImageStoreState))]
internal sealed partial class ImageStoreJsonContext : JsonSerializerContext;

/// <summary>Who uses an image: a container (running or not). Returned by the engine's in-use callback.</summary>
public sealed record ImageUser(string ContainerId, bool Running);

/// <summary>The engine's answer to "which container uses this image?" (null: none).</summary>
public delegate ImageUser? ImageUsage(Digest imageId);

/// <summary>One line of `docker rmi` output: "Untagged: x" or "Deleted: y".</summary>
public sealed record ImageDeleteItem(string? Untagged, string? Deleted)
{
    public static ImageDeleteItem UntaggedRef(string reference) => new(reference, null);
    public static ImageDeleteItem DeletedId(string id) => new(null, id);
    public override string ToString() => Untagged is not null ? $"Untagged: {Untagged}" : $"Deleted: {Deleted}";
}

public sealed record ImagePruneReport(IReadOnlyList<ImageDeleteItem> Deleted, long SpaceReclaimed);

/// <summary>One line of `docker history` (newest first).</summary>
public sealed record ImageHistoryItem(string Id, DateTimeOffset? Created, string CreatedBy, IReadOnlyList<string> Tags, long Size, string Comment);

/// <summary>One line of `docker images`.</summary>
public sealed record ImageListEntry(
    Digest Id, string ParentId, IReadOnlyList<string> RepoTags, IReadOnlyList<string> RepoDigests,
    DateTimeOffset? Created, long Size, IReadOnlyDictionary<string, string>? Labels);

/// <summary>What `docker image inspect` shows (the API layer shapes it into JSON).</summary>
public sealed record ImageDetails(
    Digest Id, IReadOnlyList<string> RepoTags, IReadOnlyList<string> RepoDigests, string Parent, string Comment,
    DateTimeOffset? Created, string Author, ContainerConfig? Config, string Architecture, string? Variant, string Os,
    string? OsVersion, long Size, RootFs RootFs, DateTimeOffset? LastTagTime, ImageConfig Image);

public class ImageException(string message, Exception? inner = null) : Exception(message, inner);
public sealed class ImageNotFoundException(string reference) : ImageException($"No such image: {reference}");
public sealed class ImageConflictException(string message) : ImageException(message);
public sealed class InvalidArchiveException(string message, Exception? inner = null) : ImageException(message, inner);
