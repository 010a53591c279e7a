using System.Text.RegularExpressions;
using Berth.Engine.Models;
using Berth.Oci;
using OciMount = Berth.Oci.Runtime.Mount;

namespace Berth.Engine.RuntimeSpec;

/// <summary>A mount the user asked for (Binds, Mounts, Tmpfs), parsed but not yet placed in the spec.</summary>
public sealed record UserMount(string Destination, string Type, string? Source, bool Writable, string Propagation,
    string? TmpfsData = null, bool NonRecursive = false, string? VolumeName = null, bool CreateSourceIfMissing = false,
    VolumeOptions? VolumeOptions = null, bool ReadOnlyNonRecursive = false);

/// <summary>
/// Docker's mount parsing (moby volume/mounts linux_parser.go): "-v SRC:DST[:MODE]" binds, --mount entries and
/// --tmpfs, with Docker's error texts, and their place in config.json.
/// </summary>
public static partial class UserMounts
{
    private static readonly HashSet<string> PropagationModes = ["private", "rprivate", "slave", "rslave", "shared", "rshared"];
    private static readonly HashSet<string> ConsistencyModes = ["consistent", "cached", "delegated", "default"];
    private const string DefaultPropagation = "rprivate";

    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")]
    private static partial Regex LocalVolumeName();

    /// <summary>Every user mount of <paramref name="host"/>, Binds then Mounts then Tmpfs; a destination twice is Docker's "Duplicate mount point".</summary>
    public static List<UserMount> Parse(HostConfig host, IReadOnlyDictionary<string, EmptyObject>? imageVolumes = null)
    {
        var mounts = new List<UserMount>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(UserMount m)
        {
            if (!seen.Add(m.Destination)) throw new InvalidParameterException($"Duplicate mount point: {m.Destination}");
            mounts.Add(m);
        }
        foreach (var bind in host.Binds ?? []) Add(ParseBind(bind));
        foreach (var mount in host.Mounts ?? []) Add(ParseMount(mount));
        foreach (var (destination, options) in host.Tmpfs ?? [])
        {
            ValidateDestination(destination, raw => new InvalidParameterException($"invalid tmpfs mount destination {raw}"));
            Add(new UserMount(SlashPath.Clean(destination), "tmpfs", "tmpfs", true, DefaultPropagation, TmpfsData: options));
        }
        // An image VOLUME the user did not cover becomes an anonymous volume, as in Docker.
        foreach (var destination in imageVolumes?.Keys ?? [])
        {
            var clean = SlashPath.Clean(destination);
            if (seen.Contains(clean)) continue;
            seen.Add(clean);
            mounts.Add(new UserMount(clean, "volume", null, true, DefaultPropagation));
        }
        return mounts;
    }

    /// <summary>"SRC:DST[:MODE]", "DST" (anonymous volume) or "NAME:DST[:MODE]" (named volume).</summary>
    public static UserMount ParseBind(string raw)
    {
        var parts = raw.Split(':', 4);
        if (parts[0].Length == 0) throw InvalidSpec(raw);
        string? source = null;
        string target;
        var mode = "";
        switch (parts.Length)
        {
            case 1: target = parts[0]; break;
            case 2:
                if (ValidMode(parts[1])) throw InvalidSpec(raw);
                (source, target) = (parts[0], parts[1]);
                break;
            case 3: (source, target, mode) = (parts[0], parts[1], parts[2]); break;
            default: throw InvalidSpec(raw);
        }
        if (!ValidMode(mode)) throw new InvalidParameterException($"invalid mode: {mode}");

        var isBind = source is not null && source.StartsWith('/');
        var type = isBind ? "bind" : "volume";
        var prefix = $"invalid volume specification: '{raw}': invalid mount config for type \"{type}\": ";
        if (target.Length == 0) throw new InvalidParameterException(prefix + "field Target must not be empty");
        if (SlashPath.Clean(target) == "/") throw new InvalidParameterException(prefix + "invalid specification: destination can't be '/'");
        if (!target.StartsWith('/')) throw new InvalidParameterException(prefix + $"invalid mount path: '{target}' mount path must be absolute");

        var options = mode.Split(',', StringSplitOptions.RemoveEmptyEntries);
        var writable = !options.Contains("ro");
        var propagation = options.FirstOrDefault(PropagationModes.Contains) ?? DefaultPropagation;
        if (isBind)
            return new UserMount(SlashPath.Clean(target), "bind", SlashPath.Clean(source!), writable, propagation, CreateSourceIfMissing: true);

        if (source is not null && !LocalVolumeName().IsMatch(source))
            throw new InvalidParameterException($"create {source}: \"{source}\" includes invalid characters for a local volume name, only " +
                "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path");
        var noCopy = options.Contains("nocopy");
        return new UserMount(SlashPath.Clean(target), "volume", null, writable, propagation, VolumeName: source,
            VolumeOptions: noCopy ? new VolumeOptions { NoCopy = true } : null);
    }

