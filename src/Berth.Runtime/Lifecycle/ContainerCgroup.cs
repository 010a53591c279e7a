using Berth.Linux.Cgroups;
using Berth.Oci.Runtime;

namespace Berth.Runtime.Lifecycle;

/// <summary>The runtime's use of a container's cgroup (Berth.Linux.Cgroups): made at create (the init joins it itself), looked up by
/// the later verbs from the path remembered in state.json.</summary>
public static class ContainerCgroup
{
    /// <summary>
    /// Creates the cgroup and applies linux.resources while it is still empty, so every limit and device rule holds from
    /// the moment the init is in it (the init moves itself in: ICgroup.SelfJoinFiles, LaunchPlan.CgroupTasks). On
    /// failure the cgroup is removed again and the error names the field.
    /// </summary>
    public static ICgroup Prepare(Spec spec, string id) => Prepare(Locate(spec, id), spec);

    /// <summary>The container's cgroup, its paths only: nothing is made on the host yet.</summary>
    public static ICgroup Locate(Spec spec, string id)
    {
        try { return Cgroups.Open(spec.Linux?.CgroupsPath, id); }
        catch (CgroupException e) { throw new RuntimeException(e.Message, e); }
    }

    /// <summary>Makes <paramref name="cgroup"/> and applies linux.resources (see <see cref="Prepare(Spec, string)"/>).</summary>
    public static ICgroup Prepare(ICgroup cgroup, Spec spec)
    {
        try
        {
            cgroup.Create();
            if (spec.Linux?.Resources is { } resources)
            {
                if (resources.Devices is { Count: > 0 }) resources.Devices = WithDefaultDevices(resources.Devices, spec.Linux.Devices);
                cgroup.Apply(resources);
            }
            return cgroup;
        }
        catch (CgroupException e)
        {
            try { cgroup.Destroy(); } catch (CgroupException) { }
            throw new RuntimeException(e.Message, e);
        }
    }

    /// <summary>runc appends these allow rules after the config's own (which usually start with deny-all): the default
    /// devices, ptys, tun, mknod of anything, and every device the config creates.</summary>
    public static List<DeviceCgroup> WithDefaultDevices(List<DeviceCgroup> rules, List<Device>? devices)
    {
        var all = new List<DeviceCgroup>(rules);
        DeviceCgroup Allow(string type, long? major, long? minor, string access) => new() { Allow = true, Type = type, Major = major, Minor = minor, Access = access };
        all.Add(Allow("c", null, null, "m"));
        all.Add(Allow("b", null, null, "m"));
        foreach (var (major, minor) in new (long, long?)[] { (1, 3), (1, 8), (1, 7), (5, 0), (1, 5), (1, 9), (136, null), (5, 2), (10, 200), (5, 1) })
            all.Add(Allow("c", major, minor, "rwm"));
        foreach (var d in devices ?? []) all.Add(Allow(d.Type == "u" ? "c" : d.Type, d.Major, d.Minor, "rwm"));
        return all;
    }

    /// <summary>
    /// The usual end of a container: its cgroup directories (as `create` recorded them) are empty, and one rmdir each
    /// removes them, without finding the host's hierarchies or listing the cgroup. Stops at the first that is not
    /// removed (processes left, sub-cgroups, an error) and returns false: the caller then kills what is left and removes
    /// the rest the long way. A directory that is gone already counts as removed.
    /// </summary>
    public static bool TryRemoveEmpty(IReadOnlyList<string>? directories, Berth.Linux.ICgroupCalls sys)
    {
        if (directories is null) return false;
        foreach (var dir in directories)
            if (sys.RemoveDirectory(dir) is not (0 or Berth.Linux.Errno.ENOENT)) return false;
        return true;
    }

    /// <summary>The existing cgroup of a container, or null when it has none (already removed).</summary>
    public static ICgroup? Open(string? cgroupsPath, string id)
    {
        try
        {
            var cgroup = Cgroups.Open(cgroupsPath, id);
            return cgroup.Exists ? cgroup : null;
        }
        catch (CgroupException) { return null; }
    }
}
