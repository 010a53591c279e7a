using System.Text.Json;
using Berth.Oci.Runtime;

namespace Berth.Runtime.Config;

using Hooks = Berth.Oci.Runtime.Hooks;
using Linux = Berth.Oci.Runtime.Linux;
using Seccomp = Berth.Oci.Runtime.Seccomp;

/// <summary>
/// Reads config.json into the runtime-spec model with a Utf8JsonReader, field by field. The runtime parses the spec
/// in `create` and again in its init process, both on the container start path; System.Text.Json's metadata
/// (JsonTypeInfo for ~35 types, configured through reflection on their attributes in every new process) cost more
/// than the parse itself there. Same rules as the source-generated context: property names case-sensitive,
/// unknown fields ignored, comments and trailing commas allowed, null for a value type an error. Errors are
/// JsonExceptions carrying the field's path and line, as System.Text.Json's.
/// </summary>
public static class SpecReader
{
    private static readonly JsonReaderOptions Options = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    public static Spec? Read(ReadOnlySpan<byte> json)
    {
        var r = new Utf8JsonReader(json, Options);
        var path = new PathTrail();
        try
        {
            if (!r.Read()) throw new JsonException("the document is empty");
            if (r.TokenType == JsonTokenType.Null) return null;
            var spec = ReadSpec(ref r, path);
            if (r.Read()) throw new JsonException("unexpected data after the document");
            return spec;
        }
        catch (JsonException e) when (e.Path is null)
        {
            throw new JsonException(e.Message, path.ToString(), e.LineNumber ?? LineOf(json, r.TokenStartIndex), e.BytePositionInLine);
        }
        catch (InvalidOperationException e)
        {
            throw new JsonException(e.Message, path.ToString(), LineOf(json, r.TokenStartIndex), null, e);
        }
    }

    private static long LineOf(ReadOnlySpan<byte> json, long index)
    {
        var line = 0L;
        for (var i = 0; i < index && i < json.Length; i++) if (json[i] == (byte)'\n') line++;
        return line;
    }

    /// <summary>The JSON path of the value being read ("$.process.args[0]"), for error messages.</summary>
    private sealed class PathTrail
    {
        private readonly List<string> _parts = ["$"];
        public void Push(string part) => _parts.Add(part);
        public void Pop() => _parts.RemoveAt(_parts.Count - 1);
        public override string ToString() => string.Concat(_parts);
    }

    private delegate T ItemReader<T>(ref Utf8JsonReader r, PathTrail path);

    /// <summary>Reads an object's properties; for each, <paramref name="property"/> reads the value (or skips it).</summary>
    private delegate void PropertyReader<T>(ref Utf8JsonReader r, PathTrail path, string name, T target);

    private static T ReadObject<T>(ref Utf8JsonReader r, PathTrail path, T target, PropertyReader<T> property)
    {
        if (r.TokenType != JsonTokenType.StartObject) throw Mismatch(ref r, "an object");
        while (true)
        {
            if (!r.Read()) throw new JsonException("unexpected end of data");
            if (r.TokenType == JsonTokenType.EndObject) return target;
            var name = r.GetString()!;
            if (!r.Read()) throw new JsonException("unexpected end of data");
            path.Push("." + name);
            property(ref r, path, name, target);
            path.Pop();
        }
    }

    private static T? Object<T>(ref Utf8JsonReader r, PathTrail path, PropertyReader<T> property) where T : class, new()
        => r.TokenType == JsonTokenType.Null ? null : ReadObject(ref r, path, new T(), property);

    private static List<T>? List<T>(ref Utf8JsonReader r, PathTrail path, ItemReader<T> item)
    {
        if (r.TokenType == JsonTokenType.Null) return null;
        if (r.TokenType != JsonTokenType.StartArray) throw Mismatch(ref r, "an array");
        var list = new List<T>();
        while (true)
        {
            if (!r.Read()) throw new JsonException("unexpected end of data");
            if (r.TokenType == JsonTokenType.EndArray) return list;
            path.Push("[" + list.Count + "]");
            list.Add(item(ref r, path));
            path.Pop();
        }
    }

