using System.Formats.Tar;
using System.IO.Compression;
using Berth.Build;
using Berth.Oci;

namespace Berth.Build.Context;

/// <summary>
/// The files a build may read: a directory (the client's own, or a tar upload extracted into a private
/// temporary directory), filtered by its .dockerignore. Paths are resolved inside the root only: a
/// symlink is followed within the context, never out of it.
/// </summary>
public sealed class BuildContext : IDisposable
{
    public string Root { get; }
    public DockerIgnore Ignore { get; }
    private readonly bool _ownsRoot;

    private BuildContext(string root, bool ownsRoot)
    {
        Root = Path.GetFullPath(root);
        _ownsRoot = ownsRoot;
        Ignore = DockerIgnore.Load(Root);
    }

    public static BuildContext FromDirectory(string directory)
    {
        if (!Directory.Exists(directory)) throw new BuildException($"unable to prepare context: path \"{directory}\" not found");
        return new BuildContext(directory, ownsRoot: false);
    }

    /// <summary>
    /// Extracts a context tar (optionally gzip-compressed, as the docker CLI may send it) under
    /// <paramref name="scratchDirectory"/>; the directory is removed on dispose or on failure.
    /// </summary>
    public static async Task<BuildContext> FromTarAsync(Stream tar, string scratchDirectory, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(scratchDirectory);
        var root = Path.Combine(scratchDirectory, "context-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        try
        {
            var input = await SniffGzipAsync(tar, cancellationToken);
            await ExtractAsync(input, root, cancellationToken);
            return new BuildContext(root, ownsRoot: true);
        }
        catch
        {
            TryDelete(root);
            throw;
        }
    }

    private static async Task<Stream> SniffGzipAsync(Stream tar, CancellationToken cancellationToken)
    {
        var buffered = new BufferedStream(tar, 64 * 1024);
        var head = new byte[2];
        var read = 0;
        // Peek through the buffer: fill it, look, then rewind within it.
        var memory = new MemoryStream();
        while (read < 2)
        {
            var n = await buffered.ReadAsync(head.AsMemory(read), cancellationToken);
            if (n == 0) break;
            read += n;
        }
        memory.Write(head, 0, read);
        memory.Position = 0;
        Stream joined = new ConcatStream(memory, buffered);
        if (read == 2 && head[0] == 0x1f && head[1] == 0x8b) joined = new GZipStream(joined, CompressionMode.Decompress);
        return joined;
    }

    private static async Task ExtractAsync(Stream input, string root, CancellationToken cancellationToken)
    {
        await using var reader = new TarReader(input, leaveOpen: true);
        var directoryTimes = new List<(string Path, DateTimeOffset Time)>();
        while (await reader.GetNextEntryAsync(copyData: false, cancellationToken) is { } entry)
        {
            var relative = SlashPath.Clean(entry.Name.TrimStart('/'));
            if (relative == "." || relative.StartsWith("../", StringComparison.Ordinal) || relative == "..")
            {
                if (relative == ".") continue;
                throw new BuildException($"invalid context entry \"{entry.Name}\": outside the context");
            }
            // Parents are resolved without following symlinks out of the root.
            var parent = ScopedPath.Resolve(root, Path.GetDirectoryName(relative)?.Replace('\\', '/') ?? "");
            Directory.CreateDirectory(parent);
            var target = Path.Combine(parent, Path.GetFileName(relative));
            var mode = (UnixFileMode)((int)entry.Mode & 0xFFF);
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    if (!Directory.Exists(target)) Directory.CreateDirectory(target, mode | UnixFileMode.UserExecute | UnixFileMode.UserWrite | UnixFileMode.UserRead);
                    else File.SetUnixFileMode(target, mode | UnixFileMode.UserExecute | UnixFileMode.UserWrite | UnixFileMode.UserRead);
                    directoryTimes.Add((target, entry.ModificationTime));
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                    DeleteIfPresent(target);
                    await using (var output = new FileStream(target, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode }))
                        if (entry.DataStream is { } data) await data.CopyToAsync(output, cancellationToken);
                    File.SetLastWriteTimeUtc(target, entry.ModificationTime.UtcDateTime);
                    break;
                case TarEntryType.SymbolicLink:
                    DeleteIfPresent(target);
                    File.CreateSymbolicLink(target, entry.LinkName);
                    break;
                case TarEntryType.HardLink:
                {
                    var linkRelative = SlashPath.Clean(entry.LinkName.TrimStart('/'));
                    if (linkRelative.StartsWith("..", StringComparison.Ordinal)) throw new BuildException($"invalid hardlink \"{entry.Name}\": outside the context");
                    var source = ScopedPath.Resolve(root, linkRelative);
                    DeleteIfPresent(target);
                    File.Copy(source, target);
                    break;
                }
                default:
                    // Devices, fifos: a build context has no use for them.
                    break;
            }
        }
        for (var i = directoryTimes.Count - 1; i >= 0; i--)
            Directory.SetLastWriteTimeUtc(directoryTimes[i].Path, directoryTimes[i].Time.UtcDateTime);
    }

    private static void DeleteIfPresent(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null || info.Exists) info.Delete();
        else if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
    }

    /// <summary>The Dockerfile's text; <paramref name="name"/> is relative to the context root (Docker's -f inside the context).</summary>
    public string ReadDockerfile(string? name)
    {
        name = string.IsNullOrEmpty(name) ? "Dockerfile" : name;
        string path;
        try { path = ScopedPath.Resolve(Root, name.TrimStart('/')); }
        catch (BuildException) { throw new BuildException($"Cannot locate specified Dockerfile: {name}"); }
        if (!File.Exists(path))
        {
            // Docker accepts a lower-case "dockerfile" when the default name is absent.
            if (name == "Dockerfile" && File.Exists(Path.Combine(Root, "dockerfile"))) path = Path.Combine(Root, "dockerfile");
            else throw new BuildException($"Cannot locate specified Dockerfile: {name}");
        }
        var text = File.ReadAllText(path);
        if (text.Length == 0) throw new BuildException($"the Dockerfile ({name}) cannot be empty");
        return text;
    }

    /// <summary>Whether the context-relative path is hidden by .dockerignore (the Dockerfile and .dockerignore included, as the daemon removes them when excluded).</summary>
    public bool IsExcluded(string relativePath) => Ignore.IsExcluded(relativePath);

    public void Dispose()
    {
        if (_ownsRoot) TryDelete(Root);
    }

    private static void TryDelete(string path)
    {
        try { if (Directory.Exists(path)) Directory.Delete(path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>A stream reading one stream then another (puts sniffed bytes back in front).</summary>
    private sealed class ConcatStream(Stream first, Stream second) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            var n = first.Read(buffer);
            return n > 0 ? n : second.Read(buffer);
        }
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await first.ReadAsync(buffer, cancellationToken);
            return n > 0 ? n : await second.ReadAsync(buffer, cancellationToken);
        }
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
