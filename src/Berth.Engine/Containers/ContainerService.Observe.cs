using System.Diagnostics;
using System.Runtime.CompilerServices;
using Berth.Engine.Models;
using Berth.Engine.Supervision;
using Berth.Linux.Cgroups;

namespace Berth.Engine.Containers;

public sealed partial class ContainerService
{
    // ---- stdio -----------------------------------------------------------------------------------------

    public async Task<IStdioSession> AttachAsync(string idOrName, AttachOptions options, CancellationToken cancellationToken)
    {
        var c = store.Get(idOrName);
        ISupervisedContainer? supervised;
        PendingAttach? pending = null;
        lock (c.Gate)
        {
            if (c.State.Paused) throw new ConflictException("You cannot attach to a paused container, unpause it first");
            if (c.State.Restarting) throw new ConflictException("You cannot attach to a restarting container, wait until it is running");
            if (c.RemovalInProgress) throw new ConflictException("You cannot attach to a container that is being removed");
            supervised = c.State.Running ? c.Supervised : null;
            if (supervised is null)
            {
                // Not running yet: connected when it starts (docker run attaches before it starts).
                pending = new PendingAttach(options, c.Record.Config.Tty, p => { lock (c.Gate) c.PendingAttaches.Remove(p); });
                c.PendingAttaches.Add(pending);
            }
        }
        if (pending is not null) return pending;
        return await supervised!.AttachAsync(options, cancellationToken);
    }

    public async Task ResizeAsync(string idOrName, int height, int width, CancellationToken cancellationToken)
    {
        var c = store.Get(idOrName);
        ISupervisedContainer supervised;
        lock (c.Gate)
            supervised = c.State.Running && c.Supervised is { } s ? s : throw new ConflictException($"Container {c.Id} is not running");
        await supervised.ResizeAsync(height, width, cancellationToken);
    }

    public Task<LogReader> LogsAsync(string idOrName, LogsOptions options, CancellationToken cancellationToken)
    {
        var c = store.Get(idOrName);
        string logPath;
        bool tty;
        Task runEnded;
        lock (c.Gate)
        {
            logPath = c.Record.LogPath;
            tty = c.Record.Config.Tty;
            runEnded = c.State.Running ? c.ExitHandled.Task : Task.CompletedTask;
        }
        if (string.IsNullOrEmpty(logPath))
            throw new NotImplementedYetException($"reading logs of the \"{c.Record.HostConfig.LogConfig?.Type}\" logging driver");
        var reader = Logs ?? throw new NotImplementedYetException("container logs");
        return Task.FromResult(new LogReader(tty, reader.ReadAsync(logPath, options, runEnded, cancellationToken)));
    }

    // ---- top, stats ----------------------------------------------------------------------------------

    private ICgroup RunningCgroup(Container c)
    {
        lock (c.Gate)
        {
            if (!c.State.Running || c.Supervised is null) throw new ConflictException($"Container {c.Id} is not running");
            return Cgroups.Open(c.Record.CgroupsPath, c.Id);
        }
    }

