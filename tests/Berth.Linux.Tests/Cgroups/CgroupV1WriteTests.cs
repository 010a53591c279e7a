using Berth.Oci.Runtime;
using OciMemory = Berth.Oci.Runtime.Memory;

namespace Berth.Linux.Tests;

// Inside Berth.Linux.*, "Cgroups" would name the namespace; a using here makes it the class.
using Berth.Linux.Cgroups;

public sealed class CgroupV1WriteTests : IDisposable
{
    private readonly FakeCgroupFs fs = new();
    private readonly CgroupLayout layout;
    public void Dispose() => fs.Dispose();

    public CgroupV1WriteTests()
    {
        layout = fs.V1();
        const string c = "berth/c1";
        fs.Files("cpu,cpuacct/" + c, "cgroup.procs", "cpu.shares=1024", "cpu.cfs_period_us=100000", "cpu.cfs_quota_us=-1",
            "cpu.cfs_burst_us=0", "cpu.rt_period_us=1000000", "cpu.rt_runtime_us=0", "cpu.idle=0", "cpuacct.usage=0");
        fs.Files("cpuset", "cpuset.cpus=0-1", "cpuset.mems=0");
        fs.Files("cpuset/berth", "cgroup.procs", "cpuset.cpus=", "cpuset.mems=");
        fs.Files("cpuset/" + c, "cgroup.procs", "cpuset.cpus=", "cpuset.mems=");
        fs.Files("memory/" + c, "cgroup.procs", "memory.limit_in_bytes=9223372036854771712",
            "memory.memsw.limit_in_bytes=9223372036854771712", "memory.soft_limit_in_bytes=9223372036854771712",
            "memory.swappiness=60", "memory.oom_control=oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", "memory.kmem.tcp.limit_in_bytes=0");
        fs.Files("devices/" + c, "cgroup.procs", "devices.allow", "devices.deny", "devices.list=a *:* rwm");
        fs.Files("freezer/" + c, "cgroup.procs", "freezer.state=THAWED");
        fs.Files("blkio/" + c, "cgroup.procs", "blkio.weight=500", "blkio.weight_device", "blkio.leaf_weight=500",
            "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device");
        fs.Files("pids/" + c, "cgroup.procs", "pids.max=max");
        fs.Files("net_cls,net_prio/" + c, "cgroup.procs", "net_cls.classid=0", "net_prio.ifpriomap");
        fs.Files("hugetlb/" + c, "cgroup.procs", "hugetlb.2MB.limit_in_bytes=9223372036854771712");
    }

    private ICgroup Open() => Cgroups.Open("/berth/c1", "c1", layout);

    [Fact]
    public void Apply_writes_each_resource_into_its_controllers_hierarchy()
    {
        Open().Apply(new Resources
        {
            Cpu = new Cpu { Shares = 512, Quota = 50000, Period = 100000, RealtimePeriod = 1000000, RealtimeRuntime = 950000, Cpus = "1", Mems = "0" },
            BlockIo = new BlockIo
            {
                Weight = 300,
                WeightDevice = [new WeightDevice { Major = 8, Minor = 0, Weight = 200 }],
                ThrottleWriteBpsDevice = [new ThrottleDevice { Major = 8, Minor = 0, Rate = 4096 }],
            },
            Pids = new Pids { Limit = 32 },
            HugepageLimits = [new HugepageLimit { PageSize = "2MB", Limit = 2097152 }],
            Network = new NetworkResources { ClassId = 0x100001, Priorities = [new InterfacePriority { Name = "eth0", Priority = 5 }, new InterfacePriority { Name = "lo", Priority = 2 }] },
            Memory = new OciMemory { Reservation = 1 << 20, Swappiness = 0, DisableOomKiller = true, KernelTcp = 1 << 20 },
        });
        Assert.Equal(
        [
            ("cpuset/berth/c1/cpuset.mems", "0"),
            ("cpuset/berth/c1/cpuset.cpus", "1"),
            ("cpu,cpuacct/berth/c1/cpu.shares", "512"),
            ("cpu,cpuacct/berth/c1/cpu.cfs_period_us", "100000"),
            ("cpu,cpuacct/berth/c1/cpu.cfs_quota_us", "50000"),
            ("cpu,cpuacct/berth/c1/cpu.rt_period_us", "1000000"),
            ("cpu,cpuacct/berth/c1/cpu.rt_runtime_us", "950000"),
            ("blkio/berth/c1/blkio.weight", "300"),
            ("blkio/berth/c1/blkio.weight_device", "8:0 200"),
            ("blkio/berth/c1/blkio.throttle.write_bps_device", "8:0 4096"),
            ("memory/berth/c1/memory.soft_limit_in_bytes", "1048576"),
            ("memory/berth/c1/memory.kmem.tcp.limit_in_bytes", "1048576"),
            ("memory/berth/c1/memory.swappiness", "0"),
            ("memory/berth/c1/memory.oom_control", "1"),
            ("pids/berth/c1/pids.max", "32"),
            ("hugetlb/berth/c1/hugetlb.2MB.limit_in_bytes", "2097152"),
            ("net_cls,net_prio/berth/c1/net_cls.classid", "1048577"),
            ("net_cls,net_prio/berth/c1/net_prio.ifpriomap", "eth0 5"),
            ("net_cls,net_prio/berth/c1/net_prio.ifpriomap", "lo 2"),
        ], fs.Writes);
    }

