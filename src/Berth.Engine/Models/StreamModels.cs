using System.Text.Json.Serialization;

namespace Berth.Engine.Models;

public sealed class ProgressDetail
{
    [JsonPropertyName("current")] public long? Current { get; set; }
    [JsonPropertyName("total")] public long? Total { get; set; }
}

public sealed class ErrorDetail
{
    [JsonPropertyName("code")] public int? Code { get; set; }
    [JsonPropertyName("message")] public string? Message { get; set; }
}

public sealed class AuxId
{
    public string? ID { get; set; }
}

/// <summary>
/// One line of a progress stream (pull, push, load, import, build): Docker's jsonmessage.JSONMessage.
/// The docker CLI draws its progress bars from status/progressDetail/id and fails on error/errorDetail.
/// </summary>
public sealed class JsonMessage
{
    [JsonPropertyName("stream")] public string? Stream { get; set; }
    [JsonPropertyName("status")] public string? Status { get; set; }
    [JsonPropertyName("progressDetail")] public ProgressDetail? ProgressDetail { get; set; }
    [JsonPropertyName("progress")] public string? Progress { get; set; }
    [JsonPropertyName("id")] public string? Id { get; set; }
    [JsonPropertyName("from")] public string? From { get; set; }
    [JsonPropertyName("time")] public long? Time { get; set; }
    [JsonPropertyName("timeNano")] public long? TimeNano { get; set; }
    [JsonPropertyName("errorDetail")] public ErrorDetail? ErrorDetail { get; set; }
    [JsonPropertyName("error")] public string? Error { get; set; }
    [JsonPropertyName("aux")] public AuxId? Aux { get; set; }
}

// GET /containers/{id}/stats: the field names are Docker's snake_case ones (types.StatsJSON).

public sealed class PidsStats
{
    [JsonPropertyName("current")] public ulong? Current { get; set; }
    [JsonPropertyName("limit")] public ulong? Limit { get; set; }
}

public sealed class BlkioStatEntry
{
    [JsonPropertyName("major")] public ulong Major { get; set; }
    [JsonPropertyName("minor")] public ulong Minor { get; set; }
    [JsonPropertyName("op")] public string Op { get; set; } = "";
    [JsonPropertyName("value")] public ulong Value { get; set; }
}

public sealed class BlkioStats
{
    [JsonPropertyName("io_service_bytes_recursive")] public List<BlkioStatEntry>? IoServiceBytesRecursive { get; set; }
    [JsonPropertyName("io_serviced_recursive")] public List<BlkioStatEntry>? IoServicedRecursive { get; set; }
    [JsonPropertyName("io_queue_recursive")] public List<BlkioStatEntry>? IoQueueRecursive { get; set; }
    [JsonPropertyName("io_service_time_recursive")] public List<BlkioStatEntry>? IoServiceTimeRecursive { get; set; }
    [JsonPropertyName("io_wait_time_recursive")] public List<BlkioStatEntry>? IoWaitTimeRecursive { get; set; }
    [JsonPropertyName("io_merged_recursive")] public List<BlkioStatEntry>? IoMergedRecursive { get; set; }
    [JsonPropertyName("io_time_recursive")] public List<BlkioStatEntry>? IoTimeRecursive { get; set; }
    [JsonPropertyName("sectors_recursive")] public List<BlkioStatEntry>? SectorsRecursive { get; set; }
}

public sealed class CpuUsage
{
    [JsonPropertyName("total_usage")] public ulong TotalUsage { get; set; }
    [JsonPropertyName("percpu_usage")] public List<ulong>? PercpuUsage { get; set; }
    [JsonPropertyName("usage_in_kernelmode")] public ulong UsageInKernelmode { get; set; }
    [JsonPropertyName("usage_in_usermode")] public ulong UsageInUsermode { get; set; }
}

public sealed class ThrottlingData
{
    [JsonPropertyName("periods")] public ulong Periods { get; set; }
    [JsonPropertyName("throttled_periods")] public ulong ThrottledPeriods { get; set; }
    [JsonPropertyName("throttled_time")] public ulong ThrottledTime { get; set; }
}

public sealed class CpuStats
{
    [JsonPropertyName("cpu_usage")] public CpuUsage CpuUsage { get; set; } = new();
    [JsonPropertyName("system_cpu_usage")] public ulong? SystemCpuUsage { get; set; }
    [JsonPropertyName("online_cpus")] public uint? OnlineCpus { get; set; }
    [JsonPropertyName("throttling_data")] public ThrottlingData ThrottlingData { get; set; } = new();
}

public sealed class MemoryStats
{
    [JsonPropertyName("usage")] public ulong? Usage { get; set; }
    [JsonPropertyName("max_usage")] public ulong? MaxUsage { get; set; }
    [JsonPropertyName("stats")] public Dictionary<string, ulong>? Stats { get; set; }
    [JsonPropertyName("failcnt")] public ulong? Failcnt { get; set; }
    [JsonPropertyName("limit")] public ulong? Limit { get; set; }
}

public sealed class NetworkStats
{
    [JsonPropertyName("rx_bytes")] public ulong RxBytes { get; set; }
    [JsonPropertyName("rx_packets")] public ulong RxPackets { get; set; }
    [JsonPropertyName("rx_errors")] public ulong RxErrors { get; set; }
    [JsonPropertyName("rx_dropped")] public ulong RxDropped { get; set; }
    [JsonPropertyName("tx_bytes")] public ulong TxBytes { get; set; }
    [JsonPropertyName("tx_packets")] public ulong TxPackets { get; set; }
    [JsonPropertyName("tx_errors")] public ulong TxErrors { get; set; }
    [JsonPropertyName("tx_dropped")] public ulong TxDropped { get; set; }
}

public sealed class ContainerStats
{
    [JsonPropertyName("name")] public string? Name { get; set; }
    [JsonPropertyName("id")] public string? Id { get; set; }
    /// <summary>RFC 3339 with nanoseconds.</summary>
    [JsonPropertyName("read")] public string Read { get; set; } = DockerTime.Zero;
    [JsonPropertyName("preread")] public string Preread { get; set; } = DockerTime.Zero;
    [JsonPropertyName("pids_stats")] public PidsStats PidsStats { get; set; } = new();
    [JsonPropertyName("blkio_stats")] public BlkioStats BlkioStats { get; set; } = new();
    [JsonPropertyName("num_procs")] public uint NumProcs { get; set; }
    [JsonPropertyName("storage_stats")] public Dictionary<string, ulong> StorageStats { get; set; } = [];
    [JsonPropertyName("cpu_stats")] public CpuStats CpuStats { get; set; } = new();
    [JsonPropertyName("precpu_stats")] public CpuStats PrecpuStats { get; set; } = new();
    [JsonPropertyName("memory_stats")] public MemoryStats MemoryStats { get; set; } = new();
    [JsonPropertyName("networks")] public Dictionary<string, NetworkStats>? Networks { get; set; }
}
