using Berth.Oci.Runtime;

namespace Berth.Runtime.Lifecycle;

/// <summary>The runtime's use of the container's cgroup (Berth.Linux.Cgroups). STUB until cgroups lands.</summary>
public sealed class ContainerCgroup
{
    /// <summary>The config's cgroupsPath, or runc's default for cgroupfs ("/ID").</summary>
    public static string PathFor(Spec spec, string id) => spec.Linux?.CgroupsPath is { Length: > 0 } p ? p : "/" + id;

    public static ContainerCgroup? Setup(Spec spec, string path, string id, int pid)
    {
        _ = spec; _ = path; _ = id; _ = pid;
        return null;
    }

    public static ContainerCgroup? Open(string? path, string id)
    {
        _ = path; _ = id;
        return null;
    }

    public IReadOnlyList<int> Pids() => [];
    public void Freeze() { }
    public void Thaw() { }
    public void Destroy() { }
}
