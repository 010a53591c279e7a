using System.Text.RegularExpressions;
using Berth.Oci.Runtime;

namespace Berth.Linux.Cgroups;

/// <summary>
/// linux.resources checks that do not depend on the host: they run before anything is written, so bad input
/// leaves the cgroup untouched. Zero means "not set" for the numeric fields, as in runc.
/// </summary>
internal static partial class ResourceChecks
{
    [GeneratedRegex(@"^([0-9]+(-[0-9]+)?)(,[0-9]+(-[0-9]+)?)*$")]
    private static partial Regex CpuList();

    [GeneratedRegex(@"^[0-9]+[KMG]B$")]
    private static partial Regex PageSize();

    public static CgroupException Invalid(string field, string problem) => new($"linux.resources.{field}: {problem}");

    public static void Check(Resources r, CgroupVersion version)
    {
        if (r.Memory is { } m)
        {
            AtLeastMinusOne("memory.limit", m.Limit);
            AtLeastMinusOne("memory.reservation", m.Reservation);
            AtLeastMinusOne("memory.swap", m.Swap);
            AtLeastMinusOne("memory.kernelTCP", m.KernelTcp);
            if (version == CgroupVersion.V1)
            {
                if (m.Swappiness > 100) throw Invalid("memory.swappiness", $"{m.Swappiness} is above 100");
                if (m.Limit > 0 && m.Swap > 0 && m.Swap < m.Limit)
                    throw Invalid("memory.swap", $"memory+swap limit {m.Swap} is below the memory limit {m.Limit}");
            }
            else
            {
                if (m.Swappiness is not null) throw Invalid("memory.swappiness", "not supported on cgroup v2");
                if (m.DisableOomKiller == true) throw Invalid("memory.disableOOMKiller", "not supported on cgroup v2");
                V2SwapMax(m);
            }
        }
        if (r.Cpu is { } c)
        {
            if (c.Shares is > 0 and (< 2 or > 262144)) throw Invalid("cpu.shares", $"{c.Shares} is outside 2..262144");
            if (c.Quota is < -1 or (> 0 and < 1000)) throw Invalid("cpu.quota", $"{c.Quota} must be -1 or at least 1000 (µs)");
            if (c.Period is > 0 and (< 1000 or > 1000000)) throw Invalid("cpu.period", $"{c.Period} is outside 1000..1000000 (µs)");
            if (c.RealtimeRuntime < -1) throw Invalid("cpu.realtimeRuntime", $"{c.RealtimeRuntime} is below -1");
            if (version == CgroupVersion.V2 && (c.RealtimeRuntime is not (null or 0) || c.RealtimePeriod is not (null or 0)))
                throw Invalid(c.RealtimeRuntime is not (null or 0) ? "cpu.realtimeRuntime" : "cpu.realtimePeriod", "not supported on cgroup v2");
            if (!string.IsNullOrEmpty(c.Cpus) && !CpuList().IsMatch(c.Cpus)) throw Invalid("cpu.cpus", $"\"{c.Cpus}\" is not a cpu list such as 0-3,6");
            if (!string.IsNullOrEmpty(c.Mems) && !CpuList().IsMatch(c.Mems)) throw Invalid("cpu.mems", $"\"{c.Mems}\" is not a node list such as 0-1");
            if (c.Idle is < 0 or > 1) throw Invalid("cpu.idle", $"{c.Idle} must be 0 or 1");
        }
        if (r.BlockIo is { } b)
        {
            Weight("blockIO.weight", b.Weight);
            Weight("blockIO.leafWeight", b.LeafWeight);
            foreach (var d in b.WeightDevice ?? [])
            {
                DeviceNumber("blockIO.weightDevice", d.Major, d.Minor);
                Weight("blockIO.weightDevice.weight", d.Weight);
                Weight("blockIO.weightDevice.leafWeight", d.LeafWeight);
            }
            foreach (var (name, list) in Throttles(b))
                foreach (var d in list) DeviceNumber("blockIO." + name, d.Major, d.Minor);
        }
        foreach (var h in r.HugepageLimits ?? [])
            if (!PageSize().IsMatch(h.PageSize)) throw Invalid("hugepageLimits.pageSize", $"\"{h.PageSize}\" is not a size such as 2MB");
        if (r.Network is { } n && version == CgroupVersion.V2 && (n.ClassId is not null || n.Priorities is { Count: > 0 }))
            throw Invalid("network", "classID and priorities need the v1 net_cls/net_prio controllers; not supported on cgroup v2");
        foreach (var p in r.Network?.Priorities ?? [])
            if (p.Name.Length == 0 || p.Name.Any(ch => ch is ' ' or '\n' or '/'))
                throw Invalid("network.priorities.name", $"\"{p.Name}\" is not an interface name");
        foreach (var d in r.Devices ?? [])
        {
            if (d.Type is not (null or "a" or "b" or "c")) throw Invalid("devices.type", $"\"{d.Type}\" is not a, b or c");
            if (d.Access is { } access && (access.Length == 0 || access.Any(ch => ch is not ('r' or 'w' or 'm'))))
                throw Invalid("devices.access", $"\"{access}\" is not a combination of r, w and m");
            if (d.Major < -1 || d.Minor < -1 || d.Major > int.MaxValue || d.Minor > int.MaxValue)
                throw Invalid("devices", $"device number {d.Major}:{d.Minor} is out of range");
        }
        if (r.Rdma is { Count: > 0 }) throw Invalid("rdma", "not supported by Berth");
        if (r.Unified is { Count: > 0 } unified)
        {
            if (version == CgroupVersion.V1) throw Invalid("unified", "needs cgroup v2; this host uses cgroup v1");
            foreach (var key in unified.Keys)
                if (key.Length == 0 || key.Contains('/') || key.Contains("..") || !key.Contains('.') || key.StartsWith('.') || key.Contains('\0'))
                    throw Invalid("unified", $"\"{key}\" is not a cgroup file name");
        }
    }

