using System.Text.RegularExpressions;

namespace Berth.Build.Dockerfile;

/// <summary>
/// <see cref="DockerfileAst"/> → <see cref="DockerfilePlan"/>: checks each instruction's arguments and
/// flags and groups instructions into stages. Errors read as Docker's:
/// "dockerfile parse error on line 3: unknown instruction: FOO".
/// </summary>
public static partial class InstructionParser
{
    [GeneratedRegex("^[a-z][a-z0-9-_.]*$")]
    private static partial Regex StageNameRegex();

    [GeneratedRegex(@"(?i)^\s*ONBUILD\s*")]
    private static partial Regex OnbuildPrefix();

    public static DockerfilePlan Parse(DockerfileAst ast)
    {
        var metaArgs = new List<ArgInstruction>();
        var stages = new List<Stage>();
        foreach (var node in ast.Instructions)
        {
            Instruction? instruction = null;
            Stage? stage = null;
            try
            {
                if (node.Command == "from") stage = ParseFrom(node, stages.Count);
                else instruction = ParseInstruction(node);
            }
            catch (Exception e) when (e is DockerfileException or ShellSyntaxException)
            {
                throw new DockerfileException($"dockerfile parse error on line {node.StartLine}: {e.Message}", node.StartLine);
            }
            if (stage is not null) { stages.Add(stage); continue; }
            if (stages.Count == 0)
            {
                if (instruction is ArgInstruction arg) { metaArgs.Add(arg); continue; }
                throw new DockerfileException("no build stage in current context", node.StartLine);
            }
            stages[^1].Commands.Add(instruction!);
        }
        return new DockerfilePlan { MetaArgs = metaArgs, Stages = stages, EscapeToken = ast.EscapeToken, Warnings = ast.Warnings };
    }

    private static string Code(InstructionNode node) => node.Original.Trim();

    private static Stage ParseFrom(InstructionNode node, int index)
    {
        var args = node.Args;
        var name = "";
        if (args.Count == 3 && args[1].Equals("as", StringComparison.OrdinalIgnoreCase))
        {
            name = args[2].ToLowerInvariant();
            if (!StageNameRegex().IsMatch(name))
                throw new DockerfileException($"invalid name for build stage: \"{args[2]}\", name can't start with a number or contain symbols");
        }
        else if (args.Count != 1)
            throw new DockerfileException("FROM requires either one or three arguments");
        var flags = new FlagSet(node.Flags);
        var platform = flags.String("platform");
        flags.Parse();
        return new Stage { Index = index, BaseName = args[0], Name = name, Platform = platform.Value, Line = node.StartLine, Text = Code(node) };
    }

