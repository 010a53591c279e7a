using System.Diagnostics;
using Berth.Linux;
using Xunit;

namespace Berth.Testing;

/// <summary>A fact that needs root and the real kernel; skipped (with the reason) otherwise.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!Host.IsRoot) Skip = "needs root (integration test on the real kernel)";
    }
}

/// <summary>A directory under /tmp removed with everything in it when disposed.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("berth-test-").FullName;
    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);
    public void Dispose()
    {
        UnmountBelow(Path);
        // The daemon's background work (a snapshot's storage made ahead, a container's files made after its create is
        // answered) may add a file while the tree is being deleted, and the delete then fails on a directory no longer
        // empty: try again for a moment; that work never makes a directory whose parent is gone.
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                Directory.Delete(Path, recursive: true);
                return;
            }
            catch (DirectoryNotFoundException) when (!Directory.Exists(Path)) { return; }
            catch (IOException) when (attempt < 20) { Thread.Sleep(10); } // a child that went meanwhile is not-found too
            catch (IOException) { return; }
            catch (UnauthorizedAccessException) { return; }
        }
    }

    /// <summary>
    /// A failed test, or a peer daemon (dockerd bind-mounts its data root onto itself), may leave mounts under the
    /// directory: they are detached first, deepest first, so nothing stays mounted on the host and the recursive delete
    /// never walks into a mounted filesystem.
    /// </summary>
    private static void UnmountBelow(string path)
    {
        if (!Host.IsRoot) return;
        string[] mountInfo;
        try { mountInfo = File.ReadAllLines("/proc/self/mountinfo"); } catch (IOException) { return; }
        var targets = mountInfo.Select(line => line.Split(' ')).Where(fields => fields.Length > 4).Select(fields => fields[4])
            .Where(target => target == path || target.StartsWith(path + "/", StringComparison.Ordinal))
            .Distinct().OrderByDescending(target => target.Length);
        foreach (var target in targets)
        {
            try { LinuxSyscalls.Instance.Unmount(target, UnmountFlags.Detach); } catch (SyscallException) { }
        }
    }
}

public static class Repo
{
    /// <summary>The repository root (BERTH_REPO_ROOT, else found from the test binary's location).</summary>
    public static string Root { get; } = Environment.GetEnvironmentVariable("BERTH_REPO_ROOT") is { Length: > 0 } r ? r : Find();

    /// <summary>Published executables (artifacts/bin), as scripts/build leaves them.</summary>
    public static string Bin => Environment.GetEnvironmentVariable("BERTH_BIN") is { Length: > 0 } b ? b : System.IO.Path.Combine(Root, "artifacts", "bin");

    private static string Find()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir, "Berth.slnx"))) dir = System.IO.Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("repository root not found; set BERTH_REPO_ROOT");
    }
}

/// <summary>A busybox rootfs made once per machine by scripts/make-busybox-rootfs and copied per test.</summary>
public static class BusyboxRootfs
{
    private static readonly Lazy<string> Cached = new(() =>
    {
        var dir = "/tmp/berth-test-cache/busybox-rootfs";
        if (!File.Exists(System.IO.Path.Combine(dir, "bin", "busybox")))
        {
            var tmp = dir + ".tmp." + Environment.ProcessId;
            Run(System.IO.Path.Combine(Repo.Root, "scripts", "make-busybox-rootfs"), tmp);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(dir)!);
            try { Directory.Move(tmp, dir); } catch (IOException) { Run("rm", "-rf", tmp); } // another run made it first
        }
        return dir;
    });

    /// <summary>Copies the cached rootfs (preserving links and modes) to <paramref name="target"/>.</summary>
    public static void CopyTo(string target)
    {
        Directory.CreateDirectory(target);
        Run("cp", "-a", Cached.Value + "/.", target);
    }

    public static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {p.ExitCode}: {stderr}");
        return stdout.Result;
    }
}

/// <summary>
/// Containers made from runc's default config (no cgroupsPath) live under the shared parent cgroup "berth" in
/// every hierarchy; the runtime leaves that parent, as Docker leaves "docker". A test assembly that makes such
/// containers calls <see cref="RemoveWhenEmptyAtExit"/> so its run leaves no cgroup behind: rmdir refuses a
/// cgroup that still has children or processes, so a parent in use by anyone else stays.
/// </summary>
public static class SharedCgroupParent
{
    public static void RemoveWhenEmptyAtExit() => AppDomain.CurrentDomain.ProcessExit += (_, _) => RemoveWhenEmpty();

    public static void RemoveWhenEmpty()
    {
        if (!Directory.Exists("/sys/fs/cgroup")) return;
        foreach (var hierarchy in Directory.EnumerateDirectories("/sys/fs/cgroup"))
        {
            try { Directory.Delete(System.IO.Path.Combine(hierarchy, "berth")); }
            catch (IOException) { } // absent, or still in use
            catch (UnauthorizedAccessException) { }
        }
    }
}
