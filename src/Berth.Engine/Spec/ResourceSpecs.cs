using System.Globalization;
using System.Text.RegularExpressions;
using Berth.Engine.Models;
using OciResources = Berth.Oci.Runtime.Resources;
using Berth.Oci.Runtime;

namespace Berth.Engine.RuntimeSpec;

/// <summary>linux.resources from HostConfig's cgroup fields, as moby's getMemoryResources/getCPUResources/getPidsLimit.</summary>
public static class ResourceSpecs
{
    /// <summary>The CFS period Docker uses for --cpus: 100 ms in microseconds.</summary>
    public const ulong NanoCpusPeriod = 100_000;

    public static OciResources From(Models.Resources r)
    {
        var resources = new OciResources();

        var memory = new Memory();
        if (r.Memory > 0) memory.Limit = r.Memory;
        if (r.MemoryReservation > 0) memory.Reservation = r.MemoryReservation;
        // Docker's default swap is twice the memory (adaptContainerSettings); -1 is unlimited.
        var swap = r.MemorySwap == 0 && r.Memory > 0 ? r.Memory * 2 : r.MemorySwap;
        if (swap > 0) memory.Swap = swap;
        if (r.MemorySwappiness is { } swappiness and >= 0) memory.Swappiness = (ulong)swappiness;
        if (r.OomKillDisable is { } disable) memory.DisableOomKiller = disable;
        if (r.KernelMemoryTCP != 0) memory.KernelTcp = r.KernelMemoryTCP;
        if (memory.Limit is not null || memory.Reservation is not null || memory.Swap is not null || memory.Swappiness is not null ||
            memory.DisableOomKiller is not null || memory.KernelTcp is not null)
            resources.Memory = memory;

        var cpu = new Cpu();
        if (r.CpuShares != 0)
        {
            if (r.CpuShares < 0) throw new InvalidParameterException($"invalid CPU shares ({r.CpuShares}): value must be a positive integer");
            cpu.Shares = (ulong)r.CpuShares;
        }
        if (!string.IsNullOrEmpty(r.CpusetCpus)) cpu.Cpus = r.CpusetCpus;
        if (!string.IsNullOrEmpty(r.CpusetMems)) cpu.Mems = r.CpusetMems;
        if (r.NanoCpus > 0)
        {
            cpu.Period = NanoCpusPeriod;
            cpu.Quota = r.NanoCpus * (long)NanoCpusPeriod / 1_000_000_000;
        }
        if (r.CpuPeriod != 0) cpu.Period = (ulong)r.CpuPeriod;
        if (r.CpuQuota != 0) cpu.Quota = r.CpuQuota;
        if (r.CpuRealtimePeriod != 0) cpu.RealtimePeriod = (ulong)r.CpuRealtimePeriod;
        if (r.CpuRealtimeRuntime != 0) cpu.RealtimeRuntime = r.CpuRealtimeRuntime;
        if (cpu.Shares is not null || cpu.Cpus is not null || cpu.Mems is not null || cpu.Period is not null || cpu.Quota is not null ||
            cpu.RealtimePeriod is not null || cpu.RealtimeRuntime is not null)
            resources.Cpu = cpu;

        // 0 and negative mean unlimited; runc wants -1 to lift a limit.
        if (r.PidsLimit is { } pids) resources.Pids = new Pids { Limit = pids <= 0 ? -1 : pids };

        if (r.BlkioWeight != 0) resources.BlockIo = new BlockIo { Weight = (ushort)r.BlkioWeight };
        return resources;
    }
}

/// <summary>Docker's device cgroup rules: deny all, allow the standard character devices, deny /dev/ptmx of the host's devpts.</summary>
public static partial class DeviceRules
{
    [GeneratedRegex(@"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$")]
    private static partial Regex RulePattern();

    public static List<DeviceCgroup> Default(IEnumerable<string>? extraRules)
    {
        List<DeviceCgroup> rules =
        [
            new() { Allow = false, Access = "rwm" },
            Char(1, 5), Char(1, 3), Char(1, 9), Char(1, 8), Char(5, 0), Char(5, 1),
            new() { Allow = false, Type = "c", Major = 10, Minor = 229, Access = "rwm" },
        ];
        foreach (var rule in extraRules ?? []) rules.Add(Parse(rule));
        return rules;
    }

    /// <summary>"c 1:3 rwm", "b 8:* r", "a *:* m" (--device-cgroup-rule).</summary>
    public static DeviceCgroup Parse(string rule)
    {
        var match = RulePattern().Match(rule);
        if (!match.Success) throw new InvalidParameterException($"invalid device cgroup rule format: '{rule}'");
        static long? Number(string text) => text == "*" ? null : long.Parse(text, CultureInfo.InvariantCulture);
        return new DeviceCgroup
        {
            Allow = true, Type = match.Groups[1].Value, Major = Number(match.Groups[2].Value), Minor = Number(match.Groups[3].Value),
            Access = match.Groups[4].Value,
        };
    }

    private static DeviceCgroup Char(long major, long minor) => new() { Allow = true, Type = "c", Major = major, Minor = minor, Access = "rwm" };
}
