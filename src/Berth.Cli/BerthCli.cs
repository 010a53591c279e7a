using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Engine.Models;

namespace Berth.Cli;

/// <summary>
/// The berth CLI: docker's commands, flags, output and exit codes over the Docker Engine API.
/// Exit codes as docker's: 125 for its own failures (flags, daemon errors of run/create), 126/127 when the
/// command cannot be invoked or found, else the container's; other commands exit 1 on error.
/// </summary>
public sealed partial class BerthCli(TextWriter stdout, TextWriter stderr, Func<string, string?> environment)
{
    public const string Version = "0.1.0";
    private static readonly DockerJsonContext Json = DockerJsonContext.Default;
    private DaemonClient? client;
    private string host = DaemonClient.DefaultHost;
    private Func<DateTimeOffset> now = () => DateTimeOffset.UtcNow;
    private Stream? rawStdout;
    private Stream? rawStderr;

    /// <summary>For tests: a fixed clock for humanised times.</summary>
    public Func<DateTimeOffset> Clock { set => now = value; }

    /// <summary>The byte streams container output goes to (the process's stdout/stderr by default).</summary>
    public Stream RawStdout { get => rawStdout ??= Console.OpenStandardOutput(); set => rawStdout = value; }
    public Stream RawStderr { get => rawStderr ??= Console.OpenStandardError(); set => rawStderr = value; }

    private DaemonClient Client => client ??= new DaemonClient(host);

