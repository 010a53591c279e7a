using Berth.Oci.Runtime;
using Berth.Runtime.Rootfs;

namespace Berth.Runtime.Tests;

public class RootfsContainerDevicesTests
{
    [Fact]
    public void Default_devices_and_spec_devices_are_allowed()
    {
        var spec = new Spec { Linux = new Berth.Oci.Runtime.Linux { Devices = [new Device { Type = "c", Path = "/dev/fuse", Major = 10, Minor = 229 }, new Device { Type = "p", Path = "/dev/fifo" }] } };
        var rules = ContainerDevices.CgroupRules(spec);
        Assert.All(rules, r => Assert.True(r.Allow));
        string Show(DeviceCgroup r) => $"{r.Type} {r.Major?.ToString() ?? "*"}:{r.Minor?.ToString() ?? "*"} {r.Access}";
        var shown = rules.Select(Show).ToList();
        Assert.Contains("c *:* m", shown);
        Assert.Contains("b *:* m", shown);
        foreach (var (major, minor) in new[] { (1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2) })
            Assert.Contains($"c {major}:{minor} rwm", shown);
        Assert.Contains("c 136:* rwm", shown);
        Assert.Equal("c 10:229 rwm", shown[^1]); // the fifo needs no rule
    }
}
