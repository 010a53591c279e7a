using System.Globalization;
using System.Text;
using Berth.Oci.Runtime;

namespace Berth.Linux.Cgroups;

/// <summary>What v1 and v2 share: cgroupfs file access, the tree walk for pids and removal, signalling.</summary>
internal abstract class CgroupBase(CgroupLayout layout, CgroupPath path) : ICgroup
{
    public virtual IReadOnlyList<string>? SelfJoinFiles() => null;
    public virtual IReadOnlyList<(string MountPoint, string Relative)>? SelfJoinFilesUnderMounts() => null;

    protected const int SIGKILL = 9;

    protected readonly CgroupLayout Layout = layout;
    protected readonly CgroupPath CgroupPath = path;

    public abstract CgroupVersion Version { get; }
    public abstract string Path { get; }
    public abstract IReadOnlyDictionary<string, string> Directories { get; }
    public abstract bool Exists { get; }
    public abstract void Create();
    public abstract void AddProcess(int pid);
    public abstract void Apply(Resources resources);
    public abstract void Update(Resources resources);
    public abstract void Freeze();
    public abstract void Thaw();
    public abstract FreezerState FreezerState { get; }
    public abstract IReadOnlyList<int> Pids();
    public abstract CgroupStats Stats();
    public abstract int OomKillCount();
    public abstract void KillAll(int signal);
    public abstract void Destroy();

    /// <summary>One write(2) of the whole value, to a file that must exist (cgroupfs files cannot be created).</summary>
    protected void Write(string dir, string file, string value)
    {
        using var handle = OpenForWrite(dir, file, value);
        WriteTo(handle, dir, file, value);
    }

    /// <summary>Opens a cgroupfs file for <see cref="WriteTo"/>; <paramref name="value"/> only names the write in errors.</summary>
    protected static Microsoft.Win32.SafeHandles.SafeFileHandle OpenForWrite(string dir, string file, string value)
    {
        var path = dir + "/" + file;
        try
        {
            // A handle and one pwrite: cgroupfs takes each write whole; a FileStream's extra lock/seek/statfs calls
            // would double the syscalls on the container start path. Truncate keeps tests over plain files exact.
            return File.OpenHandle(path, FileMode.Truncate, FileAccess.Write, FileShare.ReadWrite);
        }
        catch (FileNotFoundException)
        {
            throw new CgroupException($"cannot write \"{value}\" to {path}: the file does not exist (controller not available?)");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CgroupException($"cannot write \"{value}\" to {path}: {e.Message}", e);
        }
    }

    /// <summary>One write(2) of <paramref name="value"/> to an open cgroupfs file: each write is taken whole, so a file
    /// that takes one entry per write (devices.allow) takes many through one descriptor.</summary>
    protected void WriteTo(Microsoft.Win32.SafeHandles.SafeFileHandle handle, string dir, string file, string value)
    {
        try { RandomAccess.Write(handle, Encoding.ASCII.GetBytes(value), 0); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CgroupException($"cannot write \"{value}\" to {dir}/{file}: {e.Message}", e);
        }
        Layout.WriteLog?.Invoke(dir + "/" + file, value);
    }

    protected static string? ReadOrNull(string dir, string file)
    {
        try { return File.ReadAllText(dir + "/" + file); }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }

    protected static string Read(string dir, string file)
    {
        try { return File.ReadAllText(dir + "/" + file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CgroupException($"cannot read {dir}/{file}: {e.Message}", e);
        }
    }

    /// <summary>A single number; "max" reads as ulong.MaxValue (unlimited).</summary>
    protected static ulong ReadUInt(string dir, string file)
        => ReadOrNull(dir, file) is { } text ? ParseUInt(text.Trim()) : 0;

    protected static ulong ParseUInt(string text)
        => text == "max" ? ulong.MaxValue
         : ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
         : long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var s) && s < 0 ? 0UL // a negative counter is clamped
         : throw new CgroupException($"unexpected value \"{text}\" in a cgroup file");

