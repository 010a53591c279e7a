using System.Text;

namespace Berth.Build.Dockerfile;

public enum MountType { Bind, Cache, Tmpfs, Secret, Ssh }

/// <summary>A <c>RUN --mount=…</c> value, checked as BuildKit checks it.</summary>
public sealed record RunMount
{
    public MountType Type { get; init; } = MountType.Bind;
    public string From { get; init; } = "";
    public string Source { get; init; } = "";
    public string Target { get; init; } = "";
    public bool ReadOnly { get; init; }
    public long SizeLimit { get; init; }
    public string CacheId { get; init; } = "";
    /// <summary>shared, private or locked ("" when not given).</summary>
    public string Sharing { get; init; } = "";
    public bool Required { get; init; }
    public string? Env { get; init; }
    public uint? Mode { get; init; }
    public uint? Uid { get; init; }
    public uint? Gid { get; init; }

    /// <summary>Parses a mount value, each value passed through <paramref name="expand"/> first (a build's variables).</summary>
    public static RunMount Parse(string value, Func<string, string> expand)
    {
        var m = new RunMount();
        var readOnlyAuto = true;
        foreach (var field in SplitCsv(value))
        {
            var eq = field.IndexOf('=');
            var key = (eq < 0 ? field : field[..eq]).ToLowerInvariant();
            if (eq < 0)
            {
                switch (key)
                {
                    case "readonly" or "ro": m = m with { ReadOnly = true }; readOnlyAuto = false; continue;
                    case "readwrite" or "rw": m = m with { ReadOnly = false }; readOnlyAuto = false; continue;
                    case "required":
                        if (m.Type is MountType.Secret or MountType.Ssh) { m = m with { Required = true }; continue; }
                        throw new DockerfileException($"unexpected key '{key}' for mount type '{TypeName(m.Type)}'");
                    default:
                        throw new DockerfileException($"invalid field '{field}' must be a key=value pair");
                }
            }
            var v = expand(field[(eq + 1)..]);
            switch (key)
            {
                case "type":
                    m = m with
                    {
                        Type = v.ToLowerInvariant() switch
                        {
                            "bind" => MountType.Bind,
                            "cache" => MountType.Cache,
                            "tmpfs" => MountType.Tmpfs,
                            "secret" => MountType.Secret,
                            "ssh" => MountType.Ssh,
                            _ => throw new DockerfileException($"unsupported mount type \"{v}\""),
                        },
                    };
                    break;
                case "from": m = m with { From = v }; break;
                case "source" or "src": m = m with { Source = v }; break;
                case "target" or "dst" or "destination": m = m with { Target = v }; break;
                case "readonly" or "ro":
                    m = m with { ReadOnly = ParseBool(key, v) };
                    readOnlyAuto = false;
                    break;
                case "readwrite" or "rw":
                    m = m with { ReadOnly = !ParseBool(key, v) };
                    readOnlyAuto = false;
                    break;
                case "required":
                    if (m.Type is not (MountType.Secret or MountType.Ssh))
                        throw new DockerfileException($"unexpected key '{key}' for mount type '{TypeName(m.Type)}'");
                    m = m with { Required = ParseBool(key, v) };
                    break;
                case "size":
                    if (m.Type != MountType.Tmpfs) throw new DockerfileException($"unexpected key '{key}' for mount type '{TypeName(m.Type)}'");
                    m = m with { SizeLimit = RamInBytes(v) ?? throw new DockerfileException($"invalid value for {key}: {v}") };
                    break;
                case "id": m = m with { CacheId = v }; break;
                case "sharing":
                    var sharing = v.ToLowerInvariant();
                    if (sharing is not ("shared" or "private" or "locked")) throw new DockerfileException($"unsupported sharing value \"{v}\"");
                    m = m with { Sharing = sharing };
                    break;
                case "mode":
                    try { m = m with { Mode = Convert.ToUInt32(v, 8) }; }
                    catch (Exception e) when (e is FormatException or OverflowException or ArgumentException) { throw new DockerfileException($"invalid value {v} for mode"); }
                    break;
                case "uid":
                    m = m with { Uid = uint.TryParse(v, out var uid) ? uid : throw new DockerfileException($"invalid value {v} for uid") };
                    break;
                case "gid":
                    m = m with { Gid = uint.TryParse(v, out var gid) ? gid : throw new DockerfileException($"invalid value {v} for gid") };
                    break;
                case "env": m = m with { Env = v }; break;
                default:
                    throw new DockerfileException($"unexpected key '{key}' in '{field}'");
            }
        }

        if (m.Type is not (MountType.Secret or MountType.Ssh or MountType.Cache))
        {
            if (m.Mode is not null) throw new DockerfileException($"mode not allowed for \"{TypeName(m.Type)}\" type mounts");
            if (m.Uid is not null) throw new DockerfileException($"uid not allowed for \"{TypeName(m.Type)}\" type mounts");
            if (m.Gid is not null) throw new DockerfileException($"gid not allowed for \"{TypeName(m.Type)}\" type mounts");
        }
        if (readOnlyAuto) m = m with { ReadOnly = m.Type is not (MountType.Cache or MountType.Tmpfs) };
        if (m.Type == MountType.Secret)
        {
            if (m.From.Length > 0) throw new DockerfileException("secret mount should not have a from");
            if (m.Sharing.Length > 0) throw new DockerfileException("secret mount should not define sharing");
            if (m.Source.Length == 0 && m.Target.Length == 0 && m.CacheId.Length == 0)
                throw new DockerfileException("invalid secret mount. one of source, target required");
            if (m.Source.Length > 0 && m.CacheId.Length > 0) throw new DockerfileException("both source and id can't be set");
        }
        if (m.Sharing.Length > 0 && m.Type != MountType.Cache)
            throw new DockerfileException($"invalid cache sharing set for {TypeName(m.Type)} mount");
        if (m.Type != MountType.Secret && m.Type != MountType.Ssh && m.Target.Length == 0)
            throw new DockerfileException($"invalid mount target \"{m.Target}\"");
        return m;
    }

