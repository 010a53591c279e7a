using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Engine.Models;

namespace Berth.Cli;

/// <summary>update, stats, system df, the prune commands.</summary>
public sealed partial class BerthCli
{
    private async Task<int> UpdateCommand(IReadOnlyList<string> args)
    {
        static string? Size(string v) => Try(() => Units.RamInBytes(v));
        static string? Try(Action parse) { try { parse(); return null; } catch (FormatException e) { return e.Message; } }
        Func<FlagSet, FlagSet> define = f => f.String("blkio-weight").Int("cpu-period").Int("cpu-quota").Int("cpu-rt-period").Int("cpu-rt-runtime")
            .Int("cpu-shares", 'c').String("cpus", null, v => decimal.TryParse(v, NumberStyles.Number, CultureInfo.InvariantCulture, out _) ? null : $"failed to parse {v} as a rational number")
            .String("cpuset-cpus").String("cpuset-mems").String("memory", 'm', Size).String("memory-reservation", null, Size)
            .String("memory-swap", null, v => v == "-1" ? null : Size(v)).Int("pids-limit").String("restart").String("kernel-memory", null, Size);
        var flags = Parse("update", args, define, minArgs: 1);
        var request = new ContainerUpdateRequest
        {
            CpuPeriod = flags.GetInt("cpu-period") ?? 0,
            CpuQuota = flags.GetInt("cpu-quota") ?? 0,
            CpuRealtimePeriod = flags.GetInt("cpu-rt-period") ?? 0,
            CpuRealtimeRuntime = flags.GetInt("cpu-rt-runtime") ?? 0,
            CpuShares = flags.GetInt("cpu-shares") ?? 0,
            CpusetCpus = flags.Get("cpuset-cpus"),
            CpusetMems = flags.Get("cpuset-mems"),
            Memory = flags.Get("memory") is { } m ? Units.RamInBytes(m) : 0,
            MemoryReservation = flags.Get("memory-reservation") is { } r ? Units.RamInBytes(r) : 0,
            MemorySwap = flags.Get("memory-swap") is { } s ? (s == "-1" ? -1 : Units.RamInBytes(s)) : 0,
            NanoCpus = flags.Get("cpus") is { } c ? (long)(decimal.Parse(c, CultureInfo.InvariantCulture) * 1_000_000_000m) : 0,
            PidsLimit = flags.GetInt("pids-limit"),
            BlkioWeight = flags.Get("blkio-weight") is { } w ? int.Parse(w, CultureInfo.InvariantCulture) : 0,
        };
        if (flags.Get("restart") is { } restart)
        {
            try { request.RestartPolicy = RunOptions.ParseRestart(restart); }
            catch (InvalidOptionException e) { throw new CliExit(1, e.Message); }
        }
        var failed = false;
        foreach (var id in flags.Positionals)
        {
            try
            {
                var response = await Client.PostAsync($"/containers/{Esc(id)}/update", DaemonClient.JsonBody(request, Json.ContainerUpdateRequest), Json.ContainerUpdateResponse);
                foreach (var warning in response.Warnings ?? []) stderr.WriteLine(warning);
                stdout.WriteLine(id);
            }
            catch (DaemonException e)
            {
                stderr.WriteLine($"Error response from daemon: {e.Message}");
                failed = true;
            }
        }
        return failed ? 1 : 0;
    }

    // ---- stats --------------------------------------------------------------------------------

    private static JsonObject StatsHeader => new()
    {
        ["Container"] = "CONTAINER", ["ID"] = "CONTAINER ID", ["Name"] = "NAME", ["CPUPerc"] = "CPU %", ["MemUsage"] = "MEM USAGE / LIMIT",
        ["MemPerc"] = "MEM %", ["NetIO"] = "NET I/O", ["BlockIO"] = "BLOCK I/O", ["PIDs"] = "PIDS",
    };

    private const string StatsTable = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