    [Fact]
    public void Raising_memory_writes_memsw_first()
    {
        fs.Files("memory/berth/c1", "memory.limit_in_bytes=104857600", "memory.memsw.limit_in_bytes=209715200");
        Open().Update(new Resources { Memory = new OciMemory { Limit = 300 << 20, Swap = 600 << 20 } });
        Assert.Equal([("memory/berth/c1/memory.memsw.limit_in_bytes", (600 << 20).ToString()), ("memory/berth/c1/memory.limit_in_bytes", (300 << 20).ToString())], fs.Writes);
    }

    [Fact]
    public void Lowering_memory_writes_memory_first()
    {
        Open().Apply(new Resources { Memory = new OciMemory { Limit = 100 << 20, Swap = 200 << 20 } });
        Assert.Equal([("memory/berth/c1/memory.limit_in_bytes", (100 << 20).ToString()), ("memory/berth/c1/memory.memsw.limit_in_bytes", (200 << 20).ToString())], fs.Writes);
    }

    [Fact]
    public void Unlimited_memory_without_swap_lifts_memsw_first()
    {
        fs.Files("memory/berth/c1", "memory.limit_in_bytes=104857600", "memory.memsw.limit_in_bytes=209715200");
        Open().Update(new Resources { Memory = new OciMemory { Limit = -1 } });
        Assert.Equal([("memory/berth/c1/memory.memsw.limit_in_bytes", "-1"), ("memory/berth/c1/memory.limit_in_bytes", "-1")], fs.Writes);
    }

    [Fact]
    public void Swap_without_swap_accounting_is_refused()
    {
        File.Delete(Path.Combine(fs.Root, "memory/berth/c1/memory.memsw.limit_in_bytes"));
        var e = Assert.Throws<CgroupException>(() => Open().Apply(new Resources { Memory = new OciMemory { Limit = 1 << 20, Swap = 2 << 20 } }));
        Assert.StartsWith("linux.resources.memory.swap:", e.Message);
        Assert.Empty(fs.Writes);
    }

