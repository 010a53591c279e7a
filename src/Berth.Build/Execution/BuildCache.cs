using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Berth.Build.Execution;

/// <summary>Build cache: step key → image ID. A hit is used only while the image still exists.</summary>
public interface IBuildCache
{
    string? Get(string key);
    void Put(string key, string imageId);
}

public sealed class MemoryBuildCache : IBuildCache
{
    private readonly ConcurrentDictionary<string, string> _entries = new(StringComparer.Ordinal);
    public int Count => _entries.Count;
    public string? Get(string key) => _entries.TryGetValue(key, out var id) ? id : null;
    public void Put(string key, string imageId) => _entries[key] = imageId;
}

/// <summary>A cache that survives the daemon: one small file per key under a directory.</summary>
public sealed class DirectoryBuildCache(string directory) : IBuildCache
{
    public string? Get(string key)
    {
        var path = PathOf(key);
        try { return File.Exists(path) ? File.ReadAllText(path).Trim() : null; }
        catch (IOException) { return null; }
    }

    public void Put(string key, string imageId)
    {
        Directory.CreateDirectory(directory);
        var path = PathOf(key);
        var temp = path + "." + Environment.ProcessId + "." + Environment.CurrentManagedThreadId + ".tmp";
        File.WriteAllText(temp, imageId);
        File.Move(temp, path, overwrite: true);
    }

    private string PathOf(string key) => Path.Combine(directory, key.StartsWith("sha256:", StringComparison.Ordinal) ? key[7..] : key);
}

/// <summary>
/// The cache key of a step, as Docker's classic builder keys it: the parent image, the step's
/// canonical text (its history line, which for COPY/ADD carries the hash of the sources' data and
/// metadata, and for RUN the build args it sees) and the container config the step commits.
/// </summary>
public static class CacheKeys
{
    public static string Of(string? parentImageId, string createdBy, ReadOnlySpan<byte> configJson)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes((parentImageId ?? "scratch") + "\n" + createdBy + "\n"));
        hash.AppendData(configJson);
        return "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