    /// <summary>One instruction other than FROM (also an ONBUILD trigger when it runs).</summary>
    public static Instruction ParseInstruction(InstructionNode node)
    {
        var line = node.StartLine;
        var text = Code(node);
        var args = node.Args;
        switch (node.Command)
        {
            case "env":
            case "label":
            {
                new FlagSet(node.Flags).Parse();
                var name = node.Command.ToUpperInvariant();
                if (args.Count == 0) throw new DockerfileException($"{name} requires at least one argument");
                if (args.Count % 3 != 0) throw new DockerfileException($"Bad input to {name}, too many arguments");
                var pairs = new List<KeyValue>();
                for (var i = 0; i < args.Count; i += 3)
                {
                    if (args[i].Length == 0) throw new DockerfileException($"{name} names can not be blank");
                    pairs.Add(new KeyValue(args[i], args[i + 1], args[i + 2] == ""));
                }
                return node.Command == "env"
                    ? new EnvInstruction { Line = line, Text = text, Pairs = pairs }
                    : new LabelInstruction { Line = line, Text = text, Pairs = pairs };
            }
            case "maintainer":
                if (args.Count != 1) throw new DockerfileException("MAINTAINER requires exactly one argument");
                new FlagSet(node.Flags).Parse();
                return new MaintainerInstruction { Line = line, Text = text, Maintainer = args[0] };
            case "add":
            case "copy":
                return ParseCopy(node, node.Command == "add");
            case "onbuild":
            {
                if (args.Count == 0) throw new DockerfileException("ONBUILD requires at least one argument");
                new FlagSet(node.Flags).Parse();
                var trigger = args[0].Trim().ToUpperInvariant();
                switch (trigger)
                {
                    case "ONBUILD": throw new DockerfileException("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
                    case "MAINTAINER" or "FROM": throw new DockerfileException($"{trigger} isn't allowed as an ONBUILD trigger");
                }
                var expression = OnbuildPrefix().Replace(node.Original, "");
                foreach (var h in node.Heredocs) expression += "\n" + h.Content + h.Name;
                return new OnbuildInstruction { Line = line, Text = text, Expression = expression };
            }
            case "workdir":
                if (args.Count != 1) throw new DockerfileException("WORKDIR requires exactly one argument");
                new FlagSet(node.Flags).Parse();
                return new WorkdirInstruction { Line = line, Text = text, Path = args[0] };
            case "run":
            {
                var flags = new FlagSet(node.Flags);
                var mounts = flags.Strings("mount");
                var network = flags.String("network", "default");
                var security = flags.String("security", "sandbox");
                flags.Parse();
                if (network.Value is not ("default" or "none" or "host"))
                    throw new DockerfileException($"invalid network mode \"{network.Value}\"");
                if (security.Value is not ("sandbox" or "insecure"))
                    throw new DockerfileException($"security={security.Value} is not valid");
                foreach (var m in mounts.Values) RunMount.Parse(m, static s => s);
                return new RunInstruction
                {
                    Line = line, Text = text, CommandLine = JoinShellForm(node), PrependShell = !node.IsJson,
                    Files = node.Heredocs, Mounts = mounts.Values, Network = network.Value, Security = security.Value,
                };
            }
            case "cmd":
                new FlagSet(node.Flags).Parse();
                return new CmdInstruction { Line = line, Text = text, CommandLine = JoinShellForm(node), PrependShell = !node.IsJson, Files = node.Heredocs };
            case "entrypoint":
                new FlagSet(node.Flags).Parse();
                return new EntrypointInstruction { Line = line, Text = text, CommandLine = JoinShellForm(node), PrependShell = !node.IsJson, Files = node.Heredocs };
            case "healthcheck":
                return ParseHealthcheck(node);
            case "expose":
            {
                if (args.Count == 0) throw new DockerfileException("EXPOSE requires at least one argument");
                new FlagSet(node.Flags).Parse();
                var ports = args.ToList();
                ports.Sort(StringComparer.Ordinal);
                return new ExposeInstruction { Line = line, Text = text, Ports = ports };
            }
            case "user":
                if (args.Count != 1) throw new DockerfileException("USER requires exactly one argument");
                new FlagSet(node.Flags).Parse();
                return new UserInstruction { Line = line, Text = text, User = args[0] };
            case "volume":
            {
                if (args.Count == 0) throw new DockerfileException("VOLUME requires at least one argument");
                new FlagSet(node.Flags).Parse();
                var volumes = new List<string>();
                foreach (var v in args)
                {
                    var trimmed = v.Trim();
                    if (trimmed.Length == 0) throw new DockerfileException("VOLUME specified can not be an empty string");
                    volumes.Add(trimmed);
                }
                return new VolumeInstruction { Line = line, Text = text, Volumes = volumes };
            }
            case "stopsignal":
                if (args.Count != 1) throw new DockerfileException("STOPSIGNAL requires exactly one argument");
                return new StopSignalInstruction { Line = line, Text = text, Signal = args[0] };
            case "arg":
            {
                if (args.Count == 0) throw new DockerfileException("ARG requires at least one argument");
                var defs = new List<ArgDefinition>();
                foreach (var a in args)
                {
                    var eq = a.IndexOf('=');
                    if (eq < 0) { defs.Add(new ArgDefinition(a, null)); continue; }
                    if (eq == 0) throw new DockerfileException("ARG names can not be blank");
                    defs.Add(new ArgDefinition(a[..eq], a[(eq + 1)..]));
                }
                return new ArgInstruction { Line = line, Text = text, Args = defs };
            }
            case "shell":
            {
                new FlagSet(node.Flags).Parse();
                var shell = JoinShellForm(node);
                if (shell.Count == 0) throw new DockerfileException("SHELL requires at least one argument");
                if (!node.IsJson) throw new DockerfileException($"SHELL requires the arguments to be in JSON form");
                return new ShellInstruction { Line = line, Text = text, Shell = shell };
            }
            default:
                throw new DockerfileException($"unknown instruction: {node.Keyword.ToUpperInvariant()}");
        }
    }

    /// <summary>Exec form as is; shell form as the one string of the whole line.</summary>
    private static IReadOnlyList<string> JoinShellForm(InstructionNode node)
        => node.Args.Count == 0 ? [] : node.IsJson ? node.Args : [string.Join(' ', node.Args)];

    private static CopyInstruction ParseCopy(InstructionNode node, bool isAdd)
    {
        var name = isAdd ? "ADD" : "COPY";
        if (node.Args.Count < 2)
            throw new DockerfileException($"{name} requires at least two arguments, but only one was provided. Destination could not be determined");
        var flags = new FlagSet(node.Flags);
        var chown = flags.String("chown");
        var chmod = flags.String("chmod");
        var link = flags.Bool("link");
        var excludes = flags.Strings("exclude");
        FlagSet.Flag? from = null, parents = null, keepGitDir = null, checksum = null, unpack = null;
        if (isAdd)
        {
            keepGitDir = flags.Bool("keep-git-dir");
            checksum = flags.String("checksum");
            unpack = flags.Bool("unpack");
        }
        else
        {
            from = flags.String("from");
            parents = flags.Bool("parents");
        }
        flags.Parse();

        var destination = node.Args[^1];
        if (DockerfileParser.ParseHeredoc(destination) is not null)
            throw new DockerfileException($"{name} cannot accept a heredoc as a destination");
        var byName = new Dictionary<string, Heredoc>();
        foreach (var h in node.Heredocs) byName[h.Name] = h;
        var sources = new List<string>();
        var contents = new List<SourceContent>();
        foreach (var source in node.Args.Take(node.Args.Count - 1))
        {
            if (DockerfileParser.ParseHeredoc(source) is { } heredoc)
            {
                var data = byName.TryGetValue(heredoc.Name, out var body) ? body.EffectiveContent : "";
                contents.Add(new SourceContent(heredoc.Name, data, heredoc.Expand));
            }
            else sources.Add(source);
        }
        return new CopyInstruction
        {
            Line = node.StartLine, Text = Code(node), IsAdd = isAdd, Sources = sources, Contents = contents, Destination = destination,
            From = from?.Value ?? "", Chown = chown.Value, Chmod = chmod.Value, Link = link.IsTrue, Parents = parents?.IsTrue ?? false,
            Excludes = excludes.Values, Checksum = checksum?.Value ?? "",
            KeepGitDir = keepGitDir is { IsUsed: true } ? keepGitDir.IsTrue : null,
            Unpack = unpack is { IsUsed: true } ? unpack.IsTrue : null,
        };
    }

    private static HealthcheckInstruction ParseHealthcheck(InstructionNode node)
    {
        var args = node.Args;
        if (args.Count == 0) throw new DockerfileException("HEALTHCHECK requires at least one argument");
        var type = args[0].ToUpperInvariant();
        var rest = args.Skip(1).ToList();
        var line = node.StartLine;
        var text = Code(node);
        if (type == "NONE")
        {
            if (rest.Count != 0) throw new DockerfileException("HEALTHCHECK NONE takes no arguments");
            return new HealthcheckInstruction { Line = line, Text = text, Test = ["NONE"] };
        }
        var flags = new FlagSet(node.Flags);
        var interval = flags.String("interval");
        var timeout = flags.String("timeout");
        var startPeriod = flags.String("start-period");
        var startInterval = flags.String("start-interval");
        var retries = flags.String("retries");
        flags.Parse();
        if (type != "CMD") throw new DockerfileException($"Unknown type \"{type}\" in HEALTHCHECK (try CMD)");
        var command = rest.Count == 0 ? [] : node.IsJson ? rest : new List<string> { string.Join(' ', rest) };
        if (command.Count == 0) throw new DockerfileException("Missing command after HEALTHCHECK CMD");
        var retryCount = 0;
        if (retries.Value.Length > 0)
        {
            if (!int.TryParse(retries.Value, out retryCount))
                throw new DockerfileException($"strconv.ParseInt: parsing \"{retries.Value}\": invalid syntax");
            if (retryCount < 0) throw new DockerfileException($"--retries cannot be negative ({retryCount})");
        }
        return new HealthcheckInstruction
        {
            Line = line, Text = text, Test = [node.IsJson ? "CMD" : "CMD-SHELL", .. command],
            Interval = Interval(interval), Timeout = Interval(timeout), StartPeriod = Interval(startPeriod),
            StartInterval = Interval(startInterval), Retries = retryCount,
        };
    }

    private static long Interval(FlagSet.Flag flag)
    {
        if (flag.Value.Length == 0) return 0;
        var ns = GoDuration.Parse(flag.Value);
        if (ns == 0) return 0;
        if (ns < 1_000_000) throw new DockerfileException($"Interval \"{flag.Name}\" cannot be less than 1ms");
        return ns;
    }
}

/// <summary>An instruction's <c>--flags</c> as BuildKit's BFlags checks them.</summary>
internal sealed class FlagSet(IReadOnlyList<string> args)
{
    internal enum Kind { Bool, String, Strings }

