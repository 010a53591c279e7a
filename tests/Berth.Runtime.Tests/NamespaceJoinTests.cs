using System.Diagnostics;
using System.Text.Json.Nodes;
using Berth.Linux;
using Berth.Testing;

namespace Berth.Runtime.Tests;

/// <summary>Containers that join namespaces by path (linux.namespaces[].path), as berthd's do for their network
/// namespace, and the init's own move into its cgroup on every launch path.</summary>
public class NamespaceJoinTests
{
    [RootFact]
    public void AContainerJoiningANetworkNamespaceByPathRunsInItAndInItsCgroup()
    {
        using var h = new LifecycleHarness("sleep", "30");
        using var dir = new TempDir();
        var netns = dir.Combine("netns");
        NetworkNamespace.Create(LinuxSyscalls.Instance, netns);
        try
        {
            var cgroupPath = "/berth-test-" + h.Id;
            SetNamespacePath(h, "network", netns);
            h.Config["linux"]!["cgroupsPath"] = cgroupPath;
            h.Config["linux"]!["resources"] = new JsonObject { ["pids"] = new JsonObject { ["limit"] = 61 } };
            h.Save();

            var created = h.Create();
            Assert.True(created.Code == 0, created.Stderr);
            var pid = h.Pid();
            Assert.Equal($"net:[{Inode(netns)}]", Link($"/proc/{pid}/ns/net"));
            // Still a clone of `create` (no second runtime start-up), waiting for `start`.
            Assert.Contains("create", File.ReadAllText($"/proc/{pid}/cmdline"));
            AssertInCgroup(pid, cgroupPath, "61");
            Assert.NotEqual(Link("/proc/self/ns/mnt"), Link($"/proc/{pid}/ns/mnt"));

            Assert.Equal(0, h.Verb("start", h.Id).Code);
            Assert.Equal("running", h.Status());
            Assert.Contains("sleep", File.ReadAllText($"/proc/{pid}/cmdline"));
            Assert.Equal($"net:[{Inode(netns)}]", Link($"/proc/{pid}/ns/net"));
            Assert.Equal(0, h.Verb("delete", "--force", h.Id).Code);
            Assert.False(Directory.Exists($"/sys/fs/cgroup/pids{cgroupPath}"));
        }
        finally
        {
            h.Verb("delete", "--force", h.Id);
            NetworkNamespace.Delete(LinuxSyscalls.Instance, netns);
        }
    }

    /// <summary>A joined mount namespace is where the rootfs is set up; the cloned init needs no runtime binary there
    /// (an exec'd init would, and a joined namespace another container pivoted has none).</summary>
    [RootFact]
    public void AContainerJoiningAMountNamespaceByPathSetsUpItsRootfsThere()
    {
        using var h = new LifecycleHarness("sleep", "30");
        using var dir = new TempDir();
        var nsFile = dir.Combine("pin", "mnt");
        Directory.CreateDirectory(Path.GetDirectoryName(nsFile)!);
        // unshare --mount=FILE pins the new namespace with a bind mount, which needs a private mount to land on.
        Sh($"mount --bind {Path.GetDirectoryName(nsFile)} {Path.GetDirectoryName(nsFile)} && mount --make-private {Path.GetDirectoryName(nsFile)} && touch {nsFile} && unshare --mount={nsFile} --propagation private true");
        try
        {
            SetNamespacePath(h, "mount", nsFile);
            h.Save();
            var created = h.Create();
            Assert.True(created.Code == 0, created.Stderr);
            var pid = h.Pid();
            Assert.Equal($"mnt:[{Inode(nsFile)}]", Link($"/proc/{pid}/ns/mnt"));
            Assert.Contains("create", File.ReadAllText($"/proc/{pid}/cmdline"));
            Assert.Equal(0, h.Verb("start", h.Id).Code);
            Assert.Equal("running", h.Status());
            Assert.Equal("/bin/busybox", Link($"/proc/{pid}/exe")); // the rootfs, seen from the joined namespace
        }
        finally
        {
            h.Verb("delete", "--force", h.Id);
            Sh($"umount -l {nsFile}; umount -l {Path.GetDirectoryName(nsFile)}");
        }
    }

    private static void Sh(string script)
    {
        using var sh = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", script]))!;
        sh.WaitForExit();
    }

    [RootFact]
    public void AJoinOfAMissingPathFailsAndLeavesNoCgroupAndNoStateBehind() => AssertFailingJoinLeavesNothing("missing");

    [RootFact]
    public void AJoinOfAFileThatIsNoNamespaceFailsAndLeavesNoCgroupAndNoStateBehind() => AssertFailingJoinLeavesNothing("not-a-namespace");

