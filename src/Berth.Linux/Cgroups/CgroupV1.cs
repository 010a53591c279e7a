using System.Globalization;
using Berth.Oci.Runtime;

namespace Berth.Linux.Cgroups;

/// <summary>cgroup v1: the same path in one hierarchy per controller (co-mounted controllers share one).</summary>
internal sealed class CgroupV1 : CgroupBase
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private readonly Dictionary<string, string> dirs = new();          // controller → directory
    private readonly List<(CgroupHierarchy Hierarchy, string Dir)> hierarchies = new(); // one per mount

    public CgroupV1(CgroupLayout layout, CgroupPath path) : base(layout, path)
    {
        foreach (var (controller, h) in layout.Controllers)
        {
            var dir = path.DirectoryIn(h);
            dirs[controller] = dir;
            if (!hierarchies.Exists(x => x.Dir == dir)) hierarchies.Add((h, dir));
        }
        var primary = layout.Controllers.GetValueOrDefault("memory") ?? layout.Controllers.Values.First();
        Path = path.InHierarchy(primary);
    }

    public override CgroupVersion Version => CgroupVersion.V1;
    public override string Path { get; }
    public override IReadOnlyDictionary<string, string> Directories => dirs;
    public override bool Exists => hierarchies.Exists(h => Directory.Exists(h.Dir));

    private string? Dir(string controller) => dirs.GetValueOrDefault(controller);

    public override void Create()
    {
        foreach (var (h, dir) in hierarchies)
        {
            var levels = MakeDirectories(h.MountPoint, dir);
            // A new cpuset cgroup starts with empty cpus and mems, and no task can join it until they are set.
            // Every level is checked, not only new ones: an earlier run may have left an empty parent behind.
            if (h.Controllers.Contains("cpuset")) foreach (var level in levels) InheritCpuset(level);
        }
    }

    private void InheritCpuset(string dir)
    {
        var parent = System.IO.Path.GetDirectoryName(dir)!;
        foreach (var file in (string[])["cpuset.cpus", "cpuset.mems"])
            if (ReadOrNull(dir, file) is { } own && own.Trim().Length == 0 && ReadOrNull(parent, file) is { } inherited && inherited.Trim().Length > 0)
                Write(dir, file, inherited.Trim());
    }

    public override void AddProcess(int pid)
    {
        var text = pid.ToString(Inv);
        foreach (var (_, dir) in hierarchies) Write(dir, "cgroup.procs", text);
    }

    public override IReadOnlyList<string>? SelfJoinFiles()
    {
        var files = new List<string>(hierarchies.Count);
        foreach (var (_, dir) in hierarchies) files.Add(dir + "/tasks");
        return files;
    }

    public override IReadOnlyList<(string MountPoint, string Relative)>? SelfJoinFilesUnderMounts()
    {
        var files = new List<(string, string)>(hierarchies.Count);
        foreach (var (h, dir) in hierarchies)
        {
            var mountPoint = h.MountPoint.TrimEnd('/');
            if (mountPoint.Length == 0 || !dir.StartsWith(mountPoint + "/", StringComparison.Ordinal)) return null; // not below its mount: use paths
            files.Add((mountPoint, dir[(mountPoint.Length + 1)..] + "/tasks"));
        }
        return files;
    }

    public override void Apply(Resources resources) => Set(resources, devices: true);

    public override void Update(Resources resources) => Set(resources, devices: false);

    private void Set(Resources r, bool devices)
    {
        ResourceChecks.Check(r, CgroupVersion.V1);
        CheckMounted(r, devices);

        if (r.Cpu is { } cpu) { SetCpuset(cpu); SetCpu(cpu); }
        if (r.BlockIo is { } bio) SetBlkio(bio);
        if (r.Memory is { } mem) SetMemory(mem);
        if (r.Pids is { Limit: not 0 } pids) Write(Dir("pids")!, "pids.max", pids.Limit < 0 ? "max" : pids.Limit.ToString(Inv));
        foreach (var h in r.HugepageLimits ?? []) Write(Dir("hugetlb")!, $"hugetlb.{h.PageSize}.limit_in_bytes", h.Limit.ToString(Inv));
        if (r.Network?.ClassId is { } classId) Write(Dir("net_cls")!, "net_cls.classid", classId.ToString(Inv));
        foreach (var p in r.Network?.Priorities ?? []) Write(Dir("net_prio")!, "net_prio.ifpriomap", $"{p.Name} {p.Priority}");
        if (devices && r.Devices is { Count: > 0 } rules) SetDevices(rules);
    }

    /// <summary>A resource whose controller has no hierarchy on this host is refused before anything is written.</summary>
    private void CheckMounted(Resources r, bool devices)
    {
        void Need(string controller, string field, bool wanted)
        {
            if (wanted && Dir(controller) is null)
                throw ResourceChecks.Invalid(field, $"the {controller} controller is not mounted on this host");
        }
        var m = r.Memory; var c = r.Cpu; var b = r.BlockIo;
        Need("memory", "memory", m is not null && (m.Limit is not (null or 0) || m.Reservation is not (null or 0) || m.Swap is not (null or 0)
            || m.KernelTcp is not (null or 0) || m.Swappiness is not null || m.DisableOomKiller == true));
        Need("cpu", "cpu", c is not null && (c.Shares is not (null or 0) || c.Quota is not (null or 0) || c.Period is not (null or 0)
            || c.RealtimeRuntime is not (null or 0) || c.RealtimePeriod is not (null or 0) || c.Burst is not null || c.Idle is not null));
        Need("cpuset", "cpu.cpus", !string.IsNullOrEmpty(c?.Cpus) || !string.IsNullOrEmpty(c?.Mems));
        Need("blkio", "blockIO", b is not null && (b.Weight is not (null or 0) || b.LeafWeight is not (null or 0) || b.WeightDevice is { Count: > 0 }
            || ResourceChecks.Throttles(b).Any(t => t.Devices.Count > 0)));
        Need("pids", "pids", r.Pids is { Limit: not 0 });
        Need("hugetlb", "hugepageLimits", r.HugepageLimits is { Count: > 0 });
        Need("net_cls", "network.classID", r.Network?.ClassId is not null);
        Need("net_prio", "network.priorities", r.Network?.Priorities is { Count: > 0 });
        Need("devices", "devices", devices && r.Devices is { Count: > 0 });
        foreach (var h in r.HugepageLimits ?? [])
            if (!File.Exists($"{Dir("hugetlb")}/hugetlb.{h.PageSize}.limit_in_bytes"))
                throw ResourceChecks.Invalid("hugepageLimits.pageSize", $"the kernel has no {h.PageSize} huge pages");
    }

    private void SetCpuset(Cpu c)
    {
        // mems before cpus is what runc does; either order works once the cgroup inherited both.
        if (!string.IsNullOrEmpty(c.Mems)) Write(Dir("cpuset")!, "cpuset.mems", c.Mems);
        if (!string.IsNullOrEmpty(c.Cpus)) Write(Dir("cpuset")!, "cpuset.cpus", c.Cpus);
    }

    private void SetCpu(Cpu c)
    {
        var dir = Dir("cpu");
        if (dir is null) return;
        if (c.Shares is > 0 and var shares)
        {
            Write(dir, "cpu.shares", shares.ToString(Inv));
            // The kernel clamps silently; say so instead of running with other shares than asked.
            var actual = ReadUInt(dir, "cpu.shares");
            if (actual != shares) throw ResourceChecks.Invalid("cpu.shares", $"the kernel set {actual} instead of {shares}");
        }
        // Lowering the period below old_quota/new_period can exceed the parent's bandwidth (EINVAL): then set
        // the quota first and the period after it.
        var periodPending = false;
        if (c.Period is > 0 and var period)
        {
            try { Write(dir, "cpu.cfs_period_us", period.ToString(Inv)); }
            catch (CgroupException) when (c.Quota is not (null or 0)) { periodPending = true; }
        }
        if (c.Quota is not (null or 0) and var quota)
        {
            Write(dir, "cpu.cfs_quota_us", quota.Value.ToString(Inv));
            if (periodPending) Write(dir, "cpu.cfs_period_us", c.Period!.Value.ToString(Inv));
        }
        if (c.Burst is { } burst) Write(dir, "cpu.cfs_burst_us", burst.ToString(Inv));
        if (c.RealtimePeriod is > 0 and var rtPeriod) Write(dir, "cpu.rt_period_us", rtPeriod.ToString(Inv));
        if (c.RealtimeRuntime is not (null or 0) and var rtRuntime) Write(dir, "cpu.rt_runtime_us", rtRuntime.Value.ToString(Inv));
        if (c.Idle is { } idle) Write(dir, "cpu.idle", idle.ToString(Inv));
    }

    private void SetBlkio(BlockIo b)
    {
        var dir = Dir("blkio");
        if (dir is null) return;
        // CFQ has blkio.weight; with BFQ (newer kernels) only blkio.bfq.weight exists.
        var bfq = !File.Exists(dir + "/blkio.weight") && File.Exists(dir + "/blkio.bfq.weight");
        var weightFile = bfq ? "blkio.bfq.weight" : "blkio.weight";
        var weightDeviceFile = bfq ? "blkio.bfq.weight_device" : "blkio.weight_device";
        if (b.Weight is > 0 and var weight) Write(dir, weightFile, weight.ToString(Inv));
        if (b.LeafWeight is > 0 and var leaf) Write(dir, "blkio.leaf_weight", leaf.ToString(Inv));
        foreach (var d in b.WeightDevice ?? [])
        {
            if (d.Weight is > 0 and var w) Write(dir, weightDeviceFile, $"{d.Major}:{d.Minor} {w}");
            if (d.LeafWeight is > 0 and var lw) Write(dir, "blkio.leaf_weight_device", $"{d.Major}:{d.Minor} {lw}");
        }
        foreach (var (name, list) in ResourceChecks.Throttles(b))
        {
            var file = name switch
            {
                "throttleReadBpsDevice" => "blkio.throttle.read_bps_device",
                "throttleWriteBpsDevice" => "blkio.throttle.write_bps_device",
                "throttleReadIOPSDevice" => "blkio.throttle.read_iops_device",
                _ => "blkio.throttle.write_iops_device",
            };
            foreach (var d in list) Write(dir, file, $"{d.Major}:{d.Minor} {d.Rate}");
        }
    }

    private void SetMemory(Memory m)
    {
        var dir = Dir("memory")!;
        long limit = m.Limit ?? 0, swap = m.Swap ?? 0;
        var hasSwapFile = File.Exists(dir + "/memory.memsw.limit_in_bytes");
        // Unlimited memory with swap unset: unlimited memory+swap too (else the old memsw limit still binds).
        if (limit == -1 && swap == 0 && hasSwapFile) swap = -1;
        if (swap != 0 && !hasSwapFile)
            throw ResourceChecks.Invalid("memory.swap", "the kernel does not account swap (no memory.memsw.limit_in_bytes; boot with swapaccount=1)");

        // The kernel keeps memory.limit <= memory.memsw.limit at every moment: when raising, memsw goes first.
        if (limit != 0 && swap != 0 && (swap == -1 || ReadUInt(dir, "memory.memsw.limit_in_bytes") < (ulong)swap))
        {
            Write(dir, "memory.memsw.limit_in_bytes", swap.ToString(Inv));
            Write(dir, "memory.limit_in_bytes", limit.ToString(Inv));
        }
        else
        {
            if (limit != 0) Write(dir, "memory.limit_in_bytes", limit.ToString(Inv));
            if (swap != 0) Write(dir, "memory.memsw.limit_in_bytes", swap.ToString(Inv));
        }
        if (m.Reservation is not (null or 0) and var reservation) Write(dir, "memory.soft_limit_in_bytes", reservation.Value.ToString(Inv));
        if (m.KernelTcp is not (null or 0) and var tcp) Write(dir, "memory.kmem.tcp.limit_in_bytes", tcp.Value.ToString(Inv));
        if (m.Swappiness is { } swappiness) Write(dir, "memory.swappiness", swappiness.ToString(Inv));
        if (m.DisableOomKiller == true) Write(dir, "memory.oom_control", "1");
        // memory.kernel is deprecated by the runtime-spec and gone from recent kernels: ignored, as runc does.
    }

    /// <summary>As runc: deny everything, then each rule in order. Each write is one rule.</summary>
    private void SetDevices(List<DeviceCgroup> rules)
    {
        var dir = Dir("devices")!;
        // The kernel takes one rule per write(2) (devcgroup_update_access parses one): each list gets one descriptor
        // for all its rules, written in the config's order.
        Microsoft.Win32.SafeHandles.SafeFileHandle? allow = null, deny = null;
        try
        {
            // "a" on the deny list first: a new cgroup starts with its parent's rules. Not twice when the config's first
            // rule is that same deny-all (runc's and Docker's configs start so).
            if (!(rules[0] is { Allow: false } first && IsAll(first))) Write(ref deny, "devices.deny", "a");
            foreach (var rule in rules)
            {
                // "a" alone on the allow list lifts every restriction; on the deny list it is the start state again.
                var text = IsAll(rule) ? "a" : $"{rule.Type ?? "a"} {Number(rule.Major)}:{Number(rule.Minor)} {rule.Access ?? "rwm"}";
                if (rule.Allow) Write(ref allow, "devices.allow", text);
                else Write(ref deny, "devices.deny", text);
            }
        }
        finally
        {
            allow?.Dispose();
            deny?.Dispose();
        }

        void Write(ref Microsoft.Win32.SafeHandles.SafeFileHandle? handle, string file, string text)
        {
            handle ??= OpenForWrite(dir, file, text);
            WriteTo(handle, dir, file, text);
        }
        static bool IsAll(DeviceCgroup rule) => (rule.Type ?? "a") == "a" && rule.Major is null or -1 && rule.Minor is null or -1;
        static string Number(long? n) => n is null or -1 ? "*" : n.Value.ToString(Inv);
    }

    public override void Freeze()
    {
        var dir = Dir("freezer") ?? throw new CgroupException("cannot freeze: the freezer controller is not mounted");
        Write(dir, "freezer.state", "FROZEN");
        // FREEZING can stall when a task is in an uninterruptible sleep; writing FROZEN again retries it.
        if (!WaitUntil(() => FreezerState == FreezerState.Frozen, () => Write(dir, "freezer.state", "FROZEN")))
        {
            Write(dir, "freezer.state", "THAWED");
            throw new CgroupException($"cgroup {Path} did not freeze within the timeout");
        }
    }

    public override void Thaw()
    {
        var dir = Dir("freezer") ?? throw new CgroupException("cannot thaw: the freezer controller is not mounted");
        Write(dir, "freezer.state", "THAWED");
        if (!WaitUntil(() => FreezerState == FreezerState.Thawed, () => Write(dir, "freezer.state", "THAWED")))
            throw new CgroupException($"cgroup {Path} did not thaw within the timeout");
    }

    public override FreezerState FreezerState
        => (Dir("freezer") is { } dir ? ReadOrNull(dir, "freezer.state")?.Trim() : null) switch
        {
            "FROZEN" => FreezerState.Frozen,
            "FREEZING" => FreezerState.Freezing,
            _ => FreezerState.Thawed,
        };

    public override IReadOnlyList<int> Pids()
        => PidsUnder(Dir("pids") ?? Dir("freezer") ?? Dir("memory") ?? hierarchies[0].Dir);

    public override int OomKillCount()
        => Dir("memory") is { } dir && ReadKeyValues(dir, "memory.oom_control").TryGetValue("oom_kill", out var n) ? (int)n : 0;

    public override void KillAll(int signal) => SignalFrozen(signal, canFreeze: Dir("freezer") is not null && Exists);

    public override void Destroy()
    {
        foreach (var (_, dir) in hierarchies) RemoveTree(dir);
    }

    public override CgroupStats Stats()
    {
        var stats = new CgroupStats();
        if (Dir("memory") is { } mem)
        {
            var raw = ReadKeyValues(mem, "memory.stat");
            stats.Memory.Raw = raw;
            stats.Memory.Cache = raw.GetValueOrDefault("total_cache", raw.GetValueOrDefault("cache"));
            stats.Memory.Usage = Entry(mem, "memory");
            stats.Memory.Swap = Entry(mem, "memory.memsw");
            stats.Memory.Kernel = Entry(mem, "memory.kmem");
            stats.Memory.KernelTcp = Entry(mem, "memory.kmem.tcp");
            stats.Memory.OomKills = (ulong)OomKillCount();
        }
        if (Dir("cpuacct") is { } acct)
        {
            stats.Cpu.Usage.Total = ReadUInt(acct, "cpuacct.usage");
            stats.Cpu.Usage.PerCpu = ReadList(acct, "cpuacct.usage_percpu");
            stats.Cpu.Usage.PerCpuUser = ReadList(acct, "cpuacct.usage_percpu_user");
            stats.Cpu.Usage.PerCpuKernel = ReadList(acct, "cpuacct.usage_percpu_sys");
            // cpuacct.stat counts USER_HZ (100/s) ticks; runc reports nanoseconds.
            var ticks = ReadKeyValues(acct, "cpuacct.stat");
            stats.Cpu.Usage.User = ticks.GetValueOrDefault("user") * 10_000_000;
            stats.Cpu.Usage.Kernel = ticks.GetValueOrDefault("system") * 10_000_000;
        }
        if (Dir("cpu") is { } cpu)
        {
            var s = ReadKeyValues(cpu, "cpu.stat");
            stats.Cpu.Throttling.Periods = s.GetValueOrDefault("nr_periods");
            stats.Cpu.Throttling.ThrottledPeriods = s.GetValueOrDefault("nr_throttled");
            stats.Cpu.Throttling.ThrottledTime = s.GetValueOrDefault("throttled_time");
        }
        if (Dir("pids") is { } pids)
        {
            stats.Pids.Current = ReadUInt(pids, "pids.current");
            var max = ReadUInt(pids, "pids.max");
            stats.Pids.Limit = max == ulong.MaxValue ? 0 : max;
        }
        if (Dir("blkio") is { } blkio)
        {
            stats.Blkio.IoServiceBytesRecursive = ReadBlkio(blkio, "blkio.throttle.io_service_bytes_recursive");
            stats.Blkio.IoServicedRecursive = ReadBlkio(blkio, "blkio.throttle.io_serviced_recursive");
        }
        if (Dir("hugetlb") is { } huge)
        {
            foreach (var file in Directory.EnumerateFiles(huge, "hugetlb.*.limit_in_bytes"))
            {
                var size = System.IO.Path.GetFileName(file)["hugetlb.".Length..^".limit_in_bytes".Length];
                stats.Hugetlb[size] = new HugetlbStats
                {
                    Usage = ReadUInt(huge, $"hugetlb.{size}.usage_in_bytes"),
                    Max = ReadUInt(huge, $"hugetlb.{size}.max_usage_in_bytes"),
                    Failcnt = ReadUInt(huge, $"hugetlb.{size}.failcnt"),
                };
            }
        }
        return stats;
    }

    private static MemoryEntry Entry(string dir, string prefix) => new()
    {
        Usage = ReadUInt(dir, prefix + ".usage_in_bytes"),
        Max = ReadUInt(dir, prefix + ".max_usage_in_bytes"),
        Limit = ReadUInt(dir, prefix + ".limit_in_bytes"),
        Failcnt = ReadUInt(dir, prefix + ".failcnt"),
    };

    private static List<ulong>? ReadList(string dir, string file)
        => ReadOrNull(dir, file)?.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries).Select(ParseUInt).ToList();

    /// <summary>"MAJ:MIN Op value" lines; the trailing "Total n" line is dropped.</summary>
    private static List<BlkioEntry>? ReadBlkio(string dir, string file)
    {
        if (ReadOrNull(dir, file) is not { } text) return null;
        var list = new List<BlkioEntry>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split(' ');
            if (f.Length != 3 || f[0].Split(':') is not [var major, var minor]) continue;
            list.Add(new BlkioEntry { Major = ParseUInt(major), Minor = ParseUInt(minor), Op = f[1], Value = ParseUInt(f[2]) });
        }
        return list.Count == 0 ? null : list;
    }
}
