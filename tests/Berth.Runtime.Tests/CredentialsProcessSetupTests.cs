using Berth.Linux;
using Berth.Oci.Runtime;
using Berth.Runtime.Credentials;
using Berth.Testing;

namespace Berth.Runtime.Tests;

public class CredentialsProcessSetupTests : IDisposable
{
    private readonly TempDir temp = new();
    private readonly RootfsRecordingSyscalls sys;
    private readonly List<string> warnings = [];

    public CredentialsProcessSetupTests()
    {
        sys = new RootfsRecordingSyscalls(temp.Path);
        sys.Files["/proc/sys/kernel/cap_last_cap"] = "40\n";
    }

    public void Dispose() => temp.Dispose();

    private static Spec NewSpec(Action<Process> configure)
    {
        var process = new Process { Args = ["sh"], Cwd = "/work" };
        configure(process);
        return new Spec { Process = process };
    }

    private void Finalize(Spec spec, Action? seccomp = null)
        => ProcessSetup.Finalize(spec, sys, seccomp ?? (() => sys.Calls.Add("seccomp")), warnings.Add);

    [Fact]
    public void Runc_order_for_a_non_root_user_with_capabilities()
    {
        var spec = NewSpec(p =>
        {
            p.User = new User { Uid = 1000, Gid = 1001, AdditionalGids = [10, 20], Umask = 0x3F /* 077 */ };
            p.Rlimits = [new Rlimit { Type = "RLIMIT_NOFILE", Soft = 1024, Hard = 2048 }];
            p.OomScoreAdj = 100;
            p.Capabilities = new Capabilities
            {
                Bounding = [.. CapabilityNames.All.Where(n => n != "CAP_SYS_ADMIN")],
                Effective = ["CAP_CHOWN", "CAP_KILL"],
                Permitted = ["CAP_CHOWN", "CAP_KILL"],
                Inheritable = ["CAP_KILL"],
                Ambient = ["CAP_KILL"],
            };
        });
        Finalize(spec);
        Assert.Equal(
        [
            "prlimit 7 1024 2048",
            "write /proc/self/oom_score_adj 100",
            "seccomp",
            $"prctl {PrctlOptions.CapBsetDrop} 21 0",
            $"prctl {PrctlOptions.SetKeepCaps} 1 0",
            "chdir /work",
            "setgroups [10,20]",
            "setresgid 1001 1001 1001",
            "setresuid 1000 1000 1000",
            $"prctl {PrctlOptions.SetKeepCaps} 0 0",
            "capset eff=0x21 prm=0x21 inh=0x20",
            $"prctl {PrctlOptions.CapAmbient} {PrctlOptions.CapAmbientClearAll} 0",
            $"prctl {PrctlOptions.CapAmbient} {PrctlOptions.CapAmbientRaise} 5",
            "umask 077",
        ], sys.Calls);
    }

    [Fact]
    public void A_bounding_set_dropped_ahead_is_not_dropped_again()
    {
        var spec = NewSpec(p => p.Capabilities = new Capabilities
        {
            Bounding = [.. CapabilityNames.All.Where(n => n is not ("CAP_SYS_ADMIN" or "CAP_NET_RAW"))], Permitted = ["CAP_KILL"], Effective = ["CAP_KILL"],
        });
        ProcessSetup.DropBoundingSet(spec, sys);
        Assert.Equal([$"prctl {PrctlOptions.CapBsetDrop} 13 0", $"prctl {PrctlOptions.CapBsetDrop} 21 0"], sys.Calls);
        sys.Calls.Clear();
        ProcessSetup.Finalize(spec, sys, null, warnings.Add, boundingSetDropped: true);
        Assert.DoesNotContain(sys.Calls, c => c.StartsWith($"prctl {PrctlOptions.CapBsetDrop} ", StringComparison.Ordinal));
        Assert.Contains("capset eff=0x20 prm=0x20 inh=0x0", sys.Calls);
    }