    private static Dictionary<string, T>? Map<T>(ref Utf8JsonReader r, PathTrail path, ItemReader<T> item)
    {
        if (r.TokenType == JsonTokenType.Null) return null;
        var map = new Dictionary<string, T>();
        return ReadObject(ref r, path, map, (ref Utf8JsonReader r, PathTrail p, string name, Dictionary<string, T> m) => m[name] = item(ref r, p));
    }

    private static JsonException Mismatch(ref Utf8JsonReader r, string expected)
        => new($"expected {expected}, found {TokenName(r.TokenType)}");

    private static string TokenName(JsonTokenType t) => t switch
    {
        JsonTokenType.StartObject => "an object", JsonTokenType.StartArray => "an array", JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number", JsonTokenType.True or JsonTokenType.False => "a boolean", JsonTokenType.Null => "null",
        _ => t.ToString(),
    };

    private static string? Str(ref Utf8JsonReader r, PathTrail _) => r.TokenType switch
    {
        JsonTokenType.Null => null,
        JsonTokenType.String => r.GetString(),
        _ => throw Mismatch(ref r, "a string"),
    };

    private static string StrItem(ref Utf8JsonReader r, PathTrail p) => Str(ref r, p)!;

    private static bool Bool(ref Utf8JsonReader r) => r.TokenType switch
    {
        JsonTokenType.True => true,
        JsonTokenType.False => false,
        _ => throw Mismatch(ref r, "a boolean"),
    };

    private static bool? NBool(ref Utf8JsonReader r) => r.TokenType == JsonTokenType.Null ? null : Bool(ref r);

    private static JsonException NotA(ref Utf8JsonReader r, string type)
        => r.TokenType == JsonTokenType.Number ? new JsonException($"the number is not a valid {type}") : Mismatch(ref r, "a number");

    private static uint U32(ref Utf8JsonReader r) => r.TokenType == JsonTokenType.Number && r.TryGetUInt32(out var v) ? v : throw NotA(ref r, "uint32");
    private static uint U32Item(ref Utf8JsonReader r, PathTrail _) => U32(ref r);
    private static uint? NU32(ref Utf8JsonReader r) => r.TokenType == JsonTokenType.Null ? null : U32(ref r);
    private static ulong U64(ref Utf8JsonReader r) => r.TokenType == JsonTokenType.Number && r.TryGetUInt64(out var v) ? v : throw NotA(ref r, "uint64");
    private static ulong? NU64(ref Utf8JsonReader r) => r.TokenType == JsonTokenType.Null ? null : U64(ref r);
    private static long I64(ref Utf8JsonReader r) => r.TokenType == JsonTokenType.Number && r.TryGetInt64(out var v) ? v : throw NotA(ref r, "int64");
    private static long? NI64(ref Utf8JsonReader r) => r.TokenType == JsonTokenType.Null ? null : I64(ref r);
    private static int I32(ref Utf8JsonReader r) => r.TokenType == JsonTokenType.Number && r.TryGetInt32(out var v) ? v : throw NotA(ref r, "int32");
    private static int? NI32(ref Utf8JsonReader r) => r.TokenType == JsonTokenType.Null ? null : I32(ref r);
    private static ushort? NU16(ref Utf8JsonReader r) => r.TokenType == JsonTokenType.Null ? null
        : r.TokenType == JsonTokenType.Number && r.TryGetUInt16(out var v) ? v : throw NotA(ref r, "uint16");
    private static JsonElement? Element(ref Utf8JsonReader r) => r.TokenType == JsonTokenType.Null ? null : JsonElement.ParseValue(ref r);

    private static List<string>? Strings(ref Utf8JsonReader r, PathTrail p) => List(ref r, p, StrItem);