    private static void AssertFailingJoinLeavesNothing(string kind)
    {
        using var h = new LifecycleHarness("sleep", "30");
        var path = Path.Combine(h.Scratch, kind);
        if (kind == "not-a-namespace") File.WriteAllText(path, "x");
        var cgroupPath = "/berth-test-" + h.Id;
        SetNamespacePath(h, "network", path);
        h.Config["linux"]!["cgroupsPath"] = cgroupPath;
        h.Save();

        var created = h.Create();
        Assert.NotEqual(0, created.Code);
        Assert.Contains("network", created.Stderr);
        Assert.Contains(path, created.Stderr);
        Assert.Single(created.Stderr.Trim().Split('\n'));
        Assert.False(Directory.Exists(Path.Combine(h.Root, h.Id)), "the container's state directory must be gone");
        foreach (var hierarchy in new[] { "pids", "memory", "cpu", "devices", "freezer" })
            Assert.False(Directory.Exists($"/sys/fs/cgroup/{hierarchy}{cgroupPath}"), $"cgroup {hierarchy}{cgroupPath} must be gone");
        Assert.False(Directory.Exists($"/sys/fs/cgroup{cgroupPath}"));
        Assert.Contains("does not exist", h.Verb("state", h.Id).Stderr);
    }

    [RootFact]
    public void AContainerJoiningAnotherContainersPidNamespaceIsInItAndInItsOwnCgroup()
    {
        using var first = new LifecycleHarness("sleep", "30");
        Assert.Equal(0, first.Create().Code);
        var firstPid = first.Pid();

        using var second = new LifecycleHarness("sleep", "30");
        var cgroupPath = "/berth-test-" + second.Id;
        SetNamespacePath(second, "pid", $"/proc/{firstPid}/ns/pid");
        second.Config["linux"]!["cgroupsPath"] = cgroupPath;
        second.Config["linux"]!["resources"] = new JsonObject { ["pids"] = new JsonObject { ["limit"] = 62 } };
        second.Save();
        var created = second.Create();
        Assert.True(created.Code == 0, created.Stderr);
        var pid = second.Pid();
        Assert.Equal(Link($"/proc/{firstPid}/ns/pid"), Link($"/proc/{pid}/ns/pid"));
        // A pid namespace is entered by a second fork, and the runtime is exec'd there as the init.
        Assert.Contains("init", File.ReadAllText($"/proc/{pid}/cmdline"));
        AssertInCgroup(pid, cgroupPath, "62");
        Assert.Equal(0, second.Verb("start", second.Id).Code);
        Assert.Equal("running", second.Status());
    }

    [RootFact]
    public void AnExecutedInitInAUserNamespaceIsInItsLimitedCgroup()
    {
        using var h = new LifecycleHarness("sleep", "30");
        var cgroupPath = "/berth-test-" + h.Id;
        h.Config["linux"]!["namespaces"]!.AsArray().Add(new JsonObject { ["type"] = "user" });
        h.Config["linux"]!["uidMappings"] = new JsonArray(new JsonObject { ["containerID"] = 0, ["hostID"] = 200000, ["size"] = 65536 });
        h.Config["linux"]!["gidMappings"] = new JsonArray(new JsonObject { ["containerID"] = 0, ["hostID"] = 200000, ["size"] = 65536 });
        var mounts = h.Config["mounts"]!.AsArray();
        foreach (var m in mounts.Where(m => m!["type"]!.GetValue<string>() is "cgroup").ToList()) mounts.Remove(m);
        h.Config["linux"]!["cgroupsPath"] = cgroupPath;
        h.Config["linux"]!["resources"] = new JsonObject { ["pids"] = new JsonObject { ["limit"] = 63 } };
        h.Save();
        var created = h.Create();
        Assert.True(created.Code == 0, created.Stderr);
        var pid = h.Pid();
        Assert.Contains("init", File.ReadAllText($"/proc/{pid}/cmdline"));
        AssertInCgroup(pid, cgroupPath, "63");
        Assert.Equal(0, h.Verb("start", h.Id).Code);
        Assert.Equal("running", h.Status());
    }

    private static void SetNamespacePath(LifecycleHarness h, string type, string path)
    {
        var namespaces = h.Config["linux"]!["namespaces"]!.AsArray();
        foreach (var ns in namespaces.Where(n => n!["type"]!.GetValue<string>() == type).ToList()) namespaces.Remove(ns);
        namespaces.Add(new JsonObject { ["type"] = type, ["path"] = path });
    }

    /// <summary>The process is in <paramref name="cgroupPath"/> in every v1 controller hierarchy, and its pids limit holds.</summary>
    private static void AssertInCgroup(int pid, string cgroupPath, string pidsMax)
    {
        var lines = File.ReadAllLines($"/proc/{pid}/cgroup");
        var controllers = lines.Where(l => l.Split(':') is [_, { Length: > 0 } c, _] && !c.StartsWith("name=", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(controllers);
        Assert.All(controllers, l => Assert.EndsWith(":" + cgroupPath, l));
        var pidsFile = lines.Any(l => l.Split(':')[1].Split(',').Contains("pids")) ? $"/sys/fs/cgroup/pids{cgroupPath}/pids.max" : $"/sys/fs/cgroup{cgroupPath}/pids.max";
        Assert.Equal(pidsMax, File.ReadAllText(pidsFile).Trim());
    }

    private static string? Link(string path) => new FileInfo(path).LinkTarget;

    private static string Inode(string path)
    {
        using var stat = Process.Start(new ProcessStartInfo("stat", ["-L", "-c", "%i", path]) { RedirectStandardOutput = true })!;
        var text = stat.StandardOutput.ReadToEnd().Trim();
        stat.WaitForExit();
        return text;
    }
}
