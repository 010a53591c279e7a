using System.Text;
using System.Text.Json.Nodes;

namespace Berth.Cli;

/// <summary>`berth network …` and `berth volume …` as docker's: create, ls, inspect, rm, prune, connect, disconnect.</summary>
public sealed partial class BerthCli
{
    private static HashSet<string> NetworkVerbs => ["create", "ls", "list", "inspect", "rm", "remove", "prune", "connect", "disconnect"];
    private static HashSet<string> VolumeVerbs => ["create", "ls", "list", "inspect", "rm", "remove", "prune"];

    /// <summary>"network ls" → "network-ls"…; null for a verb the group lacks.</summary>
    public static string? NetworkOrVolumeCommand(string group, string sub) => (group, sub) switch
    {
        ("network", _) when NetworkVerbs.Contains(sub) => "network-" + sub switch { "list" => "ls", "remove" => "rm", _ => sub },
        ("volume", _) when VolumeVerbs.Contains(sub) => "volume-" + sub switch { "list" => "ls", "remove" => "rm", _ => sub },
        _ => null,
    };

    private static HttpContent JsonNodeBody(JsonNode node)
        => new ByteArrayContent(Encoding.UTF8.GetBytes(node.ToJsonString())) { Headers = { ContentType = new("application/json") } };

    private static JsonObject? KeyValues(IEnumerable<string> pairs)
    {
        JsonObject? result = null;
        foreach (var pair in pairs)
        {
            var eq = pair.IndexOf('=');
            (result ??= [])[eq < 0 ? pair : pair[..eq]] = eq < 0 ? "" : pair[(eq + 1)..];
        }
        return result;
    }

    private Task<int> NetworkOrVolumeCommand(string command, List<string> args) => command switch
    {
        "network-create" => NetworkCreateCommand(args),
        "network-ls" => ListCommand(args, "network", "/networks", "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
            new JsonObject { ["ID"] = "NETWORK ID", ["Name"] = "NAME", ["Driver"] = "DRIVER", ["Scope"] = "SCOPE" },
            n => new JsonObject { ["ID"] = ShortId(n["Id"]!.GetValue<string>()), ["Name"] = n["Name"]?.DeepClone(), ["Driver"] = n["Driver"]?.DeepClone(), ["Scope"] = n["Scope"]?.DeepClone() ?? "local" }),
        "volume-ls" => ListCommand(args, "volume", "/volumes", "table {{.Driver}}\t{{.Name}}",
            new JsonObject { ["Driver"] = "DRIVER", ["Name"] = "VOLUME NAME" },
            v => new JsonObject { ["Driver"] = v["Driver"]?.DeepClone(), ["Name"] = v["Name"]?.DeepClone(), ["Mountpoint"] = v["Mountpoint"]?.DeepClone(), ["Scope"] = v["Scope"]?.DeepClone() }),
        "network-inspect" => ObjectInspectCommand(args, "network", name => $"/networks/{Esc(name)}"),
        "volume-inspect" => ObjectInspectCommand(args, "volume", name => $"/volumes/{Esc(name)}"),
        "network-rm" => RemoveEachCommand(args, "network", false, (name, _) => $"/networks/{Esc(name)}"),
        "volume-rm" => RemoveEachCommand(args, "volume", true, (name, force) => $"/volumes/{Esc(name)}{(force ? "?force=1" : "")}"),
        "network-prune" => ObjectPruneCommand(args, "networks", "WARNING! This will remove all custom networks not used by at least one container.", "Deleted Networks:", "NetworksDeleted"),
        "volume-prune" => ObjectPruneCommand(args, "volumes", "WARNING! This will remove anonymous local volumes not used by at least one container.", "Deleted Volumes:", "VolumesDeleted"),
        "network-connect" => NetworkConnectCommand(args),
        "network-disconnect" => NetworkDisconnectCommand(args),
        "volume-create" => VolumeCreateCommand(args),
        _ => throw new UnknownCommandException($"berth: unknown command: berth {command.Replace('-', ' ')}"),
    };