    /// <summary>One entry of HostConfig.Mounts (what --mount produces).</summary>
    public static UserMount ParseMount(Mount m)
    {
        var type = m.Type ?? "";
        InvalidParameterException Error(string why) => new($"invalid mount config for type \"{type}\": {why}");
        if (type != "bind" && m.BindOptions is not null) throw Error("field BindOptions must not be specified");
        if (type != "volume" && m.VolumeOptions is not null) throw Error("field VolumeOptions must not be specified");
        if (type != "tmpfs" && m.TmpfsOptions is not null) throw Error("field TmpfsOptions must not be specified");
        if (string.IsNullOrEmpty(m.Target)) throw Error("field Target must not be empty");
        if (SlashPath.Clean(m.Target) == "/") throw Error("invalid specification: destination can't be '/'");
        if (!m.Target.StartsWith('/')) throw Error($"invalid mount path: '{m.Target}' mount path must be absolute");
        var target = SlashPath.Clean(m.Target);
        switch (type)
        {
            case "bind":
            {
                if (string.IsNullOrEmpty(m.Source)) throw Error("field Source must not be empty");
                var propagation = m.BindOptions?.Propagation;
                if (!string.IsNullOrEmpty(propagation) && !PropagationModes.Contains(propagation)) throw Error($"invalid propagation mode: {propagation}");
                if (!m.Source.StartsWith('/')) throw Error($"invalid mount path: '{m.Source}' mount path must be absolute");
                if (m.BindOptions is { ReadOnlyNonRecursive: true, ReadOnlyForceRecursive: true })
                    throw new InvalidParameterException("mount options conflict: ReadOnlyNonRecursive && ReadOnlyForceRecursive");
                return new UserMount(target, "bind", SlashPath.Clean(m.Source), !m.ReadOnly, string.IsNullOrEmpty(propagation) ? DefaultPropagation : propagation,
                    NonRecursive: m.BindOptions?.NonRecursive == true, CreateSourceIfMissing: m.BindOptions?.CreateMountpoint == true,
                    ReadOnlyNonRecursive: m.BindOptions?.ReadOnlyNonRecursive == true);
            }
            case "volume":
            {
                if (m.VolumeOptions?.Subpath is { Length: > 0 } subpath)
                {
                    if (string.IsNullOrEmpty(m.Source)) throw Error("must not set Subpath when using anonymous volumes");
                    if (subpath.StartsWith('/') || PathClimbs(subpath)) throw Error("subpath must be a relative path within the volume");
                }
                return new UserMount(target, "volume", null, !m.ReadOnly, DefaultPropagation,
                    VolumeName: string.IsNullOrEmpty(m.Source) ? null : m.Source, VolumeOptions: m.VolumeOptions);
            }
            case "tmpfs":
                if (!string.IsNullOrEmpty(m.Source)) throw Error("field Source must not be specified");
                return new UserMount(target, "tmpfs", "tmpfs", !m.ReadOnly, DefaultPropagation, TmpfsData: TmpfsData(m.TmpfsOptions, m.ReadOnly, Error));
            default:
                throw Error("mount type unknown");
        }
    }