    internal sealed class Flag(string name, Kind kind, string value)
    {
        public string Name { get; } = name;
        internal Kind Kind { get; } = kind;
        public string Value { get; internal set; } = value;
        public List<string> Values { get; } = [];
        public bool IsUsed { get; internal set; }
        public bool IsTrue => Value == "true";
    }

    private readonly Dictionary<string, Flag> _flags = new(StringComparer.Ordinal);

    public Flag Bool(string name) => Add(name, Kind.Bool, "false");
    public Flag String(string name, string defaultValue = "") => Add(name, Kind.String, defaultValue);
    public Flag Strings(string name) => Add(name, Kind.Strings, "");

    private Flag Add(string name, Kind kind, string value) => _flags[name] = new Flag(name, kind, value);

    public void Parse()
    {
        foreach (var a in args)
        {
            if (a == "--") return;
            if (!a.StartsWith("--", StringComparison.Ordinal)) throw new DockerfileException($"arg should start with -- : {a}");
            var eq = a.IndexOf('=');
            var flagName = eq < 0 ? a : a[..eq];
            var value = eq < 0 ? "" : a[(eq + 1)..];
            var hasValue = eq >= 0;
            if (!_flags.TryGetValue(flagName[2..], out var flag)) throw new DockerfileException($"unknown flag: {flagName}");
            if (flag.IsUsed && flag.Kind != Kind.Strings) throw new DockerfileException($"duplicate flag specified: {flagName}");
            flag.IsUsed = true;
            switch (flag.Kind)
            {
                case Kind.Bool:
                    if (hasValue && value.Length == 0) throw new DockerfileException($"missing a value on flag: {flagName}");
                    flag.Value = value.ToLowerInvariant() switch
                    {
                        "true" or "" => "true",
                        "false" => "false",
                        _ => throw new DockerfileException($"expecting boolean value for flag {flagName}, not: {value}"),
                    };
                    break;
                case Kind.String:
                    if (!hasValue) throw new DockerfileException($"missing a value on flag: {flagName}");
                    flag.Value = value;
                    break;
                default:
                    if (!hasValue) throw new DockerfileException($"missing a value on flag: {flagName}");
                    flag.Values.Add(value);
                    break;
            }
        }
    }
}

/// <summary>Go's time.ParseDuration, as HEALTHCHECK durations are written ("30s", "1m30s", "1.5h").</summary>
public static class GoDuration
{
    public static long Parse(string s)
    {
        var original = s;
        var negative = false;
        if (s.Length > 0 && s[0] is '+' or '-') { negative = s[0] == '-'; s = s[1..]; }
        if (s == "0") return 0;
        if (s.Length == 0) throw Invalid(original);
        decimal total = 0;
        while (s.Length > 0)
        {
            var i = 0;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
            if (i == 0 || !decimal.TryParse(s[..i], System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out var number))
                throw Invalid(original);
            s = s[i..];
            var u = 0;
            while (u < s.Length && !char.IsAsciiDigit(s[u]) && s[u] != '.') u++;
            if (u == 0) throw new DockerfileException($"time: missing unit in duration \"{original}\"");
            var unit = s[..u];
            s = s[u..];
            total += number * unit switch
            {
                "ns" => 1m,
                "us" or "µs" or "μs" => 1_000m,
                "ms" => 1_000_000m,
                "s" => 1_000_000_000m,
                "m" => 60_000_000_000m,
                "h" => 3_600_000_000_000m,
                _ => throw new DockerfileException($"time: unknown unit \"{unit}\" in duration \"{original}\""),
            };
        }
        var ns = (long)total;
        return negative ? -ns : ns;
    }

    private static DockerfileException Invalid(string s) => new($"time: invalid duration \"{s}\"");
}
