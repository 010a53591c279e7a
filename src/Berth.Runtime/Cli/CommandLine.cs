namespace Berth.Runtime.Cli;

/// <summary>One flag of a verb (or a global flag): its names (the first is canonical) and whether it takes a value.</summary>
public sealed record FlagSpec(string[] Names, bool TakesValue)
{
    public string Name => Names[0];
}

/// <summary>A verb, its flags, and whether flags stop at the first positional argument (exec: the rest is the command).</summary>
public sealed record VerbSpec(string Name, FlagSpec[] Flags, bool StopAtFirstArgument = false);

/// <summary>The parsed command line: global settings, the verb, its flags and positional arguments.</summary>
public sealed class CommandLine
{
    public string Root { get; set; } = "/run/berth-runtime";
    public string? LogPath { get; set; }
    public string LogFormat { get; set; } = "text";
    public bool Debug { get; set; }
    public bool ShowHelp { get; set; }
    public bool ShowVersion { get; set; }
    /// <summary>Global flags runc has and Berth ignores, to warn about.</summary>
    public List<string> Ignored { get; } = [];
    public string? Verb { get; set; }
    public Dictionary<string, List<string>> Flags { get; } = new(StringComparer.Ordinal);
    public List<string> Arguments { get; } = [];

    public bool Has(string flag) => Flags.TryGetValue(flag, out var v) && v.Count > 0 && v[^1] != "false";
    public string? Value(string flag) => Flags.TryGetValue(flag, out var v) && v.Count > 0 ? v[^1] : null;
    public IReadOnlyList<string> Values(string flag) => Flags.TryGetValue(flag, out var v) ? v : [];
}

/// <summary>
/// Parses arguments as runc's urfave/cli (Go's flag package) does: `-flag` and `--flag` alike, `--flag=value` or
/// `--flag value`, booleans as `--flag` or `--flag=false`, `--` ends flags, global flags before the verb, and flags
/// after positional arguments too except for exec (whose trailing arguments are the command).
/// Hand-rolled: no reflection, nothing at start-up.
/// </summary>
public static class CommandLineParser
{
    private static FlagSpec F(string names, bool value = false) => new(names.Split(','), value);

    public static readonly FlagSpec[] GlobalFlags =
    [
        F("root", true), F("log", true), F("log-format", true), F("debug"), F("help,h"), F("version,v"),
        F("systemd-cgroup"), F("criu", true), F("rootless", true),
    ];

    private static readonly FlagSpec[] CreateFlags =
    [
        F("bundle,b", true), F("console-socket", true), F("pid-file", true), F("no-pivot"), F("no-new-keyring"), F("preserve-fds", true),
    ];

    public static readonly VerbSpec[] Verbs =
    [
        new("create", CreateFlags),
        new("run", [.. CreateFlags, F("detach,d"), F("keep"), F("no-subreaper")]),
        new("start", []),
        new("state", []),
        new("kill", [F("all,a")]),
        new("delete", [F("force,f")]),
        new("exec", [F("console-socket", true), F("cwd", true), F("env,e", true), F("tty,t"), F("user,u", true), F("additional-gids,g", true),
            F("process,p", true), F("detach,d"), F("pid-file", true), F("process-label", true), F("apparmor", true), F("no-new-privs"),
            F("cap,c", true), F("preserve-fds", true), F("cgroup", true), F("ignore-paused")], StopAtFirstArgument: true),
        new("list", [F("format,f", true), F("quiet,q")]),
        new("ps", [F("format,f", true)], StopAtFirstArgument: true),
        new("pause", []),
        new("resume", []),
        new("events", [F("interval", true), F("stats")]),
        new("update", [F("resources,r", true), F("blkio-weight", true), F("cpu-period", true), F("cpu-quota", true), F("cpu-share", true),
            F("cpu-rt-period", true), F("cpu-rt-runtime", true), F("cpuset-cpus", true), F("cpuset-mems", true), F("kernel-memory", true),
            F("kernel-memory-tcp", true), F("memory", true), F("memory-reservation", true), F("memory-swap", true), F("pids-limit", true),
            F("l3-cache-schema", true), F("mem-bw-schema", true)]),
        new("spec", [F("bundle,b", true), F("rootless")]),
        new("features", []),
        new("init", []),
    ];

    public static VerbSpec? FindVerb(string name) => Array.Find(Verbs, v => v.Name == name);

    public static CommandLine Parse(IReadOnlyList<string> args)
    {
        var line = new CommandLine();
        var i = 0;
        // Global flags, up to the verb.
        while (i < args.Count && IsFlag(args[i]))
        {
            if (args[i] == "--") { i++; break; }
            var (spec, value) = Take(GlobalFlags, args, ref i, "");
            switch (spec.Name)
            {
                case "root": line.Root = value!; break;
                case "log": line.LogPath = value; break;
                case "log-format":
                    if (value is not ("text" or "json")) throw new RuntimeException($"invalid log-format: {value}");
                    line.LogFormat = value; break;
                case "debug": line.Debug = value != "false"; break;
                case "help": line.ShowHelp = true; break;
                case "version": line.ShowVersion = true; break;
                default: line.Ignored.Add("--" + spec.Name); break;
            }
        }
        if (i >= args.Count) return line;
        var verb = FindVerb(args[i]) ?? throw new RuntimeException($"unknown command \"{args[i]}\"");
        line.Verb = verb.Name;
        i++;
        var flagsEnded = false;
        while (i < args.Count)
        {
            var a = args[i];
            if (!flagsEnded && a == "--") { flagsEnded = true; i++; continue; }
            if (!flagsEnded && IsFlag(a) && !(verb.StopAtFirstArgument && line.Arguments.Count > 0))
            {
                if (a is "-h" or "--help" or "-help") { line.ShowHelp = true; i++; continue; }
                var (spec, value) = Take(verb.Flags, args, ref i, verb.Name);
                if (!line.Flags.TryGetValue(spec.Name, out var list)) line.Flags[spec.Name] = list = [];
                list.Add(value!);
                continue;
            }
            line.Arguments.Add(a);
            i++;
            if (verb.StopAtFirstArgument && line.Arguments.Count == 1)
            {
                // The rest is the command (exec) or ps's options: taken verbatim, after an optional "--".
                if (i < args.Count && args[i] == "--") i++;
                while (i < args.Count) line.Arguments.Add(args[i++]);
            }
        }
        return line;
    }

    private static bool IsFlag(string a) => a.Length > 1 && a[0] == '-';

    private static (FlagSpec Spec, string? Value) Take(FlagSpec[] table, IReadOnlyList<string> args, ref int i, string verb)
    {
        var raw = args[i++];
        var name = raw.StartsWith("--", StringComparison.Ordinal) ? raw[2..] : raw[1..];
        string? value = null;
        var eq = name.IndexOf('=');
        if (eq >= 0) { value = name[(eq + 1)..]; name = name[..eq]; }
        var spec = Array.Find(table, f => Array.IndexOf(f.Names, name) >= 0)
            ?? throw new RuntimeException($"flag provided but not defined: -{name}");
        if (spec.TakesValue)
        {
            if (value is null)
            {
                if (i >= args.Count) throw new RuntimeException($"flag needs an argument: -{name}");
                value = args[i++];
            }
        }
        else
        {
            value ??= "true";
            if (value is not ("true" or "false" or "1" or "0" or "t" or "f" or "TRUE" or "FALSE" or "True" or "False"))
                throw new RuntimeException($"invalid boolean value \"{value}\" for -{name}");
            value = value is "true" or "1" or "t" or "TRUE" or "True" ? "true" : "false";
        }
        return (spec, value);
    }
}
