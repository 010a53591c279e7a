using System.Diagnostics;
using System.Formats.Tar;
using System.Text;
using System.Text.Json;
using Berth.Build.Context;

namespace Berth.Cli;

/// <summary>
/// `berth build`: sends the context directory as a tar (what .dockerignore excludes left out, the Dockerfile
/// and .dockerignore always in, as docker's CLI does) to POST /build and prints Docker's progress lines.
/// </summary>
public sealed partial class BerthCli
{
    private async Task<int> BuildCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("build", args, f => f.List("tag", 't').String("file", 'f').List("build-arg").String("target").Bool("no-cache")
            .List("label").String("iidfile").String("network").Bool("quiet", 'q').Bool("pull").String("platform").Bool("rm").Bool("force-rm"),
            minArgs: 1, maxArgs: 1);
        var contextPath = flags.Positionals[0];
        var query = new List<string> { "rm=1" };
        query.AddRange(flags.GetAll("tag").Select(t => "t=" + Esc(t)));
        if (flags.Get("target") is { } target) query.Add("target=" + Esc(target));
        if (flags.GetBool("no-cache")) query.Add("nocache=1");
        if (flags.GetBool("pull")) query.Add("pull=1");
        if (flags.GetBool("quiet")) query.Add("q=1");
        if (flags.Get("network") is { } network) query.Add("networkmode=" + Esc(network));
        if (flags.Get("platform") is { } platform) query.Add("platform=" + Esc(platform));
        var buildArgs = new List<(string, string?)>();
        foreach (var arg in flags.GetAll("build-arg"))
        {
            var eq = arg.IndexOf('=');
            // KEY alone takes its value from the environment, as docker does; unset means "no value".
            buildArgs.Add(eq < 0 ? (arg, environment(arg)) : (arg[..eq], arg[(eq + 1)..]));
        }
        if (buildArgs.Count > 0) query.Add("buildargs=" + Esc(JsonObject(buildArgs)));
        var labels = flags.GetAll("label").Select(l => l.IndexOf('=') is var eq and >= 0 ? (l[..eq], (string?)l[(eq + 1)..]) : (l, "")).ToList();
        if (labels.Count > 0) query.Add("labels=" + Esc(JsonObject(labels)));

        var tar = new MemoryStream();
        var dockerfileName = PackContext(contextPath, flags.Get("file"), tar);
        if (dockerfileName is not null) query.Add("dockerfile=" + Esc(dockerfileName));
        tar.Position = 0;

        var clock = Stopwatch.StartNew();
        using var response = await Client.SendAsync(HttpMethod.Post, "/build?" + string.Join("&", query),
            new StreamContent(tar) { Headers = { ContentType = new("application/x-tar") } }, stream: true);
        string? imageId = null;
        int steps = 0, cached = 0;
        await foreach (var message in DaemonClient.ReadMessagesAsync(response))
        {
            // As docker's CLI: the error's code is the exit status (a failing RUN's own code), 1 when it has none.
            if (message.Error is { } error) { stderr.WriteLine(error); return message.ErrorDetail?.Code is { } code and > 0 ? code : 1; }
            if (message.Aux?.ID is { } id) imageId = id;
            if (message.Stream is { } text)
            {
                if (text.StartsWith("Step ", StringComparison.Ordinal)) steps++;
                if (text == " ---> Using cache\n") cached++;
                stdout.Write(text);
            }
            else if (message.Status is { } status) stdout.WriteLine(message.Id is { } sid ? $"{sid}: {status}" : status);
        }
        if (flags.Get("iidfile") is { } iidfile && imageId is not null) await File.WriteAllTextAsync(iidfile, imageId);
        if (!flags.GetBool("quiet") && !Console.IsOutputRedirected)
            stdout.WriteLine($"Built in {clock.Elapsed.TotalSeconds:0.00}s: {steps} steps, {cached} from cache");
        return 0;
    }

    /// <summary>Writes the context tar; returns the dockerfile parameter (null for the default "Dockerfile").</summary>
    private static string? PackContext(string contextPath, string? file, Stream output)
    {
        if (!Directory.Exists(contextPath)) throw new CliExit(1, $"unable to prepare context: path \"{contextPath}\" not found");
        var root = Path.GetFullPath(contextPath);
        string? dockerfileParam = null;
        byte[]? extraDockerfile = null;
        if (file is not null)
        {
            if (file == "-") extraDockerfile = ReadAll(Console.OpenStandardInput());
            else
            {
                var full = Path.GetFullPath(file);
                if (!File.Exists(full)) throw new CliExit(1, $"unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {full}: no such file or directory");
                var relative = Path.GetRelativePath(root, full);
                if (relative.StartsWith("..", StringComparison.Ordinal)) extraDockerfile = File.ReadAllBytes(full);
                else dockerfileParam = relative.Replace('\\', '/');
            }
            if (extraDockerfile is not null) dockerfileParam = ".dockerfile." + Guid.NewGuid().ToString("N")[..20];
        }
        var ignore = DockerIgnore.Load(root);
        var keep = new HashSet<string>(StringComparer.Ordinal) { ".dockerignore", dockerfileParam ?? "Dockerfile" };
        using var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        var stack = new Stack<string>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var dir = stack.Pop();
            foreach (var entry in new DirectoryInfo(dir).EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal))
            {
                var relative = Path.GetRelativePath(root, entry.FullName).Replace('\\', '/');
                var isDir = entry is DirectoryInfo && entry.LinkTarget is null;
                if (ignore.IsExcluded(relative) && !keep.Contains(relative))
                {
                    if (isDir && !ignore.CanSkipDirectory(relative)) stack.Push(entry.FullName);
                    continue;
                }
                writer.WriteEntry(entry.FullName, relative + (isDir ? "/" : ""));
                if (isDir) stack.Push(entry.FullName);
            }
        }
        if (extraDockerfile is not null)
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, dockerfileParam!) { DataStream = new MemoryStream(extraDockerfile) });
        return dockerfileParam;
    }

    private static byte[] ReadAll(Stream input)
    {
        using var buffer = new MemoryStream();
        input.CopyTo(buffer);
        return buffer.ToArray();
    }

    private static string JsonObject(IEnumerable<(string Key, string? Value)> pairs)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var (key, value) in pairs)
            {
                if (value is null) json.WriteNull(key);
                else json.WriteString(key, value);
            }
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