    [Fact]
    public void Devices_apply_each_rule_in_order_after_one_deny_all()
    {
        Open().Apply(new Resources
        {
            Devices =
            [
                new DeviceCgroup { Allow = false, Access = "rwm" },
                new DeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 3, Access = "rwm" },
                new DeviceCgroup { Allow = true, Type = "c", Major = 136, Minor = null, Access = "rwm" },
                new DeviceCgroup { Allow = false, Type = "c", Major = 5, Minor = 1, Access = "w" },
            ],
        });
        Assert.Equal(
        [
            ("devices/berth/c1/devices.deny", "a"),
            ("devices/berth/c1/devices.allow", "c 1:3 rwm"),
            ("devices/berth/c1/devices.allow", "c 136:* rwm"),
            ("devices/berth/c1/devices.deny", "c 5:1 w"),
        ], fs.Writes);
    }

    [Fact]
    public void Devices_start_from_deny_all_when_the_config_does_not()
    {
        Open().Apply(new Resources
        {
            Devices =
            [
                new DeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 3, Access = "rwm" },
                new DeviceCgroup { Allow = false, Type = "b", Major = 8, Minor = null, Access = "w" },
                new DeviceCgroup { Allow = true, Type = "c", Major = 5, Minor = 1, Access = "r" },
            ],
        });
        Assert.Equal(
        [
            ("devices/berth/c1/devices.deny", "a"),
            ("devices/berth/c1/devices.allow", "c 1:3 rwm"),
            ("devices/berth/c1/devices.deny", "b 8:* w"),
            ("devices/berth/c1/devices.allow", "c 5:1 r"),
        ], fs.Writes);
    }

    [Fact]
    public void Update_leaves_device_rules_alone()
    {
        Open().Update(new Resources { Devices = [new DeviceCgroup { Allow = false, Access = "rwm" }], Pids = new Pids { Limit = 5 } });
        Assert.Equal([("pids/berth/c1/pids.max", "5")], fs.Writes);
    }

    [Fact]
    public void Bfq_only_kernels_get_blkio_bfq_weight()
    {
        File.Delete(Path.Combine(fs.Root, "blkio/berth/c1/blkio.weight"));
        fs.Files("blkio/berth/c1", "blkio.bfq.weight=100", "blkio.bfq.weight_device");
        Open().Apply(new Resources { BlockIo = new BlockIo { Weight = 300, WeightDevice = [new WeightDevice { Major = 8, Minor = 0, Weight = 20 }] } });
        Assert.Equal([("blkio/berth/c1/blkio.bfq.weight", "300"), ("blkio/berth/c1/blkio.bfq.weight_device", "8:0 20")], fs.Writes);
    }

    [Theory]
    [InlineData("memory.swap", "swapBelowLimit")]
    [InlineData("memory.swappiness", "swappiness")]
    [InlineData("cpu.shares", "shares")]
    [InlineData("cpu.quota", "quota")]
    [InlineData("cpu.period", "period")]
    [InlineData("cpu.mems", "mems")]
    [InlineData("devices.type", "deviceType")]
    [InlineData("devices.access", "deviceAccess")]
    [InlineData("unified", "unified")]
    [InlineData("network.priorities.name", "ifname")]
    [InlineData("hugepageLimits.pageSize", "hugeMissing")]
    [InlineData("rdma", "rdma")]
    public void Invalid_resources_name_the_field_and_write_nothing(string field, string which)
    {
        var r = which switch
        {
            "swapBelowLimit" => new Resources { Memory = new OciMemory { Limit = 2 << 20, Swap = 1 << 20 } },
            "swappiness" => new Resources { Memory = new OciMemory { Swappiness = 101 } },
            "shares" => new Resources { Cpu = new Cpu { Shares = 1 } },
            "quota" => new Resources { Cpu = new Cpu { Quota = 10 } },
            "period" => new Resources { Cpu = new Cpu { Period = 5_000_000 } },
            "mems" => new Resources { Cpu = new Cpu { Mems = "0,,1" } },
            "deviceType" => new Resources { Devices = [new DeviceCgroup { Type = "x", Access = "r" }] },
            "deviceAccess" => new Resources { Devices = [new DeviceCgroup { Type = "c", Access = "rwx" }] },
            "unified" => new Resources { Unified = new() { ["memory.max"] = "1" } },
            "ifname" => new Resources { Network = new NetworkResources { Priorities = [new InterfacePriority { Name = "eth0 5\nlo", Priority = 1 }] } },
            "hugeMissing" => new Resources { HugepageLimits = [new HugepageLimit { PageSize = "1GB", Limit = 1 }] },
            "rdma" => new Resources { Rdma = new() { ["mlx5_1"] = default } },
            _ => throw new ArgumentException(which),
        };
        r.Pids = new Pids { Limit = 10 };
        var e = Assert.Throws<CgroupException>(() => Open().Apply(r));
        Assert.StartsWith("linux.resources." + field + ":", e.Message);
        Assert.Empty(fs.Writes);
    }

    [Fact]
    public void A_resource_for_an_unmounted_controller_is_refused_before_any_write()
    {
        using var other = new FakeCgroupFs();
        var noNetCls = other.V1("/", "memory", "pids");
        other.Files("pids/berth/c1", "cgroup.procs", "pids.max=max");
        var e = Assert.Throws<CgroupException>(() => Cgroups.Open("/berth/c1", "c1", noNetCls).Apply(new Resources
        {
            Pids = new Pids { Limit = 3 },
            Network = new NetworkResources { ClassId = 1 },
        }));
        Assert.Equal("linux.resources.network.classID: the net_cls controller is not mounted on this host", e.Message);
        Assert.Empty(other.Writes);
    }

    [Fact]
    public void Create_makes_each_hierarchy_once_and_fills_empty_cpusets_from_the_parent()
    {
        var cg = Cgroups.Open("/berth/c2", "c2", layout);
        Assert.False(cg.Exists);
        cg.Create();
        Assert.True(cg.Exists);
        foreach (var h in new[] { "cpu,cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "net_cls,net_prio", "hugetlb" })
            Assert.True(fs.Exists(h + "/berth/c2"), h);
        // The kernel would give the new cpuset cgroup empty files; the fake cannot, so only the parent level shows.
        Assert.Equal([("cpuset/berth/cpuset.cpus", "0-1"), ("cpuset/berth/cpuset.mems", "0")], fs.Writes);
        Assert.Equal(9, cg.Directories.Values.Distinct().Count());
        Assert.Equal(cg.Directories["cpu"], cg.Directories["cpuacct"]);
        cg.Create(); // idempotent
    }

    [Fact]
    public void AddProcess_joins_every_hierarchy_once()
    {
        Open().AddProcess(77);
        Assert.Equal(9, fs.Writes.Count);
        Assert.All(fs.Writes, w => Assert.Equal("77", w.Value));
        Assert.All(fs.Writes, w => Assert.EndsWith("/berth/c1/cgroup.procs", w.File));
        Assert.Equal(9, fs.Writes.Select(w => w.File).Distinct().Count());
    }

    [Fact]
    public void Freeze_and_thaw_write_freezer_state()
    {
        var cg = Open();
        cg.Freeze();
        Assert.Equal(FreezerState.Frozen, cg.FreezerState);
        cg.Thaw();
        Assert.Equal(FreezerState.Thawed, cg.FreezerState);
        Assert.Equal([("freezer/berth/c1/freezer.state", "FROZEN"), ("freezer/berth/c1/freezer.state", "THAWED")], fs.Writes);
    }

    [Fact]
    public void KillAll_freezes_signals_each_pid_and_thaws()
    {
        fs.Files("pids/berth/c1", "cgroup.procs=5\n6\n");
        Open().KillAll(9);
        Assert.Equal([(5, 9), (6, 9)], fs.Kills);
        Assert.Equal([("freezer/berth/c1/freezer.state", "FROZEN"), ("freezer/berth/c1/freezer.state", "THAWED")], fs.Writes);
    }

    [Fact]
    public void Stats_read_v1_counters()
    {
        fs.Files("memory/berth/c1", "memory.usage_in_bytes=5000", "memory.max_usage_in_bytes=6000", "memory.limit_in_bytes=8192",
            "memory.failcnt=2", "memory.memsw.usage_in_bytes=5100", "memory.stat=cache 10\nrss 20\ntotal_cache 100\ntotal_rss 200\n",
            "memory.oom_control=oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
        fs.Files("cpu,cpuacct/berth/c1", "cpuacct.usage=900", "cpuacct.usage_percpu=400 500 ", "cpuacct.stat=user 2\nsystem 1\n",
            "cpu.stat=nr_periods 4\nnr_throttled 2\nthrottled_time 77\n");
        fs.Files("pids/berth/c1", "pids.current=3", "pids.max=max");
        fs.Files("blkio/berth/c1", "blkio.throttle.io_service_bytes_recursive=254:0 Read 4096\n254:0 Write 0\n254:0 Total 4096\nTotal 4096\n");
        var cg = Open();
        var s = cg.Stats();
        Assert.Equal(5000UL, s.Memory.Usage.Usage);
        Assert.Equal(6000UL, s.Memory.Usage.Max);
        Assert.Equal(8192UL, s.Memory.Usage.Limit);
        Assert.Equal(2UL, s.Memory.Usage.Failcnt);
        Assert.Equal(5100UL, s.Memory.Swap.Usage);
        Assert.Equal(100UL, s.Memory.Cache);
        Assert.Equal(200UL, s.Memory.Rss);
        Assert.Equal(3UL, s.Memory.OomKills);
        Assert.Equal(3, cg.OomKillCount());
        Assert.Equal(900UL, s.Cpu.Usage.Total);
        Assert.Equal([400UL, 500UL], s.Cpu.Usage.PerCpu);
        Assert.Equal(20_000_000UL, s.Cpu.Usage.User);
        Assert.Equal(10_000_000UL, s.Cpu.Usage.Kernel);
        Assert.Equal(2UL, s.Cpu.Throttling.ThrottledPeriods);
        Assert.Equal(3UL, s.Pids.Current);
        Assert.Equal(0UL, s.Pids.Limit);
        Assert.Equal(3, s.Blkio.IoServiceBytesRecursive!.Count);
        Assert.Equal(4096UL, s.Blkio.IoServiceBytesRecursive[0].Value);
        Assert.True(s.Hugetlb.ContainsKey("2MB"));
    }

    [Fact]
    public void Destroy_removes_every_hierarchy()
    {
        var cg = Open();
        cg.Destroy();
        Assert.False(cg.Exists);
        Assert.Equal(9, fs.Removed.Count);
        Assert.True(fs.Exists("memory/berth"));
    }
}
