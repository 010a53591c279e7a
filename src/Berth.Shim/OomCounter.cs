namespace Berth.Shim;

/// <summary>
/// Whether the kernel OOM-killed a process of the container: the oom_kill counter of its memory cgroup, read when
/// the container is created and again when it exits. cgroup v1: memory.oom_control in the memory hierarchy;
/// v2: memory.events in the unified hierarchy.
/// </summary>
public sealed class OomCounter
{
    private readonly string? _file;
    private readonly long _baseline;

    private OomCounter(string? file, bool fresh = false)
    {
        _file = file;
        _baseline = file is null || fresh ? 0 : Read(file);
    }

    /// <summary>Finds the memory cgroup of <paramref name="pid"/> from /proc/PID/cgroup (under <paramref name="cgroupRoot"/>).</summary>
    public static OomCounter ForProcess(int pid, string cgroupRoot = "/sys/fs/cgroup")
    {
        string text;
        try { text = File.ReadAllText($"/proc/{pid}/cgroup"); }
        catch (IOException) { return new OomCounter(null); }
        return new OomCounter(CounterFile(text, cgroupRoot));
    }

    /// <summary>
    /// After the runtime's `run --detach`: the init already runs and may have exited (a zombie's /proc/PID/cgroup names
    /// the root cgroup), so its memory cgroup comes from /proc while it lives, else from the bundle's config.json
    /// (a cgroupfs cgroupsPath). The cgroup is the run's own, made by the runtime: its count starts at zero.
    /// </summary>
    public static OomCounter ForRun(int pid, string bundle, string cgroupRoot = "/sys/fs/cgroup")
    {
        string? file = null;
        try { file = CounterFile(File.ReadAllText($"/proc/{pid}/cgroup"), cgroupRoot); }
        catch (IOException) { }
        if (file == Path.Join(cgroupRoot, "memory", "/", "memory.oom_control") || file == Path.Join(cgroupRoot, "/", "memory.events")) file = null;
        file ??= FromConfig(Path.Combine(bundle, "config.json"), cgroupRoot);
        return new OomCounter(file, fresh: true);
    }

    /// <summary>The counter file of the bundle's linux.cgroupsPath when it is a cgroupfs path; null otherwise.</summary>
    public static string? FromConfig(string configPath, string cgroupRoot)
    {
        string? path = null;
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(configPath));
            if (doc.RootElement.TryGetProperty("linux", out var linux) && linux.ValueKind == System.Text.Json.JsonValueKind.Object
                && linux.TryGetProperty("cgroupsPath", out var cgroups) && cgroups.ValueKind == System.Text.Json.JsonValueKind.String) path = cgroups.GetString();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException) { return null; }
        if (path is null || !path.StartsWith('/') || path.Contains(':')) return null; // systemd's "slice:prefix:name" or relative
        var v1 = Path.Join(cgroupRoot, "memory", path, "memory.oom_control");
        if (File.Exists(v1)) return v1;
        var v2 = Path.Join(cgroupRoot, path, "memory.events");
        return File.Exists(v2) ? v2 : null;
    }

    /// <summary>The counter file for a /proc/PID/cgroup text: the v1 memory controller's line wins; else the v2 line.</summary>
    public static string? CounterFile(string procCgroup, string cgroupRoot)
    {
        string? unified = null;
        foreach (var line in procCgroup.Split('\n'))
        {
            var first = line.IndexOf(':');
            var second = first < 0 ? -1 : line.IndexOf(':', first + 1);
            if (second < 0) continue;
            var controllers = line.AsSpan(first + 1, second - first - 1);
            var path = line[(second + 1)..];
            if (controllers.Length == 0) { unified = path; continue; }
            foreach (var range in controllers.Split(','))
            {
                if (controllers[range].SequenceEqual("memory"))
                {
                    var v1 = Path.Join(cgroupRoot, "memory", path, "memory.oom_control");
                    if (File.Exists(v1)) return v1;
                }
            }
        }
        if (unified is null) return null;
        var v2 = Path.Join(cgroupRoot, unified, "memory.events");
        return File.Exists(v2) ? v2 : null;
    }

    /// <summary>True when the counter went up since creation.</summary>
    public bool Killed() => _file is not null && Read(_file) > _baseline;

    /// <summary>The "oom_kill N" line of memory.oom_control or memory.events.</summary>
    public static long Parse(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("oom_kill ", StringComparison.Ordinal) && long.TryParse(line.AsSpan(9), out var n)) return n;
        }
        return 0;
    }

    private static long Read(string file)
    {
        try { return Parse(File.ReadAllText(file)); }
        catch (IOException) { return 0; }
    }
}
