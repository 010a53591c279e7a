using System.Text.Json.Nodes;
using Berth.Testing;

namespace Berth.Runtime.Tests;

/// <summary>Rootfs and process setup through the published berth-runtime (`run`), checked from inside a
/// busybox container (root, real kernel). Each test has its own --root, bundle and container ID.</summary>
public class RootfsEndToEndTests
{
    private static (int Code, string Stdout, string Stderr) Run(LifecycleHarness h)
    {
        h.Save();
        return h.Verb("run", "--bundle", h.Bundle, h.Id);
    }

    private static string Show((int Code, string Stdout, string Stderr) r) => $"exit {r.Code}\n--- stdout\n{r.Stdout}\n--- stderr\n{r.Stderr}";

    private static string Line(string output, string prefix)
        => output.Split('\n').FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal)) ?? $"<no line {prefix}>";

    private static JsonArray Strings(params string[] items) => new(items.Select(i => (JsonNode)i!).ToArray());

    [RootFact]
    public void Masked_proc_paths_and_read_only_proc_sys()
    {
        using var h = new LifecycleHarness("sh", "-c", string.Join('\n',
            "echo keys=$(cat /proc/keys 2>/dev/null | wc -c)",
            "echo timer_list=$(cat /proc/timer_list 2>/dev/null | wc -c)",
            "if [ -e /proc/kcore ]; then echo kcore=$(cat /proc/kcore 2>/dev/null | wc -c); else echo kcore=absent; fi",
            "echo acpi=$(ls -A /proc/acpi | wc -l)",
            "grep -c ' /proc/keys ' /proc/self/mountinfo | sed 's/^/keysmounts=/'",
            "(echo 1 > /proc/sys/kernel/ostype) 2>/dev/null && echo procsys=writable || echo procsys=readonly",
            "(echo 1 > /proc/sysrq-trigger) 2>/dev/null && echo sysrq=writable || echo sysrq=readonly"));
        var r = Run(h);
        Assert.True(r.Code == 0, Show(r));
        Assert.Contains("keys=0\n", r.Stdout);
        Assert.Contains("keysmounts=1\n", r.Stdout);
        Assert.Contains("timer_list=0\n", r.Stdout);
        Assert.Matches("kcore=(0|absent)\n", r.Stdout);
        Assert.Contains("acpi=0\n", r.Stdout);
        Assert.Contains("procsys=readonly\n", r.Stdout);
        Assert.Contains("sysrq=readonly\n", r.Stdout);
    }

    [RootFact]
    public void Dev_has_the_default_nodes_and_links_and_they_work()
    {
        using var h = new LifecycleHarness("sh", "-c", string.Join('\n',
            "for d in null zero full random urandom tty; do [ -c /dev/$d ] && echo node=$d; done",
            "echo links=$(readlink /dev/fd) $(readlink /dev/stdin) $(readlink /dev/ptmx)",
            "echo zero=$(head -c 3 /dev/zero | wc -c)",
            "echo x > /dev/null && echo null=writable",
            "cat /proc/keys && echo keys=readable"));
        var r = Run(h);
        Assert.True(r.Code == 0, Show(r));
        foreach (var node in new[] { "null", "zero", "full", "random", "urandom", "tty" }) Assert.Contains($"node={node}\n", r.Stdout);
        Assert.Contains("links=/proc/self/fd /proc/self/fd/0 pts/ptmx\n", r.Stdout);
        // These need the device cgroup to allow the default devices (the runtime appends runc's list).
        Assert.Contains("zero=3\n", r.Stdout);
        Assert.Contains("null=writable\n", r.Stdout);
        Assert.Contains("keys=readable\n", r.Stdout);
    }

    [RootFact]
    public void Capabilities_user_groups_umask_and_rlimits_are_as_configured()
    {
        using var h = new LifecycleHarness("sh", "-c", string.Join('\n',
            "grep -E '^(Cap(Eff|Prm|Bnd)|Sig(Ign|Blk))' /proc/self/status",
            "echo ids=$(id -u):$(id -g):$(id -G)",
            "echo nofile=$(ulimit -n):$(ulimit -Hn)",
            "echo umask=$(umask)"));
        var process = h.Config["process"]!.AsObject();
        process["user"] = new JsonObject { ["uid"] = 1000, ["gid"] = 1001, ["additionalGids"] = new JsonArray(10, 20), ["umask"] = 63 };
        process["capabilities"] = new JsonObject
        {
            ["bounding"] = Strings("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"),
            ["effective"] = Strings("CAP_KILL", "CAP_NET_BIND_SERVICE"),
            ["permitted"] = Strings("CAP_KILL", "CAP_NET_BIND_SERVICE"),
            ["inheritable"] = Strings("CAP_KILL", "CAP_NET_BIND_SERVICE"),
            ["ambient"] = Strings("CAP_KILL", "CAP_NET_BIND_SERVICE"),
        };
        process["rlimits"] = new JsonArray(new JsonObject { ["type"] = "RLIMIT_NOFILE", ["soft"] = 321, ["hard"] = 654 });
        var r = Run(h);
        Assert.True(r.Code == 0, Show(r));
        Assert.Equal("CapEff:\t0000000000000420", Line(r.Stdout, "CapEff:"));
        Assert.Equal("CapPrm:\t0000000000000420", Line(r.Stdout, "CapPrm:"));
        Assert.Equal("CapBnd:\t0000000000000421", Line(r.Stdout, "CapBnd:"));
        // The runtime's own dispositions (the .NET runtime ignores SIGPIPE) do not reach the process.
        Assert.Equal("SigIgn:\t0000000000000000", Line(r.Stdout, "SigIgn:"));
        Assert.Equal("SigBlk:\t0000000000000000", Line(r.Stdout, "SigBlk:"));
        Assert.Contains("ids=1000:1001:1001 10 20\n", r.Stdout);
        Assert.Contains("nofile=321:654\n", r.Stdout);
        Assert.Contains("umask=0077\n", r.Stdout);
    }

    [RootFact]
    public void Root_capabilities_as_configured()
    {
        using var h = new LifecycleHarness("grep", "^CapEff", "/proc/self/status");
        h.Config["process"]!["capabilities"] = new JsonObject
        {
            ["bounding"] = Strings("CAP_CHOWN", "CAP_SYS_ADMIN"),
            ["effective"] = Strings("CAP_CHOWN", "CAP_SYS_ADMIN"),
            ["permitted"] = Strings("CAP_CHOWN", "CAP_SYS_ADMIN"),
        };
        var r = Run(h);
        Assert.True(r.Code == 0, Show(r));
        Assert.Equal("CapEff:\t0000000000200001", r.Stdout.Trim());
    }

    [RootFact]
    public void Readonly_root_and_tmpfs_size()
    {
        using var h = new LifecycleHarness("sh", "-c", string.Join('\n',
            "touch /newfile 2>/dev/null && echo root=writable || echo root=readonly",
            "touch /scratch/f && echo scratch=writable",
            "grep ' /scratch ' /proc/self/mounts"));
        h.Config["root"]!["readonly"] = true;
        h.Config["mounts"]!.AsArray().Add(new JsonObject
        {
            ["destination"] = "/scratch", ["type"] = "tmpfs", ["source"] = "tmpfs", ["options"] = Strings("size=2m", "mode=1777", "nosuid"),
        });
        var r = Run(h);
        Assert.True(r.Code == 0, Show(r));
        Assert.Contains("root=readonly\n", r.Stdout);
        Assert.Contains("scratch=writable\n", r.Stdout);
        Assert.Contains("size=2048k", Line(r.Stdout, "tmpfs /scratch"));
        Assert.False(File.Exists(Path.Combine(h.Bundle, "rootfs", "newfile")));
    }

    [RootFact]
    public void Mount_destination_through_a_symlink_stays_inside_the_rootfs()
    {
        var hostDir = "/tmp/berth-e2e-escape-" + Guid.NewGuid().ToString("N");
        using var h = new LifecycleHarness("sh", "-c", "cat /escape/vol/marker && touch /escape/vol/made-inside && echo touched");
        var rootfs = Path.Combine(h.Bundle, "rootfs");
        var volume = Path.Combine(h.Scratch, "volume");
        Directory.CreateDirectory(volume);
        File.WriteAllText(Path.Combine(volume, "marker"), "volume-marker\n");
        File.CreateSymbolicLink(Path.Combine(rootfs, "escape"), hostDir);
        h.Config["root"]!["readonly"] = false; // the mount point is created in the rootfs
        h.Config["mounts"]!.AsArray().Add(new JsonObject
        {
            ["destination"] = "/escape/vol", ["type"] = "bind", ["source"] = volume, ["options"] = Strings("rbind", "rw"),
        });
        try
        {
            var r = Run(h);
            Assert.True(r.Code == 0, Show(r));
            Assert.Contains("volume-marker\n", r.Stdout);
            Assert.Contains("touched\n", r.Stdout);
            Assert.False(Directory.Exists(hostDir), "a mount point was created on the host");
            Assert.True(Directory.Exists(rootfs + hostDir + "/vol"));
            Assert.True(File.Exists(Path.Combine(volume, "made-inside")));
        }
        finally
        {
            if (Directory.Exists(hostDir)) Directory.Delete(hostDir, recursive: true);
        }
    }

    [RootFact]
    public void Mount_destination_climbing_out_with_dotdot_fails_naming_the_field()
    {
        var name = "berth-e2e-climb-" + Guid.NewGuid().ToString("N");
        using var h = new LifecycleHarness("echo", "should-not-run");
        h.Config["mounts"]!.AsArray().Add(new JsonObject
        {
            ["destination"] = $"/../../../tmp/{name}", ["type"] = "tmpfs", ["source"] = "tmpfs",
        });
        var r = Run(h);
        Assert.NotEqual(0, r.Code);
        Assert.DoesNotContain("should-not-run", r.Stdout);
        Assert.Contains("destination", r.Stderr);
        Assert.False(Directory.Exists("/tmp/" + name));
        Assert.NotEqual(0, h.Verb("state", h.Id).Code); // nothing left behind
    }
}
