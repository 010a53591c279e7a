using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Berth.Linux.Cgroups;
using Berth.Oci.Runtime;
using Berth.Runtime.Cli;
using Berth.Runtime.State;

namespace Berth.Runtime.Lifecycle;

/// <summary>The verbs that read or change a running container's cgroup: ps, events, update.</summary>
public sealed class CgroupVerbs(StateStore store, Linux.ISyscalls sys)
{
    private (ContainerRecord Record, ICgroup Cgroup) Running(string id)
    {
        var record = store.Load(id);
        if (store.StatusOf(record) == ContainerStatus.Stopped) throw new RuntimeException("container not running");
        var cgroup = ContainerCgroup.Open(record.CgroupsPath, id) ?? throw new RuntimeException($"container {id} has no cgroup");
        return (record, cgroup);
    }

    /// <summary>`ps ID [ps options]`: `-f json` prints the pids; otherwise the host's ps output (default -ef) filtered to them.</summary>
    public void Ps(CommandLine line)
    {
        if (line.Arguments.Count == 0) throw new RuntimeException("ps: container id cannot be empty");
        var (_, cgroup) = Running(ContainerId.Validate(line.Arguments[0]));
        var pids = cgroup.Pids();
        var format = line.Value("format") ?? "table";
        if (format == "json") { Console.Out.Write(JsonSerializer.Serialize(pids.ToList(), CompactJsonContext.Default.ListInt32) + "\n"); return; }
        if (format != "table") throw new RuntimeException($"invalid format option: {format}");
        var psi = new ProcessStartInfo("ps") { RedirectStandardOutput = true };
        var options = line.Arguments.Skip(1).ToList();
        foreach (var o in options.Count > 0 ? options : ["-ef"]) psi.ArgumentList.Add(o);
        using var ps = System.Diagnostics.Process.Start(psi) ?? throw new RuntimeException("ps: could not run ps");
        var lines = ps.StandardOutput.ReadToEnd().Split('\n');
        ps.WaitForExit();
        var header = lines[0];
        var column = Array.IndexOf(header.Split(' ', StringSplitOptions.RemoveEmptyEntries), "PID");
        if (column < 0) throw new RuntimeException("ps: no PID column in ps output");
        var wanted = new HashSet<int>(pids);
        var output = new StringBuilder(header).Append('\n');
        foreach (var l in lines.Skip(1))
        {
            var fields = l.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > column && int.TryParse(fields[column], out var pid) && wanted.Contains(pid)) output.Append(l).Append('\n');
        }
        Console.Out.Write(output.ToString());
    }

    /// <summary>`events --stats ID` prints one stats event. Without --stats: a stats event every --interval (5s) and an
    /// {"type":"oom"} event as soon as the kernel reports one, until the container stops (a pidfd says when).</summary>
    public void Events(CommandLine line)
    {
        if (line.Arguments.Count == 0) throw new RuntimeException("events: container id cannot be empty");
        var id = ContainerId.Validate(line.Arguments[0]);
        var (record, cgroup) = Running(id);
        if (line.Has("stats"))
        {
            Print(CgroupEvent.ForStats(id, cgroup.Stats()));
            return;
        }
        var interval = ParseInterval(line.Value("interval") ?? "5s");
        using var oom = OomWatch.Open(sys, cgroup);
        var pidfd = -1;
        try { pidfd = sys.OpenProcessHandle(record.Pid); } catch (Linux.SyscallException) { }
        try
        {
            var next = Environment.TickCount64;
            Span<int> fds = stackalloc int[2];
            var count = 0;
            if (oom is not null) fds[count++] = oom.Fd;
            if (pidfd >= 0) fds[count++] = pidfd;
            while (true)
            {
                var now = Environment.TickCount64;
                if (now >= next)
                {
                    if (pidfd < 0 && store.StatusOf(record) == ContainerStatus.Stopped) return;
                    try { Print(CgroupEvent.ForStats(id, cgroup.Stats())); }
                    catch (CgroupException) when (!store.IsAlive(record)) { return; }
                    next = now + (long)interval.TotalMilliseconds;
                    continue;
                }
                var ready = count == 0 ? -1 : sys.WaitReadable(fds[..count], (int)Math.Min(int.MaxValue, next - now));
                if (count == 0) Thread.Sleep((int)Math.Min(int.MaxValue, next - now));
                if (ready < 0) continue;
                if (fds[ready] == pidfd) return; // the container's init exited
                for (var n = oom!.Consume(); n > 0; n--) Print(new CgroupEvent("oom", id, null));
            }
        }
        finally
        {
            if (pidfd >= 0) sys.CloseFd(pidfd);
        }

        static void Print(CgroupEvent e) => Console.Out.Write(JsonSerializer.Serialize(e, CgroupJsonContext.Default.CgroupEvent) + "\n");
    }

    private static TimeSpan ParseInterval(string text)
    {
        double Number(string s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0 ? v : throw new RuntimeException($"--interval: \"{text}\" is not a duration");
        if (text.EndsWith("ms", StringComparison.Ordinal)) return TimeSpan.FromMilliseconds(Number(text[..^2]));
        if (text.EndsWith('s')) return TimeSpan.FromSeconds(Number(text[..^1]));
        if (text.EndsWith('m')) return TimeSpan.FromMinutes(Number(text[..^1]));
        return TimeSpan.FromSeconds(Number(text));
    }

    /// <summary>`update ID`: resources from -r FILE (or - for stdin), then runc's individual flags on top.</summary>
    public void Update(CommandLine line)
    {
        if (line.Arguments.Count == 0) throw new RuntimeException("update: container id cannot be empty");
        var (_, cgroup) = Running(ContainerId.Validate(line.Arguments[0]));
        var resources = ResourcesOf(line);
        cgroup.Update(resources);
    }

    public static Resources ResourcesOf(CommandLine line)
    {
        Resources resources;
        if (line.Value("resources") is { } file)
        {
            byte[] bytes;
            if (file == "-")
            {
                using var stdin = Console.OpenStandardInput();
                using var buffer = new MemoryStream();
                stdin.CopyTo(buffer);
                bytes = buffer.ToArray();
            }
            else bytes = File.ReadAllBytes(file);
            try { resources = JsonSerializer.Deserialize(bytes, RuntimeJsonContext.Default.Resources) ?? new Resources(); }
            catch (JsonException e) { throw new RuntimeException($"resources: malformed{(e.Path is { Length: > 1 } p ? " at " + p.TrimStart('$', '.') : "")}"); }
        }
        else resources = new Resources();
        if (line.Value("memory") is { } m) (resources.Memory ??= new()).Limit = Bytes(m, "memory");
        if (line.Value("memory-reservation") is { } mr) (resources.Memory ??= new()).Reservation = Bytes(mr, "memory-reservation");
        if (line.Value("memory-swap") is { } ms) (resources.Memory ??= new()).Swap = Bytes(ms, "memory-swap");
        if (line.Value("kernel-memory") is { } km) (resources.Memory ??= new()).Kernel = Bytes(km, "kernel-memory");
        if (line.Value("kernel-memory-tcp") is { } kt) (resources.Memory ??= new()).KernelTcp = Bytes(kt, "kernel-memory-tcp");
        if (line.Value("cpu-quota") is { } cq) (resources.Cpu ??= new()).Quota = Long(cq, "cpu-quota");
        if (line.Value("cpu-period") is { } cp) (resources.Cpu ??= new()).Period = (ulong)Long(cp, "cpu-period");
        if (line.Value("cpu-share") is { } cs) (resources.Cpu ??= new()).Shares = (ulong)Long(cs, "cpu-share");
        if (line.Value("cpu-rt-period") is { } rp) (resources.Cpu ??= new()).RealtimePeriod = (ulong)Long(rp, "cpu-rt-period");
        if (line.Value("cpu-rt-runtime") is { } rr) (resources.Cpu ??= new()).RealtimeRuntime = Long(rr, "cpu-rt-runtime");
        if (line.Value("cpuset-cpus") is { } cc) (resources.Cpu ??= new()).Cpus = cc;
        if (line.Value("cpuset-mems") is { } cm) (resources.Cpu ??= new()).Mems = cm;
        if (line.Value("pids-limit") is { } pl) resources.Pids = new Pids { Limit = Long(pl, "pids-limit") };
        if (line.Value("blkio-weight") is { } bw) (resources.BlockIo ??= new()).Weight = (ushort)Long(bw, "blkio-weight");
        return resources;
    }

    private static long Long(string text, string flag)
        => long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : throw new RuntimeException($"--{flag}: \"{text}\" is not a number");

    /// <summary>Bytes as runc's units.RAMInBytes reads them: 100, 100k, 64m, 1g (binary multiples); -1 for unlimited.</summary>
    public static long Bytes(string text, string flag)
    {
        if (text == "-1") return -1;
        var t = text.Trim().ToLowerInvariant();
        if (t.EndsWith('b')) t = t[..^1];
        long multiplier = 1;
        if (t.Length > 0 && "kmgtp".IndexOf(t[^1]) is var unit and >= 0)
        {
            multiplier = 1L << (10 * (unit + 1));
            t = t[..^1];
        }
        return long.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0
            ? checked(v * multiplier)
            : throw new RuntimeException($"--{flag}: \"{text}\" is not a size");
    }
}