    [Fact]
    public void Ambient_capabilities_not_permitted_and_inheritable_are_skipped_as_runc_does()
    {
        Finalize(NewSpec(p => p.Capabilities = new Capabilities
        {
            Bounding = ["CAP_KILL", "CAP_CHOWN"], Permitted = ["CAP_KILL", "CAP_CHOWN"], Inheritable = ["CAP_CHOWN"], Ambient = ["CAP_KILL", "CAP_CHOWN"],
        }));
        Assert.DoesNotContain($"prctl {PrctlOptions.CapAmbient} {PrctlOptions.CapAmbientRaise} 5", sys.Calls);
        Assert.Contains($"prctl {PrctlOptions.CapAmbient} {PrctlOptions.CapAmbientRaise} 0", sys.Calls);
        Assert.Empty(warnings);
    }

    [Fact]
    public void No_new_privileges_is_set_early_and_seccomp_loads_last()
    {
        Finalize(NewSpec(p => p.NoNewPrivileges = true));
        Assert.Equal($"prctl {PrctlOptions.SetNoNewPrivs} 1 0", sys.Calls[0]);
        Assert.Equal("seccomp", sys.Calls[^1]);
        Assert.Single(sys.Calls, "seccomp");
    }

    [Fact]
    public void Default_umask_is_0022_and_no_groups_clears_the_host_groups()
    {
        Finalize(NewSpec(_ => { }));
        Assert.Contains("umask 022", sys.Calls);
        Assert.Contains("setgroups []", sys.Calls);
        Assert.DoesNotContain(sys.Calls, c => c.StartsWith("capset", StringComparison.Ordinal)); // no capabilities section: untouched
    }

    [Fact]
    public void Bounding_set_drops_every_capability_not_listed_up_to_the_kernels_last()
    {
        sys.Files["/proc/sys/kernel/cap_last_cap"] = "37\n";
        Finalize(NewSpec(p => p.Capabilities = new Capabilities { Bounding = ["CAP_CHOWN", "CAP_CHECKPOINT_RESTORE"], Effective = ["CAP_BPF"] }));
        var drops = sys.Calls.Where(c => c.StartsWith($"prctl {PrctlOptions.CapBsetDrop} ", StringComparison.Ordinal)).ToList();
        Assert.Equal(37, drops.Count); // 1..37
        Assert.DoesNotContain($"prctl {PrctlOptions.CapBsetDrop} 0 0", drops);
        Assert.Contains("capset eff=0x0 prm=0x0 inh=0x0", sys.Calls); // CAP_BPF (39) is beyond this kernel
        Assert.Single(warnings, w => w.Contains("CAP_BPF") && w.Contains("CAP_CHECKPOINT_RESTORE"));
    }

    [Fact]
    public void Unknown_capability_names_fail_with_one_line_before_any_call()
    {
        var e = Assert.Throws<CredentialsException>(() => Finalize(NewSpec(p => p.Capabilities = new Capabilities { Effective = ["CAP_CHOWN", "CAP_FLY"], Ambient = ["CAP_SWIM"] })));
        Assert.Equal("process.capabilities: unknown capability \"CAP_FLY\", \"CAP_SWIM\"", e.Message);
        Assert.Empty(sys.Calls);
    }

    [Fact]
    public void Unknown_rlimit_fails_with_one_line_before_any_call()
    {
        var e = Assert.Throws<CredentialsException>(() => Finalize(NewSpec(p => p.Rlimits = [new Rlimit { Type = "RLIMIT_FUN", Soft = 1, Hard = 1 }])));
        Assert.Equal("process.rlimits: unknown type \"RLIMIT_FUN\"", e.Message);
        Assert.Empty(sys.Calls);
    }

    [Fact]
    public void Soft_limit_above_hard_is_refused()
        => Assert.StartsWith("process.rlimits:", Assert.Throws<CredentialsException>(
            () => Finalize(NewSpec(p => p.Rlimits = [new Rlimit { Type = "RLIMIT_NPROC", Soft = 10, Hard = 5 }]))).Message);

