using Berth.Oci.Runtime;

namespace Berth.Runtime.Rootfs;

/// <summary>
/// The device cgroup rules a container needs for the devices RootfsSetup gives it. runc appends the same
/// list after the spec's own linux.resources.devices, so a config that denies everything (as `runc spec`
/// writes) still has working /dev/null, /dev/zero, ptys…; without them even mknod of the defaults is EPERM.
/// </summary>
public static class ContainerDevices
{
    private static DeviceCgroup Allow(string type, long? major, long? minor, string access)
        => new() { Allow = true, Type = type, Major = major, Minor = minor, Access = access };

    /// <summary>Rules to append after the spec's: mknod of any node, the default devices, ptys, the tun
    /// device, and every device of linux.devices.</summary>
    public static List<DeviceCgroup> CgroupRules(Spec spec)
    {
        var rules = new List<DeviceCgroup>
        {
            Allow("c", null, null, "m"), Allow("b", null, null, "m"),
            Allow("c", 1, 3, "rwm"), Allow("c", 1, 8, "rwm"), Allow("c", 1, 7, "rwm"), Allow("c", 5, 0, "rwm"),
            Allow("c", 1, 5, "rwm"), Allow("c", 1, 9, "rwm"), Allow("c", 136, null, "rwm"), Allow("c", 5, 2, "rwm"),
            Allow("c", 10, 200, "rwm"),
        };
        foreach (var device in spec.Linux?.Devices ?? [])
        {
            var type = device.Type == "u" ? "c" : device.Type;
            if (type is "c" or "b") rules.Add(Allow(type, device.Major, device.Minor, "rwm"));
        }
        return rules;
    }
}
