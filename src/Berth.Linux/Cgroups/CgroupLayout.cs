using System.Text;

namespace Berth.Linux.Cgroups;

/// <summary>
/// One mounted cgroup hierarchy: where it is mounted, which part of the hierarchy the mount shows
/// (mountinfo's root field; not "/" inside a cgroup namespace), the controllers bound to it (none for a
/// v2 hierarchy, whose controllers are per cgroup), and this process's own cgroup in it (from /proc/self/cgroup).
/// </summary>
public sealed record CgroupHierarchy(string MountPoint, string MountRoot, IReadOnlyList<string> Controllers, string OwnCgroup)
{
    /// <summary>The directory of this process's own cgroup (the base of relative cgroupsPaths).</summary>
    public string OwnDirectory
    {
        get
        {
            var own = OwnCgroup;
            if (MountRoot != "/" && (own == MountRoot || own.StartsWith(MountRoot + "/", StringComparison.Ordinal)))
                own = own[MountRoot.Length..];
            return Join(MountPoint, own);
        }
    }

    internal static string Join(string dir, string cgroupPath)
    {
        var rest = cgroupPath.Trim('/');
        return rest.Length == 0 ? dir : dir.TrimEnd('/') + "/" + rest;
    }
}

/// <summary>
/// Where the cgroup hierarchies are. V2: one unified hierarchy. V1: one hierarchy per controller (some
/// co-mounted, as cpu,cpuacct), plus, on hybrid hosts, a unified mount that Berth does not manage.
/// Detected once from /proc/self/mountinfo (<see cref="Cgroups.Detect"/>); tests build one over a temp dir.
/// </summary>
public sealed class CgroupLayout
{
    /// <summary>v1 controllers Berth manages (named hierarchies such as name=systemd are left alone).</summary>
    public static readonly IReadOnlyList<string> KnownV1Controllers =
        ["cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer", "net_cls", "net_prio", "perf_event",
         "hugetlb", "pids", "rdma", "misc"];

    public CgroupVersion Version { get; }

    /// <summary>V1: controller name → its hierarchy. Empty for V2.</summary>
    public IReadOnlyDictionary<string, CgroupHierarchy> Controllers { get; }

    /// <summary>V2: the hierarchy. V1: the hybrid unified mount if any (informational).</summary>
    public CgroupHierarchy? Unified { get; }

    /// <summary>The kernel calls (kill, rmdir); tests pass a double.</summary>
    public ICgroupCalls Calls { get; init; } = LinuxSyscalls.Instance;

    /// <summary>Called with (file, value) after every successful write: for --debug logs and for tests.</summary>
    public Action<string, string>? WriteLog { get; init; }

    private CgroupLayout(CgroupVersion version, IReadOnlyDictionary<string, CgroupHierarchy> controllers, CgroupHierarchy? unified)
        => (Version, Controllers, Unified) = (version, controllers, unified);

    /// <summary>A pure v2 host with the unified hierarchy at <paramref name="mountPoint"/>.</summary>
    public static CgroupLayout ForV2(string mountPoint, string ownCgroup = "/")
        => new(CgroupVersion.V2, new Dictionary<string, CgroupHierarchy>(), new CgroupHierarchy(mountPoint, "/", [], ownCgroup));

    /// <summary>A v1 host: each entry is a hierarchy's mount point and the controllers bound to it.</summary>
    public static CgroupLayout ForV1(IEnumerable<(string MountPoint, string[] Controllers)> hierarchies, string ownCgroup = "/")
    {
        var map = new Dictionary<string, CgroupHierarchy>();
        foreach (var (mountPoint, controllers) in hierarchies)
        {
            var h = new CgroupHierarchy(mountPoint, "/", controllers, ownCgroup);
            foreach (var c in controllers) map.TryAdd(c, h);
        }
        return new(CgroupVersion.V1, map, null);
    }

    /// <summary>The same layout with other kernel-call and logging hooks.</summary>
    public CgroupLayout With(ICgroupCalls? calls = null, Action<string, string>? writeLog = null)
        => new(Version, Controllers, Unified) { Calls = calls ?? Calls, WriteLog = writeLog ?? WriteLog };

    /// <summary>
    /// Reads the layout from the text of /proc/self/mountinfo and /proc/self/cgroup. Any mounted v1 controller
    /// makes it a V1 layout (hybrid hosts included: their unified mount has few or no controllers).
    /// </summary>
    public static CgroupLayout Parse(string mountinfo, string procSelfCgroup)
    {
        var own = new Dictionary<string, string>();
        string? ownUnified = null;
        foreach (var line in procSelfCgroup.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // "hierarchy-id:controller,list:/path"; the path may itself contain ':'.
            var first = line.IndexOf(':');
            var second = first < 0 ? -1 : line.IndexOf(':', first + 1);
            if (second < 0) continue;
            var controllers = line[(first + 1)..second];
            var path = line[(second + 1)..];
            if (controllers.Length == 0) ownUnified = path;
            else foreach (var c in controllers.Split(',')) own[c] = path;
        }

        var v1 = new Dictionary<string, CgroupHierarchy>();
        CgroupHierarchy? unified = null;
        foreach (var line in mountinfo.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // id parent major:minor root mountpoint options [optional fields...] - fstype source superoptions
            var fields = line.Split(' ');
            var dash = Array.IndexOf(fields, "-");
            if (dash < 6 || dash + 3 >= fields.Length) continue;
            var fsType = fields[dash + 1];
            var root = Unescape(fields[3]);
            var mountPoint = Unescape(fields[4]);
            if (fsType == "cgroup2")
            {
                unified ??= new CgroupHierarchy(mountPoint, root, [], ownUnified ?? "/");
            }
            else if (fsType == "cgroup")
            {
                var controllers = fields[dash + 3].Split(',').Where(KnownV1Controllers.Contains).ToArray();
                if (controllers.Length == 0) continue;
                var h = new CgroupHierarchy(mountPoint, root, controllers, own.GetValueOrDefault(controllers[0], "/"));
                foreach (var c in controllers) v1.TryAdd(c, h); // a hierarchy bind-mounted twice: keep the first
            }
        }
        if (v1.Count > 0) return new(CgroupVersion.V1, v1, unified);
        if (unified is not null) return new(CgroupVersion.V2, v1, unified);
        throw new CgroupException("no cgroup hierarchy is mounted (no cgroup or cgroup2 entry in /proc/self/mountinfo)");
    }

    /// <summary>mountinfo escapes space, tab, newline and backslash as \ooo.</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\')) return field;
        var sb = new StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length &&
                field.Substring(i + 1, 3) is var oct && oct.All(ch => ch is >= '0' and <= '7'))
            {
                sb.Append((char)Convert.ToInt32(oct, 8));
                i += 3;
            }
            else sb.Append(field[i]);
        }
        return sb.ToString();
    }
}
