using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Engine.Models;

namespace Berth.Cli;

public sealed partial class BerthCli
{
    // ---- version, info ------------------------------------------------------------------------

    private async Task<int> VersionCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("version", args, f => f.String("format", 'f'), maxArgs: 0);
        // docker names the template "version": its errors read "template parsing error: template: version:1: …".
        var template = flags.Get("format") is { Length: > 0 } format ? ParseStatusTemplate(format == "json" ? "{{json .}}" : format, "version") : null;
        var clientNode = new JsonObject
        {
            ["Platform"] = new JsonObject { ["Name"] = "Berth" },
            ["Version"] = Version, ["ApiVersion"] = "1.47", ["DefaultAPIVersion"] = "1.47", ["GoVersion"] = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
            ["GitCommit"] = "", ["BuildTime"] = "", ["Os"] = "linux", ["Arch"] = "amd64", ["Context"] = "default",
        };
        SystemVersion? server = null;
        Exception? failure = null;
        try
        {
            server = await Client.GetAsync("/version", Json.SystemVersion);
            clientNode["ApiVersion"] = await Client.VersionAsync();
        }
        catch (Exception e) when (e is ConnectException or DaemonException) { failure = e; }
        if (template is not null)
        {
            var node = new JsonObject { ["Client"] = clientNode, ["Server"] = server is null ? null : ToNode(server, Json.SystemVersion) };
            string text;
            try { text = template.Execute(node); }
            catch (FormatException e)
            {
                // docker version ends its output with a newline and prints Go's execution error as it is, exit 1.
                stdout.WriteLine();
                throw new CliExit(1, WithoutPrefix(e.Message));
            }
            stdout.WriteLine(text);
        }
        else
        {
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"""
                Client:
                 Version:           {Version}
                 API version:       {clientNode["ApiVersion"]}
                 Go version:        {clientNode["GoVersion"]}
                 Git commit:        
                 Built:             
                 OS/Arch:           linux/amd64
                 Context:           default

                """);
            if (server is not null)
            {
                text.Append('\n').Append(CultureInfo.InvariantCulture, $"Server: {server.Platform?.Name}\n");
                foreach (var component in server.Components ?? [])
                {
                    text.Append(CultureInfo.InvariantCulture, $" {component.Name}:\n  Version:          {component.Version}\n");
                    var d = component.Details ?? [];
                    string D(string key) => d.TryGetValue(key, out var v) ? v : "";
                    if (component.Name == "Engine")
                    {
                        text.Append(CultureInfo.InvariantCulture, $"  API version:      {D("ApiVersion")} (minimum version {D("MinAPIVersion")})\n");
                        text.Append(CultureInfo.InvariantCulture, $"  Go version:       {D("GoVersion")}\n  Git commit:       {D("GitCommit")}\n  Built:            {D("BuildTime")}\n");
                        text.Append(CultureInfo.InvariantCulture, $"  OS/Arch:          {D("Os")}/{D("Arch")}\n  Experimental:     {D("Experimental")}\n");
                    }
                    else if (d.Count > 0) text.Append(CultureInfo.InvariantCulture, $"  GitCommit:        {D("GitCommit")}\n");
                }
            }
            stdout.Write(text.ToString());
        }
        if (failure is not null) throw failure;
        return 0;
    }

    private async Task<int> InfoCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("info", args, f => f.String("format", 'f'), maxArgs: 0);
        var info = await Client.GetAsync("/info", Json.SystemInfo);
        if (flags.Get("format") is { } format)
        {
            stdout.WriteLine(ParseStatusTemplate(format == "json" ? "{{json .}}" : format).Execute(ToNode(info, Json.SystemInfo)));
            return 0;
        }
        stdout.Write($"""
            Client:
             Version:    {Version}
             Context:    default
             Debug Mode: false

            Server:
             Containers: {info.Containers}
              Running: {info.ContainersRunning}
              Paused: {info.ContainersPaused}
              Stopped: {info.ContainersStopped}
             Images: {info.Images}
             Server Version: {info.ServerVersion}
             Storage Driver: {info.Driver}
             Logging Driver: {info.LoggingDriver}
             Cgroup Driver: {info.CgroupDriver}
             Cgroup Version: {info.CgroupVersion}
             Runtimes: {string.Join(" ", info.Runtimes.Keys.Order(StringComparer.Ordinal))}
             Default Runtime: {info.DefaultRuntime}
             Kernel Version: {info.KernelVersion}
             Operating System: {info.OperatingSystem}
             OSType: {info.OSType}
             Architecture: {info.Architecture}
             CPUs: {info.NCPU}
             Total Memory: {Units.BytesSize(info.MemTotal)}
             Name: {info.Name}
             ID: {info.ID}
             Docker Root Dir: {info.DockerRootDir}
             Debug Mode: {(info.Debug ? "true" : "false")}
             Live Restore Enabled: {(info.LiveRestoreEnabled ? "true" : "false")}

            """);
        return 0;
    }

    // ---- ps, images ---------------------------------------------------------------------------

    private static string FiltersJson(IEnumerable<string> filters)
    {
        var map = new Dictionary<string, List<string>>();
        foreach (var filter in filters)
        {
            var eq = filter.IndexOf('=');
            if (eq <= 0) throw new FlagException($"invalid argument \"{filter}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)");
            (map.TryGetValue(filter[..eq], out var list) ? list : map[filter[..eq]] = []).Add(filter[(eq + 1)..]);
        }
        return JsonSerializer.Serialize(map, Json.DictionaryStringListString);
    }

    public static string FormatPorts(IEnumerable<Port> ports) => string.Join(", ", ports
        .OrderBy(p => p.PrivatePort).ThenBy(p => p.Type, StringComparer.Ordinal)
        .Select(p => p.PublicPort is > 0
            ? $"{(p.IP is { } ip && ip.Contains(':') ? "[" + ip + "]" : p.IP)}:{p.PublicPort}->{p.PrivatePort}/{p.Type}"
            : $"{p.PrivatePort}/{p.Type}"));

    /// <summary>docker's ps formatting context of one container.</summary>
    public JsonObject ContainerRow(ContainerSummary c, bool truncate)
    {
        var command = c.Command ?? "";
        if (truncate) command = Units.Ellipsis(command, 20);
        var image = c.Image ?? "";
        if (truncate && image.StartsWith("sha256:", StringComparison.Ordinal)) image = ShortId(image);
        var created = DateTimeOffset.FromUnixTimeSeconds(c.Created);
        return new JsonObject
        {
            ["ID"] = truncate ? ShortId(c.Id) : c.Id,
            ["Image"] = image,
            ["Command"] = GoQuote(command),
            ["CreatedAt"] = GoTime(created),
            ["RunningFor"] = Ago(created),
            ["Ports"] = FormatPorts(c.Ports ?? []),
            ["State"] = c.State,
            ["Status"] = c.Status,
            ["Size"] = c.SizeRw is { } rw ? $"{Units.HumanSize(rw)} (virtual {Units.HumanSize(c.SizeRootFs ?? 0)})" : "0B",
            ["Names"] = string.Join(",", (c.Names ?? []).Select(n => n.TrimStart('/')).Where(n => !n.Contains('/'))),
            ["Labels"] = string.Join(",", (c.Labels ?? []).Select(l => $"{l.Key}={l.Value}")),
            ["Mounts"] = string.Join(",", (c.Mounts ?? []).Select(m => m.Name is { Length: > 0 } n ? n : m.Source ?? "")),
            ["Networks"] = string.Join(",", c.NetworkSettings?.Networks?.Keys ?? (IEnumerable<string>)[]),
            ["LocalVolumes"] = (c.Mounts ?? []).Count(m => m.Driver == "local").ToString(CultureInfo.InvariantCulture),
        };
    }

    /// <summary>Go's strconv.Quote for printable text: backslash and double quote escaped, in double quotes.</summary>
    public static string GoQuote(string text)
    {
        var quoted = new StringBuilder("\"");
        foreach (var c in text)
        {
            quoted.Append(c switch { '"' => "\\\"", '\\' => "\\\\", '\n' => "\\n", '\t' => "\\t", '\r' => "\\r", _ => c.ToString() });
        }
        return quoted.Append('"').ToString();
    }

    private static JsonObject ContainerHeader => new()
    {
        ["ID"] = "CONTAINER ID", ["Image"] = "IMAGE", ["Command"] = "COMMAND", ["CreatedAt"] = "CREATED AT", ["RunningFor"] = "CREATED",
        ["Ports"] = "PORTS", ["State"] = "STATE", ["Status"] = "STATUS", ["Size"] = "SIZE", ["Names"] = "NAMES", ["Labels"] = "LABELS",
        ["Mounts"] = "MOUNTS", ["Networks"] = "NETWORKS", ["LocalVolumes"] = "LOCAL VOLUMES",
    };

    private async Task<int> PsCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("ps", args, f => f.Bool("all", 'a').Bool("quiet", 'q').Int("last", 'n').Bool("latest", 'l').Bool("size", 's')
            .List("filter", 'f').String("format").Bool("no-trunc"), maxArgs: 0);
        var format = flags.Get("format");
        if (!string.IsNullOrEmpty(format))
        {
            if (flags.GetBool("quiet")) stderr.WriteLine("WARNING: Ignoring custom format, because both --format and --quiet are set.");
            // docker ps validates the format as written (the "table" prefix included) before it asks the daemon.
            try { GoTemplate.Parse(format); }
            catch (FormatException e) { throw new CliExit(1, "failed to parse template: " + WithoutPrefix(e.Message)); }
        }
        var limit = flags.GetBool("latest") ? 1 : flags.GetInt("last") ?? -1;
        var query = Query(("all", flags.GetBool("all") || limit > 0 ? "1" : null), ("limit", limit > 0 ? limit.ToString(CultureInfo.InvariantCulture) : null),
            ("size", flags.GetBool("size") ? "1" : null), ("filters", flags.GetAll("filter").Count > 0 ? FiltersJson(flags.GetAll("filter")) : null));
        var list = await Client.GetAsync("/containers/json" + query, Json.ListContainerSummary);
        var truncate = !flags.GetBool("no-trunc");
        if (flags.GetBool("quiet")) { foreach (var c in list) stdout.WriteLine(truncate ? ShortId(c.Id) : c.Id); return 0; }
        var table = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
        if (flags.GetBool("size")) table += "\t{{.Size}}";
        WriteFormatted(format, table, ContainerHeader, list.Select(c => ContainerRow(c, truncate)));
        return 0;
    }

    private static JsonObject ImageHeader => new()
    {
        ["Repository"] = "REPOSITORY", ["Tag"] = "TAG", ["ID"] = "IMAGE ID", ["Digest"] = "DIGEST", ["CreatedSince"] = "CREATED",
        ["CreatedAt"] = "CREATED AT", ["Size"] = "SIZE", ["Containers"] = "CONTAINERS", ["SharedSize"] = "SHARED SIZE", ["UniqueSize"] = "UNIQUE SIZE", ["VirtualSize"] = "SIZE",
    };

    private async Task<int> ImagesCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("images", args, f => f.Bool("all", 'a').Bool("quiet", 'q').Bool("digests").Bool("no-trunc").List("filter", 'f').String("format"), maxArgs: 1);
        var filters = flags.GetAll("filter").ToList();
        if (flags.Positionals.Count == 1) filters.Add("reference=" + flags.Positionals[0]);
        var list = await Client.GetAsync("/images/json" + Query(("all", flags.GetBool("all") ? "1" : null), ("filters", filters.Count > 0 ? FiltersJson(filters) : null)), Json.ListImageSummary);
        var truncate = !flags.GetBool("no-trunc");
        var rows = new List<JsonNode>();
        foreach (var image in list.OrderByDescending(i => i.Created))
        {
            var id = truncate ? ShortId(image.Id) : image.Id;
            var created = DateTimeOffset.FromUnixTimeSeconds(image.Created);
            var tags = (image.RepoTags ?? []).Where(t => t != "<none>:<none>").ToList();
            if (tags.Count == 0) tags.Add("<none>:<none>");
            foreach (var tag in tags)
            {
                var colon = tag.LastIndexOf(':');
                var slash = tag.LastIndexOf('/');
                var (repo, t) = colon > slash ? (tag[..colon], tag[(colon + 1)..]) : (tag, "<none>");
                rows.Add(new JsonObject
                {
                    ["Repository"] = repo, ["Tag"] = t, ["ID"] = id, ["Digest"] = (image.RepoDigests ?? []).FirstOrDefault()?.Split('@').Last() ?? "<none>",
                    ["CreatedSince"] = Ago(created), ["CreatedAt"] = GoTime(created), ["Size"] = Units.HumanSize(image.Size),
                    ["VirtualSize"] = Units.HumanSize(image.Size), ["Containers"] = image.Containers < 0 ? "N/A" : image.Containers.ToString(CultureInfo.InvariantCulture),
                    ["SharedSize"] = image.SharedSize < 0 ? "N/A" : Units.HumanSize(image.SharedSize), ["UniqueSize"] = "N/A",
                });
            }
        }
        if (flags.GetBool("quiet")) { foreach (var id in rows.Select(r => r["ID"]!.GetValue<string>()).Distinct()) stdout.WriteLine(id); return 0; }
        var table = flags.GetBool("digests")
            ? "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
            : "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
        WriteFormatted(flags.Get("format"), table, ImageHeader, rows);
        return 0;
    }

    // ---- inspect ------------------------------------------------------------------------------

    private async Task<int> InspectCommand(IReadOnlyList<string> args, string? forcedType)
    {
        var flags = Parse("inspect", args, f => f.String("format", 'f').String("type").Bool("size", 's'), minArgs: 1);
        var type = forcedType ?? flags.Get("type");
        if (type is not (null or "container" or "image")) throw new FlagException($"\"{type}\" is not a valid value for --type");
        // docker inspect --format json prints the same indented array as no --format.
        var template = flags.Get("format") is { Length: > 0 } format and not "json" ? ParseStatusTemplate(format) : null;
        var results = new List<JsonNode>();
        var failed = false;
        foreach (var name in flags.Positionals)
        {
            JsonNode? found = null;
            if (type is null or "container")
            {
                try { found = JsonNode.Parse(await Client.GetTextAsync($"/containers/{Esc(name)}/json{(flags.GetBool("size") ? "?size=1" : "")}")); }
                catch (DaemonException e) when (e.Status == 404) { }
            }
            if (found is null && type is null or "image")
            {
                try { found = JsonNode.Parse(await Client.GetTextAsync($"/images/{Esc(name)}/json")); }
                catch (DaemonException e) when (e.Status == 404) { }
            }
            if (found is null)
            {
                stderr.WriteLine(type switch { "container" => $"Error: No such container: {name}", "image" => $"Error: No such image: {name}", _ => $"Error: No such object: {name}" });
                failed = true;
                continue;
            }
            results.Add(found);
        }
        if (template is not null)
        {
            foreach (var result in results) stdout.WriteLine(template.Execute(result));
        }
        else
        {
            var array = new JsonArray(results.Select(r => (JsonNode?)r.DeepClone()).ToArray());
            stdout.WriteLine(IndentJson(array));
        }
        return failed ? 1 : 0;
    }

    /// <summary>Go's json.MarshalIndent with four spaces, as docker inspect prints.</summary>
    public static string IndentJson(JsonNode node)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, IndentSize = 4, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            node.WriteTo(writer);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    // ---- images: rmi, tag, history ------------------------------------------------------------

    private async Task<int> RmiCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("rmi", args, f => f.Bool("force", 'f').Bool("no-prune"), minArgs: 1);
        var failed = false;
        foreach (var name in flags.Positionals)
        {
            try
            {
                using var response = await Client.SendAsync(HttpMethod.Delete, $"/images/{Esc(name)}{Query(("force", flags.GetBool("force") ? "1" : null), ("noprune", flags.GetBool("no-prune") ? "1" : null))}");
                var items = JsonSerializer.Deserialize(await response.Content.ReadAsStringAsync(), Json.ListImageDeleteResponseItem) ?? [];
                foreach (var item in items)
                {
                    if (item.Untagged is { } u) stdout.WriteLine($"Untagged: {u}");
                    if (item.Deleted is { } d) stdout.WriteLine($"Deleted: {d}");
                }
            }
            catch (DaemonException e)
            {
                stderr.WriteLine($"Error response from daemon: {e.Message}");
                failed = true;
            }
        }
        return failed ? 1 : 0;
    }

    private async Task<int> TagCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("tag", args, f => f, minArgs: 2, maxArgs: 2);
        var target = flags.Positionals[1];
        var colon = target.LastIndexOf(':');
        var (repo, tag) = colon > target.LastIndexOf('/') ? (target[..colon], target[(colon + 1)..]) : (target, "latest");
        await Client.PostAsync($"/images/{Esc(flags.Positionals[0])}/tag{Query(("repo", repo), ("tag", tag))}");
        return 0;
    }

    private async Task<int> HistoryCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("history", args, f => f.Bool("human", 'H').Bool("quiet", 'q').Bool("no-trunc").String("format"), minArgs: 1, maxArgs: 1);
        var history = await Client.GetAsync($"/images/{Esc(flags.Positionals[0])}/history", Json.ListHistoryResponseItem);
        var truncate = !flags.GetBool("no-trunc");
        if (flags.GetBool("quiet")) { foreach (var h in history) stdout.WriteLine(truncate && h.Id != "<missing>" ? ShortId(h.Id) : h.Id); return 0; }
        var rows = history.Select(h => (JsonNode)new JsonObject
        {
            ["ID"] = truncate && h.Id != "<missing>" ? ShortId(h.Id) : h.Id,
            ["CreatedSince"] = Ago(DateTimeOffset.FromUnixTimeSeconds(h.Created)),
            ["CreatedAt"] = GoTime(DateTimeOffset.FromUnixTimeSeconds(h.Created)),
            ["CreatedBy"] = truncate ? Units.Ellipsis(h.CreatedBy.Replace("\t", " "), 45) : h.CreatedBy,
            ["Size"] = Units.HumanSize(h.Size),
            ["Comment"] = h.Comment,
        });
        var header = new JsonObject { ["ID"] = "IMAGE", ["CreatedSince"] = "CREATED", ["CreatedAt"] = "CREATED AT", ["CreatedBy"] = "CREATED BY", ["Size"] = "SIZE", ["Comment"] = "COMMENT" };
        WriteFormatted(flags.Get("format"), "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}", header, rows);
        return 0;
    }

    // ---- logs, wait, rename, top, port, diff ---------------------------------------------------

    private async Task<int> LogsCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("logs", args, f => f.Bool("follow", 'f').String("tail", 'n').Bool("timestamps", 't').String("since").String("until").Bool("details"), minArgs: 1, maxArgs: 1);
        var id = flags.Positionals[0];
        var inspect = await Client.GetAsync($"/containers/{Esc(id)}/json", Json.ContainerInspect);
        var query = Query(("stdout", "1"), ("stderr", "1"), ("follow", flags.GetBool("follow") ? "1" : null), ("tail", flags.Get("tail")),
            ("timestamps", flags.GetBool("timestamps") ? "1" : null), ("since", TimeArgument(flags.Get("since"))), ("until", TimeArgument(flags.Get("until"))));
        using var response = await Client.SendAsync(HttpMethod.Get, $"/containers/{Esc(id)}/logs{query}", stream: true);
        await DaemonClient.DemuxAsync(await response.Content.ReadAsStreamAsync(), RawStdout, RawStderr, inspect.Config.Tty);
        return 0;
    }

    /// <summary>docker's --since/--until: a duration before now ("10m"), a unix time, or an RFC 3339 date.</summary>
    private string? TimeArgument(string? value)
    {
        if (string.IsNullOrEmpty(value)) return null;
        if (value.All(c => char.IsAsciiDigit(c) || c == '.')) return value;
        try
        {
            var nanos = RunOptions.GoDuration(value);
            return (now() - TimeSpan.FromTicks(nanos / 100)).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        }
        catch (FormatException) { }
        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date))
            return date.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        throw new FlagException($"invalid value for \"since\": failed to parse value as time or duration: \"{value}\"");
    }

    private async Task<int> WaitCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("wait", args, f => f, minArgs: 1);
        var failed = false;
        foreach (var id in flags.Positionals)
        {
            try { stdout.WriteLine((await Client.PostAsync($"/containers/{Esc(id)}/wait", null, Json.ContainerWaitResponse)).StatusCode); }
            catch (DaemonException e) { stderr.WriteLine($"Error response from daemon: {e.Message}"); failed = true; }
        }
        return failed ? 1 : 0;
    }

    private async Task<int> RenameCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("rename", args, f => f, minArgs: 2, maxArgs: 2);
        await Client.PostAsync($"/containers/{Esc(flags.Positionals[0])}/rename?name={Esc(flags.Positionals[1])}");
        return 0;
    }

    private async Task<int> TopCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("top", args, f => f, minArgs: 1);
        var psArgs = flags.Positionals.Count > 1 ? string.Join(" ", flags.Positionals.Skip(1)) : null;
        var top = await Client.GetAsync($"/containers/{Esc(flags.Positionals[0])}/top{Query(("ps_args", psArgs))}", Json.ContainerTopResponse);
        var lines = new List<string> { string.Join("\t", top.Titles) };
        lines.AddRange(top.Processes.Select(p => string.Join("\t", p)));
        stdout.Write(Units.Tabulate(lines));
        return 0;
    }

    private async Task<int> PortCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("port", args, f => f, minArgs: 1, maxArgs: 2);
        var inspect = await Client.GetAsync($"/containers/{Esc(flags.Positionals[0])}/json", Json.ContainerInspect);
        var ports = inspect.NetworkSettings.Ports ?? [];
        if (flags.Positionals.Count == 2)
        {
            var key = flags.Positionals[1].Contains('/') ? flags.Positionals[1] : flags.Positionals[1] + "/tcp";
            if (!ports.TryGetValue(key, out var bound) || bound is null || bound.Count == 0)
                throw new CliExit(1, $"Error: No public port '{flags.Positionals[1]}' published for {flags.Positionals[0]}");
            foreach (var b in bound) stdout.WriteLine($"{(b.HostIp is { Length: > 0 } ip ? ip : "0.0.0.0")}:{b.HostPort}");
            return 0;
        }
        foreach (var (key, bound) in ports.OrderBy(p => p.Key, StringComparer.Ordinal))
            foreach (var b in bound ?? [])
                stdout.WriteLine($"{key} -> {(b.HostIp is { Length: > 0 } ip ? ip : "0.0.0.0")}:{b.HostPort}");
        return 0;
    }

    private async Task<int> DiffCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("diff", args, f => f, minArgs: 1, maxArgs: 1);
        var changes = await Client.GetAsync($"/containers/{Esc(flags.Positionals[0])}/changes", Json.ListFilesystemChange);
        foreach (var change in changes) stdout.WriteLine($"{change.Kind switch { 0 => "C", 1 => "A", _ => "D" }} {change.Path}");
        return 0;
    }

    // ---- export, save, load, import, commit ---------------------------------------------------

    private async Task<Stream> OutputFile(string? path)
    {
        await Task.CompletedTask;
        return path is null ? RawStdout : File.Create(path);
    }

    private async Task<int> ExportCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("export", args, f => f.String("output", 'o'), minArgs: 1, maxArgs: 1);
        if (flags.Get("output") is null && !Console.IsOutputRedirected) throw new CliExit(1, "cowardly refusing to save to a terminal. Use the -o flag or redirect");
        using var response = await Client.SendAsync(HttpMethod.Get, $"/containers/{Esc(flags.Positionals[0])}/export", stream: true);
        var output = await OutputFile(flags.Get("output"));
        await (await response.Content.ReadAsStreamAsync()).CopyToAsync(output);
        await output.FlushAsync();
        if (flags.Get("output") is not null) await output.DisposeAsync();
        return 0;
    }

    private async Task<int> SaveCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("save", args, f => f.String("output", 'o'), minArgs: 1);
        if (flags.Get("output") is null && !Console.IsOutputRedirected) throw new CliExit(1, "cowardly refusing to save to a terminal. Use the -o flag or redirect");
        using var response = await Client.SendAsync(HttpMethod.Get, "/images/get?" + string.Join("&", flags.Positionals.Select(n => "names=" + Esc(n))), stream: true);
        var output = await OutputFile(flags.Get("output"));
        await (await response.Content.ReadAsStreamAsync()).CopyToAsync(output);
        await output.FlushAsync();
        if (flags.Get("output") is not null) await output.DisposeAsync();
        return 0;
    }

    private async Task<int> PrintProgressAsync(HttpResponseMessage response, bool quiet)
    {
        await foreach (var message in DaemonClient.ReadMessagesAsync(response))
        {
            if (message.Error is { } error) { stderr.WriteLine(error); return 1; }
            if (quiet) continue;
            if (message.Stream is { } s) stdout.Write(s);
            else if (message.Status is { } st) stdout.WriteLine(message.Id is { } id ? $"{id}: {st}" : st);
        }
        return 0;
    }

    private async Task<int> LoadCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("load", args, f => f.String("input", 'i').Bool("quiet", 'q'), maxArgs: 0);
        Stream input = flags.Get("input") is { } path ? File.OpenRead(path) : Console.OpenStandardInput();
        using var response = await Client.SendAsync(HttpMethod.Post, $"/images/load?quiet={(flags.GetBool("quiet") ? "1" : "0")}",
            new StreamContent(input) { Headers = { ContentType = new("application/x-tar") } }, stream: true);
        return await PrintProgressAsync(response, false);
    }

    private async Task<int> ImportCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("import", args, f => f.List("change", 'c').String("message", 'm').String("platform"), minArgs: 1, maxArgs: 2);
        var source = flags.Positionals[0];
        Stream input = source == "-" ? Console.OpenStandardInput() : File.OpenRead(source);
        string? repo = null, tag = null;
        if (flags.Positionals.Count == 2)
        {
            var reference = flags.Positionals[1];
            var colon = reference.LastIndexOf(':');
            (repo, tag) = colon > reference.LastIndexOf('/') ? (reference[..colon], reference[(colon + 1)..]) : (reference, null);
        }
        var query = new List<string> { "fromSrc=-" };
        if (repo is not null) query.Add("repo=" + Esc(repo));
        if (tag is not null) query.Add("tag=" + Esc(tag));
        if (flags.Get("message") is { } m) query.Add("message=" + Esc(m));
        query.AddRange(flags.GetAll("change").Select(c => "changes=" + Esc(c)));
        using var response = await Client.SendAsync(HttpMethod.Post, "/images/create?" + string.Join("&", query),
            new StreamContent(input) { Headers = { ContentType = new("application/x-tar") } }, stream: true);
        await foreach (var message in DaemonClient.ReadMessagesAsync(response))
        {
            if (message.Error is { } error) { stderr.WriteLine(error); return 1; }
            if (message.Status is { } status) stdout.WriteLine(status);
        }
        return 0;
    }

    private async Task<int> CommitCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("commit", args, f => f.String("author", 'a').List("change", 'c').String("message", 'm').Bool("pause", 'p'), minArgs: 1, maxArgs: 2);
        string? repo = null, tag = null;
        if (flags.Positionals.Count == 2)
        {
            var reference = flags.Positionals[1];
            var colon = reference.LastIndexOf(':');
            (repo, tag) = colon > reference.LastIndexOf('/') ? (reference[..colon], reference[(colon + 1)..]) : (reference, null);
        }
        var query = new List<string> { "container=" + Esc(flags.Positionals[0]), "pause=" + (flags.Has("pause") && !flags.GetBool("pause") ? "0" : "1") };
        if (repo is not null) query.Add("repo=" + Esc(repo));
        if (tag is not null) query.Add("tag=" + Esc(tag));
        if (flags.Get("message") is { } m) query.Add("comment=" + Esc(m));
        if (flags.Get("author") is { } a) query.Add("author=" + Esc(a));
        query.AddRange(flags.GetAll("change").Select(c => "changes=" + Esc(c)));
        var id = await Client.PostAsync("/commit?" + string.Join("&", query), null, Json.IdResponse);
        stdout.WriteLine(id.Id);
        return 0;
    }

    // ---- stats, events, system ----------------------------------------------------------------

    /// <summary>docker stats' row: CPU % from the delta of container and system CPU time, memory less page cache.</summary>
    public static JsonObject StatsRow(string id, ContainerStats s)
    {
        var cpuDelta = (double)s.CpuStats.CpuUsage.TotalUsage - s.PrecpuStats.CpuUsage.TotalUsage;
        var systemDelta = (double)(s.CpuStats.SystemCpuUsage ?? 0) - (s.PrecpuStats.SystemCpuUsage ?? 0);
        var cpus = s.CpuStats.OnlineCpus ?? (uint)(s.CpuStats.CpuUsage.PercpuUsage?.Count ?? 1);
        var cpuPercent = systemDelta > 0 && cpuDelta > 0 ? cpuDelta / systemDelta * cpus * 100 : 0;
        var cache = s.MemoryStats.Stats is { } m ? (m.TryGetValue("total_inactive_file", out var t) ? t : m.TryGetValue("inactive_file", out var i) ? i : 0) : 0;
        var used = (double)(s.MemoryStats.Usage ?? 0) - cache;
        var limit = (double)(s.MemoryStats.Limit ?? 0);
        double rx = 0, tx = 0;
        foreach (var n in s.Networks?.Values ?? (IEnumerable<NetworkStats>)[]) { rx += n.RxBytes; tx += n.TxBytes; }
        double read = 0, write = 0;
        foreach (var e in s.BlkioStats.IoServiceBytesRecursive ?? [])
        {
            if (e.Op.Equals("read", StringComparison.OrdinalIgnoreCase)) read += e.Value;
            if (e.Op.Equals("write", StringComparison.OrdinalIgnoreCase)) write += e.Value;
        }
        return new JsonObject
        {
            ["Container"] = ShortId(id), ["ID"] = ShortId(s.Id ?? id), ["Name"] = (s.Name ?? "").TrimStart('/'),
            ["CPUPerc"] = cpuPercent.ToString("0.00", CultureInfo.InvariantCulture) + "%",
            ["MemUsage"] = $"{Units.BytesSize(used)} / {Units.BytesSize(limit)}",
            ["MemPerc"] = (limit > 0 ? used / limit * 100 : 0).ToString("0.00", CultureInfo.InvariantCulture) + "%",
            ["NetIO"] = $"{Units.HumanSize(rx)} / {Units.HumanSize(tx)}",
            ["BlockIO"] = $"{Units.HumanSize(read)} / {Units.HumanSize(write)}",
            ["PIDs"] = (s.PidsStats.Current ?? 0).ToString(CultureInfo.InvariantCulture),
        };
    }

    private async Task<int> EventsCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("events", args, f => f.String("since").String("until").List("filter", 'f').String("format"), maxArgs: 0);
        GoTemplate? template = null;
        if (flags.Get("format") is { Length: > 0 } format)
        {
            // docker events: cli.StatusError{StatusCode: 64, Status: "Error parsing format: " + err}, before the stream opens.
            try { template = GoTemplate.Parse(format == "json" ? "{{json .}}" : format); }
            catch (FormatException e) { throw new CliExit(64, "Error parsing format: " + WithoutPrefix(e.Message)); }
        }
        var query = Query(("since", TimeArgument(flags.Get("since"))), ("until", TimeArgument(flags.Get("until"))),
            ("filters", flags.GetAll("filter").Count > 0 ? FiltersJson(flags.GetAll("filter")) : null));
        using var response = await Client.SendAsync(HttpMethod.Get, "/events" + query, stream: true);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        string? line;
        while ((line = await reader.ReadLineAsync()) is not null)
        {
            if (line.Length == 0) continue;
            var message = JsonSerializer.Deserialize(line, Json.EventMessage)!;
            if (template is not null) { stdout.WriteLine(template.Execute(JsonNode.Parse(line))); continue; }
            var time = DateTimeOffset.FromUnixTimeMilliseconds(message.TimeNano / 1_000_000).AddTicks(message.TimeNano % 1_000_000 / 100);
            var attributes = string.Join(", ", message.Actor.Attributes.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => $"{a.Key}={a.Value}"));
            stdout.WriteLine($"{time.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss.fffffff}00Z {message.Type} {message.Action} {message.Actor.ID}{(attributes.Length > 0 ? $" ({attributes})" : "")}");
            await stdout.FlushAsync();
        }
        return 0;
    }
}
