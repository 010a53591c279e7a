using System.Text;
using System.Text.Json;
using Berth.Distribution;
using Berth.Engine.Images;
using Berth.Engine.Models;

namespace Berth.Cli;

/// <summary>
/// berth pull, push, login, logout and search: the Engine API's registry routes, with credentials kept in
/// ~/.berth/config.json (docker's config.json format, credsStore/credHelpers honoured; BERTH_CONFIG names
/// another directory) and sent as X-Registry-Auth, as the docker CLI does.
/// </summary>
public sealed partial class BerthCli
{
    private Task<int> RegistryCommand(string command, List<string> args) => command switch
    {
        "pull" => PullImageCommand(args),
        "push" => PushImageCommand(args),
        "login" => LoginCommand(args),
        "logout" => LogoutCommand(args),
        _ => SearchCommand(args),
    };

    private DockerConfigFile CredentialStore() => DockerConfigFile.Default(environment("BERTH_CONFIG") is { Length: > 0 } dir ? dir
        : Path.Combine(environment("HOME") is { Length: > 0 } home ? home : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".berth"));

    /// <summary>The registry a reference names: its first component when it has a dot or a port or is localhost, else Docker Hub.</summary>
    private static string RegistryOf(string name)
    {
        var slash = name.IndexOf('/');
        if (slash <= 0) return DockerHub.Domain;
        var first = name[..slash];
        return first.Contains('.') || first.Contains(':') || first == "localhost" ? first : DockerHub.Domain;
    }

    /// <summary>An empty body carrying X-Registry-Auth (a custom header travels with the content's headers).</summary>
    private HttpContent AuthorizedBody(string registry)
    {
        var content = new ByteArrayContent([]);
        if (CredentialStore().Get(registry) is { } credential)
        {
            var auth = new AuthConfig
            {
                Username = credential.Username, Password = credential.Password, IdentityToken = credential.IdentityToken,
                ServerAddress = DockerHub.CredentialKey(registry),
            };
            var json = JsonSerializer.SerializeToUtf8Bytes(auth, RegistryJsonContext.Default.AuthConfig);
            content.Headers.TryAddWithoutValidation("X-Registry-Auth", Convert.ToBase64String(json).Replace('+', '-').Replace('/', '_'));
        }
        return content;
    }

