using System.Text.Json;
using Berth.Oci.Runtime;
using OciMemory = Berth.Oci.Runtime.Memory;

namespace Berth.Linux.Tests;

// Inside Berth.Linux.*, "Cgroups" would name the namespace; a using here makes it the class.
using Berth.Linux.Cgroups;

public sealed class CgroupV2WriteTests : IDisposable
{
    private readonly FakeCgroupFs fs = new();
    public void Dispose() => fs.Dispose();

    private const string Leaf = "berth/c1";

    /// <summary>The files a v2 leaf with the usual controllers enabled shows.</summary>
    private FakeCgroupFs KernelLeaf(params string[] extra)
        => fs.Files(Leaf, ["cgroup.procs", "cgroup.freeze=0", "cgroup.events=populated 0\nfrozen 0\n", "cgroup.kill",
            "memory.max=max", "memory.swap.max=max", "memory.low=0", "cpu.weight=100", "cpu.max=max 100000", "cpu.max.burst=0",
            "cpuset.cpus", "cpuset.mems", "pids.max=max", "io.weight=default 100", "io.max", "hugetlb.2MB.max=max",
            "hugetlb.2MB.rsvd.max=max", "memory.high=max", .. extra]);

    [Fact]
    public void Apply_writes_every_resource_to_its_v2_file()
    {
        KernelLeaf();
        var cg = Cgroups.Open("/berth/c1", "c1", fs.V2());
        cg.Apply(new Resources
        {
            Memory = new OciMemory { Limit = 256 << 20, Swap = 512 << 20, Reservation = 128 << 20 },
            Cpu = new Cpu { Shares = 1024, Quota = 50000, Period = 100000, Cpus = "0-1", Mems = "0", Burst = 1000 },
            Pids = new Pids { Limit = 100 },
            BlockIo = new BlockIo
            {
                Weight = 500,
                ThrottleReadBpsDevice = [new ThrottleDevice { Major = 8, Minor = 0, Rate = 1048576 }],
                ThrottleWriteIopsDevice = [new ThrottleDevice { Major = 8, Minor = 0, Rate = 100 }],
            },
            HugepageLimits = [new HugepageLimit { PageSize = "2MB", Limit = 4 << 21 }],
            Unified = new() { ["memory.high"] = "200000000" },
        });

        Assert.Equal(
        [
            ("berth/c1/cpu.weight", "39"),                 // runc: 1 + (1024-2)*9999/262142
            ("berth/c1/cpu.max", "50000 100000"),
            ("berth/c1/cpu.max.burst", "1000"),
            ("berth/c1/cpuset.mems", "0"),
            ("berth/c1/cpuset.cpus", "0-1"),
            ("berth/c1/io.weight", "4950"),                // 1 + (500-10)*9999/990
            ("berth/c1/io.max", "8:0 rbps=1048576"),
            ("berth/c1/io.max", "8:0 wiops=100"),
            ("berth/c1/memory.swap.max", (256 << 20).ToString()), // OCI swap is memory+swap; v2 wants swap alone
            ("berth/c1/memory.max", (256 << 20).ToString()),
            ("berth/c1/memory.low", (128 << 20).ToString()),
            ("berth/c1/pids.max", "100"),
            ("berth/c1/hugetlb.2MB.max", (4 << 21).ToString()),
            ("berth/c1/memory.high", "200000000"),
        ], fs.Writes);
        Assert.Equal("200000000", fs.Read("berth/c1/memory.high"));
    }

    [Fact]
    public void Minus_one_means_max_and_unlimited_memory_lifts_swap_too()
    {
        KernelLeaf();
        var cg = Cgroups.Open("/berth/c1", "c1", fs.V2());
        cg.Apply(new Resources { Memory = new OciMemory { Limit = -1 }, Cpu = new Cpu { Quota = -1, Period = 100000 }, Pids = new Pids { Limit = -1 } });
        Assert.Equal([("berth/c1/cpu.max", "max 100000"), ("berth/c1/memory.swap.max", "max"), ("berth/c1/memory.max", "max"), ("berth/c1/pids.max", "max")], fs.Writes);
    }