    private static Spec ReadSpec(ref Utf8JsonReader r, PathTrail path) => ReadObject(ref r, path, new Spec(), static (ref r, p, name, s) =>
    {
        switch (name)
        {
            case "ociVersion": s.OciVersion = Str(ref r, p)!; break;
            case "process": s.Process = Object<Process>(ref r, p, ProcessProperty); break;
            case "root": s.Root = Object<Root>(ref r, p, static (ref r, p, name, root) =>
            {
                switch (name)
                {
                    case "path": root.Path = Str(ref r, p)!; break;
                    case "readonly": root.Readonly = Bool(ref r); break;
                    default: r.Skip(); break;
                }
            }); break;
            case "hostname": s.Hostname = Str(ref r, p); break;
            case "domainname": s.Domainname = Str(ref r, p); break;
            case "mounts": s.Mounts = List(ref r, p, static (ref r, p) => Object<Mount>(ref r, p, MountProperty)!); break;
            case "hooks": s.Hooks = Object<Hooks>(ref r, p, HooksProperty); break;
            case "annotations": s.Annotations = Map(ref r, p, StrItem); break;
            case "linux": s.Linux = Object<Linux>(ref r, p, LinuxProperty); break;
            default: r.Skip(); break;
        }
    });

    private static void ProcessProperty(ref Utf8JsonReader r, PathTrail p, string name, Process process)
    {
        switch (name)
        {
            case "terminal": process.Terminal = Bool(ref r); break;
            case "consoleSize": process.ConsoleSize = Object<Box>(ref r, p, static (ref r, p, name, b) =>
            {
                if (name == "height") b.Height = U32(ref r);
                else if (name == "width") b.Width = U32(ref r);
                else r.Skip();
            }); break;
            case "user": process.User = Object<User>(ref r, p, static (ref r, p, name, u) =>
            {
                switch (name)
                {
                    case "uid": u.Uid = U32(ref r); break;
                    case "gid": u.Gid = U32(ref r); break;
                    case "umask": u.Umask = NU32(ref r); break;
                    case "additionalGids": u.AdditionalGids = List(ref r, p, U32Item); break;
                    case "username": u.Username = Str(ref r, p); break;
                    default: r.Skip(); break;
                }
            })!; break;
            case "args": process.Args = Strings(ref r, p); break;
            case "commandLine": process.CommandLine = Str(ref r, p); break;
            case "env": process.Env = Strings(ref r, p); break;
            case "cwd": process.Cwd = Str(ref r, p)!; break;
            case "capabilities": process.Capabilities = Object<Capabilities>(ref r, p, static (ref r, p, name, c) =>
            {
                switch (name)
                {
                    case "bounding": c.Bounding = Strings(ref r, p); break;
                    case "effective": c.Effective = Strings(ref r, p); break;
                    case "inheritable": c.Inheritable = Strings(ref r, p); break;
                    case "permitted": c.Permitted = Strings(ref r, p); break;
                    case "ambient": c.Ambient = Strings(ref r, p); break;
                    default: r.Skip(); break;
                }
            }); break;
            case "rlimits": process.Rlimits = List(ref r, p, static (ref r, p) => Object<Rlimit>(ref r, p, static (ref r, p, name, l) =>
            {
                switch (name)
                {
                    case "type": l.Type = Str(ref r, p)!; break;
                    case "hard": l.Hard = U64(ref r); break;
                    case "soft": l.Soft = U64(ref r); break;
                    default: r.Skip(); break;
                }
            })!); break;
            case "noNewPrivileges": process.NoNewPrivileges = Bool(ref r); break;
            case "apparmorProfile": process.ApparmorProfile = Str(ref r, p); break;
            case "oomScoreAdj": process.OomScoreAdj = NI32(ref r); break;
            case "selinuxLabel": process.SelinuxLabel = Str(ref r, p); break;
            case "ioPriority": process.IoPriority = Object<IoPriority>(ref r, p, static (ref r, p, name, io) =>
            {
                if (name == "class") io.Class = Str(ref r, p)!;
                else if (name == "priority") io.Priority = I32(ref r);
                else r.Skip();
            }); break;
            case "scheduler": process.Scheduler = Element(ref r); break;
            default: r.Skip(); break;
        }
    }