    private async Task<int> NetworkCreateCommand(List<string> args)
    {
        var flags = Parse("network create", args, f => f.String("driver", 'd').List("subnet").List("gateway").List("ip-range").Bool("internal")
            .Bool("attachable").Bool("ipv6").List("opt", 'o').List("label").String("ipam-driver").String("scope"), minArgs: 1, maxArgs: 1);
        var subnets = flags.GetAll("subnet");
        var gateways = flags.GetAll("gateway");
        var ranges = flags.GetAll("ip-range");
        if (gateways.Count > subnets.Count || ranges.Count > subnets.Count) throw new InvalidOptionException("every ip-range or gateway must have a corresponding subnet");
        var config = new JsonArray();
        for (var i = 0; i < subnets.Count; i++)
        {
            var entry = new JsonObject { ["Subnet"] = subnets[i] };
            if (i < gateways.Count) entry["Gateway"] = gateways[i];
            if (i < ranges.Count) entry["IPRange"] = ranges[i];
            config.Add((JsonNode?)entry);
        }
        var body = new JsonObject
        {
            ["Name"] = flags.Positionals[0],
            ["Driver"] = flags.Get("driver") ?? "bridge",
            ["Internal"] = flags.GetBool("internal"),
            ["Attachable"] = flags.GetBool("attachable"),
            ["EnableIPv6"] = flags.GetBool("ipv6"),
            ["IPAM"] = new JsonObject { ["Driver"] = flags.Get("ipam-driver") ?? "default", ["Config"] = config },
            ["Options"] = KeyValues(flags.GetAll("opt")) ?? [],
            ["Labels"] = KeyValues(flags.GetAll("label")) ?? [],
        };
        if (flags.Get("scope") is { } scope) body["Scope"] = scope;
        var created = JsonNode.Parse(await ReadTextAsync(await Client.SendAsync(HttpMethod.Post, "/networks/create", JsonNodeBody(body))));
        stdout.WriteLine(created?["Id"]?.GetValue<string>());
        return 0;
    }

    private async Task<int> VolumeCreateCommand(List<string> args)
    {
        var flags = Parse("volume create", args, f => f.String("driver", 'd').List("opt", 'o').List("label").String("name"), maxArgs: 1);
        var body = new JsonObject
        {
            ["Name"] = flags.Positionals.Count > 0 ? flags.Positionals[0] : flags.Get("name") ?? "",
            ["Driver"] = flags.Get("driver") ?? "local",
            ["DriverOpts"] = KeyValues(flags.GetAll("opt")) ?? [],
            ["Labels"] = KeyValues(flags.GetAll("label")) ?? [],
        };
        var created = JsonNode.Parse(await ReadTextAsync(await Client.SendAsync(HttpMethod.Post, "/volumes/create", JsonNodeBody(body))));
        stdout.WriteLine(created?["Name"]?.GetValue<string>());
        return 0;
    }

    private async Task<int> ListCommand(List<string> args, string what, string path, string defaultTable, JsonObject header, Func<JsonNode, JsonNode> row)
    {
        var flags = Parse(what + " ls", args, f => f.String("format").Bool("quiet", 'q').List("filter", 'f').Bool("no-trunc"), maxArgs: 0);
        var filters = flags.GetAll("filter");
        var node = JsonNode.Parse(await Client.GetTextAsync(path + Query(("filters", filters.Count > 0 ? FiltersJson(filters) : null))));
        var items = (what == "volume" ? node?["Volumes"] as JsonArray : node as JsonArray) ?? [];
        var rows = items.Where(i => i is not null).Select(i => row(i!)).ToList();
        if (flags.GetBool("no-trunc") && what == "network")
            for (var i = 0; i < rows.Count; i++) rows[i]["ID"] = items[i]!["Id"]?.DeepClone();
        if (flags.GetBool("quiet"))
        {
            foreach (var r in rows) stdout.WriteLine(r[what == "volume" ? "Name" : "ID"]?.GetValue<string>());
            return 0;
        }
        WriteFormatted(flags.Get("format"), defaultTable, header, rows);
        return 0;
    }