    private async Task<int> StatsCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("stats", args, f => f.Bool("all", 'a').Bool("no-stream").Bool("no-trunc").String("format"));
        var named = flags.Positionals.ToList();
        var ids = named.Count > 0 ? named
            : (await Client.GetAsync("/containers/json" + (flags.GetBool("all") ? "?all=1" : ""), Json.ListContainerSummary)).Select(c => c.Id).ToList();
        var format = flags.Get("format");
        if (flags.GetBool("no-stream"))
        {
            var rows = new List<JsonNode>();
            var failed = false;
            foreach (var id in ids)
            {
                try { rows.Add(StatsRow(id, await Client.GetAsync($"/containers/{Esc(id)}/stats?stream=0", Json.ContainerStats))); }
                catch (DaemonException e) when (named.Count > 0) { stderr.WriteLine($"Error response from daemon: {e.Message}"); failed = true; }
            }
            if (failed) return 1;
            WriteFormatted(format, StatsTable, StatsHeader, rows);
            return 0;
        }
        return await LiveStatsAsync(ids, named.Count == 0, flags.GetBool("all"), format);
    }

    /// <summary>
    /// The live table: one streaming stats request per container; the table is redrawn in place (cursor home,
    /// each line cleared, the rest of the screen cleared) each time a sample arrives. Without names, containers
    /// that start later join and those that die leave, as docker's does from the event stream.
    /// </summary>
    private async Task<int> LiveStatsAsync(List<string> ids, bool followEvents, bool all, string? format)
    {
        Client.BlockingConnections = false; // one stream per container, and the event stream, followed side by side
        var rows = new Dictionary<string, JsonNode>();
        var order = new List<string>();
        var gate = new object();
        var changed = new SemaphoreSlim(0);
        using var stop = new CancellationTokenSource();
        var streams = new Dictionary<string, CancellationTokenSource>();
        var errors = new List<string>();

        void Watch(string id)
        {
            lock (gate)
            {
                if (streams.ContainsKey(id)) return;
                streams[id] = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
                order.Add(id);
                rows[id] = StatsRow(id, new ContainerStats { Id = id });
            }
            _ = ReadStatsAsync(id, streams[id].Token);
        }

        void Forget(string id)
        {
            lock (gate)
            {
                if (!streams.Remove(id, out var cancel)) return;
                cancel.Cancel();
                order.Remove(id);
                rows.Remove(id);
            }
            changed.Release();
        }

        async Task ReadStatsAsync(string id, CancellationToken token)
        {
            try
            {
                using var response = await Client.SendAsync(HttpMethod.Get, $"/containers/{Esc(id)}/stats?stream=1", stream: true);
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(token));
                string? line;
                while ((line = await reader.ReadLineAsync(token)) is not null)
                {
                    if (line.Length == 0) continue;
                    var sample = JsonSerializer.Deserialize(line, Json.ContainerStats)!;
                    lock (gate) { if (rows.ContainsKey(id)) rows[id] = StatsRow(id, sample); }
                    changed.Release();
                }
            }
            catch (DaemonException e) when (!followEvents)
            {
                lock (gate) errors.Add($"Error response from daemon: {e.Message}");
                stop.Cancel();
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or DaemonException or HttpRequestException) { }
        }

        foreach (var id in ids) Watch(id);
        if (followEvents) _ = FollowContainerEventsAsync(Watch, id => { if (!all) Forget(id); }, stop.Token);
        using var interrupt = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        var terminal = this.terminal.IsTerminal(1);
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await changed.WaitAsync(stop.Token);
                while (changed.CurrentCount > 0) await changed.WaitAsync(stop.Token); // coalesce a burst into one redraw
                List<JsonNode> snapshot;
                lock (gate) snapshot = order.Select(id => rows[id]).ToList();
                var table = new StringWriter();
                var saved = stdout;
                WriteFormattedTo(table, format, StatsTable, StatsHeader, snapshot);
                var text = table.ToString();
                if (terminal) text = "\u001b[H" + text.Replace("\n", "\u001b[K\n") + "\u001b[J";
                else text += "\n";
                saved.Write(text);
                await saved.FlushAsync();
            }
        }
        catch (OperationCanceledException) { }
        lock (gate)
        {
            foreach (var error in errors) stderr.WriteLine(error);
            return errors.Count > 0 ? 1 : 0;
        }
    }

    private async Task FollowContainerEventsAsync(Action<string> started, Action<string> died, CancellationToken token)
    {
        try
        {
            var filters = FiltersJson(["type=container"]);
            using var response = await Client.SendAsync(HttpMethod.Get, "/events?filters=" + Uri.EscapeDataString(filters), stream: true);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(token));
            string? line;
            while ((line = await reader.ReadLineAsync(token)) is not null)
            {
                if (line.Length == 0) continue;
                var message = JsonSerializer.Deserialize(line, Json.EventMessage)!;
                if (message.Action == "start") started(message.Actor.ID);
                else if (message.Action is "die" or "destroy") died(message.Actor.ID);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or DaemonException or HttpRequestException or JsonException) { }
    }

    // ---- system df ----------------------------------------------------------------------------

    private async Task<int> SystemDfCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("system df", args, f => f.Bool("verbose", 'v').String("format"), maxArgs: 0);
        var df = await Client.GetAsync("/system/df", Json.SystemDiskUsage);
        // dockerd sends null for empty sections.
        df.Images ??= [];
        df.Containers ??= [];
        df.Volumes ??= [];
        df.BuildCache ??= [];
        if (flags.GetBool("verbose")) { WriteDiskUsageVerbose(df); return 0; }
        var imagesSize = df.Images.Sum(i => i.Size);
        var imagesReclaimable = df.Images.Where(i => i.Containers <= 0).Sum(i => i.Size);
        var containersSize = df.Containers.Sum(c => c.SizeRw ?? 0);
        var containersReclaimable = df.Containers.Where(c => c.State != "running").Sum(c => c.SizeRw ?? 0);
        var volumesSize = df.Volumes.Sum(v => Math.Max(0, v.UsageData?.Size ?? 0));
        var volumesReclaimable = df.Volumes.Where(v => v.UsageData?.RefCount == 0).Sum(v => Math.Max(0, v.UsageData?.Size ?? 0));
        var cacheSize = df.BuildCache.Sum(b => b.Size);
        var cacheReclaimable = df.BuildCache.Where(b => !b.InUse && !b.Shared).Sum(b => b.Size);
        static string Reclaimable(long part, long total) => total > 0 ? $"{Units.HumanSize(part)} ({part * 100 / total}%)" : Units.HumanSize(part);
        JsonNode Row(string type, int total, int active, long size, long reclaimable, bool percent = true) => new JsonObject
        {
            ["Type"] = type, ["TotalCount"] = total.ToString(CultureInfo.InvariantCulture), ["Active"] = active.ToString(CultureInfo.InvariantCulture),
            ["Size"] = Units.HumanSize(size), ["Reclaimable"] = percent ? Reclaimable(reclaimable, size) : Units.HumanSize(reclaimable),
        };
        var rows = new List<JsonNode>
        {
            Row("Images", df.Images.Count, df.Images.Count(i => i.Containers > 0), imagesSize, imagesReclaimable),
            Row("Containers", df.Containers.Count, df.Containers.Count(c => c.State == "running"), containersSize, containersReclaimable),
            Row("Local Volumes", df.Volumes.Count, df.Volumes.Count(v => v.UsageData?.RefCount > 0), volumesSize, volumesReclaimable),
            Row("Build Cache", df.BuildCache.Count, df.BuildCache.Count(b => b.InUse), cacheSize, cacheReclaimable, percent: false),
        };
        var header = new JsonObject { ["Type"] = "TYPE", ["TotalCount"] = "TOTAL", ["Active"] = "ACTIVE", ["Size"] = "SIZE", ["Reclaimable"] = "RECLAIMABLE" };
        WriteFormatted(flags.Get("format"), "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}", header, rows);
        return 0;
    }

    private void WriteDiskUsageVerbose(SystemDiskUsage df)
    {
        var text = new StringBuilder("Images space usage:\n\n");
        var images = new List<string> { "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS" };
        foreach (var image in df.Images.OrderByDescending(i => i.Created))
        {
            var tags = image.RepoTags.Count > 0 ? image.RepoTags : ["<none>:<none>"];
            foreach (var tag in tags)
            {
                var colon = tag.LastIndexOf(':');
                var shared = Math.Max(0, image.SharedSize);
                images.Add(string.Join('\t', tag[..colon], tag[(colon + 1)..], ShortId(image.Id), Ago(DateTimeOffset.FromUnixTimeSeconds(image.Created)),
                    Units.HumanSize(image.Size), Units.HumanSize(shared), Units.HumanSize(image.Size - shared, 4), image.Containers.ToString(CultureInfo.InvariantCulture)));
            }
        }
        text.Append(Units.Tabulate(images)).Append("\nContainers space usage:\n\n");
        var containers = new List<string> { "CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES" };
        foreach (var c in df.Containers)
        {
            var row = ContainerRow(c, truncate: true);
            containers.Add(string.Join('\t', row["ID"], row["Image"], row["Command"], row["LocalVolumes"], Units.HumanSize(c.SizeRw ?? 0), row["RunningFor"], row["Status"], row["Names"]));
        }
        text.Append(Units.Tabulate(containers)).Append("\nLocal Volumes space usage:\n\n");
        var volumes = new List<string> { "VOLUME NAME\tLINKS\tSIZE" };
        foreach (var v in df.Volumes)
            volumes.Add($"{v.Name}\t{v.UsageData?.RefCount ?? 0}\t{Units.HumanSize(Math.Max(0, v.UsageData?.Size ?? 0))}");
        text.Append(Units.Tabulate(volumes));
        text.Append(CultureInfo.InvariantCulture, $"\nBuild cache usage: {Units.HumanSize(df.BuildCache.Sum(b => b.Size))}\n\n");
        var cache = new List<string> { "CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED" };
        foreach (var b in df.BuildCache)
            cache.Add($"{b.ID}\t{b.Type}\t{Units.HumanSize(b.Size)}\t{b.CreatedAt}\t{b.LastUsedAt}\t{b.UsageCount}\t{(b.Shared ? "true" : "false")}");
        text.Append(Units.Tabulate(cache));
        stdout.Write(text.ToString());
    }

    // ---- prune --------------------------------------------------------------------------------

    /// <summary>docker's confirmation prompt: anything but y/Y declines.</summary>
    private bool Confirm(string warning)
    {
        stdout.Write(warning + "\nAre you sure you want to continue? [y/N] ");
        stdout.Flush();
        var line = new StringBuilder();
        var one = new byte[1];
        while (Stdin.Read(one, 0, 1) == 1 && one[0] != '\n') line.Append((char)one[0]);
        return line.ToString().Trim() is "y" or "Y";
    }

    private async Task<int> PruneCommand(IReadOnlyList<string> args, string what)
    {
        var command = what == "containers" ? "container prune" : "image prune";
        var flags = Parse(command, args, f => what == "containers" ? f.Bool("force", 'f').List("filter") : f.Bool("force", 'f').Bool("all", 'a').List("filter"), maxArgs: 0);
        var all = what == "images" && flags.GetBool("all");
        var warning = what == "containers" ? "WARNING! This will remove all stopped containers."
            : all ? "WARNING! This will remove all images without at least one container associated to them."
            : "WARNING! This will remove all dangling images.";
        if (!flags.GetBool("force") && !Confirm(warning)) return 0;
        var (output, reclaimed) = await PruneAsync(what, flags.GetAll("filter"), all);
        stdout.Write(output);
        stdout.WriteLine($"Total reclaimed space: {Units.HumanSize(reclaimed)}");
        return 0;
    }

    /// <summary>One prune call: what it removed (docker's listing) and the bytes it reclaimed.</summary>
    private async Task<(string Output, long Reclaimed)> PruneAsync(string what, IEnumerable<string> filterArgs, bool allImages = false)
    {
        var filters = filterArgs.ToList();
        if (what == "images") filters.Add("dangling=" + (allImages ? "false" : "true"));
        var query = Query(("filters", filters.Count > 0 ? FiltersJson(filters) : null));
        var text = new StringBuilder();
        JsonNode? report;
        try { report = JsonNode.Parse(await Client.GetTextAsync(HttpMethod.Post, $"/{what}/prune{query}")); }
        catch (DaemonException e) when (e.Status == 404 && what is "networks" or "volumes" or "build") { return ("", 0); } // a daemon without them
        var (key, title) = what switch
        {
            "containers" => ("ContainersDeleted", "Deleted Containers:"),
            "volumes" => ("VolumesDeleted", "Deleted Volumes:"),
            "networks" => ("NetworksDeleted", "Deleted Networks:"),
            "build" => ("CachesDeleted", "Deleted build cache objects:"),
            _ => ("ImagesDeleted", "Deleted Images:"),
        };
        if (report?[key] is JsonArray { Count: > 0 } deleted)
        {
            text.Append(title).Append('\n');
            foreach (var item in deleted)
            {
                if (item is JsonObject image)
                    text.Append(image["Untagged"] is { } u ? $"untagged: {u}" : $"deleted: {image["Deleted"]}").Append('\n');
                else text.Append(item?.GetValue<string>()).Append('\n');
            }
            text.Append('\n');
        }
        var reclaimed = report?["SpaceReclaimed"] is JsonValue v && v.TryGetValue<long>(out var n) ? n : 0;
        return (text.ToString(), reclaimed);
    }

    private async Task<int> SystemPruneCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("system prune", args, f => f.Bool("force", 'f').Bool("all", 'a').Bool("volumes").List("filter"), maxArgs: 0);
        var all = flags.GetBool("all");
        var volumes = flags.GetBool("volumes");
        var warning = new StringBuilder("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n");
        if (volumes) warning.Append("  - all anonymous volumes not used by at least one container\n");
        warning.Append(all ? "  - all images without at least one container associated to them\n  - all build cache\n" : "  - all dangling images\n  - unused build cache\n");
        if (!flags.GetBool("force") && !Confirm(warning.ToString())) return 0;
        long total = 0;
        var filters = flags.GetAll("filter");
        foreach (var what in volumes ? new[] { "containers", "networks", "volumes", "images", "build" } : ["containers", "networks", "images", "build"])
        {
            var (output, reclaimed) = await PruneAsync(what, what == "images" || what == "containers" ? filters : [], all);
            stdout.Write(output);
            total += reclaimed;
        }
        stdout.WriteLine($"Total reclaimed space: {Units.HumanSize(total)}");
        return 0;
    }
}
