using System.Formats.Tar;
using System.Net;
using System.Text.Json;
using Berth.Engine.Models;

namespace Berth.Cli;

/// <summary>
/// docker cp: CONTAINER:SRC → host path (or "-" for the raw tar on stdout), host path (or "-" for a tar on stdin)
/// → CONTAINER:DEST. Paths resolve as docker's: into an existing directory, or renamed to a destination that does
/// not exist yet; "DIR/." copies a directory's contents. Extraction never writes through a symlink.
/// </summary>
public sealed partial class BerthCli
{
    private const string PathStatHeader = "X-Docker-Container-Path-Stat";
    private const uint GoModeDir = 1u << 31;
    private const uint GoModeSymlink = 1u << 27;

    private async Task<int> CopyCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("cp", args, f => f.Bool("archive", 'a').Bool("follow-link", 'L').Bool("quiet", 'q'), minArgs: 2, maxArgs: 2);
        var (srcContainer, srcPath) = SplitCopyArgument(flags.Positionals[0]);
        var (dstContainer, dstPath) = SplitCopyArgument(flags.Positionals[1]);
        if (srcContainer is null && dstContainer is null) throw new CliExit(1, "must specify at least one container source");
        if (srcContainer is not null && dstContainer is not null) throw new CliExit(1, "copying between containers is not supported");
        if (srcContainer is not null)
        {
            if (srcPath.Length == 0) throw new CliExit(1, "source path can not be empty"); 
            await CopyFromContainerAsync(srcContainer, srcPath, dstPath, flags.GetBool("follow-link"));
        }
        else
        {
            if (dstPath.Length == 0) throw new CliExit(1, "destination path can not be empty");
            await CopyToContainerAsync(srcPath, dstContainer!, dstPath, flags.GetBool("follow-link"), flags.GetBool("archive"), flags.Positionals[1]);
        }
        return 0;
    }

    /// <summary>docker's splitCpArg: a path that starts with / or . is local even with a colon in it.</summary>
    public static (string? Container, string Path) SplitCopyArgument(string argument)
    {
        if (argument.StartsWith('/') || argument.StartsWith('.')) return (null, argument);
        var colon = argument.IndexOf(':');
        return colon <= 0 ? (null, argument) : (argument[..colon], argument[(colon + 1)..]);
    }

    private static bool AssertsDirectory(string path) => path.EndsWith('/') || path.EndsWith("/.", StringComparison.Ordinal) || path == ".";

    private static string BaseName(string path)
    {
        if (path.EndsWith("/.", StringComparison.Ordinal) || path == ".") return ".";
        var trimmed = path.TrimEnd('/');
        if (trimmed.Length == 0) return "/";
        return trimmed[(trimmed.LastIndexOf('/') + 1)..];
    }

    private static string DirName(string path)
    {
        var trimmed = path.TrimEnd('/');
        var slash = trimmed.LastIndexOf('/');
        return slash < 0 ? "." : slash == 0 ? "/" : trimmed[..slash];
    }

    /// <summary>HEAD of the archive route: the path's stat, or null if it does not exist.</summary>
    private async Task<ContainerPathStat?> StatContainerPathAsync(string container, string path)
    {
        try
        {
            using var response = await Client.SendAsync(HttpMethod.Head, $"/containers/{Esc(container)}/archive?path={Esc(path)}");
            return DecodePathStat(response);
        }
        catch (DaemonException e) when (e.Status == 404 && !e.Message.StartsWith("No such container", StringComparison.Ordinal))
        {
            // HEAD carries no body: a 404 is either the path or the container; ask which.
            await Client.GetTextAsync($"/containers/{Esc(container)}/json");
            return null;
        }
    }

    private static ContainerPathStat? DecodePathStat(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues(PathStatHeader, out var values)) return null;
        var json = Convert.FromBase64String(values.First());
        return JsonSerializer.Deserialize(json, Json.ContainerPathStat);
    }

    private async Task CopyFromContainerAsync(string container, string srcPath, string dstPath, bool followLink)
    {
        string? rebaseName = null;
        if (followLink && await StatContainerPathAsync(container, srcPath) is { } linkStat && (linkStat.Mode & GoModeSymlink) != 0)
        {
            var target = linkStat.LinkTarget.StartsWith('/') ? linkStat.LinkTarget : DirName(srcPath) + "/" + linkStat.LinkTarget;
            rebaseName = BaseName(srcPath);
            srcPath = target;
        }
        HttpResponseMessage response;
        try
        {
            response = await Client.SendAsync(HttpMethod.Get, $"/containers/{Esc(container)}/archive?path={Esc(srcPath)}", stream: true);
        }
        catch (DaemonException e) when (e.Status == 404 && !e.Message.StartsWith("No such container", StringComparison.Ordinal) && e.Message.Length == 0)
        {
            throw new DaemonException(404, $"Could not find the file {srcPath} in container {container}");
        }
        using (response)
        {
            var stat = DecodePathStat(response);
            await using var content = await response.Content.ReadAsStreamAsync();
            if (dstPath == "-")
            {
                await content.CopyToAsync(RawStdout);
                await RawStdout.FlushAsync();
                return;
            }
            var srcIsDir = stat is not null && (stat.Mode & GoModeDir) != 0;
            var srcBase = BaseName(srcPath);
            var destination = Path.GetFullPath(dstPath);
            string extractInto;
            string? renameTo = null;
            if (Directory.Exists(destination))
            {
                extractInto = destination;
                if (rebaseName is not null) renameTo = rebaseName;
            }
            else if (File.Exists(destination))
            {
                if (srcIsDir) throw new CliExit(1, "cannot copy directory");
                if (AssertsDirectory(dstPath)) throw new CliExit(1, "not a directory");
                extractInto = Path.GetDirectoryName(destination)!;
                renameTo = Path.GetFileName(destination);
            }
            else
            {
                if (AssertsDirectory(dstPath) && !srcIsDir) throw new CliExit(1, "no such directory");
                var parent = Path.GetDirectoryName(destination.TrimEnd('/'))!;
                if (!Directory.Exists(parent)) throw new CliExit(1, $"lstat {parent}: no such file or directory");
                extractInto = parent;
                renameTo = Path.GetFileName(destination.TrimEnd('/'));
            }
            await ExtractAsync(content, extractInto, renameTo is null ? null : (srcBase, renameTo));
        }
    }

    /// <summary>
    /// Unpacks a docker cp archive under root, renaming its top entry if asked; refuses names that leave root and
    /// never writes through a symlink (an archive could plant one to escape). Ownership is not applied, as docker's.
    /// </summary>
    public static async Task ExtractAsync(Stream archive, string root, (string From, string To)? rename)
    {
        var reader = new TarReader(archive);
        var directoryTimes = new List<(string Path, DateTimeOffset Time)>();
        var extracted = new Dictionary<string, string>(StringComparer.Ordinal);
        TarEntry? entry;
        while ((entry = await reader.GetNextEntryAsync()) is not null)
        {
            var name = entry.Name.TrimStart('/');
            if (rename is { } r)
            {
                var from = r.From == "." ? "." : r.From;
                if (name == from || name == from + "/") name = r.To;
                else if (name.StartsWith(from + "/", StringComparison.Ordinal)) name = r.To + name[from.Length..];
            }
            var parts = name.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToList();
            if (parts.Any(p => p == "..")) throw new CliExit(1, $"invalid archive entry: {entry.Name}");
            var target = parts.Count == 0 ? root : Path.Join(root, string.Join('/', parts));
            // Every directory between root and the entry must be a real directory, not a link.
            var walk = root;
            for (var i = 0; i < parts.Count - 1; i++)
            {
                walk = Path.Join(walk, parts[i]);
                var info = new DirectoryInfo(walk);
                if (info.LinkTarget is not null) throw new CliExit(1, $"invalid archive entry: {entry.Name} would follow a symlink");
                if (!info.Exists) Directory.CreateDirectory(walk);
            }
            var existing = new FileInfo(target);
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    if (existing.LinkTarget is not null || (existing.Exists && !existing.Attributes.HasFlag(FileAttributes.Directory))) existing.Delete();
                    Directory.CreateDirectory(target);
                    if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(target, entry.Mode);
                    directoryTimes.Add((target, entry.ModificationTime));
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                    if (existing.LinkTarget is not null) existing.Delete();
                    else if (Directory.Exists(target)) throw new CliExit(1, $"cannot overwrite directory \"{target}\" with non-directory");
                    await using (var file = new FileStream(target, FileMode.Create, FileAccess.Write))
                        if (entry.DataStream is { } data) await data.CopyToAsync(file);
                    if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(target, entry.Mode);
                    File.SetLastWriteTimeUtc(target, entry.ModificationTime.UtcDateTime);
                    break;
                case TarEntryType.SymbolicLink:
                    if (existing.Exists || existing.LinkTarget is not null) existing.Delete();
                    File.CreateSymbolicLink(target, entry.LinkName);
                    break;
                case TarEntryType.HardLink:
                    // A copy: the link's source was unpacked earlier under its own (possibly renamed) name.
                    if (extracted.TryGetValue(entry.LinkName.TrimStart('/'), out var source) && File.Exists(source))
                        File.Copy(source, target, overwrite: true);
                    break;
                default:
                    continue; // devices and fifos are not made on the host, as an unprivileged docker cp would fail to
            }
            extracted[entry.Name.TrimStart('/')] = target;
        }
        for (var i = directoryTimes.Count - 1; i >= 0; i--) Directory.SetLastWriteTimeUtc(directoryTimes[i].Path, directoryTimes[i].Time.UtcDateTime);
    }

    private async Task CopyToContainerAsync(string srcPath, string container, string dstPath, bool followLink, bool archive, string dstArgument)
    {
        var dstStat = await StatContainerPathAsync(container, dstPath);
        if (dstStat is not null && (dstStat.Mode & GoModeSymlink) != 0)
        {
            dstPath = dstStat.LinkTarget.StartsWith('/') ? dstStat.LinkTarget : DirName(dstPath) + "/" + dstStat.LinkTarget;
            dstStat = await StatContainerPathAsync(container, dstPath);
        }
        var query = $"noOverwriteDirNonDir=true&copyUIDGID={(archive ? "true" : "false")}";
        if (srcPath == "-")
        {
            if (dstStat is null || (dstStat.Mode & GoModeDir) == 0) throw new CliExit(1, $"destination \"{dstArgument}\" must be a directory");
            await PutArchiveAsync(container, dstPath, query, new StreamContent(Stdin));
            return;
        }
        var source = Path.GetFullPath(srcPath);
        var sourceInfo = new FileInfo(source);
        if (!sourceInfo.Exists && !Directory.Exists(source) && sourceInfo.LinkTarget is null)
            throw new CliExit(1, $"lstat {source}: no such file or directory");
        var rootName = AssertsDirectory(srcPath) && srcPath.EndsWith('.') ? "." : Path.GetFileName(source.TrimEnd('/'));
        if (followLink && sourceInfo.LinkTarget is not null)
            source = sourceInfo.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? source;
        var srcIsDir = Directory.Exists(source) && (followLink || new FileInfo(source).LinkTarget is null);

        string uploadTo;
        if (dstStat is not null && (dstStat.Mode & GoModeDir) != 0) uploadTo = dstPath;
        else if (dstStat is not null)
        {
            if (srcIsDir) throw new CliExit(1, "cannot copy directory");
            uploadTo = DirName(dstPath);
            rootName = BaseName(dstPath);
        }
        else
        {
            if (AssertsDirectory(dstPath)) throw new CliExit(1, "no such directory");
            uploadTo = DirName(dstPath);
            rootName = BaseName(dstPath);
        }
        await PutArchiveAsync(container, uploadTo, query, new TarContent(source, rootName));
    }

    private async Task PutArchiveAsync(string container, string path, string query, HttpContent body)
    {
        body.Headers.ContentType = new("application/x-tar");
        try
        {
            using var _ = await Client.SendAsync(HttpMethod.Put, $"/containers/{Esc(container)}/archive?path={Esc(path)}&{query}", body);
        }
        catch (DaemonException e) when (e.Status == (int)HttpStatusCode.NotFound && !e.Message.StartsWith("No such container", StringComparison.Ordinal))
        {
            throw new DaemonException(e.Status, e.Message.Length > 0 ? e.Message : $"Could not find the file {path} in container {container}");
        }
    }

    /// <summary>A tar of a host file or tree, written straight into the request body (no temporary copy).</summary>
    private sealed class TarContent(string source, string rootName) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await using var writer = new TarWriter(stream, TarEntryFormat.Pax, leaveOpen: true);
            await writer.WriteEntryAsync(source, rootName == "." ? "." : rootName);
            if (Directory.Exists(source) && new FileInfo(source).LinkTarget is null) await WriteTreeAsync(writer, source, rootName == "." ? "" : rootName + "/");
        }

        private static async Task WriteTreeAsync(TarWriter writer, string directory, string prefix)
        {
            foreach (var path in Directory.EnumerateFileSystemEntries(directory).Order(StringComparer.Ordinal))
            {
                var name = prefix + Path.GetFileName(path);
                await writer.WriteEntryAsync(path, name);
                var info = new FileInfo(path);
                if (info.LinkTarget is null && info.Attributes.HasFlag(FileAttributes.Directory)) await WriteTreeAsync(writer, path, name + "/");
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
