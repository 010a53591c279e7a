using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Oci.Runtime;
using Berth.Runtime.Seccomp;
using Berth.Testing;

namespace Berth.Runtime.Tests;

/// <summary>
/// Seccomp end to end: busybox containers run by the published berth-runtime, whose init loads the filter
/// right before execve; the kernel's verdicts are seen from inside.
/// </summary>
public sealed class SeccompContainerTests
{
    private static void SetSeccomp(LifecycleHarness h, Berth.Oci.Runtime.Seccomp profile)
    {
        h.Config["linux"]!["seccomp"] = JsonSerializer.SerializeToNode(profile, RuntimeJsonContext.Default.Seccomp);
        h.Config["root"]!["readonly"] = false; // the tests write in /tmp of their own rootfs copy
        h.Save();
    }

    private static (int Code, string Stdout, string Stderr) Run(LifecycleHarness h) => h.Verb("run", "--bundle", h.Bundle, h.Id);

    private static SeccompSyscall Deny(string[] names, uint? errnoRet, params SeccompArg[] args)
        => new() { Names = [.. names], Action = "SCMP_ACT_ERRNO", ErrnoRet = errnoRet, Args = args.Length == 0 ? null : [.. args] };

    [RootFact]
    public void DeniedMkdir_FailsWithEperm_WhileOtherCallsWork()
    {
        using var h = new LifecycleHarness("sh", "-c", "mkdir /tmp/x; echo rc=$?; touch /tmp/y && echo touched; ls -d /tmp/x 2>&1; echo done");
        SetSeccomp(h, new() { DefaultAction = "SCMP_ACT_ALLOW", Syscalls = [Deny(["mkdir", "mkdirat"], 1)] });

        var r = Run(h);

        Assert.True(r.Code == 0, r.Stderr);
        Assert.Contains("rc=1", r.Stdout);
        Assert.Contains("Operation not permitted", r.Stderr);
        Assert.Contains("touched", r.Stdout);
        Assert.Contains("done", r.Stdout);
    }

    [RootFact]
    public void DeniedSyscall_ReturnsTheConfiguredErrno()
    {
        using var h = new LifecycleHarness("sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?");
        SetSeccomp(h, new() { DefaultAction = "SCMP_ACT_ALLOW", Syscalls = [Deny(["mkdir", "mkdirat"], 28)] });

        var r = Run(h);

        Assert.True(r.Code == 0, r.Stderr);
        Assert.Contains("No space left on device", r.Stdout); // ENOSPC, as configured
        Assert.Contains("rc=1", r.Stdout);
    }

    [RootFact]
    public void ArgumentCondition_DeniesOnlyTheMatchingMode()
    {
        using var h = new LifecycleHarness("sh", "-c",
            "touch /tmp/f; chmod 777 /tmp/f 2>&1; echo rc777=$?; chmod 750 /tmp/f; echo rc750=$?; stat -c %a /tmp/f");
        SetSeccomp(h, new()
        {
            DefaultAction = "SCMP_ACT_ALLOW",
            Syscalls =
            [
                Deny(["chmod"], 13, new SeccompArg { Index = 1, Op = "SCMP_CMP_EQ", Value = 0x1ff }),
                Deny(["fchmodat"], 13, new SeccompArg { Index = 2, Op = "SCMP_CMP_EQ", Value = 0x1ff }),
                Deny(["fchmodat2"], 13, new SeccompArg { Index = 2, Op = "SCMP_CMP_EQ", Value = 0x1ff }),
            ],
        });

        var r = Run(h);

        Assert.True(r.Code == 0, r.Stderr);
        Assert.Contains("Permission denied", r.Stdout); // EACCES
        Assert.Contains("rc777=1", r.Stdout);
        Assert.Contains("rc750=0", r.Stdout);
        Assert.Contains("750", r.Stdout);
    }

    [RootFact]
    public void KillProcess_EndsTheContainerWithSigsys()
    {
        using var h = new LifecycleHarness("sh", "-c", "echo before; sync; echo rc=$?; exec sync; echo after");
        SetSeccomp(h, new()
        {
            DefaultAction = "SCMP_ACT_ALLOW",
            Syscalls = [new SeccompSyscall { Names = ["sync"], Action = "SCMP_ACT_KILL_PROCESS" }],
        });

        var r = Run(h);

        Assert.Equal(128 + 31, r.Code); // SIGSYS: the container's process itself ran sync
        Assert.Contains("before", r.Stdout);
        Assert.Contains("rc=159", r.Stdout); // a child killed the same way
        Assert.DoesNotContain("after", r.Stdout);
    }

    [RootFact]
    public void DefaultProfile_RunsAShell_AllowsPerLinux32_RefusesUserNamespaces()
    {
        using var h = new LifecycleHarness("sh", "-c",
            "echo ok; mkdir /tmp/d && echo mkdir-ok; unshare -U true 2>&1; echo unshare=$?; linux32 true; echo linux32=$?");
        var caps = h.Config["process"]!["capabilities"]!["bounding"]!.AsArray().Select(c => c!.GetValue<string>()).ToArray();
        SetSeccomp(h, DefaultSeccompProfile.Create(caps));

        var r = Run(h);

        Assert.True(r.Code == 0, r.Stderr);
        Assert.Contains("ok\n", r.Stdout);
        Assert.Contains("mkdir-ok", r.Stdout);
        Assert.Contains("linux32=0", r.Stdout);          // personality(PER_LINUX32) is allowed
        Assert.Contains("unshare=1", r.Stdout);          // unshare(CLONE_NEWUSER) is not
        Assert.Contains("Operation not permitted", r.Stdout);
    }

    [RootFact]
    public void BadProfile_FailsWithOneLineNamingTheField_AndLeavesNothing()
    {
        using var h = new LifecycleHarness("true");
        SetSeccomp(h, new() { DefaultAction = "SCMP_ACT_ALLOW", Syscalls = [new SeccompSyscall { Names = ["mkdir"], Action = "SCMP_ACT_NOTIFY" }] });

        var r = Run(h);

        Assert.NotEqual(0, r.Code);
        Assert.Contains("linux.seccomp.syscalls[0].action", r.Stderr);
        Assert.False(Directory.Exists(Path.Combine(h.Root, h.Id)));
    }
}
