using System.Text.Json.Nodes;
using Berth.Testing;

namespace Berth.Runtime.Tests;

/// <summary>
/// A cloned init without hooks builds its rootfs while `create` makes and limits its cgroup, and joins the cgroup itself
/// once `create` says it is ready: at the latest before a `cgroup` mount (which shows the cgroups it is in), otherwise
/// after the rootfs; always before anything of the container's runs. A failure on either side leaves nothing behind.
/// </summary>
public sealed class CgroupOrderTests
{
    private static void WithoutCgroupMount(LifecycleHarness h)
    {
        var mounts = h.Config["mounts"]!.AsArray();
        foreach (var m in mounts.Where(m => m!["type"]!.GetValue<string>() is "cgroup").ToList()) mounts.Remove(m);
    }

    private static string CgroupPathOf(LifecycleHarness h) => "/berth-test-" + h.Id;

    private static void Limit(LifecycleHarness h, JsonObject resources)
    {
        h.Config["linux"]!["cgroupsPath"] = CgroupPathOf(h);
        h.Config["linux"]!["resources"] = resources;
    }

    /// <summary>The container's cgroup directories left in any v1 hierarchy.</summary>
    private static List<string> CgroupLeftovers(LifecycleHarness h)
        => Directory.EnumerateDirectories("/sys/fs/cgroup").Select(d => d + CgroupPathOf(h)).Where(Directory.Exists).ToList();

    private static void RemoveCgroups(LifecycleHarness h)
    {
        foreach (var dir in CgroupLeftovers(h)) try { Directory.Delete(dir); } catch (IOException) { }
    }