    private static void MountProperty(ref Utf8JsonReader r, PathTrail p, string name, Mount m)
    {
        switch (name)
        {
            case "destination": m.Destination = Str(ref r, p)!; break;
            case "source": m.Source = Str(ref r, p); break;
            case "options": m.Options = Strings(ref r, p); break;
            case "type": m.Type = Str(ref r, p); break;
            case "uidMappings": m.UidMappings = IdMappings(ref r, p); break;
            case "gidMappings": m.GidMappings = IdMappings(ref r, p); break;
            default: r.Skip(); break;
        }
    }

    private static List<IdMapping>? IdMappings(ref Utf8JsonReader r, PathTrail p) => List(ref r, p, static (ref r, p) => Object<IdMapping>(ref r, p, static (ref r, p, name, m) =>
    {
        switch (name)
        {
            case "containerID": m.ContainerId = U32(ref r); break;
            case "hostID": m.HostId = U32(ref r); break;
            case "size": m.Size = U32(ref r); break;
            default: r.Skip(); break;
        }
    })!);

    private static void HooksProperty(ref Utf8JsonReader r, PathTrail p, string name, Hooks h)
    {
        switch (name)
        {
            case "prestart": h.Prestart = HookList(ref r, p); break;
            case "createRuntime": h.CreateRuntime = HookList(ref r, p); break;
            case "createContainer": h.CreateContainer = HookList(ref r, p); break;
            case "startContainer": h.StartContainer = HookList(ref r, p); break;
            case "poststart": h.Poststart = HookList(ref r, p); break;
            case "poststop": h.Poststop = HookList(ref r, p); break;
            default: r.Skip(); break;
        }
    }

    private static List<Hook>? HookList(ref Utf8JsonReader r, PathTrail p) => List(ref r, p, static (ref r, p) => Object<Hook>(ref r, p, static (ref r, p, name, h) =>
    {
        switch (name)
        {
            case "path": h.Path = Str(ref r, p)!; break;
            case "args": h.Args = Strings(ref r, p); break;
            case "env": h.Env = Strings(ref r, p); break;
            case "timeout": h.Timeout = NI32(ref r); break;
            default: r.Skip(); break;
        }
    })!);

    private static void LinuxProperty(ref Utf8JsonReader r, PathTrail p, string name, Linux l)
    {
        switch (name)
        {
            case "namespaces": l.Namespaces = List(ref r, p, static (ref r, p) => Object<LinuxNamespace>(ref r, p, static (ref r, p, name, ns) =>
            {
                if (name == "type") ns.Type = Str(ref r, p)!;
                else if (name == "path") ns.Path = Str(ref r, p);
                else r.Skip();
            })!); break;
            case "uidMappings": l.UidMappings = IdMappings(ref r, p); break;
            case "gidMappings": l.GidMappings = IdMappings(ref r, p); break;
            case "timeOffsets": l.TimeOffsets = Map(ref r, p, static (ref r, p) => Object<TimeOffset>(ref r, p, static (ref r, p, name, t) =>
            {
                if (name == "secs") t.Secs = I64(ref r);
                else if (name == "nanosecs") t.Nanosecs = U32(ref r);
                else r.Skip();
            })!); break;
            case "devices": l.Devices = List(ref r, p, static (ref r, p) => Object<Device>(ref r, p, static (ref r, p, name, d) =>
            {
                switch (name)
                {
                    case "type": d.Type = Str(ref r, p)!; break;
                    case "path": d.Path = Str(ref r, p)!; break;
                    case "major": d.Major = I64(ref r); break;
                    case "minor": d.Minor = I64(ref r); break;
                    case "fileMode": d.FileMode = NU32(ref r); break;
                    case "uid": d.Uid = NU32(ref r); break;
                    case "gid": d.Gid = NU32(ref r); break;
                    default: r.Skip(); break;
                }
            })!); break;
            case "cgroupsPath": l.CgroupsPath = Str(ref r, p); break;
            case "resources": l.Resources = Object<Resources>(ref r, p, ResourcesProperty); break;
            case "rootfsPropagation": l.RootfsPropagation = Str(ref r, p); break;
            case "seccomp": l.Seccomp = Object<Seccomp>(ref r, p, SeccompProperty); break;
            case "sysctl": l.Sysctl = Map(ref r, p, StrItem); break;
            case "maskedPaths": l.MaskedPaths = Strings(ref r, p); break;
            case "readonlyPaths": l.ReadonlyPaths = Strings(ref r, p); break;
            case "mountLabel": l.MountLabel = Str(ref r, p); break;
            case "personality": l.Personality = Element(ref r); break;
            default: r.Skip(); break;
        }
    }

