using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Berth.Build.Context;
using Berth.Build.Dockerfile;
using Berth.Oci;

namespace Berth.Build.Execution;

/// <summary>Where COPY/ADD sources are read: the build context (with its .dockerignore) or an image's files.</summary>
public sealed record SourceTree(string Root, BuildContext? Context)
{
    public bool IsContext => Context is not null;
    public bool IsExcluded(string relative) => Context is not null && Context.IsExcluded(relative);
}

/// <summary>One resolved source of a COPY/ADD: its path in the tree and on the host.</summary>
public sealed record ResolvedSource(string RelativePath, string HostPath, bool IsDirectory);

/// <summary>
/// The file work of COPY and ADD with Docker's classic-builder semantics: sources resolved inside their
/// tree (wildcards as filepath.Match, symlinks followed only within the tree), a directory source's
/// contents copied into the destination, a file copied into a destination that ends with / or is an
/// existing directory, several sources only into a directory, new files owned by root unless --chown,
/// local tar archives unpacked by ADD; and the hash of the sources' data and metadata for the cache.
/// </summary>
public static class FileCopier
{
    public static List<ResolvedSource> Resolve(SourceTree tree, IReadOnlyList<string> patterns, string instruction)
    {
        var result = new List<ResolvedSource>();
        foreach (var pattern in patterns)
        {
            var clean = SlashPath.Clean("/" + pattern.Replace('\\', '/'));
            var relative = clean.TrimStart('/');
            if (SlashPath.Clean(pattern).StartsWith("..", StringComparison.Ordinal))
                throw new BuildException($"{instruction} failed: forbidden path outside the build context: {pattern} ()");
            if (relative.Length == 0) relative = ".";
            if (ScopedPath.HasWildcards(relative) && relative != ".")
            {
                var before = result.Count;
                foreach (var (path, isDir) in Walk(tree, ".", includeRoot: false))
                    if (ScopedPath.GoMatch(relative, path))
                        result.Add(new ResolvedSource(path, Path.Combine(tree.Root, path), isDir));
                // A match inside an already matched directory comes with that directory.
                if (result.Count == before) throw new BuildException($"{instruction} failed: no source files were specified");
                continue;
            }
            var host = ScopedPath.Resolve(tree.Root, relative);
            var exists = File.Exists(host) || Directory.Exists(host);
            if (!exists || (relative != "." && tree.IsExcluded(relative)))
                throw new BuildException(tree.IsContext
                    ? $"{instruction} failed: file not found in build context or excluded by .dockerignore: stat {pattern}: file does not exist"
                    : $"{instruction} failed: stat {clean}: file does not exist");
            result.Add(new ResolvedSource(relative, host, Directory.Exists(host)));
        }
        // Drop matches that lie inside another matched directory: they are copied with it.
        var directories = result.Where(r => r.IsDirectory && r.RelativePath != ".").Select(r => r.RelativePath + "/").ToList();
        return result.Where(r => !directories.Any(d => r.RelativePath.StartsWith(d, StringComparison.Ordinal)) || result.Count(x => x.RelativePath == r.RelativePath) > 1).ToList();
    }

    /// <summary>Entries under <paramref name="relativeDir"/> (paths relative to the tree root), skipping what .dockerignore hides; symlinks are not followed.</summary>
    public static IEnumerable<(string Path, bool IsDirectory)> Walk(SourceTree tree, string relativeDir, bool includeRoot)
    {
        var start = relativeDir == "." ? tree.Root : Path.Combine(tree.Root, relativeDir);
        if (includeRoot) yield return (relativeDir, true);
        var stack = new Stack<string>();
        stack.Push(start);
        while (stack.Count > 0)
        {
            var dir = stack.Pop();
            var entries = new DirectoryInfo(dir).GetFileSystemInfos();
            Array.Sort(entries, static (a, b) => string.CompareOrdinal(a.Name, b.Name));
            var subdirs = new List<string>();
            foreach (var entry in entries)
            {
                var relative = Path.GetRelativePath(tree.Root, entry.FullName).Replace('\\', '/');
                var isDir = entry is DirectoryInfo && entry.LinkTarget is null;
                if (tree.IsExcluded(relative))
                {
                    if (isDir && !tree.Context!.Ignore.CanSkipDirectory(relative)) subdirs.Add(entry.FullName);
                    continue;
                }
                yield return (relative, isDir);
                if (isDir) subdirs.Add(entry.FullName);
            }
            for (var i = subdirs.Count - 1; i >= 0; i--) stack.Push(subdirs[i]);
        }
    }

