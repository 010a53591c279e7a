using Berth.Oci.Runtime;

namespace Berth.Linux.Cgroups;

public enum CgroupVersion { V1, V2 }

public enum FreezerState { Thawed, Freezing, Frozen }

/// <summary>A cgroup operation failed, or linux.resources asked for something invalid; the message names the field or file.</summary>
public sealed class CgroupException(string message, Exception? inner = null) : Exception(message, inner);

public static class Cgroups
{
    private static CgroupLayout? detected;

    /// <summary>The host's layout from /proc/self/mountinfo, read once per process (it is on the container start path).</summary>
    public static CgroupLayout Detect()
        => detected ??= CgroupLayout.Parse(File.ReadAllText("/proc/self/mountinfo"), File.ReadAllText("/proc/self/cgroup"));

    /// <summary>
    /// The cgroup of a container. <paramref name="cgroupsPath"/> as config-linux.md: absolute ("/berth/ID",
    /// under each hierarchy's root), relative (under this process's own cgroup), systemd-style
    /// "slice:prefix:name" (mapped to the path systemd would use), or null/empty for "/berth/" + containerId.
    /// Nothing is touched on the host until <see cref="ICgroup.Create"/>.
    /// </summary>
    public static ICgroup Open(string? cgroupsPath, string containerId, CgroupLayout? layout = null)
    {
        layout ??= Detect();
        var path = CgroupPath.Parse(cgroupsPath, containerId);
        return layout.Version == CgroupVersion.V2 ? new CgroupV2(layout, path) : new CgroupV1(layout, path);
    }
}

/// <summary>A validated cgroupsPath: its components, and whether it is absolute.</summary>
internal readonly record struct CgroupPath(bool Absolute, string Cleaned)
{
    public static CgroupPath Parse(string? cgroupsPath, string containerId)
    {
        if (string.IsNullOrEmpty(cgroupsPath))
        {
            if (containerId.Length == 0 || containerId.Contains('/') || containerId is "." or "..")
                throw new CgroupException($"container id \"{containerId}\" cannot name a cgroup");
            return new(true, "/berth/" + containerId);
        }
        if (!cgroupsPath.StartsWith('/') && cgroupsPath.Split(':') is [var slice, var prefix, var name])
            return new(true, SystemdPath(slice, prefix, name, cgroupsPath));

        var parts = new List<string>();
        foreach (var part in cgroupsPath.Split('/'))
        {
            if (part is "" or ".") continue;
            if (part == "..") throw new CgroupException($"linux.cgroupsPath \"{cgroupsPath}\": \"..\" is not allowed");
            parts.Add(part);
        }
        if (parts.Count == 0) throw new CgroupException($"linux.cgroupsPath \"{cgroupsPath}\" names the root cgroup");
        var absolute = cgroupsPath.StartsWith('/');
        return new(absolute, (absolute ? "/" : "") + string.Join('/', parts));
    }

    /// <summary>"system.slice:docker:ID" → "/system.slice/docker-ID.scope"; "a-b.slice" nests as "/a.slice/a-b.slice".</summary>
    private static string SystemdPath(string slice, string prefix, string name, string original)
    {
        if (name.Length == 0 || name.Contains('/') || prefix.Contains('/') || slice.Contains('/') || name == "..")
            throw new CgroupException($"linux.cgroupsPath \"{original}\": malformed systemd cgroup path");
        if (slice.Length == 0) slice = "system.slice";
        if (!slice.EndsWith(".slice", StringComparison.Ordinal))
            throw new CgroupException($"linux.cgroupsPath \"{original}\": the slice must end in .slice");
        var path = "";
        if (slice != "-.slice")
        {
            var stem = slice[..^".slice".Length];
            var dashes = stem.Split('-');
            if (dashes.Any(d => d.Length == 0))
                throw new CgroupException($"linux.cgroupsPath \"{original}\": malformed slice name");
            for (var i = 1; i <= dashes.Length; i++) path += "/" + string.Join('-', dashes[..i]) + ".slice";
        }
        var unit = name.EndsWith(".slice", StringComparison.Ordinal) ? name : (prefix.Length == 0 ? name : prefix + "-" + name) + ".scope";
        return path + "/" + unit;
    }

    /// <summary>The cgroup's directory in <paramref name="hierarchy"/>.</summary>
    public string DirectoryIn(CgroupHierarchy hierarchy)
        => CgroupHierarchy.Join(Absolute ? hierarchy.MountPoint : hierarchy.OwnDirectory, Cleaned);

    /// <summary>The path inside the hierarchy (relative paths made absolute against this process's cgroup).</summary>
    public string InHierarchy(CgroupHierarchy hierarchy)
    {
        if (Absolute) return Cleaned;
        var own = hierarchy.OwnCgroup.TrimEnd('/');
        return own + "/" + Cleaned;
    }
}