    private async Task<int> ObjectInspectCommand(List<string> args, string what, Func<string, string> path)
    {
        var flags = Parse(what + " inspect", args, f => f.String("format", 'f'), minArgs: 1);
        var template = flags.Get("format") is { Length: > 0 } format and not "json" ? ParseStatusTemplate(format) : null;
        var results = new List<JsonNode>();
        var failed = false;
        foreach (var name in flags.Positionals)
        {
            try { results.Add(JsonNode.Parse(await Client.GetTextAsync(path(name)))!); }
            catch (DaemonException e) when (e.Status == 404)
            {
                stderr.WriteLine($"Error response from daemon: {e.Message}");
                failed = true;
            }
        }
        if (template is not null)
        {
            foreach (var result in results) stdout.WriteLine(template.Execute(result));
        }
        else stdout.WriteLine(IndentJson(new JsonArray(results.Select(r => (JsonNode?)r.DeepClone()).ToArray())));
        return failed ? 1 : 0;
    }

    private async Task<int> RemoveEachCommand(List<string> args, string what, bool hasForce, Func<string, bool, string> path)
    {
        var flags = Parse(what + " rm", args, f => hasForce ? f.Bool("force", 'f') : f.Bool("force", 'f'), minArgs: 1);
        var failed = false;
        foreach (var name in flags.Positionals)
        {
            try
            {
                using var _ = await Client.SendAsync(HttpMethod.Delete, path(name, flags.GetBool("force")));
                stdout.WriteLine(name);
            }
            catch (DaemonException e)
            {
                if (e.Status == 404 && flags.GetBool("force")) continue;
                stderr.WriteLine($"Error response from daemon: {e.Message}");
                failed = true;
            }
        }
        return failed ? 1 : 0;
    }

    private async Task<int> ObjectPruneCommand(List<string> args, string what, string warning, string title, string key)
    {
        var flags = Parse(what[..^1] + " prune", args, f => f.Bool("force", 'f').Bool("all", 'a').List("filter"), maxArgs: 0);
        if (!flags.GetBool("force") && !Confirm(warning)) return 0;
        var filters = flags.GetAll("filter").ToList();
        if (flags.GetBool("all") && what == "volumes") filters.Add("all=true");
        var report = JsonNode.Parse(await Client.GetTextAsync(HttpMethod.Post, $"/{what}/prune{Query(("filters", filters.Count > 0 ? FiltersJson(filters) : null))}"));
        if (report?[key] is JsonArray { Count: > 0 } deleted)
        {
            stdout.WriteLine(title);
            foreach (var d in deleted) stdout.WriteLine(d?.GetValue<string>());
        }
        if (what == "volumes") stdout.WriteLine($"\nTotal reclaimed space: {Units.HumanSize(report?["SpaceReclaimed"]?.GetValue<long>() ?? 0)}");
        return 0;
    }

    private async Task<int> NetworkConnectCommand(List<string> args)
    {
        var flags = Parse("network connect", args, f => f.String("ip").String("ip6").List("alias").List("link").List("driver-opt"), minArgs: 2, maxArgs: 2);
        var endpoint = new JsonObject();
        if (flags.Get("ip") is not null || flags.Get("ip6") is not null)
            endpoint["IPAMConfig"] = new JsonObject { ["IPv4Address"] = flags.Get("ip") ?? "", ["IPv6Address"] = flags.Get("ip6") ?? "" };
        if (flags.GetAll("alias").Count > 0) endpoint["Aliases"] = new JsonArray(flags.GetAll("alias").Select(a => (JsonNode?)a).ToArray());
        var body = new JsonObject { ["Container"] = flags.Positionals[1], ["EndpointConfig"] = endpoint };
        using var _ = await Client.SendAsync(HttpMethod.Post, $"/networks/{Esc(flags.Positionals[0])}/connect", JsonNodeBody(body));
        return 0;
    }

    private async Task<int> NetworkDisconnectCommand(List<string> args)
    {
        var flags = Parse("network disconnect", args, f => f.Bool("force", 'f'), minArgs: 2, maxArgs: 2);
        var body = new JsonObject { ["Container"] = flags.Positionals[1], ["Force"] = flags.GetBool("force") };
        using var _ = await Client.SendAsync(HttpMethod.Post, $"/networks/{Esc(flags.Positionals[0])}/disconnect", JsonNodeBody(body));
        return 0;
    }

    private static async Task<string> ReadTextAsync(HttpResponseMessage response)
    {
        using (response) return await response.Content.ReadAsStringAsync();
    }
}