    public static IEnumerable<(string Name, List<ThrottleDevice> Devices)> Throttles(BlockIo b)
    {
        if (b.ThrottleReadBpsDevice is { } rb) yield return ("throttleReadBpsDevice", rb);
        if (b.ThrottleWriteBpsDevice is { } wb) yield return ("throttleWriteBpsDevice", wb);
        if (b.ThrottleReadIopsDevice is { } ri) yield return ("throttleReadIOPSDevice", ri);
        if (b.ThrottleWriteIopsDevice is { } wi) yield return ("throttleWriteIOPSDevice", wi);
    }

    /// <summary>
    /// OCI's swap is memory+swap (v1 semantics); v2's memory.swap.max is swap alone. null: leave it alone;
    /// -1: "max". As runc: unlimited memory with swap unset means unlimited swap too.
    /// </summary>
    public static long? V2SwapMax(Memory m)
    {
        long limit = m.Limit ?? 0, swap = m.Swap ?? 0;
        if (limit == -1 && swap == 0) return -1;
        if (swap is -1) return -1;
        if (swap == 0) return null;
        if (limit is 0 or -1) throw Invalid("memory.swap", "a swap limit needs a memory limit");
        if (swap < limit) throw Invalid("memory.swap", $"memory+swap limit {swap} is below the memory limit {limit}");
        return swap - limit;
    }

    /// <summary>runc's mapping of cpu.shares (2..262144, default 1024) onto cpu.weight (1..10000, default 100).</summary>
    public static ulong SharesToWeight(ulong shares) => shares == 0 ? 0 : 1 + (shares - 2) * 9999 / 262142;

    /// <summary>blkio.weight (10..1000) onto io.weight (1..10000), as runc.</summary>
    public static ulong BlkioToIoWeight(ulong weight) => weight == 0 ? 0 : 1 + (weight - 10) * 9999 / 990;

    public static string Limit(long value) => value == -1 ? "max" : value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static void AtLeastMinusOne(string field, long? value)
    {
        if (value < -1) throw Invalid(field, $"{value} is below -1 (-1 means unlimited)");
    }

    private static void Weight(string field, ushort? weight)
    {
        if (weight is > 0 and (< 10 or > 1000)) throw Invalid(field, $"{weight} is outside 10..1000");
    }

    private static void DeviceNumber(string field, long major, long minor)
    {
        if (major < 0 || minor < 0) throw Invalid(field, $"device number {major}:{minor} is negative");
    }
}
