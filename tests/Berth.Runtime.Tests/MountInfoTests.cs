using Berth.Runtime.Rootfs;

namespace Berth.Runtime.Tests;

public class MountInfoTests
{
    [Fact]
    public void Parses_fields_around_optional_fields_and_unescapes_octal()
    {
        var entries = MountInfo.Parse(
            "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n" +
            "40 22 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n" +
            "garbage line\n");
        Assert.Equal(2, entries.Count);
        Assert.Equal(new MountInfo.Entry("/mnt1", "/mnt/with space", "ext3", "/dev/root", "rw,errors=continue"), entries[0]);
        Assert.Equal("cgroup", entries[1].FileSystemType);
        Assert.Equal("rw,cpu,cpuacct", entries[1].SuperOptions);
    }

    [Fact]
    public void Cgroup_membership_lines()
    {
        var entries = CgroupMembership.Parse("12:cpu,cpuacct:/berth/x\n1:name=systemd:/user.slice\n0::/\n");
        Assert.Equal(3, entries.Count);
        Assert.Equal(["cpu", "cpuacct"], entries[0].Controllers);
        Assert.Equal("/berth/x", entries[0].Path);
        Assert.Equal(["name=systemd"], entries[1].Controllers);
        Assert.Empty(entries[2].Controllers);
        Assert.Equal(0, entries[2].HierarchyId);
    }

    [Theory]
    [InlineData("cpu", true)]
    [InlineData("name=systemd", true)]
    [InlineData("rw", false)]
    [InlineData("xattr", false)]
    [InlineData("release_agent=/x", false)]
    [InlineData("clone_children", false)]
    public void Controller_options_are_told_from_mount_options(string option, bool isController)
        => Assert.Equal(isController, CgroupMembership.IsControllerOption(option));
}
