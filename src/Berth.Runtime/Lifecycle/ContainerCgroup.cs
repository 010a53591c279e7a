using Berth.Linux.Cgroups;
using Berth.Oci.Runtime;

namespace Berth.Runtime.Lifecycle;

/// <summary>The runtime's use of a container's cgroup (Berth.Linux.Cgroups): made and joined at create, looked up by
/// the later verbs from the path remembered in state.json.</summary>
public static class ContainerCgroup
{
    /// <summary>Creates the cgroup, moves <paramref name="pid"/> into it and applies linux.resources. On failure the
    /// cgroup is removed again and the error names the field.</summary>
    public static ICgroup Setup(Spec spec, string id, int pid)
    {
        var cgroup = Cgroups.Open(spec.Linux?.CgroupsPath, id);
        try
        {
            cgroup.Create();
            cgroup.AddProcess(pid);
            if (spec.Linux?.Resources is { } resources) cgroup.Apply(resources);
            return cgroup;
        }
        catch (CgroupException e)
        {
            try { cgroup.Destroy(); } catch (CgroupException) { }
            throw new RuntimeException(e.Message, e);
        }
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
