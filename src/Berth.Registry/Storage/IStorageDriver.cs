namespace Berth.Registry.Storage;

/// <summary>What a driver knows of one path.</summary>
public readonly record struct StorageEntry(long Size, DateTimeOffset ModifiedAt, bool IsDirectory);

/// <summary>
/// The registry's storage seam (distribution's storage driver): a handful of verbs over '/'-separated
/// logical paths. The registry's handlers and its store speak only these verbs; only a driver maps a path
/// to a place. Paths given to a driver are built by <see cref="RegistryPaths"/> from validated names and
/// digests, never from raw request text.
/// </summary>
public interface IStorageDriver
{
    string Name { get; }

    /// <summary>The whole content of a small file (links, manifests); null when absent.</summary>
    byte[]? GetContent(string path);

    /// <summary>Writes a small file atomically (readers see the old or the new content, never a mix).</summary>
    void PutContent(string path, ReadOnlySpan<byte> content);

    /// <summary>Opens a file for reading from <paramref name="offset"/>; null when absent.</summary>
    Stream? OpenRead(string path, long offset = 0);

    /// <summary>Opens a file for appending (created when absent): uploads grow through it.</summary>
    Stream OpenAppend(string path);

    /// <summary>Cuts a file back to <paramref name="size"/> bytes (a torn upload chunk is undone this way).</summary>
    void Truncate(string path, long size);

    StorageEntry? Stat(string path);

    /// <summary>Names of the direct children of a directory (empty when absent).</summary>
    IEnumerable<string> List(string path);

    /// <summary>Moves a file into place atomically, replacing what is there.</summary>
    void Move(string source, string destination);

    /// <summary>Removes a file or a directory tree; nothing happens when it is absent.</summary>
    void Delete(string path);

    /// <summary>Sets a file's modification time to now (garbage collection reads it as "in use since").</summary>
    void Touch(string path);
}
