using System.Formats.Tar;

namespace Berth.Images;

/// <summary>
/// An image archive unpacked into a private temp directory. Only regular files and directories are written;
/// links are remembered and resolved on open, confined to the archive (a link that climbs out, a name with
/// "..", an absolute name are refused). Disposing removes the directory.
/// </summary>
internal sealed class ExtractedArchive : IDisposable
{
    private const int MaxLinkHops = 16;
    private readonly Dictionary<string, string> _symlinks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _hardlinks = new(StringComparer.Ordinal);
    private readonly HashSet<string> _files = new(StringComparer.Ordinal);

    public string Root { get; }

    private ExtractedArchive(string root) { Root = root; }

    public static ExtractedArchive Extract(Stream tar, string root)
    {
        var archive = new ExtractedArchive(root);
        try
        {
            archive.Unpack(tar);
            return archive;
        }
        catch
        {
            archive.Dispose();
            throw;
        }
    }

    private void Unpack(Stream tar)
    {
        try
        {
            using var reader = new TarReader(tar);
            var any = false;
            while (reader.GetNextEntry() is { } entry)
            {
                any = true;
                var name = Normalize(entry.Name, entry.Name);
                if (name.Length == 0) continue;
                var path = Path.Combine(Root, name);
                switch (entry.EntryType)
                {
                    case TarEntryType.Directory:
                        Directory.CreateDirectory(path);
                        break;
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                        if (_files.Contains(name) || _symlinks.ContainsKey(name) || _hardlinks.ContainsKey(name))
                            throw new InvalidArchiveException($"invalid archive: \"{entry.Name}\" appears twice");
                        long written = 0;
                        using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
                        {
                            entry.DataStream?.CopyTo(file);
                            written = file.Length;
                        }
                        if (written != entry.Length) throw new InvalidArchiveException($"invalid archive: unexpected end of data in \"{entry.Name}\" (truncated)");
                        _files.Add(name);
                        break;
                    case TarEntryType.SymbolicLink:
                        _symlinks[name] = entry.LinkName;
                        break;
                    case TarEntryType.HardLink:
                        _hardlinks[name] = Normalize(entry.LinkName, entry.Name);
                        break;
                    default:
                        throw new InvalidArchiveException($"invalid archive: unexpected {entry.EntryType} entry \"{entry.Name}\"");
                }
            }
            if (!any) throw new InvalidArchiveException("invalid archive: empty (not a tar archive?)");
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException or FormatException or ArgumentException)
        {
            throw new InvalidArchiveException($"invalid archive: {e.Message.TrimEnd('.')} (truncated or not a tar archive?)", e);
        }
    }

    /// <summary>An archive name as a relative path: "./" and "." dropped; "..", absolute names and NUL refused.</summary>
    private static string Normalize(string name, string entryName)
    {
        if (name.StartsWith('/') || name.Contains('\0'))
            throw new InvalidArchiveException($"invalid archive: entry \"{entryName}\" has an absolute name");
        var parts = new List<string>();
        foreach (var part in name.Split('/'))
        {
            if (part is "" or ".") continue;
            if (part == "..") throw new InvalidArchiveException($"invalid archive: entry \"{entryName}\" climbs out of the archive (\"..\")");
            parts.Add(part);
        }
        return string.Join('/', parts);
    }

    public bool Exists(string name)
    {
        try { return Resolve(name) is not null; }
        catch (InvalidArchiveException) { return false; }
    }

    /// <summary>The file a name stands for, links followed inside the archive; null if absent.</summary>
    private string? Resolve(string name)
    {
        var current = Normalize(name, name);
        for (var hop = 0; hop <= MaxLinkHops; hop++)
        {
            if (_files.Contains(current)) return current;
            if (_hardlinks.TryGetValue(current, out var hard)) { current = hard; continue; }
            if (!_symlinks.TryGetValue(current, out var target)) return null;
            if (target.StartsWith('/')) throw new InvalidArchiveException($"invalid archive: link \"{current}\" points outside the archive");
            var dir = current.Contains('/') ? current[..current.LastIndexOf('/')] : "";
            var parts = dir.Length == 0 ? new List<string>() : [.. dir.Split('/')];
            foreach (var part in target.Split('/'))
            {
                if (part is "" or ".") continue;
                if (part == "..")
                {
                    if (parts.Count == 0) throw new InvalidArchiveException($"invalid archive: link \"{current}\" points outside the archive");
                    parts.RemoveAt(parts.Count - 1);
                }
                else parts.Add(part);
            }
            current = string.Join('/', parts);
        }
        throw new InvalidArchiveException($"invalid archive: too many levels of links at \"{name}\"");
    }

    public Stream Open(string name)
    {
        var file = Resolve(name) ?? throw new InvalidArchiveException($"invalid archive: \"{name}\" is missing");
        return new FileStream(Path.Combine(Root, file), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
    }

    public long Length(string name)
    {
        var file = Resolve(name) ?? throw new InvalidArchiveException($"invalid archive: \"{name}\" is missing");
        return new FileInfo(Path.Combine(Root, file)).Length;
    }

    /// <summary>A small file (JSON) read whole; larger than <paramref name="limit"/> is refused.</summary>
    public byte[] ReadAll(string name, long limit = 32 << 20)
    {
        if (Length(name) > limit) throw new InvalidArchiveException($"invalid archive: \"{name}\" is larger than {limit} bytes");
        using var s = Open(name);
        using var buffer = new MemoryStream();
        s.CopyTo(buffer);
        return buffer.ToArray();
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (DirectoryNotFoundException) { }
    }
}
