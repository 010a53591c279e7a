using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Berth.Engine.Models;
using Berth.Linux;

namespace Berth.Engine.Volumes;

/// <summary>What Berth keeps about one volume (DATA-ROOT/volumes/NAME/volume.json beside its _data directory).</summary>
public sealed class VolumeRecord
{
    public string Name { get; set; } = "";
    public string Driver { get; set; } = "local";
    public DateTimeOffset CreatedAt { get; set; }
    public Dictionary<string, string> Labels { get; set; } = [];
    public Dictionary<string, string> Options { get; set; } = [];
    /// <summary>Made for an image VOLUME or a bare `-v /path`: pruned by default, removed by `rm -v`.</summary>
    public bool Anonymous { get; set; }
    /// <summary>Containers that use it (pruned of containers that no longer exist when asked).</summary>
    public List<string> UsedBy { get; set; } = [];
    /// <summary>For an anonymous volume: the container path it was made for, so the container's next start finds it again.</summary>
    public string? Destination { get; set; }
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(VolumeRecord))]
internal sealed partial class VolumeRecordJsonContext : JsonSerializerContext;

/// <summary>
/// Docker's "local" volume driver: a directory DATA-ROOT/volumes/NAME/_data per volume; with options
/// (type=tmpfs|none|…, o=…, device=…) the directory is a mount of that device, made when a container first uses it
/// and undone when the volume is removed. Thread-safe.
/// </summary>
public sealed partial class VolumeStore
{
    private readonly string _root;
    private readonly ISyscalls _sys;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, VolumeRecord> _volumes = new(StringComparer.Ordinal);

    /// <summary>Whether a container still exists (stale users are dropped); everything exists when null.</summary>
    public Func<string, bool>? ContainerExists { get; set; }

    public VolumeStore(string root, ISyscalls? sys = null)
    {
        _root = root;
        _sys = sys ?? LinuxSyscalls.Instance;
        Directory.CreateDirectory(root);
        foreach (var dir in Directory.EnumerateDirectories(root))
        {
            var file = Path.Combine(dir, "volume.json");
            if (!File.Exists(file)) continue;
            try
            {
                var record = JsonSerializer.Deserialize(File.ReadAllBytes(file), VolumeRecordJsonContext.Default.VolumeRecord);
                if (record is not null) _volumes[record.Name] = record;
            }
            catch (JsonException) { } // a torn write: the volume is skipped, its data stays on disk
        }
    }

    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")]
    private static partial Regex ValidName();

    public string DataPath(string name) => Path.Combine(_root, name, "_data");