    /// <summary>linux.resources (also the `update` verb's input).</summary>
    private static void ResourcesProperty(ref Utf8JsonReader r, PathTrail p, string name, Resources res)
    {
        switch (name)
        {
            case "devices": res.Devices = List(ref r, p, static (ref r, p) => Object<DeviceCgroup>(ref r, p, static (ref r, p, name, d) =>
            {
                switch (name)
                {
                    case "allow": d.Allow = Bool(ref r); break;
                    case "type": d.Type = Str(ref r, p); break;
                    case "major": d.Major = NI64(ref r); break;
                    case "minor": d.Minor = NI64(ref r); break;
                    case "access": d.Access = Str(ref r, p); break;
                    default: r.Skip(); break;
                }
            })!); break;
            case "memory": res.Memory = Object<Memory>(ref r, p, static (ref r, p, name, m) =>
            {
                switch (name)
                {
                    case "limit": m.Limit = NI64(ref r); break;
                    case "reservation": m.Reservation = NI64(ref r); break;
                    case "swap": m.Swap = NI64(ref r); break;
                    case "kernel": m.Kernel = NI64(ref r); break;
                    case "kernelTCP": m.KernelTcp = NI64(ref r); break;
                    case "swappiness": m.Swappiness = NU64(ref r); break;
                    case "disableOOMKiller": m.DisableOomKiller = NBool(ref r); break;
                    case "useHierarchy": m.UseHierarchy = NBool(ref r); break;
                    case "checkBeforeUpdate": m.CheckBeforeUpdate = NBool(ref r); break;
                    default: r.Skip(); break;
                }
            }); break;
            case "cpu": res.Cpu = Object<Cpu>(ref r, p, static (ref r, p, name, c) =>
            {
                switch (name)
                {
                    case "shares": c.Shares = NU64(ref r); break;
                    case "quota": c.Quota = NI64(ref r); break;
                    case "burst": c.Burst = NU64(ref r); break;
                    case "period": c.Period = NU64(ref r); break;
                    case "realtimeRuntime": c.RealtimeRuntime = NI64(ref r); break;
                    case "realtimePeriod": c.RealtimePeriod = NU64(ref r); break;
                    case "cpus": c.Cpus = Str(ref r, p); break;
                    case "mems": c.Mems = Str(ref r, p); break;
                    case "idle": c.Idle = NI64(ref r); break;
                    default: r.Skip(); break;
                }
            }); break;
            case "pids": res.Pids = Object<Pids>(ref r, p, static (ref r, p, name, x) =>
            {
                if (name == "limit") x.Limit = I64(ref r);
                else r.Skip();
            }); break;
            case "blockIO": res.BlockIo = Object<BlockIo>(ref r, p, static (ref r, p, name, b) =>
            {
                switch (name)
                {
                    case "weight": b.Weight = NU16(ref r); break;
                    case "leafWeight": b.LeafWeight = NU16(ref r); break;
                    case "weightDevice": b.WeightDevice = List(ref r, p, static (ref r, p) => Object<WeightDevice>(ref r, p, static (ref r, p, name, w) =>
                    {
                        switch (name)
                        {
                            case "major": w.Major = I64(ref r); break;
                            case "minor": w.Minor = I64(ref r); break;
                            case "weight": w.Weight = NU16(ref r); break;
                            case "leafWeight": w.LeafWeight = NU16(ref r); break;
                            default: r.Skip(); break;
                        }
                    })!); break;
                    case "throttleReadBpsDevice": b.ThrottleReadBpsDevice = Throttles(ref r, p); break;
                    case "throttleWriteBpsDevice": b.ThrottleWriteBpsDevice = Throttles(ref r, p); break;
                    case "throttleReadIOPSDevice": b.ThrottleReadIopsDevice = Throttles(ref r, p); break;
                    case "throttleWriteIOPSDevice": b.ThrottleWriteIopsDevice = Throttles(ref r, p); break;
                    default: r.Skip(); break;
                }
            }); break;
            case "hugepageLimits": res.HugepageLimits = List(ref r, p, static (ref r, p) => Object<HugepageLimit>(ref r, p, static (ref r, p, name, h) =>
            {
                if (name == "pageSize") h.PageSize = Str(ref r, p)!;
                else if (name == "limit") h.Limit = U64(ref r);
                else r.Skip();
            })!); break;
            case "network": res.Network = Object<NetworkResources>(ref r, p, static (ref r, p, name, n) =>
            {
                if (name == "classID") n.ClassId = NU32(ref r);
                else if (name == "priorities") n.Priorities = List(ref r, p, static (ref r, p) => Object<InterfacePriority>(ref r, p, static (ref r, p, name, ip) =>
                {
                    if (name == "name") ip.Name = Str(ref r, p)!;
                    else if (name == "priority") ip.Priority = U32(ref r);
                    else r.Skip();
                })!);
                else r.Skip();
            }); break;
            case "rdma": res.Rdma = Map(ref r, p, static (ref r, p) => JsonElement.ParseValue(ref r)); break;
            case "unified": res.Unified = Map(ref r, p, StrItem); break;
            default: r.Skip(); break;
        }
    }