    public async Task<ContainerTopResponse> TopAsync(string idOrName, string? psArgs, CancellationToken cancellationToken)
    {
        var c = store.Get(idOrName);
        var pids = RunningCgroup(c).Pids().ToHashSet();
        var args = string.IsNullOrWhiteSpace(psArgs) ? "-ef" : psArgs;
        var psi = new ProcessStartInfo("ps") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args.Split(' ', StringSplitOptions.RemoveEmptyEntries)) psi.ArgumentList.Add(a);
        using var ps = Process.Start(psi) ?? throw new EngineFailureException("Error running ps: could not start ps");
        var output = await ps.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = await ps.StandardError.ReadToEndAsync(cancellationToken);
        await ps.WaitForExitAsync(cancellationToken);
        if (ps.ExitCode != 0) throw new InvalidParameterException($"ps: {error.Trim()}");
        return ParsePs(output, pids);
    }

    /// <summary>Keeps ps's header and the rows of the container's processes (thread rows follow their process).</summary>
    public static ContainerTopResponse ParsePs(string output, IReadOnlySet<int> pids)
    {
        var lines = output.Split('\n');
        var titles = lines[0].Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries).ToList();
        var pidIndex = titles.IndexOf("PID");
        if (pidIndex < 0) throw new InvalidParameterException("Couldn't find PID field in ps output");
        var top = new ContainerTopResponse { Titles = titles };
        var previousIncluded = false;
        foreach (var line in lines.Skip(1))
        {
            if (line.Length == 0) continue;
            var fields = line.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < titles.Count) continue;
            var include = fields[pidIndex] == "-" ? previousIncluded : int.TryParse(fields[pidIndex], out var pid) && pids.Contains(pid);
            if (fields[pidIndex] != "-") previousIncluded = include;
            if (!include) continue;
            var row = fields[..(titles.Count - 1)].ToList();
            row.Add(string.Join(' ', fields[(titles.Count - 1)..]));
            top.Processes.Add(row);
        }
        return top;
    }

    public async IAsyncEnumerable<ContainerStats> StatsAsync(string idOrName, bool stream, bool oneShot, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var c = store.Get(idOrName);
        Models.CpuStats previous = new();
        var previousRead = DockerTime.Zero;
        var first = true;
        while (true)
        {
            var sample = Sample(c);
            sample.PrecpuStats = previous;
            sample.Preread = previousRead;
            previous = sample.CpuStats;
            previousRead = sample.Read;
            // Non-streaming stats prime the CPU counters with a first sample, so the client can compute a percentage.
            var skip = first && !stream && !oneShot && sample.Read != DockerTime.Zero;
            first = false;
            if (!skip)
            {
                yield return sample;
                if (!stream) yield break;
            }
            await Task.Delay(TimeSpan.FromSeconds(1), time, cancellationToken);
        }
    }

    /// <summary>One reading of the container's cgroup in the shape of Docker's stats (zeros when it is not running).</summary>
    private ContainerStats Sample(Container c)
    {
        var stats = new ContainerStats { Name = c.Name, Id = c.Id };
        ICgroup cgroup;
        try { cgroup = RunningCgroup(c); }
        catch (ConflictException) { return stats; }
        CgroupStats raw;
        try { raw = cgroup.Stats(); }
        catch (Exception e) when (e is CgroupException or IOException) { return stats; }
        stats.Read = DockerTime.Format(time.GetUtcNow());
        stats.NumProcs = 0;
        stats.PidsStats = new Models.PidsStats { Current = raw.Pids.Current, Limit = raw.Pids.Limit == 0 ? null : raw.Pids.Limit };
        stats.CpuStats = new Models.CpuStats
        {
            CpuUsage = new Models.CpuUsage
            {
                TotalUsage = raw.Cpu.Usage.Total, PercpuUsage = raw.Cpu.Usage.PerCpu,
                UsageInKernelmode = raw.Cpu.Usage.Kernel, UsageInUsermode = raw.Cpu.Usage.User,
            },
            SystemCpuUsage = SystemCpuNanoseconds(),
            OnlineCpus = (uint)Environment.ProcessorCount,
            ThrottlingData = new ThrottlingData
            {
                Periods = raw.Cpu.Throttling.Periods, ThrottledPeriods = raw.Cpu.Throttling.ThrottledPeriods, ThrottledTime = raw.Cpu.Throttling.ThrottledTime,
            },
        };
        var memory = raw.Memory;
        stats.MemoryStats = new Models.MemoryStats
        {
            Usage = memory.Usage.Usage,
            MaxUsage = cgroup.Version == CgroupVersion.V1 ? memory.Usage.Max : null,
            Failcnt = cgroup.Version == CgroupVersion.V1 ? memory.Usage.Failcnt : null,
            Limit = memory.Usage.Limit is 0 or ulong.MaxValue || memory.Usage.Limit > (ulong)Math.Max(1, HostMemory()) ? (ulong)HostMemory() : memory.Usage.Limit,
            Stats = memory.Raw ?? [],
        };
        var blkio = raw.Blkio;
        stats.BlkioStats = new Models.BlkioStats
        {
            IoServiceBytesRecursive = blkio.IoServiceBytesRecursive?.Select(Blkio).ToList(),
            IoServicedRecursive = blkio.IoServicedRecursive?.Select(Blkio).ToList(),
        };
        return stats;
    }

    private static BlkioStatEntry Blkio(BlkioEntry e) => new() { Major = e.Major, Minor = e.Minor, Op = e.Op ?? "", Value = e.Value };

    /// <summary>The host's total CPU time in nanoseconds (/proc/stat's first line, in USER_HZ ticks).</summary>
    private static ulong? SystemCpuNanoseconds()
    {
        try
        {
            using var reader = new StreamReader("/proc/stat");
            var line = reader.ReadLine();
            if (line is null || !line.StartsWith("cpu ", StringComparison.Ordinal)) return null;
            ulong ticks = 0;
            foreach (var field in line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8))
                ticks += ulong.Parse(field, System.Globalization.CultureInfo.InvariantCulture);
            return ticks * (1_000_000_000UL / 100);
        }
        catch (IOException) { return null; }
    }

    private static long hostMemory;

    private static long HostMemory()
    {
        if (hostMemory > 0) return hostMemory;
        foreach (var line in File.ReadLines("/proc/meminfo"))
        {
            if (!line.StartsWith("MemTotal:", StringComparison.Ordinal)) continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return hostMemory = long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
        return 0;
    }

    // ---- filesystem -----------------------------------------------------------------------------------

    public Task<IReadOnlyList<FilesystemChange>> ChangesAsync(string idOrName, CancellationToken cancellationToken)
        => Filesystems.ChangesAsync(Filesystem(idOrName), cancellationToken);

    public Task ExportAsync(string idOrName, Stream destination, CancellationToken cancellationToken)
        => Filesystems.ExportAsync(Filesystem(idOrName), destination, cancellationToken);

    public Task<ContainerPathStat> StatPathAsync(string idOrName, string path, CancellationToken cancellationToken)
        => Filesystems.StatPathAsync(Filesystem(idOrName), path, cancellationToken);

    public Task GetArchiveAsync(string idOrName, string path, Stream destination, CancellationToken cancellationToken)
        => Filesystems.GetArchiveAsync(Filesystem(idOrName), path, destination, cancellationToken);

    public Task PutArchiveAsync(string idOrName, ArchiveUpload upload, Stream tar, CancellationToken cancellationToken)
        => Filesystems.PutArchiveAsync(Filesystem(idOrName), upload, tar, cancellationToken);
}