    /// <summary>Creates a volume (a random 64-hex name when none is given); an existing one with the same driver and
    /// options is returned as it is, as Docker does.</summary>
    public VolumeRecord Create(string? name, string? driver, IReadOnlyDictionary<string, string>? options, IReadOnlyDictionary<string, string>? labels, bool anonymous = false)
    {
        driver = string.IsNullOrEmpty(driver) ? "local" : driver;
        if (driver != "local") throw new NotFoundException($"error looking up volume plugin {driver}: plugin \"{driver}\" not found");
        name = string.IsNullOrEmpty(name) ? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) : name;
        if (!ValidName().IsMatch(name))
            throw new InvalidParameterException($"create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path");
        foreach (var key in options?.Keys ?? [])
            if (key is not ("type" or "o" or "device" or "size"))
                throw new InvalidParameterException($"create {name}: invalid option key: \"{key}\"");
        if (options is not null && options.ContainsKey("device") != options.ContainsKey("type") && !(options.Count == 1 && options.ContainsKey("size")))
            throw new InvalidParameterException($"create {name}: missing required option: \"{(options.ContainsKey("device") ? "type" : "device")}\"");
        lock (_lock)
        {
            if (_volumes.TryGetValue(name, out var existing))
            {
                if (options is { Count: > 0 } && !SameOptions(existing.Options, options))
                    throw new ConflictException($"create {name}: a volume with the name {name} already exists with different options");
                return existing;
            }
            var record = new VolumeRecord
            {
                Name = name, Driver = driver, CreatedAt = DateTimeOffset.UtcNow, Anonymous = anonymous,
                Labels = labels is null ? [] : new(labels), Options = options is null ? [] : new(options),
            };
            Directory.CreateDirectory(DataPath(name));
            Save(record);
            _volumes[name] = record;
            return record;
        }
    }

    private static bool SameOptions(Dictionary<string, string> a, IReadOnlyDictionary<string, string> b)
        => a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var v) && v == kv.Value);

    public VolumeRecord? Find(string name)
    {
        lock (_lock) return _volumes.GetValueOrDefault(name);
    }

    public VolumeRecord Get(string name) => Find(name) ?? throw new NotFoundException($"get {name}: no such volume");

    public IReadOnlyList<VolumeRecord> List()
    {
        lock (_lock)
        {
            foreach (var v in _volumes.Values) DropStaleUsers(v);
            return [.. _volumes.Values.OrderBy(v => v.Name, StringComparer.Ordinal)];
        }
    }

    /// <summary>
    /// The host directory of a volume for <paramref name="containerId"/>, creating the volume (anonymous when
    /// <paramref name="name"/> is null) and mounting its device when it has one. Records the container as a user.
    /// </summary>
    public (string Name, string HostPath) Use(string? name, string containerId, IReadOnlyDictionary<string, string>? createOptions = null,
        IReadOnlyDictionary<string, string>? labels = null)
    {
        var volume = name is null ? Create(null, "local", createOptions, labels, anonymous: true) : Find(name) ?? Create(name, "local", createOptions, labels);
        lock (_lock)
        {
            if (!volume.UsedBy.Contains(containerId))
            {
                volume.UsedBy.Add(containerId);
                Save(volume);
            }
            var path = DataPath(volume.Name);
            if (volume.Options.ContainsKey("type") && !IsMountPoint(path)) MountDevice(volume, path);
            return (volume.Name, path);
        }
    }

    /// <summary>
    /// The anonymous volume of <paramref name="containerId"/> at <paramref name="destination"/>: the one made at an earlier
    /// start when there is one (Docker keeps a container's anonymous volumes across restarts), else a new one.
    /// </summary>
    public (string Name, string HostPath) UseAnonymous(string containerId, string destination)
    {
        lock (_lock)
        {
            var existing = _volumes.Values.FirstOrDefault(v => v.Anonymous && v.Destination == destination && v.UsedBy.Contains(containerId));
            if (existing is not null) return (existing.Name, DataPath(existing.Name));
        }
        var created = Create(null, "local", null, null, anonymous: true);
        lock (_lock)
        {
            created.Destination = destination;
            created.UsedBy.Add(containerId);
            Save(created);
            return (created.Name, DataPath(created.Name));
        }
    }

    /// <summary>The container no longer uses its volumes (it was removed); with <paramref name="removeAnonymous"/> (rm -v)
    /// its anonymous volumes that nothing else uses go too.</summary>
    public void Release(string containerId, bool removeAnonymous)
    {
        lock (_lock)
        {
            foreach (var v in _volumes.Values.ToList())
            {
                if (!v.UsedBy.Remove(containerId)) continue;
                Save(v);
                if (removeAnonymous && v.Anonymous && v.UsedBy.Count == 0) RemoveLocked(v);
            }
        }
    }

    public void Remove(string name, bool force)
    {
        lock (_lock)
        {
            if (!_volumes.TryGetValue(name, out var v))
            {
                if (force) return;
                throw new NotFoundException($"get {name}: no such volume");
            }
            DropStaleUsers(v);
            if (v.UsedBy.Count > 0) throw new ConflictException($"remove {name}: volume is in use - [{string.Join(", ", v.UsedBy)}]");
            RemoveLocked(v);
        }
    }

    /// <summary>Removes unused volumes: anonymous ones only unless <paramref name="all"/>; returns names and bytes freed.</summary>
    public (List<string> Names, long Reclaimed) Prune(bool all, Func<VolumeRecord, bool> match)
    {
        lock (_lock)
        {
            var names = new List<string>();
            long reclaimed = 0;
            foreach (var v in _volumes.Values.ToList())
            {
                DropStaleUsers(v);
                if (v.UsedBy.Count > 0 || (!all && !v.Anonymous) || !match(v)) continue;
                reclaimed += Size(v.Name);
                RemoveLocked(v);
                names.Add(v.Name);
            }
            return (names, reclaimed);
        }
    }

    /// <summary>Bytes under the volume's data directory (not following links, not crossing into other mounts' devices).</summary>
    public long Size(string name)
    {
        long total = 0;
        var path = DataPath(name);
        if (!Directory.Exists(path)) return 0;
        try
        {
            foreach (var f in new DirectoryInfo(path).EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = true }))
                total += f.Length;
        }
        catch (IOException) { }
        return total;
    }

    public Volume ToModel(VolumeRecord v, bool withUsage = false) => new()
    {
        Name = v.Name, Driver = v.Driver, Mountpoint = DataPath(v.Name), CreatedAt = v.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
        Labels = new(v.Labels), Scope = "local", Options = v.Options.Count == 0 ? null : new(v.Options),
        UsageData = withUsage ? new VolumeUsageData { Size = Size(v.Name), RefCount = v.UsedBy.Count } : null,
    };

    private void RemoveLocked(VolumeRecord v)
    {
        var path = DataPath(v.Name);
        if (IsMountPoint(path))
        {
            try { _sys.Unmount(path, UnmountFlags.Detach); } catch (SyscallException) { }
        }
        _volumes.Remove(v.Name);
        try { Directory.Delete(Path.Combine(_root, v.Name), recursive: true); }
        catch (IOException e) { throw new EngineFailureException($"remove {v.Name}: {e.Message}"); }
    }

    private void DropStaleUsers(VolumeRecord v)
    {
        if (ContainerExists is not { } exists) return;
        if (v.UsedBy.RemoveAll(id => !exists(id)) > 0) Save(v);
    }

    private void MountDevice(VolumeRecord v, string path)
    {
        var type = v.Options["type"];
        var device = v.Options.GetValueOrDefault("device") ?? type;
        var data = v.Options.GetValueOrDefault("o") ?? "";
        var flags = MountFlags.None;
        var rest = new List<string>();
        foreach (var o in data.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            switch (o)
            {
                case "bind": flags |= MountFlags.Bind; break;
                case "rbind": flags |= MountFlags.Bind | MountFlags.Recursive; break;
                case "ro": flags |= MountFlags.ReadOnly; break;
                case "nosuid": flags |= MountFlags.NoSuid; break;
                case "nodev": flags |= MountFlags.NoDev; break;
                case "noexec": flags |= MountFlags.NoExec; break;
                default: rest.Add(o); break;
            }
        }
        if (v.Options.TryGetValue("size", out var size) && type == "tmpfs") rest.Add("size=" + size);
        try { _sys.Mount(device, path, (flags & MountFlags.Bind) != 0 ? null : type, flags, rest.Count == 0 ? null : string.Join(',', rest)); }
        catch (SyscallException e) { throw new InvalidParameterException($"error while mounting volume '{path}': {e.Message}"); }
    }

    private static bool IsMountPoint(string path)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/mountinfo"))
            {
                var fields = line.Split(' ');
                if (fields.Length > 4 && fields[4] == path) return true;
            }
        }
        catch (IOException) { }
        return false;
    }

    private void Save(VolumeRecord v)
    {
        var dir = Path.Combine(_root, v.Name);
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "volume.json");
        File.WriteAllBytes(file + ".tmp", JsonSerializer.SerializeToUtf8Bytes(v, VolumeRecordJsonContext.Default.VolumeRecord));
        File.Move(file + ".tmp", file, overwrite: true);
    }
}
