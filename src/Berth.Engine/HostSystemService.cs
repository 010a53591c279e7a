using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Berth.Engine.Models;

namespace Berth.Engine;

/// <summary>What the daemon knows about itself and its host, for /info and /version.</summary>
public sealed record DaemonFacts(
    string Version,
    string DataRoot,
    string DefaultRuntime,
    IReadOnlyDictionary<string, string> Runtimes,
    bool LiveRestore,
    bool Debug,
    string StorageDriver = "overlay2",
    string GitCommit = "",
    string BuildTime = "");

/// <summary>
/// /info, /version, /system/df and /events from host facts alone (/proc, /etc/os-release), before any
/// engine state exists. The full engine fills in counts, disk usage and events.
/// </summary>
public sealed class HostSystemService(DaemonFacts facts, Func<string>? daemonId = null) : ISystemService
{
    private readonly Lazy<string> id = new(() => daemonId?.Invoke() ?? Guid.NewGuid().ToString());

    public Task<SystemInfo> InfoAsync(CancellationToken cancellationToken)
    {
        var info = new SystemInfo
        {
            ID = id.Value,
            Driver = facts.StorageDriver,
            DriverStatus = [],
            DockerRootDir = facts.DataRoot,
            Plugins = new PluginsInfo { Volume = ["local"], Network = ["bridge", "host", "none"], Log = ["json-file"] },
            MemoryLimit = true,
            SwapLimit = File.Exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes") || File.Exists("/sys/fs/cgroup/memory.swap.max"),
            CpuCfsPeriod = true,
            CpuCfsQuota = true,
            CPUShares = true,
            CPUSet = true,
            PidsLimit = true,
            OomKillDisable = true,
            IPv4Forwarding = ReadTrimmed("/proc/sys/net/ipv4/ip_forward") == "1",
            Debug = facts.Debug,
            NFd = CountEntries("/proc/self/fd"),
            NGoroutines = Environment.ProcessorCount,
            SystemTime = DateTimeOffset.Now.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffffzzz", System.Globalization.CultureInfo.InvariantCulture),
            CgroupVersion = File.Exists("/sys/fs/cgroup/cgroup.controllers") ? "2" : "1",
            KernelVersion = ReadTrimmed("/proc/sys/kernel/osrelease") ?? "",
            OperatingSystem = OsRelease("PRETTY_NAME") ?? "Linux",
            OSVersion = OsRelease("VERSION_ID") ?? "",
            Architecture = RuntimeInformation.OSArchitecture switch { Architecture.Arm64 => "aarch64", _ => "x86_64" },
            NCPU = Environment.ProcessorCount,
            MemTotal = MemTotal(),
            RegistryConfig = new RegistryServiceConfig
            {
                InsecureRegistryCIDRs = ["127.0.0.0/8", "::1/128"],
                IndexConfigs = new() { ["docker.io"] = new IndexInfo { Name = "docker.io", Secure = true, Official = true } },
            },
            Name = ReadTrimmed("/proc/sys/kernel/hostname") ?? Environment.MachineName,
            ServerVersion = facts.Version,
            Runtimes = facts.Runtimes.ToDictionary(r => r.Key, r => new RuntimeInfo { Path = r.Value }),
            DefaultRuntime = facts.DefaultRuntime,
            LiveRestoreEnabled = facts.LiveRestore,
            InitBinary = "berth-init",
            SecurityOptions = ["name=seccomp,profile=builtin"],
        };
        return Task.FromResult(info);
    }

    public Task<SystemVersion> VersionAsync(CancellationToken cancellationToken)
    {
        var kernel = ReadTrimmed("/proc/sys/kernel/osrelease") ?? "";
        var arch = RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "arm64" : "amd64";
        var dotnet = RuntimeInformation.FrameworkDescription;
        var version = new SystemVersion
        {
            Platform = new PlatformName { Name = "Berth Engine" },
            Components =
            [
                new ComponentVersion
                {
                    Name = "Engine",
                    Version = facts.Version,
                    Details = new()
                    {
                        ["ApiVersion"] = "1.47", ["MinAPIVersion"] = "1.24", ["GitCommit"] = facts.GitCommit, ["GoVersion"] = dotnet,
                        ["Os"] = "linux", ["Arch"] = arch, ["KernelVersion"] = kernel, ["Experimental"] = "false", ["BuildTime"] = facts.BuildTime,
                    },
                },
            ],
            Version = facts.Version,
            ApiVersion = "1.47",
            MinAPIVersion = "1.24",
            GitCommit = facts.GitCommit,
            GoVersion = dotnet,
            Os = "linux",
            Arch = arch,
            KernelVersion = kernel,
            BuildTime = facts.BuildTime,
        };
        return Task.FromResult(version);
    }

    public Task<SystemDiskUsage> DiskUsageAsync(CancellationToken cancellationToken) => Task.FromResult(new SystemDiskUsage());

    public async IAsyncEnumerable<EventMessage> EventsAsync(EventsOptions options, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Nothing happens on a daemon without an engine: wait until the window closes.
        var wait = options.Until is { } until ? until - DateTimeOffset.UtcNow : Timeout.InfiniteTimeSpan;
        if (wait > TimeSpan.Zero || wait == Timeout.InfiniteTimeSpan)
        {
            try { await Task.Delay(wait, cancellationToken); }
            catch (OperationCanceledException) { yield break; }
        }
        yield break;
    }

    private static string? ReadTrimmed(string path)
    {
        try { return File.ReadAllText(path).Trim(); } catch (IOException) { return null; } catch (UnauthorizedAccessException) { return null; }
    }

    private static int CountEntries(string dir)
    {
        try { return Directory.EnumerateFileSystemEntries(dir).Count(); } catch (IOException) { return 0; }
    }

    private static string? OsRelease(string key)
    {
        var text = ReadTrimmed("/etc/os-release");
        if (text is null) return null;
        foreach (var line in text.Split('\n'))
            if (line.StartsWith(key + "=", StringComparison.Ordinal)) return line[(key.Length + 1)..].Trim('"');
        return null;
    }

    private static long MemTotal()
    {
        var text = ReadTrimmed("/proc/meminfo");
        if (text is null) return 0;
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith("MemTotal:", StringComparison.Ordinal)) continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return long.TryParse(parts[1], out var kb) ? kb * 1024 : 0;
        }
        return 0;
    }
}