    private async Task<int> PullImageCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("pull", args, f => f.Bool("all-tags", 'a').String("platform").Bool("quiet", 'q').Bool("disable-content-trust"), minArgs: 1, maxArgs: 1);
        var name = flags.Positionals[0];
        var allTags = flags.GetBool("all-tags");
        string from = name, tag = allTags ? "" : "latest";
        var at = name.IndexOf('@');
        var colon = name.LastIndexOf(':');
        if (at >= 0) (from, tag) = (name[..at], name[(at + 1)..]);
        else if (colon > name.LastIndexOf('/'))
        {
            if (allTags) throw new FormatException("tag can't be used with --all-tags/-a");
            (from, tag) = (name[..colon], name[(colon + 1)..]);
        }
        var query = $"/images/create?fromImage={Esc(from)}&tag={Esc(tag)}" + (flags.Get("platform") is { } p ? "&platform=" + Esc(p) : "");
        using var response = await Client.SendAsync(HttpMethod.Post, query, AuthorizedBody(RegistryOf(from)), stream: true);
        var code = await ShowTransferAsync(response, flags.GetBool("quiet"));
        if (code == 0 && !allTags)
        {
            var full = RegistryOf(from) == DockerHub.Domain && !from.StartsWith("docker.io/", StringComparison.Ordinal)
                ? "docker.io/" + (from.Contains('/') ? from : "library/" + from) : from;
            stdout.WriteLine(at >= 0 ? $"{full}@{tag}" : $"{full}:{tag}");
        }
        return code;
    }

    private async Task<int> PushImageCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("push", args, f => f.Bool("all-tags", 'a').Bool("quiet", 'q').Bool("disable-content-trust"), minArgs: 1, maxArgs: 1);
        var name = flags.Positionals[0];
        string repository = name, tag = "";
        var colon = name.LastIndexOf(':');
        if (colon > name.LastIndexOf('/')) (repository, tag) = (name[..colon], name[(colon + 1)..]);
        else if (!flags.GetBool("all-tags")) tag = "latest";
        using var response = await Client.SendAsync(HttpMethod.Post, $"/images/{Esc(repository)}/push?tag={Esc(tag)}", AuthorizedBody(RegistryOf(repository)), stream: true);
        return await ShowTransferAsync(response, flags.GetBool("quiet"));
    }

    /// <summary>
    /// Shows a pull or push stream as docker does: on a terminal one line per layer, redrawn in place with its
    /// bar; otherwise the status changes only (no byte counts).
    /// </summary>
    private async Task<int> ShowTransferAsync(HttpResponseMessage response, bool quiet)
    {
        var terminal = !Console.IsOutputRedirected && ReferenceEquals(stdout, Console.Out);
        var lines = new Dictionary<string, int>(StringComparer.Ordinal);
        var count = 0;
        await foreach (var message in DaemonClient.ReadMessagesAsync(response))
        {
            if (message.Error is { } error) { stderr.WriteLine(error); return 1; }
            if (quiet || message.Status is null) continue;
            var text = message.Id is { } id ? $"{id}: {message.Status}" : message.Status;
            if (!terminal)
            {
                if (message.Progress is null) stdout.WriteLine(text);
                continue;
            }
            if (message.Progress is { } bar) text += " " + bar;
            if (message.Id is { } layer && lines.TryGetValue(layer, out var index))
            {
                var up = count - index;
                stdout.Write($"\u001b[{up}A\r\u001b[2K{text}\u001b[{up}B\r");
            }
            else
            {
                if (message.Id is { } fresh) lines[fresh] = count;
                stdout.WriteLine(text);
                count++;
            }
            stdout.Flush();
        }
        return 0;
    }

    private async Task<int> LoginCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("login", args, f => f.String("username", 'u').String("password", 'p').Bool("password-stdin"), maxArgs: 1);
        var server = flags.Positionals.Count == 1 ? flags.Positionals[0] : DockerHub.IndexServer;
        var registry = DistributionClient.NormalizeServer(server);
        var username = flags.Get("username");
        var password = flags.Get("password");
        if (flags.GetBool("password-stdin"))
        {
            if (password is not null) throw new FormatException("--password and --password-stdin are mutually exclusive");
            if (username is null) throw new FormatException("Must provide --username with --password-stdin");
            password = (await Console.In.ReadToEndAsync()).TrimEnd('\n', '\r');
        }
        else if (password is not null) stderr.WriteLine("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        if (username is null)
        {
            stdout.Write("Username: ");
            stdout.Flush();
            username = Console.In.ReadLine()?.Trim();
        }
        if (string.IsNullOrEmpty(username)) throw new FormatException("Error: Non-null Username Required");
        if (password is null)
        {
            stdout.Write("Password: ");
            stdout.Flush();
            password = Console.In.ReadLine() ?? "";
            stdout.WriteLine();
        }
        if (password.Length == 0) throw new FormatException("Error: Password Required");
        var auth = new AuthConfig { Username = username, Password = password, ServerAddress = DockerHub.CredentialKey(registry) };
        var result = await Client.PostAsync("/auth", DaemonClient.JsonBody(auth, RegistryJsonContext.Default.AuthConfig), RegistryJsonContext.Default.AuthResponse);
        CredentialStore().Store(registry, new RegistryCredential(username, result.IdentityToken is null ? password : "", result.IdentityToken));
        stdout.WriteLine(string.IsNullOrEmpty(result.Status) ? "Login Succeeded" : result.Status);
        return 0;
    }

    private Task<int> LogoutCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("logout", args, f => f, maxArgs: 1);
        var registry = DistributionClient.NormalizeServer(flags.Positionals.Count == 1 ? flags.Positionals[0] : null);
        var key = DockerHub.CredentialKey(registry);
        if (!CredentialStore().Erase(registry))
        {
            stdout.WriteLine($"Not logged in to {key}");
            return Task.FromResult(0);
        }
        stdout.WriteLine($"Removing login credentials for {key}");
        return Task.FromResult(0);
    }

    private async Task<int> SearchCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("search", args, f => f.List("filter", 'f').Int("limit").Bool("no-trunc").String("format"), minArgs: 1, maxArgs: 1);
        var term = flags.Positionals[0];
        var filters = new Dictionary<string, Dictionary<string, bool>>(StringComparer.Ordinal);
        foreach (var f in flags.GetAll("filter"))
        {
            var eq = f.IndexOf('=');
            if (eq <= 0) throw new FormatException($"bad format of filter (expected name=value)");
            (filters.TryGetValue(f[..eq], out var values) ? values : filters[f[..eq]] = new Dictionary<string, bool>(StringComparer.Ordinal))[f[(eq + 1)..]] = true;
        }
        var query = $"/images/search?term={Esc(term)}" + (flags.GetInt("limit") is { } limit ? $"&limit={limit}" : "");
        if (filters.Count > 0)
        {
            var json = new StringBuilder("{");
            json.AppendJoin(',', filters.Select(kv => JsonSerializer.Serialize(kv.Key, RegistryJsonContext.Default.String) + ":{" +
                string.Join(',', kv.Value.Keys.Select(v => JsonSerializer.Serialize(v, RegistryJsonContext.Default.String) + ":true")) + "}"));
            query += "&filters=" + Esc(json.Append('}').ToString());
        }
        // The registry's credentials travel with the search, as with pull and push (berthd keeps none of its own).
        using var response = await Client.SendAsync(HttpMethod.Get, query, AuthorizedBody(RegistryOf(term)));
        var results = JsonSerializer.Deserialize(await response.Content.ReadAsByteArrayAsync(), RegistryJsonContext.Default.ListImageSearchResponseItem) ?? [];
        var noTrunc = flags.GetBool("no-trunc");
        // docker's search formatter: each field a string (StarCount too; official and automated are "[OK]" or empty), the
        // description on one line and cut to 45 characters unless --no-trunc, then --format or the default table.
        var rows = new List<System.Text.Json.Nodes.JsonNode>();
        foreach (var r in results)
        {
            var description = r.Description.Replace('\n', ' ').Replace('\r', ' ');
            if (!noTrunc && description.Length > 45) description = description[..44] + "…";
            // In name order, as docker's {{json .}} of a formatter context (a Go map) writes them.
            rows.Add(new System.Text.Json.Nodes.JsonObject
            {
                ["Description"] = description, ["IsAutomated"] = r.IsAutomated ? "[OK]" : "", ["IsOfficial"] = r.IsOfficial ? "[OK]" : "",
                ["Name"] = r.Name, ["StarCount"] = r.StarCount.ToString(System.Globalization.CultureInfo.InvariantCulture),
            });
        }
        var header = new System.Text.Json.Nodes.JsonObject
        {
            ["Name"] = "NAME", ["Description"] = "DESCRIPTION", ["StarCount"] = "STARS", ["IsOfficial"] = "OFFICIAL", ["IsAutomated"] = "AUTOMATED",
        };
        WriteFormatted(flags.Get("format"), "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}", header, rows);
        return 0;
    }
}