    private static List<ThrottleDevice>? Throttles(ref Utf8JsonReader r, PathTrail p) => List(ref r, p, static (ref r, p) => Object<ThrottleDevice>(ref r, p, static (ref r, p, name, t) =>
    {
        switch (name)
        {
            case "major": t.Major = I64(ref r); break;
            case "minor": t.Minor = I64(ref r); break;
            case "rate": t.Rate = U64(ref r); break;
            default: r.Skip(); break;
        }
    })!);

    private static void SeccompProperty(ref Utf8JsonReader r, PathTrail p, string name, Seccomp s)
    {
        switch (name)
        {
            case "defaultAction": s.DefaultAction = Str(ref r, p)!; break;
            case "defaultErrnoRet": s.DefaultErrnoRet = NU32(ref r); break;
            case "architectures": s.Architectures = Strings(ref r, p); break;
            case "flags": s.Flags = Strings(ref r, p); break;
            case "listenerPath": s.ListenerPath = Str(ref r, p); break;
            case "listenerMetadata": s.ListenerMetadata = Str(ref r, p); break;
            case "syscalls": s.Syscalls = List(ref r, p, static (ref r, p) => Object<SeccompSyscall>(ref r, p, static (ref r, p, name, sc) =>
            {
                switch (name)
                {
                    case "names": sc.Names = Strings(ref r, p)!; break;
                    case "action": sc.Action = Str(ref r, p)!; break;
                    case "errnoRet": sc.ErrnoRet = NU32(ref r); break;
                    case "args": sc.Args = List(ref r, p, static (ref r, p) => Object<SeccompArg>(ref r, p, static (ref r, p, name, a) =>
                    {
                        switch (name)
                        {
                            case "index": a.Index = U32(ref r); break;
                            case "value": a.Value = U64(ref r); break;
                            case "valueTwo": a.ValueTwo = U64(ref r); break;
                            case "op": a.Op = Str(ref r, p)!; break;
                            default: r.Skip(); break;
                        }
                    })!); break;
                    default: r.Skip(); break;
                }
            })!); break;
            default: r.Skip(); break;
        }
    }
}
