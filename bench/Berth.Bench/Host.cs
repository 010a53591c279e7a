namespace Berth.Bench;

/// <summary>What /proc says about processes: memory, command lines.</summary>
public static class Procfs
{
    public static string CommandLine(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim(); }
        catch (IOException) { return ""; }
        catch (UnauthorizedAccessException) { return ""; }
    }

    public static IEnumerable<int> Pids() =>
        Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(n => n!.All(char.IsAsciiDigit)).Select(n => int.Parse(n!));

    /// <summary>Processes whose command line contains <paramref name="marker"/> (a workspace path, a namespace).</summary>
    public static List<int> PidsWith(string marker) => [.. Pids().Where(p => p != Environment.ProcessId && CommandLine(p).Contains(marker, StringComparison.Ordinal))];

    /// <summary>A field of /proc/PID/status or smaps_rollup in kB ("VmRSS", "Pss"); 0 when the process is gone.</summary>
    public static long KiloBytes(int pid, string file, string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/{file}"))
                if (line.StartsWith(field + ":", StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        }
        catch (IOException) { }
        return 0;
    }

    public static double RssMegaBytes(IEnumerable<int> pids) => pids.Sum(p => KiloBytes(p, "status", "VmRSS")) / 1024.0;

    /// <summary>Proportional set size: shared pages divided among the processes sharing them — what a
    /// process really costs the machine.</summary>
    public static double PssMegaBytes(IEnumerable<int> pids) => pids.Sum(p => KiloBytes(p, "smaps_rollup", "Pss")) / 1024.0;

    public static void Kill(IEnumerable<int> pids)
    {
        foreach (var pid in pids)
            try { System.Diagnostics.Process.GetProcessById(pid).Kill(); } catch (ArgumentException) { } catch (InvalidOperationException) { } catch (System.ComponentModel.Win32Exception) { }
    }
}

/// <summary>
/// The run's private directory (/var/tmp/berth-bench/PID): data roots, sockets, bundles. Removed at the
/// end with everything mounted beneath it, and with the cgroups named after the run.
/// </summary>
public sealed class Workspace : IDisposable
{
    public string Root { get; }
    /// <summary>A name unique to this run, for container IDs, cgroups, namespaces.</summary>
    public string Tag { get; } = $"berth-bench-{Environment.ProcessId}";

    public Workspace(string? root = null)
    {
        Root = root ?? Path.Combine("/var/tmp/berth-bench", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Directory.CreateDirectory(Root);
    }

    public string Dir(params string[] parts)
    {
        var path = Path.Combine([Root, .. parts]);
        Directory.CreateDirectory(path);
        return path;
    }

    public void Dispose()
    {
        Procfs.Kill(Procfs.PidsWith(Root));
        UnmountBelow(Root);
        RemoveCgroups(Tag);
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { Shell.Run(["rm", "-rf", "--one-file-system", Root], check: false); }
        catch (UnauthorizedAccessException) { Shell.Run(["rm", "-rf", "--one-file-system", Root], check: false); }
    }

    /// <summary>Lazily unmounts every mount at or below <paramref name="root"/>, deepest first.</summary>
    public static void UnmountBelow(string root)
    {
        var mounts = File.ReadLines("/proc/self/mountinfo")
            .Select(line => line.Split(' ')[4].Replace("\\040", " "))
            .Where(m => m == root || m.StartsWith(root + "/", StringComparison.Ordinal))
            .Distinct().OrderByDescending(m => m.Length).ToList();
        foreach (var mount in mounts) Shell.Run(["umount", "-l", mount], check: false, timeout: TimeSpan.FromSeconds(20));
    }

    /// <summary>Kills what is left in, and removes, the cgroups named <paramref name="tag"/> (or tag-…) under every hierarchy.</summary>
    public static void RemoveCgroups(string tag)
    {
        if (!Directory.Exists("/sys/fs/cgroup")) return;
        var hierarchies = Directory.EnumerateDirectories("/sys/fs/cgroup").Append("/sys/fs/cgroup");
        // The tag's own cgroup and those named after it (berth-bench-PID-docker, …-podman).
        var tops = hierarchies.SelectMany(h => Directory.EnumerateDirectories(h, tag + "*"))
            .Where(d => Path.GetFileName(d) == tag || Path.GetFileName(d).StartsWith(tag + "-", StringComparison.Ordinal)).ToList();
        foreach (var top in tops)
        {
            var all = Directory.EnumerateDirectories(top, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length).Append(top).ToList();
            foreach (var dir in all)
            {
                var procs = Path.Combine(dir, "cgroup.procs");
                if (File.Exists(procs)) Procfs.Kill(File.ReadAllLines(procs).Where(l => l.Length > 0).Select(int.Parse));
            }
            foreach (var dir in all)
                for (var attempt = 0; attempt < 20; attempt++)
                {
                    try { Directory.Delete(dir); break; }
                    catch (DirectoryNotFoundException) { break; }
                    catch (IOException) { Thread.Sleep(50); } // a killed process leaves its cgroup a moment later
                }
        }
    }
}