    /// <summary>"key value" lines (memory.stat, cpu.stat, memory.events…) as a dictionary.</summary>
    protected static Dictionary<string, ulong> ReadKeyValues(string dir, string file)
    {
        var map = new Dictionary<string, ulong>();
        if (ReadOrNull(dir, file) is not { } text) return map;
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var space = line.IndexOf(' ');
            if (space > 0 && ulong.TryParse(line.AsSpan(space + 1).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var v))
                map[line[..space]] = v;
        }
        return map;
    }

    /// <summary>Every pid in cgroup.procs of <paramref name="dir"/> and of its descendants.</summary>
    protected static List<int> PidsUnder(string dir)
    {
        var pids = new List<int>();
        if (!Directory.Exists(dir)) return pids;
        var pending = new Stack<string>();
        pending.Push(dir);
        while (pending.TryPop(out var current))
        {
            if (ReadOrNull(current, "cgroup.procs") is { } procs)
                foreach (var line in procs.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                    if (int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) pids.Add(pid);
            try { foreach (var sub in Directory.EnumerateDirectories(current)) pending.Push(sub); }
            catch (DirectoryNotFoundException) { }
        }
        return pids;
    }

    /// <summary>Signals each pid; a process that exited meanwhile is not an error.</summary>
    protected void SignalAll(IEnumerable<int> pids, int signal)
    {
        foreach (var pid in pids)
        {
            var errno = Layout.Calls.Kill(pid, signal);
            if (errno != 0 && errno != Errno.ESRCH)
                throw new CgroupException($"kill({pid}, {signal}) in cgroup {Path}: {Errno.Describe(errno)}");
        }
    }

    /// <summary>Freeze, signal every pid, thaw: a process cannot fork a child the signal misses.</summary>
    protected void SignalFrozen(int signal, bool canFreeze)
    {
        var frozen = false;
        if (canFreeze)
        {
            // A task stuck in uninterruptible sleep can keep the cgroup FREEZING; signal it anyway then.
            try { Freeze(); frozen = true; } catch (CgroupException) { }
        }
        try { SignalAll(Pids(), signal); }
        finally { if (frozen) Thaw(); }
    }

    /// <summary>rmdir every directory under <paramref name="dir"/> and itself, deepest first; EBUSY retried for about a second.</summary>
    protected void RemoveTree(string dir)
    {
        // The usual case, a leaf whose tasks are gone, in one call; the walk below for sub-cgroups and busy ones.
        if (Layout.Calls.RemoveDirectory(dir) is 0 or Errno.ENOENT) return;
        if (!Directory.Exists(dir)) return;
        var order = new List<string>();
        var pending = new Stack<string>();
        pending.Push(dir);
        while (pending.TryPop(out var current))
        {
            order.Add(current);
            try { foreach (var sub in Directory.EnumerateDirectories(current)) pending.Push(sub); }
            catch (DirectoryNotFoundException) { }
        }
        for (var i = order.Count - 1; i >= 0; i--)
        {
            // Tasks that were just killed leave the cgroup a moment after they die; rmdir says EBUSY until then.
            var delayMs = 1;
            while (true)
            {
                var errno = Layout.Calls.RemoveDirectory(order[i]);
                if (errno is 0 or Errno.ENOENT) break;
                if (errno != Errno.EBUSY || delayMs > 512)
                    throw new CgroupException($"cannot remove cgroup {order[i]}: {Errno.Describe(errno)}");
                Thread.Sleep(delayMs);
                delayMs *= 2;
            }
        }
    }

    /// <summary>Creates <paramref name="dir"/> and its missing ancestors below <paramref name="mountPoint"/>, top-down;
    /// returns every level below the mount point, top-down.</summary>
    protected static List<string> MakeDirectories(string mountPoint, string dir)
    {
        var levels = new List<string>();
        var current = mountPoint.TrimEnd('/');
        foreach (var part in dir[current.Length..].Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            current += "/" + part;
            levels.Add(current);
            if (Directory.Exists(current)) continue;
            try { Directory.CreateDirectory(current); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CgroupException($"cannot create cgroup {current}: {e.Message}", e);
            }
        }
        return levels;
    }

    /// <summary>Polls <paramref name="done"/> (the kernel has no event for freezer transitions on v1) for up to ~2 s.</summary>
    protected static bool WaitUntil(Func<bool> done, Action? nudge = null)
    {
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            if (done()) return true;
            if (attempt > 0 && attempt % 25 == 0) nudge?.Invoke();
            if (attempt < 10) Thread.Yield(); else Thread.Sleep(attempt < 50 ? 1 : 5);
        }
        return done();
    }
}