    /// <summary>
    /// The hash that stands for the sources in the step's text: "file:…" for one file, "dir:…" for one
    /// directory, "multi:…" for several; it covers paths, types, modes, owners, sizes, link targets and
    /// data (not times, as Docker's tarsum leaves them out), so touching a file keeps the cache and editing it does not.
    /// </summary>
    public static string HashSources(SourceTree tree, IReadOnlyList<ResolvedSource> sources, IReadOnlyList<SourceContent> inline)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var source in sources)
        {
            if (source.IsDirectory)
            {
                foreach (var (path, isDir) in Walk(tree, source.RelativePath, includeRoot: true))
                    HashEntry(hash, path, Path.Combine(tree.Root, path), isDir);
            }
            else HashEntry(hash, source.RelativePath, source.HostPath, false);
        }
        foreach (var content in inline)
        {
            hash.AppendData(Encoding.UTF8.GetBytes($"inline\0{content.Path}\0"));
            hash.AppendData(Encoding.UTF8.GetBytes(content.Data));
        }
        var hex = Convert.ToHexStringLower(hash.GetHashAndReset());
        var count = sources.Count + inline.Count;
        var prefix = count > 1 ? "multi" : sources.Count == 1 && sources[0].IsDirectory ? "dir" : "file";
        return prefix + ":" + hex;
    }

    private static void HashEntry(IncrementalHash hash, string relative, string host, bool isDir)
    {
        var info = new FileInfo(host);
        var link = info.LinkTarget;
        // A link is hashed as itself: following it could leave the context (or find nothing there).
        var mode = link is not null ? 0x1FF : (int)File.GetUnixFileMode(host);
        var kind = link is not null ? 'l' : isDir ? 'd' : 'f';
        var size = kind == 'f' ? info.Length : 0;
        hash.AppendData(Encoding.UTF8.GetBytes($"{relative}\0{kind}\0{mode}\0{size}\0{link}\0"));
        if (kind != 'f') return;
        using var stream = new FileStream(host, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, FileOptions.SequentialScan);
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(stream, digest);
        hash.AppendData(digest);
    }

    /// <summary>The absolute destination, keeping whether it named a directory (a trailing /).</summary>
    public static (string Path, bool IsDirectory) Destination(string workingDir, string requested)
    {
        var endsInSlash = requested.EndsWith('/') || requested is "." or ".." || requested.EndsWith("/.", StringComparison.Ordinal);
        var joined = requested.StartsWith('/') ? requested : (workingDir.Length == 0 ? "/" : workingDir) + "/" + requested;
        return (SlashPath.Clean(joined), endsInSlash);
    }

    /// <summary>Layer entries for a COPY/ADD into <paramref name="rootfs"/> (the parent image's files, to find existing directories).</summary>
    public static List<LayerEntry> Plan(
        SourceTree tree, IReadOnlyList<ResolvedSource> sources, IReadOnlyList<SourceContent> inline,
        string destination, bool destinationIsDirectory, string rootfs, (int Uid, int Gid) owner, int? chmod,
        bool unpackArchives, string scratchDirectory, string instruction)
    {
        var count = sources.Count + inline.Count;
        var destExistsAsDir = Directory.Exists(ScopedPath.Resolve(rootfs, destination.TrimStart('/')));
        if (count > 1 && !destinationIsDirectory && !destExistsAsDir)
            throw new BuildException($"When using {instruction} with more than one source file, the destination must be a directory and end with a /");

        var entries = new Dictionary<string, LayerEntry>(StringComparer.Ordinal);
        var now = DateTimeOffset.UtcNow;
        var copiedFiles = new List<string>();
        void Add(LayerEntry e) => entries[e.Path] = e;

        foreach (var source in sources)
        {
            if (source.IsDirectory)
            {
                // As Docker: the source directory itself is not copied; a destination that exists keeps its mode and
                // owner, a new one is 0755 and gets the --chown owner (its new parents stay root's).
                if (!destExistsAsDir) Add(new LayerEntry(destination, LayerEntryKind.Directory, chmod ?? 0x1ED, owner.Uid, owner.Gid, now));
                foreach (var (path, isDir) in Walk(tree, source.RelativePath, includeRoot: false))
                {
                    var below = source.RelativePath == "." ? path : path[(source.RelativePath.Length + 1)..];
                    Add(EntryFor(Path.Combine(tree.Root, path), JoinPath(destination, below), isDir, owner, chmod));
                }
                continue;
            }
            var fileDestination = destinationIsDirectory || destExistsAsDir ? JoinPath(destination, Path.GetFileName(source.RelativePath)) : destination;
            if (unpackArchives && TryUnpack(source.HostPath, scratchDirectory) is { } unpacked)
            {
                var unpackedTree = new SourceTree(unpacked, null);
                Add(new LayerEntry(destination, LayerEntryKind.Directory, 0x1ED, owner.Uid, owner.Gid, now));
                foreach (var (path, isDir) in Walk(unpackedTree, ".", includeRoot: false))
                    Add(EntryFor(Path.Combine(unpacked, path), JoinPath(destination, path), isDir, owner, chmod: null, keepOwner: true));
                continue;
            }
            Add(EntryFor(source.HostPath, fileDestination, false, owner, chmod));
            copiedFiles.Add(fileDestination);
        }
        foreach (var content in inline)
        {
            var path = destinationIsDirectory || destExistsAsDir || count > 1 ? JoinPath(destination, content.Path) : destination;
            Add(new LayerEntry(path, LayerEntryKind.File, chmod ?? 0x1A4, owner.Uid, owner.Gid, now) { Data = Encoding.UTF8.GetBytes(content.Data) });
            copiedFiles.Add(path);
        }

        // Parent directories: as they are in the image when they exist there, else new 0755 ones — owned, as
        // Docker's classic builder makes them, by the --chown owner above a copied file and by root otherwise.
        foreach (var (path, newOwner) in copiedFiles.Select(f => (f, owner)).Concat(entries.Keys.ToList().Select(k => (k, (0, 0)))))
        {
            for (var parent = ParentPath(path); parent != "/"; parent = ParentPath(parent))
            {
                if (entries.ContainsKey(parent)) continue;
                var existing = ScopedPath.Resolve(rootfs, parent.TrimStart('/'), followFinal: false);
                if (Directory.Exists(existing))
                {
                    var info = new DirectoryInfo(existing);
                    var (uid, gid) = Ownership(existing);
                    entries[parent] = new LayerEntry(parent, LayerEntryKind.Directory, (int)info.UnixFileMode, uid, gid, info.LastWriteTimeUtc);
                }
                else entries[parent] = new LayerEntry(parent, LayerEntryKind.Directory, 0x1ED, newOwner.Item1, newOwner.Item2, now);
            }
        }
        return entries.Values.OrderBy(e => e.Path, StringComparer.Ordinal).ToList();
    }

    private static LayerEntry EntryFor(string host, string destination, bool isDir, (int Uid, int Gid) owner, int? chmod, bool keepOwner = false)
    {
        var info = new FileInfo(host);
        var (uid, gid) = keepOwner ? Ownership(host) : owner;
        if (info.LinkTarget is { } target)
            return new LayerEntry(destination, LayerEntryKind.Symlink, 0x1FF, uid, gid, info.LastWriteTimeUtc) { LinkTarget = target };
        var mode = chmod ?? (int)File.GetUnixFileMode(host);
        return isDir
            ? new LayerEntry(destination, LayerEntryKind.Directory, mode, uid, gid, new DirectoryInfo(host).LastWriteTimeUtc)
            : new LayerEntry(destination, LayerEntryKind.File, mode, uid, gid, info.LastWriteTimeUtc) { SourceFile = host };
    }

    private static (int, int) Ownership(string host)
    {
        // Owner of a file inside an image view: Unix stat through the mode API is not available, so read /proc-free via lstat.
        return FileOwner.Get(host);
    }

    public static string JoinPath(string dir, string name) => dir == "/" ? "/" + name : dir + "/" + name;

    public static string ParentPath(string path)
    {
        var slash = path.LastIndexOf('/');
        return slash <= 0 ? "/" : path[..slash];
    }

    /// <summary>Unpacks a local tar (plain or gzip) into a new directory under <paramref name="scratch"/>, or returns null when the file is no archive.</summary>
    private static string? TryUnpack(string file, string scratch)
    {
        Span<byte> head = stackalloc byte[512];
        int read;
        using (var probe = File.OpenRead(file)) read = probe.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        var gzip = read >= 2 && head[0] == 0x1f && head[1] == 0x8b;
        var tar = read >= 262 && head[257] == (byte)'u' && head[258] == (byte)'s' && head[259] == (byte)'t' && head[260] == (byte)'a' && head[261] == (byte)'r';
        if (!gzip && !tar) return null;
        var target = Path.Combine(scratch, "unpack-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(target);
        using Stream input = gzip ? new GZipStream(File.OpenRead(file), CompressionMode.Decompress) : File.OpenRead(file);
        try
        {
            if (gzip)
            {
                // A gzip file that holds no tar is copied as it is.
                using var buffered = new BufferedStream(input);
                var reader = new TarReader(buffered);
                ExtractInto(reader, target);
            }
            else ExtractInto(new TarReader(input), target);
            return target;
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            Directory.Delete(target, recursive: true);
            return null;
        }
    }

    private static void ExtractInto(TarReader reader, string root)
    {
        while (reader.GetNextEntry() is { } entry)
        {
            var relative = SlashPath.Clean("/" + entry.Name).TrimStart('/');
            if (relative.Length == 0) continue;
            var parent = ScopedPath.Resolve(root, Path.GetDirectoryName(relative)?.Replace('\\', '/') ?? "");
            Directory.CreateDirectory(parent);
            var path = Path.Combine(parent, Path.GetFileName(relative));
            var mode = (UnixFileMode)((int)entry.Mode & 0xFFF);
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    Directory.CreateDirectory(path);
                    File.SetUnixFileMode(path, mode);
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile:
                    using (var output = new FileStream(path, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = mode }))
                        entry.DataStream?.CopyTo(output);
                    File.SetUnixFileMode(path, mode);
                    File.SetLastWriteTimeUtc(path, entry.ModificationTime.UtcDateTime);
                    break;
                case TarEntryType.SymbolicLink:
                    if (File.Exists(path) || new FileInfo(path).LinkTarget is not null) File.Delete(path);
                    File.CreateSymbolicLink(path, entry.LinkName);
                    break;
                case TarEntryType.HardLink:
                    var source = ScopedPath.Resolve(root, SlashPath.Clean("/" + entry.LinkName).TrimStart('/'));
                    if (File.Exists(source)) File.Copy(source, path, overwrite: true);
                    break;
            }
            if (entry.EntryType is not TarEntryType.SymbolicLink && (File.Exists(path) || Directory.Exists(path)))
                FileOwner.Set(path, entry.Uid, entry.Gid);
        }
    }
}
