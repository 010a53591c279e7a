using System.Text.Json;
using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime.Config;

/// <summary>Reads and validates a bundle's config.json. Every problem is one line naming the field, found before
/// anything is created on the host.</summary>
public static class SpecLoader
{
    public static (Spec Spec, byte[] Raw) Load(string bundle)
    {
        var raw = Read(bundle);
        return (Load(bundle, raw), raw);
    }

    /// <summary>The bundle's config.json as it is on disk, unparsed.</summary>
    public static byte[] Read(string bundle)
    {
        try { return File.ReadAllBytes(Path.Combine(bundle, "config.json")); }
        catch (FileNotFoundException) { throw new RuntimeException($"bundle {bundle}: config.json not found"); }
        catch (DirectoryNotFoundException) { throw new RuntimeException($"bundle {bundle}: no such directory"); }
        catch (UnauthorizedAccessException) { throw new RuntimeException($"bundle {bundle}: config.json: permission denied"); }
    }

    /// <summary>Parses and validates a config.json read by <see cref="Read"/>.</summary>
    public static Spec Load(string bundle, byte[] raw)
    {
        var spec = Parse(raw);
        Validate(spec, bundle);
        return spec;
    }

    /// <summary>
    /// A guess, made from the raw text before it is parsed, at whether `create` will clone an init that makes a new
    /// network namespace: linux.namespaces has a "network" entry without a path, and none of the namespaces that make
    /// the init an exec'd one (user, time, a joined pid namespace). It lets that namespace be begun on another thread
    /// while the config is parsed; the caller corrects a wrong guess once it has the spec. Unreadable JSON is "no".
    /// </summary>
    public static bool WantsNetworkNamespaceInClone(ReadOnlySpan<byte> raw)
    {
        try
        {
            var reader = new Utf8JsonReader(raw, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            if (!SeekProperty(ref reader, "linux"u8) || reader.TokenType != JsonTokenType.StartObject) return false;
            if (!SeekProperty(ref reader, "namespaces"u8) || reader.TokenType != JsonTokenType.StartArray) return false;
            var network = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                string? type = null, path = null;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isType = reader.ValueTextEquals("type"u8);
                    var isPath = reader.ValueTextEquals("path"u8);
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String && (isType || isPath))
                    {
                        if (isType) type = reader.GetString(); else path = reader.GetString();
                    }
                    else reader.Skip();
                }
                var joined = !string.IsNullOrEmpty(path);
                if (type is "user" or "time" || (type == "pid" && joined)) return false;
                if (type == "network" && !joined) network = true;
            }
            return network && reader.TokenType == JsonTokenType.EndArray;
        }
        catch (JsonException) { return false; }
    }

    /// <summary>Moves the reader, which is at the start of an object or just before it, onto the value of the object's
    /// property <paramref name="name"/>, skipping the others; false when there is no such property.</summary>
    private static bool SeekProperty(ref Utf8JsonReader reader, ReadOnlySpan<byte> name)
    {
        if (reader.TokenType == JsonTokenType.None && (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)) return false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var found = reader.ValueTextEquals(name);
            if (!reader.Read()) return false;
            if (found) return true;
            reader.Skip();
        }
        return false;
    }

    public static Spec Parse(ReadOnlySpan<byte> raw)
    {
        try
        {
            return SpecReader.Read(raw) ?? throw new RuntimeException("config.json: empty (null) document");
        }
        catch (JsonException e)
        {
            var field = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "" : " at " + e.Path.TrimStart('$', '.');
            var where = e.LineNumber is { } line ? $" (line {line + 1})" : "";
            throw new RuntimeException($"config.json: malformed{field}{where}: {FirstSentence(e.Message)}");
        }
    }

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).TrimEnd('.', ' ');
    }

    /// <summary>The checks of config.md and config-linux.md that the runtime must make before creating anything.</summary>
    public static void Validate(Spec spec, string bundle, bool requireProcess = true)
    {
        if (string.IsNullOrEmpty(spec.OciVersion)) throw new RuntimeException("config.json: ociVersion: missing");
        if (spec.Root is null || string.IsNullOrEmpty(spec.Root.Path)) throw new RuntimeException("config.json: root.path: missing");
        var rootfs = RootfsOf(spec, bundle);
        if (!Directory.Exists(rootfs)) throw new RuntimeException($"config.json: root.path: rootfs {rootfs} does not exist");
        if (requireProcess)
        {
            if (spec.Process is null) throw new RuntimeException("config.json: process: missing");
            ValidateProcess(spec.Process, "process");
        }
        var newOrJoined = new HashSet<string>(StringComparer.Ordinal);
        var namespaces = spec.Linux?.Namespaces ?? [];
        for (var i = 0; i < namespaces.Count; i++)
        {
            var ns = namespaces[i];
            if (Namespaces.FlagOf(ns.Type) == 0)
                throw new RuntimeException($"config.json: linux.namespaces[{i}].type: unknown namespace type \"{ns.Type}\"");
            if (!newOrJoined.Add(ns.Type))
                throw new RuntimeException($"config.json: linux.namespaces[{i}].type: namespace \"{ns.Type}\" given twice");
            if (ns.Path is { Length: > 0 } p && !p.StartsWith('/'))
                throw new RuntimeException($"config.json: linux.namespaces[{i}].path: \"{p}\" is not an absolute path");
        }
        var userNs = newOrJoined.Contains("user");
        var mapped = spec.Linux?.UidMappings is { Count: > 0 } || spec.Linux?.GidMappings is { Count: > 0 };
        if (userNs && namespaces.Find(n => n.Type == "user")!.Path is not { Length: > 0 } && spec.Linux?.UidMappings is not { Count: > 0 })
            throw new RuntimeException("config.json: linux.uidMappings: a new user namespace needs uid mappings");
        if (mapped && !userNs) throw new RuntimeException("config.json: linux.uidMappings: mappings given without a user namespace");
        if (!string.IsNullOrEmpty(spec.Hostname) && !newOrJoined.Contains("uts"))
            throw new RuntimeException("config.json: hostname: cannot set a hostname without a private UTS namespace");
        if (spec.Linux?.TimeOffsets is { Count: > 0 } && !newOrJoined.Contains("time"))
            throw new RuntimeException("config.json: linux.timeOffsets: time offsets need a time namespace");
        var mounts = spec.Mounts ?? [];
        for (var i = 0; i < mounts.Count; i++)
        {
            var dest = mounts[i].Destination;
            if (string.IsNullOrEmpty(dest)) throw new RuntimeException($"config.json: mounts[{i}].destination: missing");
            if (ClimbsOut(dest)) throw new RuntimeException($"config.json: mounts[{i}].destination: \"{dest}\" climbs out of the rootfs");
        }
        if (spec.Linux?.CgroupsPath is { } cg && ClimbsOut(cg))
            throw new RuntimeException($"config.json: linux.cgroupsPath: \"{cg}\" climbs out of the cgroup hierarchy");
        ValidateHooks(spec.Hooks);
        // The rootfs checks that need no kernel, here rather than in the init (which skips them, RootfsOptions.Validated):
        // a bad mount fails before anything is made, and the init's path to its first mount is shorter.
        try { Rootfs.RootfsSetup.Validate(spec, bundle); }
        catch (Rootfs.RootfsException e) { throw new RuntimeException($"config.json: {e.Message}"); }
    }

    public static void ValidateProcess(Process process, string field)
    {
        if (process.Args is not { Count: > 0 } || string.IsNullOrEmpty(process.Args[0]))
            throw new RuntimeException($"config.json: {field}.args: must not be empty");
        if (string.IsNullOrEmpty(process.Cwd) || !process.Cwd.StartsWith('/'))
            throw new RuntimeException($"config.json: {field}.cwd: \"{process.Cwd}\" must be an absolute path");
        foreach (var e in process.Env ?? [])
            if (!e.Contains('=')) throw new RuntimeException($"config.json: {field}.env: \"{e}\" is not KEY=value");
        foreach (var r in process.Rlimits ?? [])
            if (r.Soft > r.Hard) throw new RuntimeException($"config.json: {field}.rlimits: {r.Type} soft limit above the hard limit");
    }

    private static void ValidateHooks(Oci.Runtime.Hooks? hooks)
    {
        if (hooks is null) return;
        Check(hooks.Prestart, "prestart"); Check(hooks.CreateRuntime, "createRuntime"); Check(hooks.CreateContainer, "createContainer");
        Check(hooks.StartContainer, "startContainer"); Check(hooks.Poststart, "poststart"); Check(hooks.Poststop, "poststop");

        static void Check(List<Hook>? list, string name)
        {
            if (list is null) return;
            for (var i = 0; i < list.Count; i++)
            {
                if (!list[i].Path.StartsWith('/')) throw new RuntimeException($"config.json: hooks.{name}[{i}].path: \"{list[i].Path}\" must be absolute");
                if (list[i].Timeout is <= 0) throw new RuntimeException($"config.json: hooks.{name}[{i}].timeout: must be positive");
            }
        }
    }

    public static string RootfsOf(Spec spec, string bundle)
    {
        var p = spec.Root!.Path;
        return Path.GetFullPath(Path.IsPathRooted(p) ? p : Path.Combine(bundle, p));
    }

    /// <summary>True when a path's ".." components would take it above its root (lexically).</summary>
    public static bool ClimbsOut(string path)
    {
        var depth = 0;
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == "..") { if (--depth < 0) return true; }
            else if (part != ".") depth++;
        }
        return false;
    }
}
