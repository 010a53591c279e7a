
namespace Berth.Linux.Tests;

// Inside Berth.Linux.*, "Cgroups" would name the namespace; a using here makes it the class.
using Berth.Linux.Cgroups;

public sealed class CgroupPathTests : IDisposable
{
    private readonly FakeCgroupFs fs = new();
    public void Dispose() => fs.Dispose();

    [Theory]
    [InlineData(null, "/berth/abc")]
    [InlineData("", "/berth/abc")]
    [InlineData("/docker/abc", "/docker/abc")]
    [InlineData("//a/./b/", "/a/b")]
    [InlineData("system.slice:docker:abc", "/system.slice/docker-abc.scope")]
    [InlineData("machine-libpod.slice:libpod:abc", "/machine.slice/machine-libpod.slice/libpod-abc.scope")]
    [InlineData(":berth:abc", "/system.slice/berth-abc.scope")]
    public void Absolute_default_and_systemd_paths_are_under_the_hierarchy_root(string? cgroupsPath, string expected)
    {
        var cg = Cgroups.Open(cgroupsPath, "abc", fs.V2("/user.slice/me"));
        Assert.Equal(expected, cg.Path);
        Assert.Equal(fs.Root + expected, cg.Directories[""]);
    }

    [Fact]
    public void Relative_paths_are_under_this_process_cgroup()
    {
        var v2 = Cgroups.Open("pods/abc", "abc", fs.V2("/user.slice/me"));
        Assert.Equal("/user.slice/me/pods/abc", v2.Path);
        Assert.Equal(fs.Root + "/user.slice/me/pods/abc", v2.Directories[""]);

        var v1 = Cgroups.Open("pods/abc", "abc", fs.V1("/runner", "memory", "pids"));
        Assert.Equal("/runner/pods/abc", v1.Path);
        Assert.Equal(fs.Root + "/memory/runner/pods/abc", v1.Directories["memory"]);
        Assert.Equal(fs.Root + "/pids/runner/pods/abc", v1.Directories["pids"]);
    }

    [Theory]
    [InlineData("/a/../../etc", "\"..\" is not allowed")]
    [InlineData("../x", "\"..\" is not allowed")]
    [InlineData("/", "names the root cgroup")]
    [InlineData("system.slice:docker:a/b", "malformed systemd cgroup path")]
    [InlineData("system:docker:a", "must end in .slice")]
    public void Bad_paths_are_refused(string cgroupsPath, string problem)
    {
        var e = Assert.Throws<CgroupException>(() => Cgroups.Open(cgroupsPath, "abc", fs.V2()));
        Assert.Contains(problem, e.Message);
        Assert.Contains("linux.cgroupsPath", e.Message);
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("..")]
    public void A_container_id_that_cannot_be_a_cgroup_name_is_refused(string id)
        => Assert.Throws<CgroupException>(() => Cgroups.Open(null, id, fs.V2()));

    private const string HybridMountinfo = """
        25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
        34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        42 31 0:39 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid shared:9 - cgroup cgroup rw,net_cls,net_prio
        43 31 0:40 /outer /mnt/my\040cgroups rw,relatime - cgroup cgroup rw,pids
        """;

    private const string ProcSelfCgroup = """
        9:name=systemd:/
        8:pids:/outer/me
        4:memory:/process_api/abc
        3:cpuset:/
        2:cpuacct:/
        1:cpu:/
        10:net_cls,net_prio:/
        0::/
        """;

    [Fact]
    public void Detect_reads_hierarchies_from_mountinfo()
    {
        var layout = CgroupLayout.Parse(HybridMountinfo, ProcSelfCgroup);
        Assert.Equal(CgroupVersion.V1, layout.Version);
        Assert.Equal(["cpu", "cpuacct", "cpuset", "memory", "devices", "net_cls", "net_prio", "pids"], layout.Controllers.Keys);
        Assert.Same(layout.Controllers["net_cls"], layout.Controllers["net_prio"]);
        Assert.Equal("/sys/fs/cgroup/unified", layout.Unified!.MountPoint);
        Assert.Equal("/process_api/abc", layout.Controllers["memory"].OwnCgroup);
        // A mount that shows only part of the hierarchy (cgroup namespace, or a bind mount) and an escaped space.
        var pids = layout.Controllers["pids"];
        Assert.Equal("/mnt/my cgroups", pids.MountPoint);
        Assert.Equal("/mnt/my cgroups/me", pids.OwnDirectory);

        var cg = Cgroups.Open("x", "x", layout);
        Assert.Equal("/sys/fs/cgroup/memory/process_api/abc/x", cg.Directories["memory"]);
        Assert.Equal("/mnt/my cgroups/me/x", cg.Directories["pids"]);
        Assert.Equal("/sys/fs/cgroup/cpu/berth/x", Cgroups.Open(null, "x", layout).Directories["cpu"]);
    }

    [Fact]
    public void A_host_with_only_cgroup2_is_v2()
    {
        var layout = CgroupLayout.Parse("30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n", "0::/init.scope\n");
        Assert.Equal(CgroupVersion.V2, layout.Version);
        Assert.Equal("/sys/fs/cgroup", layout.Unified!.MountPoint);
        Assert.Equal("/sys/fs/cgroup/init.scope/c", Cgroups.Open("c", "c", layout).Directories[""]);
    }

    [Fact]
    public void No_cgroup_mount_is_a_clear_error()
        => Assert.Contains("no cgroup hierarchy", Assert.Throws<CgroupException>(() => CgroupLayout.Parse("1 0 0:1 / / rw - ext4 /dev/vda rw\n", "")).Message);

    [Fact]
    public void Detect_on_this_host_finds_a_layout_and_caches_it()
    {
        var a = Cgroups.Detect();
        Assert.Same(a, Cgroups.Detect());
        Assert.True(a.Version == CgroupVersion.V2 ? a.Unified is not null : a.Controllers.Count > 0);
    }
}
