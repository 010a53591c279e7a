using System.Text;
using System.Text.Json;
using Berth.Oci.Image;

namespace Berth.Images;

/// <summary>
/// The Dockerfile instructions `docker import -c` and `docker commit -c` accept, applied to an image's
/// container config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, SHELL, STOPSIGNAL, USER, VOLUME, WORKDIR,
/// HEALTHCHECK. CMD/ENTRYPOINT/SHELL/VOLUME take the JSON form or the shell form, as in a Dockerfile;
/// values may use $VAR and ${VAR} from the config's ENV, quotes and backslash escapes.
/// </summary>
public static class ConfigChanges
{
    private static readonly string[] Valid =
        ["cmd", "entrypoint", "env", "expose", "healthcheck", "label", "onbuild", "shell", "stopsignal", "user", "volume", "workdir"];

    /// <summary>Applies every change in order to a copy of <paramref name="config"/> (null = empty) and returns it.</summary>
    public static ContainerConfig Apply(ContainerConfig? config, IEnumerable<string> changes)
    {
        var result = config?.Clone() ?? new ContainerConfig();
        var cmdSet = false;
        foreach (var raw in changes)
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            var space = line.IndexOfAny([' ', '\t']);
            var instruction = (space < 0 ? line : line[..space]).ToLowerInvariant();
            var args = space < 0 ? "" : line[(space + 1)..].Trim();
            if (!Valid.Contains(instruction)) throw new ChangeException($"{instruction} is not a valid change command");
            switch (instruction)
            {
                case "cmd":
                    result.Cmd = CommandForm(args, result, instruction);
                    cmdSet = true;
                    break;
                case "entrypoint":
                    result.Entrypoint = CommandForm(args, result, instruction);
                    // As a Dockerfile: a new entrypoint drops the inherited CMD unless CMD was set here too.
                    if (!cmdSet) result.Cmd = null;
                    break;
                case "shell":
                    result.Shell = JsonArray(args) ?? throw new ChangeException("SHELL requires the arguments to be in JSON form");
                    break;
                case "env":
                    foreach (var (key, value) in KeyValues(args, result, instruction))
                        SetEnv(result, key, value);
                    break;
                case "label":
                    result.Labels ??= [];
                    foreach (var (key, value) in KeyValues(args, result, instruction)) result.Labels[key] = value;
                    break;
                case "expose":
                    result.ExposedPorts ??= [];
                    foreach (var word in Words(args, result.Env, instruction))
                        foreach (var port in ExpandPort(word)) result.ExposedPorts[port] = EmptyObject.Instance;
                    break;
                case "volume":
                    result.Volumes ??= [];
                    var volumes = JsonArray(args) ?? Words(args, result.Env, instruction);
                    if (volumes.Count == 0) throw new ChangeException("VOLUME requires at least one argument");
                    foreach (var v in volumes)
                    {
                        if (v.Trim().Length == 0) throw new ChangeException("VOLUME specified can not be an empty string");
                        result.Volumes[v] = EmptyObject.Instance;
                    }
                    break;
                case "workdir":
                    var dir = Single(args, result.Env, instruction);
                    result.WorkingDir = dir.StartsWith('/') ? NormalizePath(dir) : NormalizePath("/" + (result.WorkingDir ?? "") + "/" + dir);
                    break;
                case "user":
                    result.User = Single(args, result.Env, instruction);
                    break;
                case "stopsignal":
                    result.StopSignal = Single(args, result.Env, instruction);
                    break;
                case "onbuild":
                    var trigger = args.Split([' ', '\t'], 2)[0].ToUpperInvariant();
                    if (trigger is "ONBUILD" or "FROM" or "MAINTAINER" || trigger.Length == 0)
                        throw new ChangeException(trigger.Length == 0 ? "ONBUILD requires an instruction" : $"{trigger} isn't allowed as an ONBUILD trigger");
                    result.OnBuild ??= [];
                    result.OnBuild.Add(trigger + args[trigger.Length..]);
                    break;
                case "healthcheck":
                    result.Healthcheck = Healthcheck(args, result);
                    break;
            }
        }
        return result;
    }

    private static void SetEnv(ContainerConfig config, string key, string value)
    {
        config.Env ??= [];
        var entry = key + "=" + value;
        var index = config.Env.FindIndex(e => e.StartsWith(key + "=", StringComparison.Ordinal) || e == key);
        if (index >= 0) config.Env[index] = entry; else config.Env.Add(entry);
    }

    /// <summary>JSON form (["a","b"]) as is; shell form wrapped in the config's shell (default /bin/sh -c).</summary>
    private static List<string> CommandForm(string args, ContainerConfig config, string instruction)
    {
        if (JsonArray(args) is { } json) return json;
        if (args.Length == 0) throw new ChangeException($"{instruction.ToUpperInvariant()} requires at least one argument");
        return [.. config.Shell is { Count: > 0 } shell ? shell : ["/bin/sh", "-c"], args];
    }

    /// <summary>A JSON array of strings, or null when <paramref name="args"/> is not one (then it is the shell form).</summary>
    private static List<string>? JsonArray(string args)
    {
        if (!args.StartsWith('[')) return null;
        try
        {
            using var doc = JsonDocument.Parse(args);
            if (doc.RootElement.ValueKind != JsonValueKind.Array) return null;
            var list = new List<string>();
            foreach (var item in doc.RootElement.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String) return null;
                list.Add(item.GetString()!);
            }
            return list;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Single(string args, List<string>? env, string instruction)
    {
        var words = Words(args, env, instruction);
        if (words.Count != 1) throw new ChangeException($"{instruction.ToUpperInvariant()} requires exactly one argument");
        return words[0];
    }

    /// <summary>ENV and LABEL: key=value pairs, or the legacy "key value with spaces".</summary>
    private static List<(string Key, string Value)> KeyValues(string args, ContainerConfig config, string instruction)
    {
        var name = instruction.ToUpperInvariant();
        var words = Words(args, config.Env, instruction);
        if (words.Count == 0) throw new ChangeException($"{name} requires at least one argument");
        var pairs = new List<(string, string)>();
        if (!words[0].Contains('='))
        {
            // Legacy form: the first word is the key, the rest of the line its value.
            var key = words[0];
            var split = args.IndexOfAny([' ', '\t']);
            var rest = split < 0 ? "" : args[split..].TrimStart();
            if (rest.Length == 0) throw new ChangeException($"{name} must have two arguments");
            var value = string.Join(' ', Words(rest, config.Env, instruction));
            pairs.Add((key, value));
            return pairs;
        }
        foreach (var word in words)
        {
            var eq = word.IndexOf('=');
            if (eq <= 0) throw new ChangeException($"{name} names can not be blank" + (eq < 0 ? $": \"{word}\" has no '='" : ""));
            pairs.Add((word[..eq], word[(eq + 1)..]));
        }
        return pairs;
    }

    /// <summary>
    /// Splits a line into words as the Dockerfile lexer does: whitespace separates, '…' is literal, "…" allows
    /// \" and \\ and $, a backslash escapes the next character, $VAR and ${VAR} expand from the environment.
    /// </summary>
    internal static List<string> Words(string text, List<string>? env, string instruction)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c))
            {
                if (inWord) { words.Add(word.ToString()); word.Clear(); inWord = false; }
                continue;
            }
            inWord = true;
            switch (c)
            {
                case '\\' when i + 1 < text.Length:
                    word.Append(text[++i]);
                    break;
                case '\'':
                    var close = text.IndexOf('\'', i + 1);
                    if (close < 0) throw new ChangeException($"{instruction.ToUpperInvariant()}: unexpected end of statement while looking for matching single-quote");
                    word.Append(text, i + 1, close - i - 1);
                    i = close;
                    break;
                case '"':
                    i++;
                    for (; ; i++)
                    {
                        if (i >= text.Length) throw new ChangeException($"{instruction.ToUpperInvariant()}: unexpected end of statement while looking for matching double-quote");
                        if (text[i] == '"') break;
                        if (text[i] == '\\' && i + 1 < text.Length && text[i + 1] is '"' or '\\' or '$') word.Append(text[++i]);
                        else if (text[i] == '$') i = Expand(text, i, env, word);
                        else word.Append(text[i]);
                    }
                    break;
                case '$':
                    i = Expand(text, i, env, word);
                    break;
                default:
                    word.Append(c);
                    break;
            }
        }
        if (inWord) words.Add(word.ToString());
        return words;
    }

    /// <summary>Expands the variable at text[i] == '$' into <paramref name="into"/>; returns the index of its last character.</summary>
    private static int Expand(string text, int i, List<string>? env, StringBuilder into)
    {
        if (i + 1 >= text.Length) { into.Append('$'); return i; }
        string name;
        int last;
        if (text[i + 1] == '{')
        {
            var close = text.IndexOf('}', i + 2);
            if (close < 0) throw new ChangeException("missing '}' in variable substitution");
            name = text[(i + 2)..close];
            last = close;
            var modifier = name.IndexOf(':');
            if (modifier > 0 && modifier + 1 < name.Length && name[modifier + 1] is '-' or '+')
            {
                var word = name[(modifier + 2)..];
                var value = Lookup(env, name[..modifier]);
                into.Append(name[modifier + 1] == '-' ? (string.IsNullOrEmpty(value) ? word : value) : (string.IsNullOrEmpty(value) ? "" : word));
                return last;
            }
        }
        else
        {
            var end = i + 1;
            while (end < text.Length && (char.IsAsciiLetterOrDigit(text[end]) || text[end] == '_')) end++;
            if (end == i + 1) { into.Append('$'); return i; }
            name = text[(i + 1)..end];
            last = end - 1;
        }
        into.Append(Lookup(env, name) ?? "");
        return last;
    }

    private static string? Lookup(List<string>? env, string name)
    {
        if (env is null) return null;
        for (var k = env.Count - 1; k >= 0; k--)
            if (env[k].Length > name.Length && env[k][name.Length] == '=' && env[k].StartsWith(name, StringComparison.Ordinal))
                return env[k][(name.Length + 1)..];
        return null;
    }

    /// <summary>"80", "80/tcp", "53/udp", "8000-8002/tcp" → "80/tcp"… (Docker's nat.ParsePortSpecs for EXPOSE).</summary>
    internal static IEnumerable<string> ExpandPort(string spec)
    {
        var slash = spec.IndexOf('/');
        var range = slash < 0 ? spec : spec[..slash];
        var proto = slash < 0 ? "tcp" : spec[(slash + 1)..].ToLowerInvariant();
        if (proto is not ("tcp" or "udp" or "sctp")) throw new ChangeException($"invalid proto: {proto}");
        var dash = range.IndexOf('-');
        if (!ushort.TryParse(dash < 0 ? range : range[..dash], out var start) || start == 0
            || (dash >= 0 && (!ushort.TryParse(range[(dash + 1)..], out var endPort) || endPort < start)))
            throw new ChangeException($"invalid containerPort: {range}");
        var end = dash < 0 ? start : ushort.Parse(range[(dash + 1)..]);
        for (int p = start; p <= end; p++) yield return $"{p}/{proto}";
    }

    private static string NormalizePath(string path)
    {
        var parts = new List<string>();
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            if (part == "..") { if (parts.Count > 0) parts.RemoveAt(parts.Count - 1); continue; }
            parts.Add(part);
        }
        return "/" + string.Join('/', parts);
    }

    /// <summary>HEALTHCHECK NONE, or HEALTHCHECK [--interval=… --timeout=… --start-period=… --start-interval=… --retries=…] CMD …</summary>
    private static HealthcheckConfig Healthcheck(string args, ContainerConfig config)
    {
        if (args.Trim().Equals("NONE", StringComparison.OrdinalIgnoreCase)) return new HealthcheckConfig { Test = ["NONE"] };
        var health = new HealthcheckConfig();
        var rest = args.TrimStart();
        while (rest.StartsWith("--", StringComparison.Ordinal))
        {
            var space = rest.IndexOfAny([' ', '\t']);
            var flag = space < 0 ? rest : rest[..space];
            rest = space < 0 ? "" : rest[space..].TrimStart();
            var eq = flag.IndexOf('=');
            if (eq < 0) throw new ChangeException($"HEALTHCHECK flag {flag} needs a value (--flag=value)");
            var (name, value) = (flag[2..eq], flag[(eq + 1)..]);
            switch (name)
            {
                case "interval": health.Interval = Duration(value, name); break;
                case "timeout": health.Timeout = Duration(value, name); break;
                case "start-period": health.StartPeriod = Duration(value, name); break;
                case "start-interval": health.StartInterval = Duration(value, name); break;
                case "retries":
                    if (!int.TryParse(value, out var retries) || retries < 0) throw new ChangeException($"HEALTHCHECK --retries must be a non-negative integer, not \"{value}\"");
                    health.Retries = retries;
                    break;
                default: throw new ChangeException($"unknown flag: --{name}");
            }
        }
        var space2 = rest.IndexOfAny([' ', '\t']);
        var kind = (space2 < 0 ? rest : rest[..space2]).ToUpperInvariant();
        if (kind != "CMD") throw new ChangeException($"unknown type \"{kind}\" in HEALTHCHECK (try CMD)");
        var command = space2 < 0 ? "" : rest[space2..].Trim();
        if (JsonArray(command) is { } json) health.Test = ["CMD", .. json];
        else if (command.Length > 0) health.Test = ["CMD-SHELL", command];
        else throw new ChangeException("missing command after HEALTHCHECK CMD");
        _ = config;
        return health;
    }

    /// <summary>Go's duration syntax as Docker accepts it: 30s, 1m30s, 500ms, 1h; in nanoseconds.</summary>
    internal static long Duration(string text, string flag)
    {
        long total = 0;
        var i = 0;
        if (text.Length == 0) throw new ChangeException($"HEALTHCHECK --{flag}: empty duration");
        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.')) i++;
            if (start == i || !double.TryParse(text.AsSpan(start, i - start), System.Globalization.CultureInfo.InvariantCulture, out var number))
                throw new ChangeException($"HEALTHCHECK --{flag}: invalid duration \"{text}\"");
            var unitStart = i;
            while (i < text.Length && (char.IsAsciiLetter(text[i]) || text[i] == 'µ')) i++;
            double scale = text[unitStart..i] switch
            {
                "ns" => 1, "us" or "µs" => 1e3, "ms" => 1e6, "s" => 1e9, "m" => 60e9, "h" => 3600e9,
                _ => throw new ChangeException($"HEALTHCHECK --{flag}: invalid duration \"{text}\""),
            };
            total += (long)(number * scale);
        }
        if (total != 0 && total < 1_000_000) throw new ChangeException($"Interval \"{flag}\" cannot be less than 1ms");
        return total;
    }
}

public sealed class ChangeException(string message) : FormatException(message);
