using System.Globalization;
using Berth.Engine.Containers;
using Berth.Engine.Models;

namespace Berth.Engine.RuntimeSpec;

/// <summary>
/// What dockerd checks when a container is created (moby daemon/container.go verifyContainerSettings,
/// daemon_unix.go verifyPlatformContainerSettings and verifyPlatformContainerResources), with Docker's
/// messages; every refusal is a 400 (<see cref="InvalidParameterException"/>).
/// </summary>
public static class CreateRequestValidator
{
    /// <summary>6 MB: the smallest memory limit or reservation Docker accepts.</summary>
    public const long MinimumMemory = 6 * 1024 * 1024;

    private const long MinimumHealthDuration = 1_000_000; // 1 ms in nanoseconds
    private const int MaximumHostnameLength = 64;

    private static readonly HashSet<string> UlimitNames =
        ["core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"];

    /// <summary>Checks <paramref name="request"/>; returns Docker's warnings for what it accepts but discards.</summary>
    public static List<string> Validate(ContainerCreateRequest request, DaemonDefaults daemon, ISpecFileSystem? files = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        var warnings = new List<string>();
        ValidateConfig(request);
        var host = request.HostConfig ?? new HostConfig();
        ValidateHostConfig(host, daemon, files ?? HostSpecFileSystem.Instance);
        if (!string.IsNullOrEmpty(request.Hostname) && request.Hostname.Length > MaximumHostnameLength)
            throw Invalid($"hostname \"{request.Hostname}\" is too long (maximum {MaximumHostnameLength} bytes)");
        warnings.AddRange(ValidateResources(host, daemon.HostCpuCount, update: false));
        ValidatePlatform(host);
        if (host.NetworkMode == "host" && host.PortBindings is { Count: > 0 })
            warnings.Add("Published ports are discarded when using host network mode");
        return warnings;
    }

    private static void ValidateConfig(ContainerConfig config)
    {
        if (!string.IsNullOrEmpty(config.WorkingDir) && !config.WorkingDir.StartsWith('/'))
            throw Invalid($"the working directory '{config.WorkingDir}' is invalid, it needs to be an absolute path");
        if (!string.IsNullOrEmpty(config.StopSignal)) Signals.Parse(config.StopSignal);
        foreach (var env in config.Env ?? [])
        {
            var eq = env.IndexOf('=');
            if ((eq < 0 ? env : env[..eq]).Length == 0) throw Invalid("invalid environment variable: " + env);
        }
        if (config.Healthcheck is { } h)
        {
            if (h.Interval != 0 && h.Interval < MinimumHealthDuration) throw Invalid("Interval in Healthcheck cannot be less than 1ms");
            if (h.Timeout != 0 && h.Timeout < MinimumHealthDuration) throw Invalid("Timeout in Healthcheck cannot be less than 1ms");
            if (h.Retries < 0) throw Invalid("Retries in Healthcheck cannot be negative");
            if (h.StartPeriod != 0 && h.StartPeriod < MinimumHealthDuration) throw Invalid("StartPeriod in Healthcheck cannot be less than 1ms");
            if (h.StartInterval != 0 && h.StartInterval < MinimumHealthDuration) throw Invalid("StartInterval in Healthcheck cannot be less than 1ms");
        }
        foreach (var port in config.ExposedPorts?.Keys ?? (IEnumerable<string>)[])
            if (!ValidPortKey(port)) throw Invalid($"invalid port specification: \"{port}\"");
    }