    public static string TypeName(MountType type) => type.ToString().ToLowerInvariant();

    private static bool ParseBool(string key, string value) => value.ToLowerInvariant() switch
    {
        "1" or "t" or "true" => true,
        "0" or "f" or "false" => false,
        _ => throw new DockerfileException($"invalid value for {key}: {value}"),
    };

    /// <summary>docker/go-units RAMInBytes: "64m", "1g", "512k", plain bytes.</summary>
    private static long? RamInBytes(string s)
    {
        s = s.Trim();
        var i = 0;
        while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
        if (i == 0 || !double.TryParse(s[..i], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var n)) return null;
        var unit = s[i..].Trim().ToLowerInvariant();
        if (unit.EndsWith("ib", StringComparison.Ordinal)) unit = unit[..^2];
        else if (unit.EndsWith('b')) unit = unit[..^1];
        long multiplier = unit switch { "" => 1, "k" => 1L << 10, "m" => 1L << 20, "g" => 1L << 30, "t" => 1L << 40, "p" => 1L << 50, _ => 0 };
        return multiplier == 0 ? null : (long)(n * multiplier);
    }

    /// <summary>Splits a CSV record as Go's encoding/csv does for one line (double quotes group, "" is a quote).</summary>
    private static List<string> SplitCsv(string value)
    {
        var fields = new List<string>();
        var sb = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (quoted)
            {
                if (c == '"')
                {
                    if (i + 1 < value.Length && value[i + 1] == '"') { sb.Append('"'); i++; }
                    else quoted = false;
                }
                else sb.Append(c);
            }
            else if (c == '"' && sb.Length == 0) quoted = true;
            else if (c == ',') { fields.Add(sb.ToString()); sb.Clear(); }
            else sb.Append(c);
        }
        if (quoted) throw new DockerfileException($"failed to parse csv mounts: extraneous or missing \" in quoted-field");
        fields.Add(sb.ToString());
        return fields;
    }
}