    [Fact]
    public void Setgroups_denied_skips_groups_unless_asked_for()
    {
        sys.Files["/proc/self/setgroups"] = "deny\n";
        Finalize(NewSpec(_ => { }));
        Assert.DoesNotContain(sys.Calls, c => c.StartsWith("setgroups", StringComparison.Ordinal));
        sys.Calls.Clear();
        var e = Assert.Throws<CredentialsException>(() => Finalize(NewSpec(p => p.User = new User { AdditionalGids = [5] })));
        Assert.StartsWith("process.user.additionalGids:", e.Message);
    }

    [Fact]
    public void Lsm_labels_without_the_lsm_are_warnings()
    {
        Finalize(NewSpec(p => { p.ApparmorProfile = "docker-default"; p.SelinuxLabel = "system_u:system_r:container_t:s0"; }));
        Assert.Contains(warnings, w => w.StartsWith("process.apparmorProfile:", StringComparison.Ordinal) && w.Contains("not supported"));
        Assert.Contains(warnings, w => w.StartsWith("process.selinuxLabel:", StringComparison.Ordinal));
    }

    [Fact]
    public void Apparmor_profile_is_written_when_enabled()
    {
        sys.Files["/sys/module/apparmor/parameters/enabled"] = "Y\n";
        Finalize(NewSpec(p => p.ApparmorProfile = "docker-default"));
        Assert.Contains("write /proc/self/attr/exec exec docker-default", sys.Calls);
        Assert.Empty(warnings);
    }

    [Fact]
    public void Relative_cwd_is_refused()
        => Assert.StartsWith("process.cwd:", Assert.Throws<CredentialsException>(() => Finalize(NewSpec(p => p.Cwd = "work"))).Message);

    [Fact]
    public void Capability_table_has_41_names_numbered_like_the_kernel()
    {
        Assert.Equal(41, CapabilityNames.All.Count);
        Assert.True(CapabilityNames.TryGetNumber("CAP_SYS_ADMIN", out var admin) && admin == 21);
        Assert.True(CapabilityNames.TryGetNumber("CAP_NET_RAW", out var raw) && raw == 13);
        Assert.True(CapabilityNames.TryGetNumber("CAP_CHECKPOINT_RESTORE", out var last) && last == 40);
        Assert.Equal("CAP_AUDIT_WRITE", CapabilityNames.NameOf(29));
    }

    [Fact]
    public void Rlimit_table_matches_the_kernel_numbers()
    {
        Assert.True(ResourceLimitNames.TryGetNumber("RLIMIT_NOFILE", out var nofile) && nofile == 7);
        Assert.True(ResourceLimitNames.TryGetNumber("RLIMIT_NPROC", out var nproc) && nproc == 6);
        Assert.True(ResourceLimitNames.TryGetNumber("RLIMIT_RTTIME", out var rttime) && rttime == 15);
        Assert.False(ResourceLimitNames.TryGetNumber("RLIMIT_nofile", out _));
    }

    [Fact]
    public void Executable_is_found_in_the_process_path()
    {
        var bin = temp.Combine("bin");
        Directory.CreateDirectory(bin);
        File.WriteAllText(bin + "/tool", "#!/bin/sh\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(bin + "/tool", UnixFileMode.UserRead | UnixFileMode.UserExecute);
        File.WriteAllText(bin + "/data", "");
        var process = new Process { Args = ["tool"], Env = [$"PATH=/nonexistent:{bin}"] };
        Assert.Equal(bin + "/tool", ProcessSetup.ResolveExecutable(process));
        Assert.Equal("./x", ProcessSetup.ResolveExecutable(new Process { Args = ["./x"] }));
        var e = Assert.Throws<CredentialsException>(() => ProcessSetup.ResolveExecutable(new Process { Args = ["data"], Env = [$"PATH={bin}"] }));
        Assert.StartsWith("process.args[0]:", e.Message);
    }
}