    private static void ValidateHostConfig(HostConfig host, DaemonDefaults daemon, ISpecFileSystem files)
    {
        RestartBackoff.Validate(host.RestartPolicy, host.AutoRemove);
        foreach (var mount in host.Mounts ?? [])
        {
            var parsed = UserMounts.ParseMount(mount);
            if (parsed.Type == "bind" && !parsed.CreateSourceIfMissing && files.Stat(parsed.Source!) == HostPathKind.Missing)
                throw Invalid($"invalid mount config for type \"bind\": bind source path does not exist: {parsed.Source}");
        }
        UserMounts.Parse(host);
        NetworkFiles.ParseExtraHosts(host.ExtraHosts, daemon.HostGatewayIp ?? "0.0.0.0");
        foreach (var (port, bindings) in host.PortBindings ?? [])
        {
            if (!ValidPortKey(port)) throw Invalid($"invalid port specification: \"{port}\"");
            foreach (var binding in bindings ?? [])
                if (!string.IsNullOrEmpty(binding.HostPort) && !ValidPortRange(binding.HostPort))
                    throw Invalid($"invalid port specification: \"{binding.HostPort}\"");
        }
        try { Capabilities.Normalize(host.CapAdd, daemon.LastCapability); }
        catch (InvalidParameterException e) { throw Invalid("invalid CapAdd: " + e.Message); }
        try { Capabilities.Normalize(host.CapDrop, daemon.LastCapability); }
        catch (InvalidParameterException e) { throw Invalid("invalid CapDrop: " + e.Message); }
        if (!string.IsNullOrEmpty(host.Isolation) && host.Isolation != "default")
            throw Invalid($"invalid isolation '{host.Isolation}' on linux");
        if (host.Annotations?.ContainsKey("") == true)
            throw Invalid("invalid Annotations: the empty string is not permitted as an annotation key");
        SecurityOptions.Parse(host.SecurityOpt, daemon.NoNewPrivileges);
        foreach (var rule in host.DeviceCgroupRules ?? []) DeviceRules.Parse(rule);
        foreach (var ulimit in host.Ulimits ?? [])
        {
            if (!UlimitNames.Contains(ulimit.Name ?? "")) throw Invalid($"invalid ulimit type: {ulimit.Name}");
            if (ulimit.Soft > ulimit.Hard) throw Invalid($"ulimit soft limit must be less than or equal to hard limit: {ulimit.Soft} > {ulimit.Hard}");
        }
    }

    private static void ValidatePlatform(HostConfig host)
    {
        var ipc = host.IpcMode ?? "";
        if (!(ipc is "" or "none" or "private" or "host" or "shareable" || ipc.StartsWith("container:", StringComparison.Ordinal)))
            throw Invalid($"invalid IPC mode: {ipc}");
        var pid = host.PidMode ?? "";
        if (!(pid is "" or "host" || (pid.StartsWith("container:", StringComparison.Ordinal) && pid.Length > "container:".Length)))
            throw Invalid($"invalid PID mode: {pid}");
        if (host.ShmSize < 0) throw Invalid("SHM size can not be less than 0");
        if (host.UTSMode is not (null or "" or "host")) throw Invalid($"invalid UTS mode: {host.UTSMode}");
        if (host.OomScoreAdj is < -1000 or > 1000) throw Invalid($"Invalid value {host.OomScoreAdj}, range for oom score adj is [-1000, 1000]");
        if (host.CgroupnsMode is not (null or "" or "private" or "host")) throw Invalid($"invalid cgroup namespace mode: {host.CgroupnsMode}");
    }

