namespace Berth.Registry.Storage;

/// <summary>
/// The filesystem driver: logical paths under one root directory. Small files are written to a temp file
/// beside the target and renamed into place; blobs arrive by <see cref="Move"/> (a rename on the same
/// filesystem), so a reader never sees half a file.
/// </summary>
public sealed class FilesystemDriver : IStorageDriver
{
    private const int BufferSize = 128 * 1024;

    public FilesystemDriver(string root)
    {
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Root);
    }

    public string Name => "filesystem";
    public string Root { get; }

    private string Full(string path)
    {
        // Paths come from RegistryPaths (validated components), so this is a guard, not the validation.
        if (path.Contains("..", StringComparison.Ordinal) || path.Contains('\0')) throw new ArgumentException($"invalid storage path {path}");
        return Path.Join(Root, path);
    }

    public byte[]? GetContent(string path)
    {
        try { return File.ReadAllBytes(Full(path)); }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
        catch (UnauthorizedAccessException) when (Directory.Exists(Full(path))) { return null; }
    }

    public void PutContent(string path, ReadOnlySpan<byte> content)
    {
        var full = Full(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = full + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1))
                file.Write(content);
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    public Stream? OpenRead(string path, long offset = 0)
    {
        try
        {
            var stream = new FileStream(Full(path), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, BufferSize,
                FileOptions.Asynchronous | FileOptions.SequentialScan);
            if (offset > 0) stream.Seek(offset, SeekOrigin.Begin);
            return stream;
        }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }

    public Stream OpenAppend(string path)
    {
        var full = Full(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        return new FileStream(full, FileMode.Append, FileAccess.Write, FileShare.Read, BufferSize, FileOptions.Asynchronous);
    }

    public void Truncate(string path, long size)
    {
        using var file = new FileStream(Full(path), FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1);
        file.SetLength(size);
    }

    public StorageEntry? Stat(string path)
    {
        var full = Full(path);
        var file = new FileInfo(full);
        if (file.Exists) return new StorageEntry(file.Length, file.LastWriteTimeUtc, false);
        var dir = new DirectoryInfo(full);
        return dir.Exists ? new StorageEntry(0, dir.LastWriteTimeUtc, true) : null;
    }

    public IEnumerable<string> List(string path)
    {
        var full = Full(path);
        if (!Directory.Exists(full)) return [];
        try { return [.. Directory.EnumerateFileSystemEntries(full).Select(Path.GetFileName).Where(n => !n!.Contains(".tmp-", StringComparison.Ordinal))!]; }
        catch (DirectoryNotFoundException) { return []; }
    }

    public void Move(string source, string destination)
    {
        var target = Full(destination);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        File.Move(Full(source), target, overwrite: true);
    }

    public void Delete(string path)
    {
        var full = Full(path);
        try
        {
            if (File.Exists(full)) File.Delete(full);
            else if (Directory.Exists(full)) Directory.Delete(full, recursive: true);
        }
        catch (DirectoryNotFoundException) { }
    }

    public void Touch(string path)
    {
        try { File.SetLastWriteTimeUtc(Full(path), DateTime.UtcNow); }
        catch (FileNotFoundException) { }
        catch (DirectoryNotFoundException) { }
    }
}
