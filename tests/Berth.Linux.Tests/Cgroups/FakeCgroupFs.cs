using Berth.Testing;

namespace Berth.Linux.Tests;

// Inside Berth.Linux.*, "Cgroups" would name the namespace; a using here makes it the class.
using Berth.Linux.Cgroups;

/// <summary>
/// A temporary directory laid out like cgroupfs: the test pre-creates the files the kernel would provide
/// (writes to missing files fail, as on the kernel), and every write is recorded in order.
/// </summary>
internal sealed class FakeCgroupFs : IDisposable, ICgroupCalls
{
    private readonly TempDir temp = new();
    public string Root => temp.Path;
    public List<(string File, string Value)> Writes { get; } = new();
    public List<(int Pid, int Signal)> Kills { get; } = new();
    public List<string> Removed { get; } = new();
    public List<(string Dir, ulong[] Program)> DeviceFilters { get; } = new();

    /// <summary>How many times rmdir answers EBUSY before it succeeds.</summary>
    public int BusyRemovals { get; set; }

    /// <summary>A pure v2 layout at Root.</summary>
    public CgroupLayout V2(string ownCgroup = "/")
        => CgroupLayout.ForV2(Root, ownCgroup).With(this, (f, v) => Writes.Add((Rel(f), v)));

    /// <summary>v1 hierarchies as subdirectories named like their mount points ("cpu,cpuacct", "memory"…).</summary>
    public CgroupLayout V1(string ownCgroup = "/", params string[] mounts)
    {
        if (mounts.Length == 0) mounts = ["cpu,cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "net_cls,net_prio", "hugetlb"];
        foreach (var m in mounts) Directory.CreateDirectory(Path.Combine(Root, m));
        return CgroupLayout.ForV1(mounts.Select(m => (Path.Combine(Root, m), m.Split(','))), ownCgroup)
            .With(this, (f, v) => Writes.Add((Rel(f), v)));
    }

    /// <summary>Creates files (and their directories) as the kernel would present them: "memory/berth/c1/memory.max" → "".</summary>
    public FakeCgroupFs Files(string dir, params string[] namesOrNameEqualsValue)
    {
        var full = Path.Combine(Root, dir.TrimStart('/'));
        Directory.CreateDirectory(full);
        foreach (var entry in namesOrNameEqualsValue)
        {
            var eq = entry.IndexOf('=');
            var (name, value) = eq < 0 ? (entry, "") : (entry[..eq], entry[(eq + 1)..]);
            File.WriteAllText(Path.Combine(full, name), value);
        }
        return this;
    }

    public string Read(string relative) => File.ReadAllText(Path.Combine(Root, relative.TrimStart('/')));

    public bool Exists(string relative) => Path.Exists(Path.Combine(Root, relative.TrimStart('/')));

    public string Rel(string path) => Path.GetRelativePath(Root, path);

    int ICgroupCalls.Kill(int pid, int signal)
    {
        Kills.Add((pid, signal));
        return pid == 999999 ? Errno.ESRCH : 0;
    }

    int ICgroupCalls.RemoveDirectory(string path)
    {
        if (!Directory.Exists(path)) return Errno.ENOENT;
        if (BusyRemovals > 0) { BusyRemovals--; return Errno.EBUSY; }
        // A real cgroup directory's files vanish with it; here they are ordinary files.
        foreach (var f in Directory.EnumerateFiles(path)) File.Delete(f);
        try { Directory.Delete(path); } catch (IOException) { return Errno.ENOTEMPTY; }
        Removed.Add(Rel(path));
        return 0;
    }

    int ICgroupCalls.AttachDeviceFilter(string cgroupDirectory, ReadOnlySpan<ulong> program, out string? verifierLog)
    {
        verifierLog = null;
        DeviceFilters.Add((Rel(cgroupDirectory), program.ToArray()));
        return 0;
    }

    public void Dispose() => temp.Dispose();
}