    /// <summary>
    /// Docker's resource rules; <paramref name="update"/> relaxes the swap-without-memory rule as for POST /update.
    /// Also used by the engine for updates.
    /// </summary>
    public static List<string> ValidateResources(Models.Resources r, int hostCpus, bool update)
    {
        var warnings = new List<string>();
        if (r.Memory != 0 && r.Memory < MinimumMemory) throw Invalid("Minimum memory limit allowed is 6MB");
        if (r.Memory > 0 && r.MemorySwap > 0 && r.MemorySwap < r.Memory)
            throw Invalid("Minimum memoryswap limit should be larger than memory limit, see usage");
        if (r.Memory == 0 && r.MemorySwap > 0 && !update)
            throw Invalid("You should always set the Memory limit when using Memoryswap limit, see usage");
        if (r.MemorySwappiness is { } swappiness and not -1 && swappiness is < 0 or > 100)
            throw Invalid($"Invalid value: {swappiness}, valid memory swappiness range is 0-100");
        if (r.MemoryReservation > 0 && r.MemoryReservation < MinimumMemory) throw Invalid("Minimum memory reservation allowed is 6MB");
        if (r.Memory > 0 && r.MemoryReservation > 0 && r.Memory < r.MemoryReservation)
            throw Invalid("Minimum memory limit can not be less than memory reservation limit, see usage");
        if (r.OomKillDisable == true && r.Memory == 0)
            warnings.Add("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.");
        if (r.NanoCpus > 0 && r.CpuPeriod > 0) throw Invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set");
        if (r.NanoCpus > 0 && r.CpuQuota > 0) throw Invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
        if (r.NanoCpus != 0 && (r.NanoCpus < 0 || r.NanoCpus > hostCpus * 1_000_000_000L))
            throw Invalid($"Range of CPUs is from 0.01 to {hostCpus}.00, as there are only {hostCpus} CPUs available");
        if (r.CpuShares < 0) throw Invalid($"invalid CPU shares ({r.CpuShares}): value must be a positive integer");
        if (r.CpuPeriod != 0 && (r.CpuPeriod < 1000 || r.CpuPeriod > 1_000_000))
            throw Invalid("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
        if (r.CpuQuota > 0 && r.CpuQuota < 1000) throw Invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)");
        if (r.CpuPercent > 0)
            warnings.Add("linux does not support CPU percent. Percent discarded.");
        if (!string.IsNullOrEmpty(r.CpusetCpus))
        {
            var cpus = ParseCpuset(r.CpusetCpus) ?? throw Invalid($"Invalid value {r.CpusetCpus} for cpuset cpus");
            if (cpus.Any(c => c >= hostCpus))
                throw Invalid($"Requested CPUs are not available - requested {r.CpusetCpus}, available: {(hostCpus == 1 ? "0" : $"0-{hostCpus - 1}")}");
        }
        if (!string.IsNullOrEmpty(r.CpusetMems) && ParseCpuset(r.CpusetMems) is null)
            throw Invalid($"Invalid value {r.CpusetMems} for cpuset mems");
        if (r.BlkioWeight != 0 && (r.BlkioWeight < 10 || r.BlkioWeight > 1000)) throw Invalid("Range of blkio weight is from 10 to 1000");
        if (r.IOMaximumBandwidth != 0 || r.IOMaximumIOps != 0)
            throw Invalid("Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps");
        return warnings;
    }

    /// <summary>A cpuset list ("0-2,4"), or null when malformed (moby parsers.ParseUintList).</summary>
    public static SortedSet<int>? ParseCpuset(string text)
    {
        var result = new SortedSet<int>();
        foreach (var part in text.Split(','))
        {
            var dash = part.IndexOf('-');
            if (dash < 0)
            {
                if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var single)) return null;
                result.Add(single);
                continue;
            }
            if (!int.TryParse(part.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var low) ||
                !int.TryParse(part.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var high) || high < low)
                return null;
            for (var i = low; i <= high; i++) result.Add(i);
        }
        return result;
    }

    /// <summary>"80", "80/tcp", "53/udp", "132/sctp", "8000-8010/tcp" with ports 1–65535.</summary>
    private static bool ValidPortKey(string key)
    {
        var slash = key.IndexOf('/');
        var (port, proto) = slash < 0 ? (key, "tcp") : (key[..slash], key[(slash + 1)..]);
        if (proto is not ("tcp" or "udp" or "sctp")) return false;
        return ValidPortRange(port, allowZero: false);
    }

    private static bool ValidPortRange(string text, bool allowZero = true)
    {
        var dash = text.IndexOf('-');
        if (dash < 0) return ValidPort(text, allowZero);
        if (!ValidPort(text[..dash], allowZero) || !ValidPort(text[(dash + 1)..], allowZero)) return false;
        return int.Parse(text[..dash], CultureInfo.InvariantCulture) <= int.Parse(text[(dash + 1)..], CultureInfo.InvariantCulture);
    }

    private static bool ValidPort(string text, bool allowZero)
        => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= 65535 && (allowZero || n > 0);

    private static InvalidParameterException Invalid(string message) => new(message);
}
