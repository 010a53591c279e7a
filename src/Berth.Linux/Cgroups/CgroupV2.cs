using System.Globalization;
using Berth.Oci.Runtime;

namespace Berth.Linux.Cgroups;

/// <summary>cgroup v2: one directory in the unified hierarchy; controllers are enabled down the path.</summary>
internal sealed class CgroupV2 : CgroupBase
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private readonly CgroupHierarchy hierarchy;
    private readonly string dir;

    public CgroupV2(CgroupLayout layout, CgroupPath path) : base(layout, path)
    {
        hierarchy = layout.Unified!;
        dir = path.DirectoryIn(hierarchy);
        Path = path.InHierarchy(hierarchy);
        Directories = new Dictionary<string, string> { [""] = dir };
    }

    public override CgroupVersion Version => CgroupVersion.V2;
    public override string Path { get; }
    public override IReadOnlyDictionary<string, string> Directories { get; }
    public override bool Exists => Directory.Exists(dir);

    public override void Create()
    {
        MakeDirectories(hierarchy.MountPoint, dir);
        // Controllers reach a cgroup only through every ancestor's cgroup.subtree_control. The leaf itself
        // enables nothing: a cgroup with processes cannot delegate controllers (no internal processes).
        var mount = hierarchy.MountPoint.TrimEnd('/');
        var ancestor = System.IO.Path.GetDirectoryName(dir)!;
        var chain = new List<string>();
        for (var d = ancestor; d.Length >= mount.Length; d = System.IO.Path.GetDirectoryName(d)!)
        {
            chain.Add(d);
            if (d.Length == mount.Length) break;
        }
        for (var i = chain.Count - 1; i >= 0; i--) EnableControllers(chain[i]);
    }

    private void EnableControllers(string at)
    {
        var available = (ReadOrNull(at, "cgroup.controllers") ?? "").Split(' ', '\n', StringSplitOptions.RemoveEmptyEntries);
        var enabled = (ReadOrNull(at, "cgroup.subtree_control") ?? "").Split(' ', '\n', StringSplitOptions.RemoveEmptyEntries);
        var missing = available.Except(enabled).ToArray();
        if (missing.Length == 0) return;
        try { Write(at, "cgroup.subtree_control", string.Join(' ', missing.Select(c => "+" + c))); }
        catch (CgroupException)
        {
            // One controller can be refused (e.g. cpu while a realtime task runs); enable the others one by one.
            foreach (var c in missing)
                try { Write(at, "cgroup.subtree_control", "+" + c); } catch (CgroupException) { }
        }
    }

    public override void AddProcess(int pid) => Write(dir, "cgroup.procs", pid.ToString(Inv));

    public override void Apply(Resources resources) => Set(resources, devices: true);

    public override void Update(Resources resources) => Set(resources, devices: false);

    private void Set(Resources r, bool devices)
    {
        ResourceChecks.Check(r, CgroupVersion.V2);
        foreach (var h in r.HugepageLimits ?? [])
            if (!File.Exists($"{dir}/hugetlb.{h.PageSize}.max"))
                throw ResourceChecks.Invalid("hugepageLimits.pageSize", $"no hugetlb.{h.PageSize}.max in {dir} (no such page size, or hugetlb not enabled)");
        foreach (var key in r.Unified?.Keys ?? Enumerable.Empty<string>())
            if (!File.Exists(dir + "/" + key))
                throw ResourceChecks.Invalid("unified", $"\"{key}\" does not exist in {dir} (controller not enabled?)");

        if (r.Cpu is { } cpu) SetCpu(cpu);
        if (r.BlockIo is { } bio) SetIo(bio);
        if (r.Memory is { } mem) SetMemory(mem);
        if (r.Pids is { Limit: not 0 } pids) Write(dir, "pids.max", pids.Limit < 0 ? "max" : pids.Limit.ToString(Inv));
        foreach (var h in r.HugepageLimits ?? []) Write(dir, $"hugetlb.{h.PageSize}.max", h.Limit.ToString(Inv));
        // unified last: it is the escape hatch and overrides what the typed fields wrote.
        foreach (var (key, value) in r.Unified ?? []) Write(dir, key, value);
        if (devices && r.Devices is { Count: > 0 } rules) SetDevices(rules);
    }

    /// <summary>v2 has no devices file: the rules become an eBPF program attached to the cgroup.</summary>
    private void SetDevices(List<DeviceCgroup> rules)
    {
        var program = DeviceFilter.Compile(rules);
        var errno = Layout.Calls.AttachDeviceFilter(dir, program, out var log);
        if (errno != 0)
            throw new CgroupException($"linux.resources.devices: cannot attach the device filter to {dir}: {Errno.Describe(errno)}"
                + (string.IsNullOrEmpty(log) ? "" : " (verifier: " + log.ReplaceLineEndings(" ") + ")"));
    }

    private void SetCpu(Cpu c)
    {
        if (c.Shares is > 0 and var shares) Write(dir, "cpu.weight", ResourceChecks.SharesToWeight(shares).ToString(Inv));
        if (c.Quota is not (null or 0) || c.Period is not (null or 0))
        {
            var max = c.Quota is > 0 ? c.Quota.Value.ToString(Inv) : "max";
            if (c.Period is > 0 and var period) max += " " + period.ToString(Inv);
            Write(dir, "cpu.max", max);
        }
        if (c.Burst is { } burst) Write(dir, "cpu.max.burst", burst.ToString(Inv));
        if (c.Idle is { } idle) Write(dir, "cpu.idle", idle.ToString(Inv));
        if (!string.IsNullOrEmpty(c.Mems)) Write(dir, "cpuset.mems", c.Mems);
        if (!string.IsNullOrEmpty(c.Cpus)) Write(dir, "cpuset.cpus", c.Cpus);
    }

    private void SetIo(BlockIo b)
    {
        // BFQ takes blkio-style weights (and per-device ones) as they are; io.weight has its own scale.
        var bfq = File.Exists(dir + "/io.bfq.weight");
        if (b.Weight is > 0 and var weight)
        {
            if (bfq) Write(dir, "io.bfq.weight", weight.ToString(Inv));
            else Write(dir, "io.weight", ResourceChecks.BlkioToIoWeight(weight).ToString(Inv));
        }
        foreach (var d in b.WeightDevice ?? [])
        {
            if (d.Weight is not > 0) continue;
            if (bfq) Write(dir, "io.bfq.weight", $"{d.Major}:{d.Minor} {d.Weight}");
            else Write(dir, "io.weight", $"{d.Major}:{d.Minor} {ResourceChecks.BlkioToIoWeight(d.Weight.Value)}");
        }
        foreach (var (name, list) in ResourceChecks.Throttles(b))
        {
            var key = name switch
            {
                "throttleReadBpsDevice" => "rbps",
                "throttleWriteBpsDevice" => "wbps",
                "throttleReadIOPSDevice" => "riops",
                _ => "wiops",
            };
            foreach (var d in list) Write(dir, "io.max", $"{d.Major}:{d.Minor} {key}={(d.Rate == 0 ? "max" : d.Rate.ToString(Inv))}");
        }
    }

    private void SetMemory(Memory m)
    {
        // v2 keeps memory and swap apart, so there is no order to respect between the two files.
        if (ResourceChecks.V2SwapMax(m) is { } swapMax)
        {
            if (File.Exists(dir + "/memory.swap.max")) Write(dir, "memory.swap.max", ResourceChecks.Limit(swapMax));
            else if (swapMax != -1) throw ResourceChecks.Invalid("memory.swap", "the kernel does not account swap (no memory.swap.max)");
        }
        if (m.Limit is not (null or 0) and var limit) Write(dir, "memory.max", ResourceChecks.Limit(limit.Value));
        if (m.Reservation is not (null or 0) and var low) Write(dir, "memory.low", ResourceChecks.Limit(low.Value));
        // kernel and kernelTCP have no v2 file (kernel memory is part of memory.max): ignored, as runc does.
    }

    public override void Freeze()
    {
        Write(dir, "cgroup.freeze", "1");
        if (!WaitUntil(() => FreezerState == FreezerState.Frozen))
        {
            Write(dir, "cgroup.freeze", "0");
            throw new CgroupException($"cgroup {Path} did not freeze within the timeout");
        }
    }

    public override void Thaw()
    {
        Write(dir, "cgroup.freeze", "0");
        if (!WaitUntil(() => FreezerState == FreezerState.Thawed))
            throw new CgroupException($"cgroup {Path} did not thaw within the timeout");
    }

    public override FreezerState FreezerState
    {
        get
        {
            if (ReadOrNull(dir, "cgroup.freeze")?.Trim() != "1") return FreezerState.Thawed;
            return ReadKeyValues(dir, "cgroup.events").GetValueOrDefault("frozen") == 1 ? FreezerState.Frozen : FreezerState.Freezing;
        }
    }

    public override IReadOnlyList<int> Pids() => PidsUnder(dir);

    public override int OomKillCount() => (int)ReadKeyValues(dir, "memory.events").GetValueOrDefault("oom_kill");

    public override void KillAll(int signal)
    {
        if (signal == SIGKILL && File.Exists(dir + "/cgroup.kill")) Write(dir, "cgroup.kill", "1");
        else SignalFrozen(signal, canFreeze: File.Exists(dir + "/cgroup.freeze"));
    }

    public override void Destroy() => RemoveTree(dir);

    public override CgroupStats Stats()
    {
        var stats = new CgroupStats();
        var raw = ReadKeyValues(dir, "memory.stat");
        var events = ReadKeyValues(dir, "memory.events");
        stats.Memory.Raw = raw;
        stats.Memory.Cache = raw.GetValueOrDefault("file");
        stats.Memory.Usage = new MemoryEntry
        {
            Usage = ReadUInt(dir, "memory.current"),
            Max = ReadUInt(dir, "memory.peak"),
            Limit = ReadUInt(dir, "memory.max"),
            Failcnt = events.GetValueOrDefault("max"),
        };
        stats.Memory.Swap = new MemoryEntry
        {
            Usage = ReadUInt(dir, "memory.swap.current"),
            Max = ReadUInt(dir, "memory.swap.peak"),
            Limit = ReadUInt(dir, "memory.swap.max"),
        };
        stats.Memory.OomKills = events.GetValueOrDefault("oom_kill");

        var cpu = ReadKeyValues(dir, "cpu.stat");
        stats.Cpu.Usage.Total = cpu.GetValueOrDefault("usage_usec") * 1000;
        stats.Cpu.Usage.User = cpu.GetValueOrDefault("user_usec") * 1000;
        stats.Cpu.Usage.Kernel = cpu.GetValueOrDefault("system_usec") * 1000;
        stats.Cpu.Throttling.Periods = cpu.GetValueOrDefault("nr_periods");
        stats.Cpu.Throttling.ThrottledPeriods = cpu.GetValueOrDefault("nr_throttled");
        stats.Cpu.Throttling.ThrottledTime = cpu.GetValueOrDefault("throttled_usec") * 1000;

        stats.Pids.Current = ReadUInt(dir, "pids.current");
        var pidsMax = ReadUInt(dir, "pids.max");
        stats.Pids.Limit = pidsMax == ulong.MaxValue ? 0 : pidsMax;

        stats.Blkio.IoServiceBytesRecursive = ReadIoStat(dir, "rbytes", "wbytes");
        stats.Blkio.IoServicedRecursive = ReadIoStat(dir, "rios", "wios");

        if (Directory.Exists(dir))
            foreach (var file in Directory.EnumerateFiles(dir, "hugetlb.*.max"))
            {
                var size = System.IO.Path.GetFileName(file)["hugetlb.".Length..^".max".Length];
                if (size.Contains('.')) continue; // hugetlb.<size>.rsvd.max
                stats.Hugetlb[size] = new HugetlbStats
                {
                    Usage = ReadUInt(dir, $"hugetlb.{size}.current"),
                    Max = ReadUInt(dir, $"hugetlb.{size}.max") is var m && m == ulong.MaxValue ? 0 : m,
                    Failcnt = ReadKeyValues(dir, $"hugetlb.{size}.events").GetValueOrDefault("max"),
                };
            }
        return stats;
    }

    /// <summary>io.stat "MAJ:MIN rbytes=… wbytes=… rios=… wios=…" as runc's Read/Write/Total entries.</summary>
    private static List<BlkioEntry>? ReadIoStat(string dir, string readKey, string writeKey)
    {
        if (ReadOrNull(dir, "io.stat") is not { } text) return null;
        var list = new List<BlkioEntry>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 0 || fields[0].Split(':') is not [var maj, var min]) continue;
            ulong read = 0, write = 0;
            foreach (var kv in fields.AsSpan(1))
            {
                var eq = kv.IndexOf('=');
                if (eq < 0) continue;
                if (kv[..eq] == readKey) read = ParseUInt(kv[(eq + 1)..]);
                else if (kv[..eq] == writeKey) write = ParseUInt(kv[(eq + 1)..]);
            }
            ulong major = ParseUInt(maj), minor = ParseUInt(min);
            list.Add(new BlkioEntry { Major = major, Minor = minor, Op = "Read", Value = read });
            list.Add(new BlkioEntry { Major = major, Minor = minor, Op = "Write", Value = write });
            list.Add(new BlkioEntry { Major = major, Minor = minor, Op = "Total", Value = read + write });
        }
        return list.Count == 0 ? null : list;
    }
}
