namespace Berth.Cli;

/// <summary>A command-line error in docker's words; the CLI prints it with "See 'berth CMD --help'." and exits 125.</summary>
public sealed class FlagException(string message) : Exception(message);

/// <summary>An option that parses but cannot be used (a bad port spec, a missing env file): "berth: MESSAGE", exit 125.</summary>
public sealed class InvalidOptionException(string message) : Exception(message);

/// <summary>
/// Flags parsed as docker's (spf13/pflag): --name value, --name=value, -n value, -nvalue, grouped short
/// booleans (-it, -dit), "--" ends flags; for run/exec/create the first positional ends them too.
/// Values are validated while parsing so that a bad value fails with pflag's message.
/// </summary>
public sealed class FlagSet(string command, bool interspersed = true)
{
    public sealed class Flag(string name, char? shorthand, bool isBool, bool repeatable, Func<string, string?>? validate)
    {
        public string Name { get; } = name;
        public char? Shorthand { get; } = shorthand;
        public bool IsBool { get; } = isBool;
        public bool Repeatable { get; } = repeatable;
        public Func<string, string?>? Validate { get; } = validate;
        public List<string> Values { get; } = [];
        public string Display => Shorthand is { } s ? $"-{s}, --{Name}" : $"--{Name}";
    }

    private readonly Dictionary<string, Flag> byName = new(StringComparer.Ordinal);
    private readonly Dictionary<char, Flag> byShorthand = [];

    public string Command { get; } = command;
    public List<string> Positionals { get; } = [];

    public FlagSet Bool(string name, char? shorthand = null) => Add(new Flag(name, shorthand, true, false, null));
    public FlagSet String(string name, char? shorthand = null, Func<string, string?>? validate = null) => Add(new Flag(name, shorthand, false, false, validate));
    public FlagSet List(string name, char? shorthand = null, Func<string, string?>? validate = null) => Add(new Flag(name, shorthand, false, true, validate));

    public FlagSet Int(string name, char? shorthand = null)
        => String(name, shorthand, v => int.TryParse(v, out _) ? null : $"strconv.ParseInt: parsing \"{v}\": invalid syntax");

    private FlagSet Add(Flag flag)
    {
        byName[flag.Name] = flag;
        if (flag.Shorthand is { } s) byShorthand[s] = flag;
        return this;
    }

    public bool Has(string name) => byName[name].Values.Count > 0;
    public bool GetBool(string name) => byName[name].Values is { Count: > 0 } v && v[^1] == "true";
    public string? Get(string name) => byName[name].Values is { Count: > 0 } v ? v[^1] : null;
    public IReadOnlyList<string> GetAll(string name) => byName[name].Values;
    public int? GetInt(string name) => Get(name) is { } v ? int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : null;

    public FlagSet Parse(IReadOnlyList<string> args)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg == "--") { AddRest(args, i + 1); break; }
            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                var eq = arg.IndexOf('=');
                var name = eq > 0 ? arg[2..eq] : arg[2..];
                if (!byName.TryGetValue(name, out var flag)) throw new FlagException($"unknown flag: --{name}");
                if (flag.IsBool) Set(flag, eq > 0 ? arg[(eq + 1)..] : "true");
                else if (eq > 0) Set(flag, arg[(eq + 1)..]);
                else if (i + 1 < args.Count) Set(flag, args[++i]);
                else throw new FlagException($"flag needs an argument: --{name}");
                continue;
            }
            if (arg.StartsWith('-') && arg.Length > 1)
            {
                for (var j = 1; j < arg.Length; j++)
                {
                    var c = arg[j];
                    if (!byShorthand.TryGetValue(c, out var flag)) throw new FlagException($"unknown shorthand flag: '{c}' in {arg}");
                    if (flag.IsBool)
                    {
                        if (j + 1 < arg.Length && arg[j + 1] == '=') { Set(flag, arg[(j + 2)..]); break; }
                        Set(flag, "true");
                        continue;
                    }
                    if (j + 1 < arg.Length) Set(flag, arg[(j + 1)..].TrimStart('='));
                    else if (i + 1 < args.Count) Set(flag, args[++i]);
                    else throw new FlagException($"flag needs an argument: '{c}' in -{c}");
                    break;
                }
                continue;
            }
            Positionals.Add(arg);
            if (!interspersed) { AddRest(args, i + 1); break; }
        }
        return this;
    }

    private void AddRest(IReadOnlyList<string> args, int from)
    {
        for (var i = from; i < args.Count; i++) Positionals.Add(args[i]);
    }

    private static void Set(Flag flag, string value)
    {
        if (flag.IsBool)
        {
            value = value switch
            {
                "1" or "t" or "T" or "true" or "TRUE" or "True" => "true",
                "0" or "f" or "F" or "false" or "FALSE" or "False" => "false",
                _ => throw new FlagException($"invalid argument \"{value}\" for \"{flag.Display}\" flag: strconv.ParseBool: parsing \"{value}\": invalid syntax"),
            };
        }
        else if (flag.Validate?.Invoke(value) is { } problem)
        {
            throw new FlagException($"invalid argument \"{value}\" for \"{flag.Display}\" flag: {problem}");
        }
        if (!flag.Repeatable) flag.Values.Clear();
        flag.Values.Add(value);
    }
}
