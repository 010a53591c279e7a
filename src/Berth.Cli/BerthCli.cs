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
    // A property, not a static field: the context's static set-up (a few hundred encoded property names) runs only for the
    // commands that use it, not for every command that touches one of this class's statics.
    private static DockerJsonContext Json => DockerJsonContext.Default;
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

    private DaemonClient Client => client ??= new DaemonClient(host, tls);
    private TlsSettings? tls;

    /// <summary>The command as the user named it ("run", "container ls"), for error messages.</summary>
    private string commandName = "";

    public async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        var command = "";
        try
        {
            var global = new FlagSet("", interspersed: false).List("host", 'H').Bool("debug", 'D').String("log-level", 'l').Bool("version", 'v').Bool("help")
                .String("config").String("context", 'c').Bool("tls").Bool("tlsverify").String("tlscacert").String("tlscert").String("tlskey");
            global.Parse(args);
            if (global.GetBool("version")) { stdout.WriteLine($"Berth version {Version}"); return 0; }
            host = ResolveHost(global.Get("host"), environment);
            tls = TlsSettings.From(global, environment);
            var rest = global.Positionals;
            if (rest.Count == 0 || global.GetBool("help")) { stdout.Write(Usage); return 0; }
            command = rest[0];
            commandName = command;
            var commandArgs = rest.GetRange(1, rest.Count - 1);
            // Management commands: "container ls", "image rm", "system df"...
            if (command is "container" or "image" or "system" or "network" or "volume")
            {
                if (commandArgs.Count == 0 || commandArgs[0] is "--help") { stdout.Write(Usage); return 0; }
                var sub = commandArgs[0];
                commandArgs.RemoveAt(0);
                commandName = $"{command} {sub}";
                var mapped = ManagementCommand(command, sub) ?? NetworkOrVolumeCommand(command, sub);
                if (mapped is null) throw new UnknownCommandException($"berth: unknown command: berth {command} {sub}\n\nUsage:  berth {command}\n\nRun 'berth {command} --help' for more information");
                command = mapped;
            }
            return await DispatchAsync(command, commandArgs);
        }
        catch (FlagException e)
        {
            // pflag's failures, as docker prints them: the message, the usage line, where to find help.
            stderr.WriteLine(e.Message);
            stderr.WriteLine();
            if (commandName.Length > 0)
            {
                stderr.WriteLine($"Usage:  berth {commandName} {CommandUsage(command)}");
                stderr.WriteLine();
                stderr.WriteLine($"Run 'berth {commandName} --help' for more information");
            }
            else stderr.WriteLine("Run 'berth --help' for more information");
            return 125;
        }
        catch (ArgumentCountException e)
        {
            stderr.WriteLine($"berth: 'berth {commandName}' {e.Message}");
            stderr.WriteLine();
            stderr.WriteLine($"Usage:  berth {commandName} {CommandUsage(command)}");
            stderr.WriteLine();
            stderr.WriteLine($"See 'berth {commandName} --help' for more information");
            return 1;
        }
        catch (UnknownCommandException e)
        {
            stderr.WriteLine(e.Message);
            return 1;
        }
        catch (InvalidOptionException e)
        {
            // run/create options that parse but do not make sense: docker prints them prefixed, exit 125.
            stderr.WriteLine($"berth: {e.Message}");
            stderr.WriteLine();
            stderr.WriteLine($"Run 'berth {commandName} --help' for more information");
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

    /// <summary>Where the daemon is: -H, then BERTH_HOST, then the default socket (a bare path means a unix socket).</summary>
    public static string ResolveHost(string? flag, Func<string, string?> environment)
    {
        var host = flag ?? (environment("BERTH_HOST") is { Length: > 0 } fromEnvironment ? fromEnvironment : DaemonClient.DefaultHost);
        return host.StartsWith('/') ? "unix://" + host : host;
    }

    /// <summary>"container ls" → "ps", "image rm" → "rmi"…; null when the management command has no such verb.</summary>
    public static string? ManagementCommand(string group, string sub) => (group, sub) switch
    {
        ("container", "ls" or "list" or "ps") => "ps",
        ("container", "prune") => "container-prune",
        ("container", "inspect") => "container-inspect",
        ("container", "attach" or "commit" or "cp" or "create" or "diff" or "exec" or "export" or "kill" or "logs" or "pause" or "port"
            or "rename" or "restart" or "rm" or "run" or "start" or "stats" or "stop" or "top" or "unpause" or "update" or "wait") => sub,
        ("container", "remove") => "rm",
        ("image", "ls" or "list") => "images",
        ("image", "rm" or "remove") => "rmi",
        ("image", "prune") => "image-prune",
        ("image", "inspect") => "image-inspect",
        ("image", "history" or "import" or "load" or "save" or "tag" or "pull" or "push" or "build") => sub,
        ("system", "df") => "system-df",
        ("system", "prune") => "system-prune",
        ("system", "info") => "info",
        ("system", "events") => "events",
        _ => null,
    };

    /// <summary>docker's usage line of each command, printed under a flag or argument error.</summary>
    private static string CommandUsage(string command) => command switch
    {
        "attach" => "[OPTIONS] CONTAINER",
        "commit" => "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
        "cp" => "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
        "create" or "run" => "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        "diff" => "CONTAINER",
        "exec" => "[OPTIONS] CONTAINER COMMAND [ARG...]",
        "export" or "logs" => "[OPTIONS] CONTAINER",
        "history" => "[OPTIONS] IMAGE",
        "images" => "[OPTIONS] [REPOSITORY[:TAG]]",
        "import" => "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
        "inspect" => "[OPTIONS] NAME|ID [NAME|ID...]",
        "container-inspect" => "[OPTIONS] CONTAINER [CONTAINER...]",
        "image-inspect" or "rmi" or "save" => "[OPTIONS] IMAGE [IMAGE...]",
        "kill" or "restart" or "rm" or "start" or "stop" or "update" => "[OPTIONS] CONTAINER [CONTAINER...]",
        "pause" or "unpause" or "wait" => "CONTAINER [CONTAINER...]",
        "port" => "CONTAINER [PRIVATE_PORT[/PROTO]]",
        "rename" => "CONTAINER NEW_NAME",
        "stats" => "[OPTIONS] [CONTAINER...]",
        "tag" => "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
        "top" => "CONTAINER [ps OPTIONS]",
        _ => "[OPTIONS]",
    };

    /// <summary>Ends a command with a message and an exit code.</summary>
    private sealed class CliExit(int code, string message = "") : Exception(message)
    {
        public int Code { get; } = code;
    }

    /// <summary>Too few or too many positional arguments: docker prints "berth: 'berth CMD' requires…" and exits 1.</summary>
    private sealed class ArgumentCountException(string message) : Exception(message);

    private sealed class UnknownCommandException(string message) : Exception(message);

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
        "build" => BuildCommand(args),
        "import" => ImportCommand(args),
        "commit" => CommitCommand(args),
        "stats" => StatsCommand(args),
        "events" => EventsCommand(args),
        "attach" => AttachCommand(args),
        "exec" => ExecCommand(args),
        "system-df" => SystemDfCommand(args),
        "update" => UpdateCommand(args),
        "cp" => CopyCommand(args),
        "container-inspect" => InspectCommand(args, "container"),
        "image-inspect" => InspectCommand(args, "image"),
        "container-prune" => PruneCommand(args, "containers"),
        "image-prune" => PruneCommand(args, "images"),
        "system-prune" => SystemPruneCommand(args),
        "pull" or "push" or "login" or "logout" or "search" => RegistryCommand(command, args),
        _ when command.StartsWith("network-", StringComparison.Ordinal) || command.StartsWith("volume-", StringComparison.Ordinal) => NetworkOrVolumeCommand(command, args),
        _ => throw new UnknownCommandException($"berth: unknown command: berth {command}\n\nRun 'berth --help' for more information"),
    };

    private static string Esc(string value) => Uri.EscapeDataString(value);

    private static string Query(params (string Key, string? Value)[] pairs)
    {
        var query = new StringBuilder();
        foreach (var (key, value) in pairs)
        {
            if (value is null) continue;
            query.Append(query.Length == 0 ? '?' : '&').Append(key).Append('=').Append(Uri.EscapeDataString(value));
        }
        return query.ToString();
    }

    private static FlagSet Parse(string command, IReadOnlyList<string> args, Func<FlagSet, FlagSet> define, int minArgs = 0, int maxArgs = int.MaxValue, string usage = "")
    {
        var flags = define(new FlagSet(command).Bool("help")).Parse(args);
        CheckArgumentCount(flags.Positionals.Count, minArgs, maxArgs);
        return flags;
    }

    /// <summary>cobra's argument checks in docker's words.</summary>
    private static void CheckArgumentCount(int count, int minArgs, int maxArgs)
    {
        if (count >= minArgs && count <= maxArgs) return;
        static string Arguments(int n) => n == 1 ? "1 argument" : $"{n} arguments";
        throw new ArgumentCountException(
            maxArgs == 0 ? "accepts no arguments"
            : minArgs == maxArgs ? $"requires {Arguments(minArgs)}"
            : maxArgs == int.MaxValue ? $"requires at least {Arguments(minArgs)}"
            : $"requires at least {minArgs} and at most {Arguments(maxArgs)}");
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
        => WriteFormattedTo(stdout, format, defaultTable, header, rows);

    private static void WriteFormattedTo(TextWriter stdout, string? format, string defaultTable, JsonObject header, IEnumerable<JsonNode> rows)
    {
        format = string.IsNullOrEmpty(format) || format == "table" ? defaultTable : format;
        if (format == "json") format = "{{json .}}";
        // docker's formatter: "table" in front, a written \t or \n turned into a tab or newline, the header row
        // run with the header functions (so "{{json .Image}}" heads its column IMAGE, not "IMAGE").
        var template = GoTemplate.ParseListFormat(format, out var table);
        var lines = new List<string>();
        if (table) lines.Add(Header(template, header));
        lines.AddRange(rows.Select(row => template.Execute(row)));
        if (table) stdout.Write(Units.Tabulate(lines));
        else foreach (var line in lines) stdout.WriteLine(line);
    }

    /// <summary>docker ignores a failure of the header row (its error is dropped); the row is then left empty.</summary>
    private static string Header(GoTemplate template, JsonObject titles)
    {
        try { return template.ExecuteHeader(titles); }
        catch (FormatException) { return ""; }
    }

    /// <summary>
    /// inspect, version, info: a --format that does not parse ends the command with docker's
    /// cli.StatusError{StatusCode: 64} ("template parsing error: …"), before anything is printed.
    /// </summary>
    private static GoTemplate ParseStatusTemplate(string format, string name = "")
    {
        try { return GoTemplate.Parse(format, name); }
        catch (FormatException e) { throw new CliExit(64, e.Message); }
    }

    /// <summary>Go's own template error, for commands that word the prefix otherwise ("failed to parse template: ").</summary>
    private static string WithoutPrefix(string message)
        => message.StartsWith(GoTemplate.ErrorPrefix, StringComparison.Ordinal) ? message[GoTemplate.ErrorPrefix.Length..] : message;

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