    [Fact]
    public void Bfq_takes_the_blkio_weight_unconverted()
    {
        KernelLeaf("io.bfq.weight=default 100");
        Cgroups.Open("/berth/c1", "c1", fs.V2()).Apply(new Resources
        {
            BlockIo = new BlockIo { Weight = 500, WeightDevice = [new WeightDevice { Major = 8, Minor = 16, Weight = 200 }] },
        });
        Assert.Equal([("berth/c1/io.bfq.weight", "500"), ("berth/c1/io.bfq.weight", "8:16 200")], fs.Writes);
    }

    [Fact]
    public void Device_rules_become_a_bpf_program_attached_on_apply_but_not_on_update()
    {
        KernelLeaf();
        var cg = Cgroups.Open("/berth/c1", "c1", fs.V2());
        var rules = new Resources
        {
            Devices = [new DeviceCgroup { Allow = false, Access = "rwm" }, new DeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 3, Access = "rwm" }],
        };
        cg.Apply(rules);
        Assert.Empty(fs.Writes);
        var (dir, program) = Assert.Single(fs.DeviceFilters);
        Assert.Equal("berth/c1", dir);
        Assert.Equal(DeviceFilter.Compile(rules.Devices), program);
        cg.Update(rules);
        Assert.Single(fs.DeviceFilters);
    }

    [Theory]
    [InlineData("memory.swappiness", "swappiness")]
    [InlineData("cpu.realtimeRuntime", "realtime")]
    [InlineData("network", "network")]
    [InlineData("memory.swap", "swapWithoutLimit")]
    [InlineData("memory.swap", "swapBelowLimit")]
    [InlineData("unified", "unifiedSlash")]
    [InlineData("unified", "unifiedDotDot")]
    [InlineData("unified", "unifiedMissing")]
    [InlineData("hugepageLimits.pageSize", "hugeBadSize")]
    [InlineData("hugepageLimits.pageSize", "hugeMissing")]
    [InlineData("cpu.cpus", "badCpus")]
    [InlineData("blockIO.weight", "badWeight")]
    [InlineData("memory.limit", "badLimit")]
    public void Invalid_resources_name_the_field_and_write_nothing(string field, string which)
    {
        KernelLeaf();
        var r = which switch
        {
            "swappiness" => new Resources { Memory = new OciMemory { Limit = 1 << 20, Swappiness = 10 } },
            "realtime" => new Resources { Cpu = new Cpu { Shares = 512, RealtimeRuntime = 1000 } },
            "network" => new Resources { Network = new NetworkResources { ClassId = 7 } },
            "swapWithoutLimit" => new Resources { Memory = new OciMemory { Swap = 1 << 20 } },
            "swapBelowLimit" => new Resources { Memory = new OciMemory { Limit = 2 << 20, Swap = 1 << 20 } },
            "unifiedSlash" => new Resources { Unified = new() { ["../memory.max"] = "1" } },
            "unifiedDotDot" => new Resources { Unified = new() { ["memory..max"] = "1" } },
            "unifiedMissing" => new Resources { Unified = new() { ["memory.oom.group"] = "1" } },
            "hugeBadSize" => new Resources { HugepageLimits = [new HugepageLimit { PageSize = "2M", Limit = 1 }] },
            "hugeMissing" => new Resources { HugepageLimits = [new HugepageLimit { PageSize = "1GB", Limit = 1 }] },
            "badCpus" => new Resources { Cpu = new Cpu { Cpus = "0-a" } },
            "badWeight" => new Resources { BlockIo = new BlockIo { Weight = 5 } },
            "badLimit" => new Resources { Memory = new OciMemory { Limit = -2 } },
            _ => throw new ArgumentException(which),
        };
        // A valid field first: validation must reject the whole set before writing any of it.
        r.Pids = new Pids { Limit = 10 };
        var e = Assert.Throws<CgroupException>(() => Cgroups.Open("/berth/c1", "c1", fs.V2()).Apply(r));
        Assert.StartsWith("linux.resources." + field + ":", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Empty(fs.Writes);
        Assert.Equal("max", fs.Read("berth/c1/pids.max"));
    }

    [Fact]
    public void A_file_the_kernel_does_not_offer_is_a_clear_error()
    {
        fs.Files(Leaf, "cgroup.procs"); // memory controller not enabled: no memory.max
        var e = Assert.Throws<CgroupException>(() => Cgroups.Open("/berth/c1", "c1", fs.V2()).Apply(new Resources { Memory = new OciMemory { Limit = 1 << 20 } }));
        Assert.Contains("memory.max", e.Message);
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void Create_enables_controllers_in_every_ancestor_but_not_in_the_leaf()
    {
        fs.Files("", "cgroup.controllers=cpu io memory pids", "cgroup.subtree_control=memory");
        fs.Files("berth", "cgroup.controllers=cpu io memory pids", "cgroup.subtree_control=");
        var cg = Cgroups.Open(null, "c1", fs.V2());
        Assert.False(cg.Exists);
        cg.Create();
        Assert.True(cg.Exists);
        Assert.Equal("/berth/c1", cg.Path);
        Assert.Equal(
        [
            ("cgroup.subtree_control", "+cpu +io +pids"),
            ("berth/cgroup.subtree_control", "+cpu +io +memory +pids"),
        ], fs.Writes);
        Assert.False(fs.Exists("berth/c1/cgroup.subtree_control"));
    }

    [Fact]
    public void AddProcess_writes_the_pid_to_cgroup_procs()
    {
        KernelLeaf();
        Cgroups.Open("/berth/c1", "c1", fs.V2()).AddProcess(4242);
        Assert.Equal([("berth/c1/cgroup.procs", "4242")], fs.Writes);
    }

    [Fact]
    public void Freeze_and_thaw_use_cgroup_freeze_and_wait_for_cgroup_events()
    {
        KernelLeaf();
        fs.Files(Leaf, "cgroup.events=populated 1\nfrozen 1\n"); // the kernel reports the frozen state
        var cg = Cgroups.Open("/berth/c1", "c1", fs.V2());
        Assert.Equal(FreezerState.Thawed, cg.FreezerState);
        cg.Freeze();
        Assert.Equal(FreezerState.Frozen, cg.FreezerState);
        fs.Files(Leaf, "cgroup.events=populated 1\nfrozen 0\n");
        cg.Thaw();
        Assert.Equal(FreezerState.Thawed, cg.FreezerState);
        Assert.Equal([("berth/c1/cgroup.freeze", "1"), ("berth/c1/cgroup.freeze", "0")], fs.Writes);
    }

    [Fact]
    public void KillAll_uses_cgroup_kill_for_sigkill_and_signals_each_pid_otherwise()
    {
        KernelLeaf("cgroup.procs=10\n11\n");
        fs.Files(Leaf + "/sub", "cgroup.procs=12\n999999\n"); // 999999 exits meanwhile: ESRCH is fine
        fs.Files(Leaf, "cgroup.events=populated 1\nfrozen 1\n");
        var cg = Cgroups.Open("/berth/c1", "c1", fs.V2());
        cg.KillAll(9);
        Assert.Equal([("berth/c1/cgroup.kill", "1")], fs.Writes);
        Assert.Empty(fs.Kills);

        fs.Writes.Clear();
        cg.KillAll(15); // frozen first, so no process forks a child the signal misses
        Assert.Equal([10, 11, 12, 999999], fs.Kills.Select(k => k.Pid).Order());
        Assert.All(fs.Kills, k => Assert.Equal(15, k.Signal));
        Assert.Equal([("berth/c1/cgroup.freeze", "1"), ("berth/c1/cgroup.freeze", "0")], fs.Writes);
    }

    [Fact]
    public void Pids_includes_descendant_cgroups()
    {
        KernelLeaf("cgroup.procs=1\n2\n");
        fs.Files(Leaf + "/a/b", "cgroup.procs=3\n");
        Assert.Equal([1, 2, 3], Cgroups.Open("/berth/c1", "c1", fs.V2()).Pids().Order());
    }

    [Fact]
    public void Stats_read_v2_counters_and_serialize_as_runc_events()
    {
        KernelLeaf();
        fs.Files(Leaf, "memory.current=1000", "memory.peak=2000", "memory.max=4096", "memory.swap.current=10",
            "memory.stat=anon 700\nfile 300\n", "memory.events=low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
            "cpu.stat=usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 7\nnr_throttled 1\nthrottled_usec 4\n",
            "pids.current=4", "pids.max=64", "io.stat=8:0 rbytes=100 wbytes=50 rios=1 wios=2 dbytes=0 dios=0\n",
            "hugetlb.2MB.current=0", "hugetlb.2MB.events=max 0\n");
        var cg = Cgroups.Open("/berth/c1", "c1", fs.V2());
        var s = cg.Stats();
        Assert.Equal(1000UL, s.Memory.Usage.Usage);
        Assert.Equal(2000UL, s.Memory.Usage.Max);
        Assert.Equal(4096UL, s.Memory.Usage.Limit);
        Assert.Equal(3UL, s.Memory.Usage.Failcnt);
        Assert.Equal(300UL, s.Memory.Cache);
        Assert.Equal(700UL, s.Memory.Rss);
        Assert.Equal(ulong.MaxValue, s.Memory.Swap.Limit);
        Assert.Equal(1UL, s.Memory.OomKills);
        Assert.Equal(1, cg.OomKillCount());
        Assert.Equal(5000UL, s.Cpu.Usage.Total);
        Assert.Equal(3000UL, s.Cpu.Usage.User);
        Assert.Equal(2000UL, s.Cpu.Usage.Kernel);
        Assert.Equal(7UL, s.Cpu.Throttling.Periods);
        Assert.Equal(4000UL, s.Cpu.Throttling.ThrottledTime);
        Assert.Equal(4UL, s.Pids.Current);
        Assert.Equal(64UL, s.Pids.Limit);
        Assert.Contains(s.Blkio.IoServiceBytesRecursive!, e => e is { Major: 8, Minor: 0, Op: "Read", Value: 100 });
        Assert.Contains(s.Blkio.IoServiceBytesRecursive!, e => e is { Op: "Total", Value: 150 });
        Assert.True(s.Hugetlb.ContainsKey("2MB"));
        Assert.Single(s.Hugetlb);

        var json = JsonSerializer.Serialize(CgroupEvent.ForStats("c1", s), CgroupJsonContext.Default.CgroupEvent);
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal("stats", root.GetProperty("type").GetString());
        Assert.Equal("c1", root.GetProperty("id").GetString());
        var data = root.GetProperty("data");
        Assert.Equal(5000UL, data.GetProperty("cpu").GetProperty("usage").GetProperty("total").GetUInt64());
        Assert.Equal(1UL, data.GetProperty("cpu").GetProperty("throttling").GetProperty("throttledPeriods").GetUInt64());
        Assert.Equal(1000UL, data.GetProperty("memory").GetProperty("usage").GetProperty("usage").GetUInt64());
        Assert.Equal(300UL, data.GetProperty("memory").GetProperty("cache").GetUInt64());
        Assert.Equal(64UL, data.GetProperty("pids").GetProperty("limit").GetUInt64());
        Assert.Equal(100UL, data.GetProperty("blkio").GetProperty("ioServiceBytesRecursive")[0].GetProperty("value").GetUInt64());
        Assert.Equal(0UL, data.GetProperty("hugetlb").GetProperty("2MB").GetProperty("failcnt").GetUInt64());
        Assert.False(data.GetProperty("memory").GetProperty("kernel").TryGetProperty("usage", out _)); // omitempty as in Go
    }

    [Fact]
    public void Destroy_removes_deepest_first_retries_ebusy_and_is_fine_when_gone()
    {
        KernelLeaf();
        fs.Files(Leaf + "/a/b", "cgroup.procs");
        fs.BusyRemovals = 2;
        var cg = Cgroups.Open("/berth/c1", "c1", fs.V2());
        cg.Destroy();
        Assert.Equal(["berth/c1/a/b", "berth/c1/a", "berth/c1"], fs.Removed);
        Assert.False(cg.Exists);
        Assert.True(fs.Exists("berth"));
        cg.Destroy();
    }
}