    public async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        var command = "";
        try
        {
            var global = new FlagSet("", interspersed: false).List("host", 'H').Bool("debug", 'D').String("log-level", 'l').Bool("version", 'v').Bool("help").String("config").String("context", 'c').Bool("tls").Bool("tlsverify");
            global.Parse(args);
            if (global.GetBool("version")) { stdout.WriteLine($"Berth version {Version}"); return 0; }
            host = global.Get("host") ?? (environment("BERTH_HOST") is { Length: > 0 } fromEnvironment ? fromEnvironment : DaemonClient.DefaultHost);
            if (host.StartsWith('/')) host = "unix://" + host;
            var rest = global.Positionals;
            if (rest.Count == 0 || global.GetBool("help")) { stdout.Write(Usage); return 0; }
            command = rest[0];
            var commandArgs = rest.Skip(1).ToList();
            // Management commands: "container ls", "image rm", "system df"...
            if (command is "container" or "image" or "system" && commandArgs.Count > 0)
            {
                var sub = commandArgs[0];
                commandArgs = commandArgs.Skip(1).ToList();
                command = (command, sub) switch
                {
                    ("container", "ls" or "list" or "ps") => "ps",
                    ("image", "ls" or "list") => "images",
                    ("image", "rm" or "remove") => "rmi",
                    ("container", "prune") => "container-prune",
                    ("image", "prune") => "image-prune",
                    ("system", "df") => "system-df",
                    ("system", "prune") => "system-prune",
                    ("system", "info") => "info",
                    ("system", "events") => "events",
                    (_, var other) => other,
                };
            }
            return await DispatchAsync(command, commandArgs);
        }
        catch (FlagException e)
        {
            stderr.WriteLine(e.Message);
            stderr.WriteLine(command.Length > 0 ? $"See 'berth {command} --help'." : "See 'berth --help'.");
            return 125;
        }
        catch (ConnectException e)
        {
            stderr.WriteLine(e.Message);
            return 1;
        }
        catch (DaemonException e)
        {
            stderr.WriteLine($"Error response from daemon: {e.Message}");
            return 1;
        }
        catch (FormatException e)
        {
            stderr.WriteLine(e.Message);
            return 1;
        }
        catch (CliExit e)
        {
            if (e.Message.Length > 0) stderr.WriteLine(e.Message);
            return e.Code;
        }
        finally
        {
            client?.Dispose();
        }
    }

    /// <summary>Ends a command with a message and an exit code.</summary>
    private sealed class CliExit(int code, string message = "") : Exception(message)
    {
        public int Code { get; } = code;
    }

    private const string Usage = """
        Usage:  berth [OPTIONS] COMMAND

        A Docker-compatible container engine client

        Options:
          -H, --host list      Daemon socket to connect to (default BERTH_HOST, else unix:///run/berth/berth.sock)
          -v, --version        Print version information and quit

        Commands:
          attach  commit  cp  create  diff  events  exec  export  history  images  import  info  inspect
          kill  load  logs  pause  port  ps  rename  restart  rm  rmi  run  save  start  stats  stop
          tag  top  unpause  update  version  wait  container  image  system

        """;

    private Task<int> DispatchAsync(string command, List<string> args) => command switch
    {
        "version" => VersionCommand(args),
        "info" => InfoCommand(args),
        "ps" => PsCommand(args),
        "images" => ImagesCommand(args),
        "inspect" => InspectCommand(args, null),
        "create" => CreateCommand(args),
        "run" => RunCommand(args),
        "start" => StartCommand(args),
        "stop" => ForEach(args, "stop", f => f.Int("time", 't').String("signal", 's'), (f, id) => Client.PostAsync($"/containers/{Esc(id)}/stop{Query(("t", f.Get("time")), ("signal", f.Get("signal")))}")),
        "restart" => ForEach(args, "restart", f => f.Int("time", 't').String("signal", 's'), (f, id) => Client.PostAsync($"/containers/{Esc(id)}/restart{Query(("t", f.Get("time")), ("signal", f.Get("signal")))}")),
        "kill" => ForEach(args, "kill", f => f.String("signal", 's'), (f, id) => Client.PostAsync($"/containers/{Esc(id)}/kill{Query(("signal", f.Get("signal")))}")),
        "pause" => ForEach(args, "pause", f => f, (_, id) => Client.PostAsync($"/containers/{Esc(id)}/pause")),
        "unpause" => ForEach(args, "unpause", f => f, (_, id) => Client.PostAsync($"/containers/{Esc(id)}/unpause")),
        "rm" => ForEach(args, "rm", f => f.Bool("force", 'f').Bool("volumes", 'v').Bool("link", 'l'),
            async (f, id) => { using var _ = await Client.SendAsync(HttpMethod.Delete, $"/containers/{Esc(id)}{Query(("force", f.GetBool("force") ? "1" : null), ("v", f.GetBool("volumes") ? "1" : null))}"); }),
        "rmi" => RmiCommand(args),
        "tag" => TagCommand(args),
        "logs" => LogsCommand(args),
        "wait" => WaitCommand(args),
        "rename" => RenameCommand(args),
        "top" => TopCommand(args),
        "port" => PortCommand(args),
        "history" => HistoryCommand(args),
        "diff" => DiffCommand(args),
        "export" => ExportCommand(args),
        "save" => SaveCommand(args),
        "load" => LoadCommand(args),
        "import" => ImportCommand(args),
        "commit" => CommitCommand(args),
        "stats" => StatsCommand(args),
        "events" => EventsCommand(args),
        "attach" => AttachCommand(args),
        "exec" => ExecCommand(args),
        "system-df" => SystemDfCommand(args),
        "container-prune" => PruneCommand(args, "containers"),
        "image-prune" => PruneCommand(args, "images"),
        "system-prune" => SystemPruneCommand(args),
        _ => throw new FlagException($"berth: '{command}' is not a berth command."),
    };

    private static string Esc(string value) => Uri.EscapeDataString(value);

    private static string Query(params (string Key, string? Value)[] pairs)
    {
        var present = pairs.Where(p => p.Value is not null).Select(p => $"{p.Key}={Uri.EscapeDataString(p.Value!)}").ToList();
        return present.Count == 0 ? "" : "?" + string.Join("&", present);
    }

    private static FlagSet Parse(string command, IReadOnlyList<string> args, Func<FlagSet, FlagSet> define, int minArgs = 0, int maxArgs = int.MaxValue, string usage = "")
    {
        var flags = define(new FlagSet(command).Bool("help")).Parse(args);
        if (flags.Positionals.Count < minArgs)
            throw new FlagException(minArgs == 1 ? $"\"berth {command}\" requires at least 1 argument." : $"\"berth {command}\" requires at least {minArgs} arguments.");
        if (flags.Positionals.Count > maxArgs)
            throw new FlagException(maxArgs == 0 ? $"\"berth {command}\" accepts no arguments." : $"\"berth {command}\" requires at most {maxArgs} arguments.");
        return flags;
    }

    /// <summary>Runs an action for each named container, printing each name, as docker stop/rm/kill do; exit 1 if any failed.</summary>
    private async Task<int> ForEach(IReadOnlyList<string> args, string command, Func<FlagSet, FlagSet> define, Func<FlagSet, string, Task> action)
    {
        var flags = Parse(command, args, define, minArgs: 1);
        var failed = false;
        foreach (var id in flags.Positionals)
        {
            try
            {
                await action(flags, id);
                stdout.WriteLine(id);
            }
            catch (DaemonException e) when (e.Status != 304)
            {
                stderr.WriteLine($"Error response from daemon: {e.Message}");
                failed = true;
            }
        }
        return failed ? 1 : 0;
    }

    /// <summary>Renders rows with a --format template (with docker's "table" prefix) or the default table.</summary>
    private void WriteFormatted(string? format, string defaultTable, JsonObject header, IEnumerable<JsonNode> rows)
    {
        format = string.IsNullOrEmpty(format) || format == "table" ? defaultTable : format;
        if (format == "json") format = "{{json .}}";
        var table = format.StartsWith("table", StringComparison.Ordinal);
        var template = GoTemplate.Parse(table ? format[5..].TrimStart() : format);
        var lines = new List<string>();
        if (table) lines.Add(template.Execute(header));
        lines.AddRange(rows.Select(row => template.Execute(row)));
        if (table) stdout.Write(Units.Tabulate(lines));
        else foreach (var line in lines) stdout.WriteLine(line);
    }

    private static JsonNode ToNode<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        => JsonNode.Parse(JsonSerializer.SerializeToUtf8Bytes(value, type))!;

    private string Ago(DateTimeOffset time) => Units.HumanDuration(now() - time) + " ago";

    private static string GoTime(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " +0000 UTC";

    public static string ShortId(string id)
    {
        var colon = id.IndexOf(':');
        if (colon >= 0) id = id[(colon + 1)..];
        return id.Length > 12 ? id[..12] : id;
    }
}