/// <summary>A container's cgroup, the same on v1 (many hierarchies) and v2 (one).</summary>
public interface ICgroup
{
    CgroupVersion Version { get; }

    /// <summary>The cgroup's path inside the hierarchy, e.g. "/berth/ID".</summary>
    string Path { get; }

    /// <summary>Controller name (V1) or "" (V2) → the cgroup's directory on the host.</summary>
    IReadOnlyDictionary<string, string> Directories { get; }

    bool Exists { get; }

    /// <summary>Makes the cgroup in every hierarchy (v1: cpuset cpus/mems filled from the parent). Idempotent.</summary>
    void Create();

    /// <summary>Moves <paramref name="pid"/> into the cgroup in every hierarchy.</summary>
    void AddProcess(int pid);

    /// <summary>
    /// Files a single-threaded process writes "0" to, to move itself into the cgroup (v1: each hierarchy's `tasks`), or
    /// null where there are none (v2: use <see cref="AddProcess"/>). Moving the writing thread itself lets the kernel skip
    /// the global threadgroup lock that a write of a pid to cgroup.procs takes for writing, which waits for an RCU grace
    /// period (milliseconds, per hierarchy when they are far apart) — the largest wait of a v1 container start. v2 has
    /// no such file: cgroup.procs takes the lock whatever pid is written (even "0": it moves a thread group), and
    /// cgroup.threads moves a thread only within its domain (the kernel's cgroup_procs_write_start, 6.x).
    /// </summary>
    IReadOnlyList<string>? SelfJoinFiles();

    /// <summary>
    /// The same files as <see cref="SelfJoinFiles"/>, each as its hierarchy's mount point and the path below it. A
    /// process that opens the mount points early can still reach the files through those descriptors (openat) after it
    /// has left the host's mount tree (pivot_root), e.g. when the cgroup is made only while the process sets up its rootfs.
    /// </summary>
    IReadOnlyList<(string MountPoint, string Relative)>? SelfJoinFilesUnderMounts();

    /// <summary>Validates every field first, then writes them; the error names the field or the file.</summary>
    void Apply(Resources resources);

    /// <summary>As <see cref="Apply"/>, for a running container (`update`); device rules are not re-applied.</summary>
    void Update(Resources resources);

    /// <summary>Freezes every process and returns once the kernel reports FROZEN.</summary>
    void Freeze();

    /// <summary>Thaws and returns once the kernel reports THAWED.</summary>
    void Thaw();

    FreezerState FreezerState { get; }

    /// <summary>Every process in the cgroup and its descendants.</summary>
    IReadOnlyList<int> Pids();

    CgroupStats Stats();

    /// <summary>How many processes the kernel's OOM killer has killed in this cgroup.</summary>
    int OomKillCount();

    /// <summary>Signals every process (v2 SIGKILL: cgroup.kill; otherwise frozen first, so nothing escapes by forking).</summary>
    void KillAll(int signal);

    /// <summary>Removes the cgroup's directories, deepest first, retrying briefly while the kernel reports EBUSY. Fine if gone.</summary>
    void Destroy();
}