    [RootFact]
    public void WithoutACgroupMountTheProcessRunsInItsLimitedCgroupInEveryHierarchy()
    {
        using var h = new LifecycleHarness("sleep", "30");
        try
        {
            WithoutCgroupMount(h);
            Limit(h, new JsonObject { ["pids"] = new JsonObject { ["limit"] = 57 } });
            h.Save();
            var created = h.Create();
            Assert.True(created.Code == 0, created.Stderr);
            Assert.Equal(0, h.Verb("start", h.Id).Code);
            var lines = File.ReadAllLines($"/proc/{h.Pid()}/cgroup");
            var controllers = lines.Where(l => l.Split(':') is [_, { Length: > 0 } c, _] && !c.StartsWith("name=", StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(controllers);
            Assert.All(controllers, l => Assert.EndsWith(":" + CgroupPathOf(h), l));
            Assert.Equal("57", File.ReadAllText($"/sys/fs/cgroup/pids{CgroupPathOf(h)}/pids.max").Trim());
            Assert.Equal(0, h.Verb("delete", "--force", h.Id).Code);
            Assert.Empty(CgroupLeftovers(h));
        }
        finally { RemoveCgroups(h); }
    }

    [RootFact]
    public void ACgroupMountShowsTheContainersOwnLimitedCgroup()
    {
        using var h = new LifecycleHarness("cat", "/sys/fs/cgroup/pids/pids.max", "/proc/self/cgroup");
        try
        {
            Limit(h, new JsonObject { ["pids"] = new JsonObject { ["limit"] = 58 } });
            h.Save();
            var run = h.Verb("run", "--bundle", h.Bundle, h.Id);
            Assert.True(run.Code == 0, run.Stderr);
            var lines = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("58", lines[0].Trim());
            Assert.Contains(lines, l => l.Contains(":pids:" + CgroupPathOf(h), StringComparison.Ordinal));
            Assert.Empty(CgroupLeftovers(h));
        }
        finally { RemoveCgroups(h); }
    }

    [RootFact]
    public void ARootfsFailureWhileTheCgroupIsMadeLeavesNothing()
    {
        using var h = new LifecycleHarness("true");
        try
        {
            WithoutCgroupMount(h);
            Limit(h, new JsonObject { ["pids"] = new JsonObject { ["limit"] = 20 } });
            h.Config["mounts"]!.AsArray().Add(new JsonObject
            {
                ["destination"] = "/mnt", ["type"] = "bind", ["source"] = "/no/such/source-" + h.Id, ["options"] = new JsonArray("rbind"),
            });
            h.Save();
            var r = h.Create();
            Assert.NotEqual(0, r.Code);
            Assert.Contains("/no/such/source-" + h.Id, r.Stderr);
            Assert.Single(r.Stderr.Trim().Split('\n'));
            Assert.False(Directory.Exists(Path.Combine(h.Root, h.Id)));
            Assert.Empty(CgroupLeftovers(h));
        }
        finally { RemoveCgroups(h); }
    }

    [RootFact]
    public void ACgroupFailureWhileTheInitBuildsItsRootfsLeavesNothing()
    {
        using var h = new LifecycleHarness("true");
        try
        {
            WithoutCgroupMount(h);
            // Valid for the config, refused by the kernel only when written: after the init was cloned.
            Limit(h, new JsonObject { ["cpu"] = new JsonObject { ["cpus"] = "4095" } });
            h.Save();
            var r = h.Create();
            Assert.NotEqual(0, r.Code);
            Assert.Contains("cpuset.cpus", r.Stderr);
            Assert.Single(r.Stderr.Trim().Split('\n'));
            Assert.False(Directory.Exists(Path.Combine(h.Root, h.Id)));
            Assert.Empty(CgroupLeftovers(h));
            // The cloned init is gone too: no process has the bundle's rootfs as its root.
            var rootfs = Path.Combine(h.Bundle, "rootfs");
            foreach (var proc in Directory.EnumerateDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
            {
                string? cwd = null;
                try { cwd = new DirectoryInfo(Path.Combine(proc, "cwd")).LinkTarget; } catch (IOException) { } catch (UnauthorizedAccessException) { }
                Assert.False(cwd is not null && cwd.StartsWith(rootfs, StringComparison.Ordinal), $"{proc} is still in {rootfs}");
            }
        }
        finally { RemoveCgroups(h); }
    }
}

/// <summary>`delete` removes the cgroup directories `create` recorded with one rmdir each; what is left in them sends it
/// the long way (kill, then remove).</summary>
public sealed class CgroupRemovalTests
{
    [RootFact]
    public void DeleteKillsWhatALeftoverProcessKeepsInTheCgroupAndRemovesIt()
    {
        // Without a pid namespace, a background child outlives the container's init in its cgroup.
        using var h = new LifecycleHarness("sh", "-c", "sleep 60 & echo $! > /dev/shm/child; exit 0");
        var path = "/berth-test-" + h.Id;
        try
        {
            var namespaces = h.Config["linux"]!["namespaces"]!.AsArray();
            foreach (var ns in namespaces.Where(n => n!["type"]!.GetValue<string>() == "pid").ToList()) namespaces.Remove(ns);
            h.Config["linux"]!["cgroupsPath"] = path;
            h.Save();
            Assert.Equal(0, h.Create().Code);
            var state = JsonNode.Parse(File.ReadAllText(Path.Combine(h.Root, h.Id, "state.json")))!;
            var recorded = state["cgroupDirectories"]!.AsArray().Select(d => d!.GetValue<string>()).ToList();
            Assert.Contains(recorded, d => d.EndsWith("/pids" + path, StringComparison.Ordinal));
            Assert.Equal(0, h.Verb("start", h.Id).Code);
            h.WaitForStatus("stopped");
            var procs = File.ReadAllText($"/sys/fs/cgroup/pids{path}/cgroup.procs").Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var child = Assert.Single(procs);
            var deleted = h.Verb("delete", h.Id);
            Assert.True(deleted.Code == 0, deleted.Stderr);
            Assert.All(recorded, d => Assert.False(Directory.Exists(d), d));
            var stat = $"/proc/{child}/stat";
            Assert.False(File.Exists(stat) && !File.ReadAllText(stat).Contains(") Z "), "the leftover process is still alive");
        }
        finally
        {
            foreach (var dir in Directory.EnumerateDirectories("/sys/fs/cgroup").Select(d => d + path).Where(Directory.Exists))
            {
                foreach (var pid in File.ReadAllLines(Path.Combine(dir, "cgroup.procs"))) try { System.Diagnostics.Process.GetProcessById(int.Parse(pid)).Kill(); } catch (Exception) { }
                try { Directory.Delete(dir); } catch (IOException) { }
            }
        }
    }
}
