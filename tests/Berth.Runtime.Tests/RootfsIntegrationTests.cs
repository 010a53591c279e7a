using Berth.Oci.Runtime;
using Berth.Testing;

namespace Berth.Runtime.Tests;

/// <summary>Real mounts, devices, credentials and limits, checked from inside a busybox container made by
/// <see cref="RootfsProbeHarness"/> (root, real kernel).</summary>
public class RootfsIntegrationTests
{
    private static string Line(string output, string prefix)
        => output.Split('\n').FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal)) ?? $"<no line {prefix}>";

    [RootFact]
    public void Masked_proc_paths_read_empty_and_proc_sys_is_read_only()
    {
        using var probe = new RootfsProbeHarness(
            "cat /proc/keys && echo keys=readable",
            "echo keys=$(cat /proc/keys | wc -c)",
            "echo timer_list=$(cat /proc/timer_list | wc -c)",
            "echo acpi=$(ls -A /proc/acpi | wc -l)",
            "echo firmware=$(ls -A /sys/firmware | wc -l)",
            "if [ -e /proc/kcore ]; then echo kcore=$(cat /proc/kcore | wc -c); else echo kcore=absent; fi",
            "(echo 1 > /proc/sys/kernel/ostype) 2>/dev/null && echo procsys=writable || echo procsys=readonly",
            "(echo x > /proc/sysrq-trigger) 2>/dev/null && echo sysrq=writable || echo sysrq=readonly");
        var result = probe.Run();
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("keys=readable\n", result.Stdout);
        Assert.Contains("keys=0\n", result.Stdout);
        Assert.Contains("timer_list=0\n", result.Stdout);
        Assert.Contains("acpi=0\n", result.Stdout);
        Assert.Contains("firmware=0\n", result.Stdout);
        Assert.Matches("kcore=(0|absent)\n", result.Stdout);
        Assert.Contains("procsys=readonly\n", result.Stdout);
        Assert.Contains("sysrq=readonly\n", result.Stdout);
    }

    [RootFact]
    public void Dev_has_the_default_nodes_and_links()
    {
        using var probe = new RootfsProbeHarness(
            "for d in null zero full random urandom tty; do [ -c /dev/$d ] && echo node=$d; done",
            "for l in fd stdin stdout stderr ptmx; do echo link=$l:$(readlink /dev/$l); done",
            "echo zero=$(head -c 5 /dev/zero | wc -c)",
            "echo x > /dev/null && echo null=ok",
            "ls -ln /dev/null");
        var result = probe.Run();
        Assert.True(result.ExitCode == 0, result.ToString());
        foreach (var node in new[] { "null", "zero", "full", "random", "urandom", "tty" }) Assert.Contains($"node={node}\n", result.Stdout);
        Assert.Contains("link=fd:/proc/self/fd\n", result.Stdout);
        Assert.Contains("link=stdin:/proc/self/fd/0\n", result.Stdout);
        Assert.Contains("link=stdout:/proc/self/fd/1\n", result.Stdout);
        Assert.Contains("link=stderr:/proc/self/fd/2\n", result.Stdout);
        Assert.Contains("link=ptmx:pts/ptmx\n", result.Stdout);
        Assert.Contains("zero=5\n", result.Stdout);
        Assert.Contains("null=ok\n", result.Stdout);
        Assert.StartsWith("crw-rw-rw-", Line(result.Stdout, "crw"));
    }

    [RootFact]
    public void Mount_destination_through_a_symlink_stays_inside_the_rootfs()
    {
        var hostDir = "/tmp/berth-escape-" + Guid.NewGuid().ToString("N");
        using var probe = new RootfsProbeHarness("cat /escape/data/marker", "touch /escape/data/made-inside && echo touched");
        var source = Path.Combine(probe.BundleDir, "volume");
        Directory.CreateDirectory(source);
        File.WriteAllText(Path.Combine(source, "marker"), "from-the-volume\n");
        File.CreateSymbolicLink(probe.Rootfs + "/escape", hostDir); // an image's absolute symlink to a host path
        probe.Spec.Mounts!.Add(new Mount { Destination = "/escape/data", Type = "bind", Source = source, Options = ["rbind", "rw"] });
        try
        {
            var result = probe.Run();
            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Contains("from-the-volume", result.Stdout);
            Assert.False(Directory.Exists(hostDir), "the mount point was created on the host");
            Assert.True(Directory.Exists(probe.Rootfs + hostDir + "/data"), "the mount point is not under the rootfs");
            Assert.True(File.Exists(Path.Combine(source, "made-inside"))); // the bind really was there
        }
        finally
        {
            if (Directory.Exists(hostDir)) Directory.Delete(hostDir, recursive: true);
        }
    }

    [RootFact]
    public void Mount_destination_climbing_out_with_dotdot_fails_with_one_line_and_creates_nothing()
    {
        var name = "berth-climb-" + Guid.NewGuid().ToString("N");
        using var probe = new RootfsProbeHarness("echo should-not-run");
        probe.Spec.Mounts!.Add(new Mount { Destination = $"/../../../../tmp/{name}", Type = "tmpfs", Source = "tmpfs" });
        var result = probe.Run();
        Assert.Equal(1, result.ExitCode);
        Assert.DoesNotContain("should-not-run", result.Stdout);
        Assert.Contains("mounts[7].destination:", result.Stderr);
        Assert.False(Directory.Exists("/tmp/" + name));
        Assert.False(Directory.Exists(probe.Rootfs + "/tmp/" + name));
    }

    [RootFact]
    public void Capabilities_are_as_configured()
    {
        using var probe = new RootfsProbeHarness("grep Cap /proc/self/status");
        probe.Spec.Process!.Capabilities = new Capabilities
        {
            Bounding = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
            Effective = ["CAP_CHOWN", "CAP_KILL"],
            Permitted = ["CAP_CHOWN", "CAP_KILL"],
            Inheritable = ["CAP_KILL"],
            Ambient = ["CAP_KILL"],
        };
        var result = probe.Run();
        Assert.True(result.ExitCode == 0, result.ToString());
        // After execve: P' = (P_inh & F_inh) | (P_amb) ... for a plain binary run by uid 0 the kernel gives
        // root its bounding set as permitted; runc shows the same. Effective follows.
        Assert.Equal("CapBnd:\t0000000000002021", Line(result.Stdout, "CapBnd:"));
        Assert.Equal("CapInh:\t0000000000000020", Line(result.Stdout, "CapInh:"));
        Assert.Equal("CapAmb:\t0000000000000020", Line(result.Stdout, "CapAmb:"));
    }

    [RootFact]
    public void Non_root_user_gets_exactly_its_effective_capabilities_groups_umask_and_cwd()
    {
        using var probe = new RootfsProbeHarness("grep -E 'Cap(Eff|Prm)' /proc/self/status", "echo ids=$(id -u):$(id -g):$(id -G)", "echo umask=$(umask)", "echo cwd=$(pwd)");
        var process = probe.Spec.Process!;
        process.User = new User { Uid = 1000, Gid = 1001, AdditionalGids = [10, 20], Umask = 0x3F /* 077 */ };
        process.Cwd = "/tmp";
        process.Capabilities = new Capabilities
        {
            Bounding = ["CAP_CHOWN", "CAP_KILL"], Effective = ["CAP_KILL"], Permitted = ["CAP_KILL"], Inheritable = ["CAP_KILL"], Ambient = ["CAP_KILL"],
        };
        var result = probe.Run();
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("CapEff:\t0000000000000020", Line(result.Stdout, "CapEff:"));
        Assert.Equal("CapPrm:\t0000000000000020", Line(result.Stdout, "CapPrm:"));
        Assert.Contains("ids=1000:1001:1001 10 20\n", result.Stdout);
        Assert.Contains("umask=0077\n", result.Stdout);
        Assert.Contains("cwd=/tmp\n", result.Stdout);
    }

    [RootFact]
    public void Rlimits_oom_score_hostname_and_sysctl_apply()
    {
        using var probe = new RootfsProbeHarness("echo nofile=$(ulimit -n):$(ulimit -Hn)", "echo host=$(hostname)", "echo fwd=$(cat /proc/sys/net/ipv4/ip_forward)",
            "echo oom=$(cat /proc/self/oom_score_adj)");
        probe.Spec.Process!.Rlimits = [new Rlimit { Type = "RLIMIT_NOFILE", Soft = 555, Hard = 777 }];
        probe.Spec.Process.OomScoreAdj = 345;
        probe.Spec.Hostname = "rootfs-probe";
        probe.Spec.Linux!.Sysctl = new() { ["net.ipv4.ip_forward"] = "1" };
        var result = probe.Run();
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("nofile=555:777\n", result.Stdout);
        Assert.Contains("host=rootfs-probe\n", result.Stdout);
        Assert.Contains("fwd=1\n", result.Stdout);
        Assert.Contains("oom=345\n", result.Stdout);
    }

    [RootFact]
    public void Readonly_root_and_tmpfs_size()
    {
        using var probe = new RootfsProbeHarness(
            "touch /newfile 2>/dev/null && echo root=writable || echo root=readonly",
            "touch /data/f && echo data=writable",
            "grep ' /data ' /proc/self/mounts");
        probe.Spec.Root!.Readonly = true;
        probe.Spec.Mounts!.Add(new Mount { Destination = "/data", Type = "tmpfs", Source = "tmpfs", Options = ["size=1m", "mode=700", "nodev"] });
        var result = probe.Run();
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("root=readonly\n", result.Stdout);
        Assert.Contains("data=writable\n", result.Stdout);
        var mountLine = Line(result.Stdout, "tmpfs /data");
        Assert.Contains("size=1024k", mountLine);
        Assert.Contains("mode=700", mountLine);
        Assert.Contains("nodev", mountLine);
        Assert.False(File.Exists(probe.Rootfs + "/newfile"));
    }

    [RootFact]
    public void Read_only_bind_mount_is_read_only_inside_and_propagation_is_applied()
    {
        using var probe = new RootfsProbeHarness("cat /vol/f", "touch /vol/g 2>/dev/null && echo vol=writable || echo vol=readonly", "grep ' /vol ' /proc/self/mountinfo");
        var source = Path.Combine(probe.BundleDir, "vol");
        Directory.CreateDirectory(source);
        File.WriteAllText(source + "/f", "content\n");
        probe.Spec.Mounts!.Add(new Mount { Destination = "/vol", Type = "bind", Source = source, Options = ["rbind", "ro", "nosuid", "rprivate"] });
        var result = probe.Run();
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("content\n", result.Stdout);
        Assert.Contains("vol=readonly\n", result.Stdout);
        Assert.Contains(" ro,nosuid", Line(result.Stdout.Split('\n').First(l => l.Contains(" /vol ")), ""));
        Assert.False(File.Exists(source + "/g"));
    }

    [RootFact]
    public void Tmpcopyup_tmpfs_starts_with_the_image_contents()
    {
        using var probe = new RootfsProbeHarness("cat /etc/passwd | head -1", "ls -ld /etc | cut -c1-10", "readlink /etc/link", "grep ' /etc ' /proc/self/mounts", "touch /etc/new && echo etc=writable");
        File.CreateSymbolicLink(probe.Rootfs + "/etc/link", "passwd");
        probe.Spec.Root!.Readonly = true;
        probe.Spec.Mounts!.Add(new Mount { Destination = "/etc", Type = "tmpfs", Source = "tmpfs", Options = ["tmpcopyup", "size=1m"] });
        var result = probe.Run();
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("root:x:0:0:root:/root:/bin/sh\n", result.Stdout);
        Assert.Contains("drwxr-xr-x\n", result.Stdout);
        Assert.Contains("passwd\n", result.Stdout);
        Assert.Contains("tmpfs /etc tmpfs", result.Stdout);
        Assert.Contains("etc=writable\n", result.Stdout);
        Assert.False(File.Exists(probe.Rootfs + "/etc/new")); // written to the tmpfs, not the image
    }

    [RootFact]
    public void No_pivot_chroots_into_the_rootfs()
    {
        using var probe = new RootfsProbeHarness("ls /bin/busybox && echo root=ok", "cat /proc/self/mountinfo | wc -l");
        var result = probe.Run(noPivot: true);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("root=ok\n", result.Stdout);
    }

    [RootFact]
    public void In_a_user_namespace_devices_are_binds_of_the_hosts_nodes()
    {
        using var probe = new RootfsProbeHarness(
            "for d in null zero tty; do [ -c /dev/$d ] && echo node=$d; done",
            "echo x > /dev/null && echo null=ok",
            "grep ' /dev/null ' /proc/self/mountinfo | wc -l | sed 's/^/nullmounts=/'",
            "touch /x 2>/dev/null && echo root=writable || echo root=readonly",
            "cat /vol/f");
        probe.Spec.Linux!.Namespaces!.Add(new LinuxNamespace { Type = "user" });
        // Remounts of mounts that came from the host (the rootfs, a bind) must keep their locked flags here.
        probe.Spec.Root!.Readonly = true;
        Directory.CreateDirectory(probe.BundleDir + "/vol");
        File.WriteAllText(probe.BundleDir + "/vol/f", "volume-content\n");
        probe.Spec.Mounts!.Add(new Mount { Destination = "/vol", Type = "bind", Source = probe.BundleDir + "/vol", Options = ["rbind", "ro"] });
        // Only uid/gid 0 are mapped: devpts may not be given gid=5 (what `runc spec --rootless` also leaves out).
        probe.Spec.Mounts!.First(m => m.Type == "devpts").Options!.Remove("gid=5");
        var result = probe.Run(userNamespace: true);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("node=null\n", result.Stdout);
        Assert.Contains("node=tty\n", result.Stdout);
        Assert.Contains("null=ok\n", result.Stdout);
        Assert.Contains("nullmounts=1\n", result.Stdout);
        Assert.Contains("root=readonly\n", result.Stdout);
        Assert.Contains("volume-content\n", result.Stdout);
    }

    [RootFact]
    public void Unknown_capability_fails_before_exec_with_one_line()
    {
        using var probe = new RootfsProbeHarness("echo should-not-run");
        probe.Spec.Process!.Capabilities!.Effective = ["CAP_TELEPORT"];
        var result = probe.Run();
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("probe: process.capabilities: unknown capability \"CAP_TELEPORT\"", result.Stderr.Trim().Split('\n')[^1]);
        Assert.DoesNotContain("should-not-run", result.Stdout);
    }

    [RootFact]
    public void Executable_lookup_uses_the_containers_path()
    {
        using var probe = new RootfsProbeHarness();
        probe.Spec.Process!.Args = ["true"];
        Assert.True(probe.Run().ExitCode == 0);
        probe.Spec.Process!.Args = ["no-such-tool"];
        var missing = probe.Run();
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("process.args[0]: executable file \"no-such-tool\" not found in $PATH", missing.Stderr);
    }
}