    /// <summary>Docker's ConvertTmpfsOptions: "ro", "mode=OCTAL", "size=N[kmg]" and the exec/noexec options.</summary>
    private static string TmpfsData(TmpfsOptions? options, bool readOnly, Func<string, InvalidParameterException> error)
    {
        var raw = new List<string>();
        if (readOnly) raw.Add("ro");
        if (options is { Mode: not 0 }) raw.Add("mode=" + Convert.ToString(options.Mode, 8));
        if (options is { SizeBytes: not 0 })
        {
            var size = options.SizeBytes;
            var suffix = "";
            foreach (var (s, divisor) in new[] { ("g", 1L << 30), ("m", 1L << 20), ("k", 1L << 10) })
                if (size % divisor == 0) { size /= divisor; suffix = s; break; }
            raw.Add($"size={size}{suffix}");
        }
        foreach (var option in options?.Options ?? [])
        {
            if (option.Count is < 1 or > 2) throw error("invalid option array length");
            if (option[0] is not ("exec" or "noexec")) throw error("invalid option: " + option[0]);
            raw.Add(option.Count == 1 ? option[0] : option[0] + "=" + option[1]);
        }
        return string.Join(',', raw);
    }

    /// <summary>The spec mount of a bind (source resolved) or tmpfs, with Docker's options.</summary>
    public static OciMount ToOci(UserMount m, string source)
    {
        if (m.Type == "tmpfs")
        {
            var options = new List<string> { "noexec", "nosuid", "nodev", DefaultPropagation };
            if (!string.IsNullOrEmpty(m.TmpfsData)) options.AddRange(m.TmpfsData.Split(','));
            return new OciMount { Destination = m.Destination, Source = "tmpfs", Type = "tmpfs", Options = MergeTmpfsOptions(options) };
        }
        var bindOptions = new List<string> { m.NonRecursive ? "bind" : "rbind" };
        if (!m.Writable) bindOptions.Add("ro");
        bindOptions.Add(m.Propagation);
        return new OciMount { Destination = m.Destination, Source = source, Type = "bind", Options = bindOptions };
    }

    private static readonly Dictionary<string, string> FlagKinds = new(StringComparer.Ordinal)
    {
        ["exec"] = "exec", ["noexec"] = "exec", ["suid"] = "suid", ["nosuid"] = "suid", ["dev"] = "dev", ["nodev"] = "dev",
        ["ro"] = "rw", ["rw"] = "rw", ["atime"] = "atime", ["noatime"] = "atime", ["diratime"] = "diratime",
        ["nodiratime"] = "diratime", ["relatime"] = "relatime", ["norelatime"] = "relatime", ["strictatime"] = "strictatime",
        ["nostrictatime"] = "strictatime", ["sync"] = "sync", ["async"] = "sync", ["dirsync"] = "dirsync",
        ["mand"] = "mand", ["nomand"] = "mand",
    };

    /// <summary>
    /// Later tmpfs options win over earlier ones of the same kind ("exec" over the default "noexec", a second
    /// "size="), keeping the first-seen order of the winners (moby pkg/mount MergeTmpfsOptions).
    /// </summary>
    public static List<string> MergeTmpfsOptions(IReadOnlyList<string> options)
    {
        var kept = new List<string>();
        var kinds = new HashSet<string>(StringComparer.Ordinal);
        for (var i = options.Count - 1; i >= 0; i--)
        {
            var option = options[i];
            var kind = FlagKinds.TryGetValue(option, out var k) ? k
                : PropagationModes.Contains(option) ? "propagation"
                : option.Contains('=') ? option[..option.IndexOf('=')] + "=" : option;
            if (kinds.Add(kind)) kept.Add(option);
        }
        kept.Reverse();
        return kept;
    }

    private static bool ValidMode(string mode)
    {
        if (mode.Length == 0) return true;
        int rw = 0, label = 0, propagation = 0, copy = 0, consistency = 0;
        foreach (var o in mode.Split(','))
        {
            if (o is "rw" or "ro") rw++;
            else if (o is "z" or "Z") label++;
            else if (PropagationModes.Contains(o)) propagation++;
            else if (o == "nocopy") copy++;
            else if (ConsistencyModes.Contains(o)) consistency++;
            else return false;
        }
        return rw <= 1 && label <= 1 && propagation <= 1 && copy <= 1 && consistency <= 1;
    }

    private static void ValidateDestination(string destination, Func<string, InvalidParameterException> error)
    {
        if (SlashPath.Clean(destination) == "/") throw new InvalidParameterException("invalid specification: destination can't be '/'");
        if (!destination.StartsWith('/')) throw new InvalidParameterException($"invalid mount path: '{destination}' mount path must be absolute");
        _ = error;
    }

    private static InvalidParameterException InvalidSpec(string raw) => new($"invalid volume specification: '{raw}'");

    private static bool PathClimbs(string relative) => relative.Split('/').Any(p => p == "..");
}
