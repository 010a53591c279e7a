using Berth.Linux;
using Berth.Oci.Runtime;
using Berth.Runtime.Seccomp;
using Xunit.Abstractions;
using static Berth.Runtime.Tests.SeccompFilterTests;

namespace Berth.Runtime.Tests;

public sealed class SeccompDefaultProfileTests(ITestOutputHelper output)
{
    /// <summary>Docker's default capability set.</summary>
    internal static readonly string[] DockerCaps =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ];

    private const int Read = 0, Socket = 41, Clone = 56, Mount = 165, Personality = 135, Reboot = 169, Ptrace = 101,
        Unshare = 272, Chroot = 161, Clone3 = 435, ArchPrctl = 158, Setns = 308, Bpf = 321;
    private const ulong SigChld = 17, CloneNewUser = 0x10000000, CloneNewNs = 0x00020000, CloneNewNet = 0x40000000;
    private const ulong ThreadFlags = 0x003d0f00; // CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID

    private static SockFilter[] Program(params string[] caps) => SeccompFilter.Compile(DefaultSeccompProfile.Create(caps, "SCMP_ARCH_X86_64"), "SCMP_ARCH_X86_64");

    [Fact]
    public void OrdinaryCalls_AreAllowed_OthersGetEperm()
    {
        var program = Program(DockerCaps);
        Assert.Equal(Allow, Verdict(program, Read));
        Assert.Equal(Allow, Verdict(program, Ptrace));       // kernel >= 4.8
        Assert.Equal(Allow, Verdict(program, ArchPrctl));    // amd64 only
        Assert.Equal(Allow, Verdict(program, Chroot));       // CAP_SYS_CHROOT is in Docker's set
        Assert.Equal(Errno(1), Verdict(program, Reboot));
        Assert.Equal(Errno(1), Verdict(program, Mount));
        Assert.Equal(Errno(1), Verdict(program, Unshare));
        Assert.Equal(Errno(1), Verdict(program, Setns));
        Assert.Equal(Errno(1), Verdict(program, Bpf));
        Assert.Equal(Errno(38), Verdict(program, 1000));     // newer than any call the profile names
        Assert.Equal(Errno(1), Verdict(program, 335));       // uretprobe: not in the profile
        Assert.Equal(Errno(1), Verdict(program, 400));       // x86_64's unused 336..423 is not merged into a neighbour
    }

    [Fact]
    public void Clone_CreatingNamespaces_IsDenied_WithoutSysAdmin()
    {
        var program = Program(DockerCaps);
        Assert.Equal(Allow, Verdict(program, Clone, SigChld));           // fork
        Assert.Equal(Allow, Verdict(program, Clone, ThreadFlags));       // pthread_create
        Assert.Equal(Errno(1), Verdict(program, Clone, SigChld | CloneNewUser));
        Assert.Equal(Errno(1), Verdict(program, Clone, CloneNewNs));
        Assert.Equal(Errno(1), Verdict(program, Clone, CloneNewNet | ThreadFlags));
        Assert.Equal(Allow, Verdict(program, Clone, 0xffffffff_00000000 | SigChld)); // high half is not a flag
        Assert.Equal(Errno(38), Verdict(program, Clone3));               // so glibc falls back to clone
    }

    [Fact]
    public void SysAdmin_AllowsNamespacesAndMounts()
    {
        var program = Program([.. DockerCaps, "CAP_SYS_ADMIN"]);
        Assert.Equal(Allow, Verdict(program, Clone, SigChld | CloneNewUser));
        Assert.Equal(Allow, Verdict(program, Clone3));
        Assert.Equal(Allow, Verdict(program, Mount));
        Assert.Equal(Allow, Verdict(program, Unshare));
        Assert.Equal(Allow, Verdict(program, Bpf));
    }

    [Fact]
    public void Personality_OnlyTheHarmlessValues()
    {
        var program = Program(DockerCaps);
        foreach (var ok in (ulong[])[0, 8, 0x20000, 0x20008, 0xffffffff])
            Assert.Equal(Allow, Verdict(program, Personality, ok));
        foreach (var bad in (ulong[])[1, 0x0040000 /* ADDR_NO_RANDOMIZE */, 0x1_00000000, 0xffffffff_ffffffff])
            Assert.Equal(Errno(1), Verdict(program, Personality, bad));
    }

    [Fact]
    public void Socket_RefusesVsockOnly()
    {
        var program = Program(DockerCaps);
        Assert.Equal(Allow, Verdict(program, Socket, 2, 1, 0));     // AF_INET
        Assert.Equal(Allow, Verdict(program, Socket, 1, 1, 0));     // AF_UNIX
        Assert.Equal(Errno(1), Verdict(program, Socket, 40, 1, 0)); // AF_VSOCK
    }

    [Fact]
    public void Capabilities_UnlockTheirCalls_WithOrWithoutPrefix()
    {
        Assert.Equal(Errno(1), Verdict(Program(DockerCaps), Reboot));
        Assert.Equal(Allow, Verdict(Program([.. DockerCaps, "CAP_SYS_BOOT"]), Reboot));
        Assert.Equal(Allow, Verdict(Program("sys_boot"), Reboot));
        Assert.Equal(Errno(1), Verdict(Program(), Chroot));
    }

    [Fact]
    public void CompatArchitectures_AreFilteredToo()
    {
        var program = Program(DockerCaps);
        // i386: clone is 120, getpid 20, reboot 88; x32: bit 30 set.
        Assert.Equal(Allow, SeccompBpfInterpreter.Run(program, new SeccompData(20, SeccompData.AuditArchI386)));
        Assert.Equal(Errno(1), SeccompBpfInterpreter.Run(program, new SeccompData(88, SeccompData.AuditArchI386)));
        Assert.Equal(Errno(1), SeccompBpfInterpreter.Run(program, new SeccompData(120, SeccompData.AuditArchI386, 0, CloneNewUser)));
        Assert.Equal(Allow, Verdict(program, 0x40000000 | 39)); // x32 getpid
        Assert.Equal(Errno(1), Verdict(program, 0x40000000 | Reboot));
        Assert.Equal(KillThread, SeccompBpfInterpreter.Run(program, new SeccompData(20, SeccompData.AuditArchAarch64)));
    }

    [Fact]
    public void Aarch64Profile_HasArmTooAndUsesItsTable()
    {
        var spec = DefaultSeccompProfile.Create(DockerCaps, "SCMP_ARCH_AARCH64");
        Assert.Equal(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"], spec.Architectures);
        var program = SeccompFilter.Compile(spec, "SCMP_ARCH_AARCH64");
        Assert.Equal(Allow, SeccompBpfInterpreter.Run(program, new SeccompData(34, SeccompData.AuditArchAarch64)));   // mkdirat
        Assert.Equal(Errno(1), SeccompBpfInterpreter.Run(program, new SeccompData(142, SeccompData.AuditArchAarch64))); // reboot
        Assert.Equal(Errno(1), SeccompBpfInterpreter.Run(program, new SeccompData(220, SeccompData.AuditArchAarch64, 0, CloneNewUser)));
        Assert.Equal(Allow, SeccompBpfInterpreter.Run(program, new SeccompData(220, SeccompData.AuditArchAarch64, 0, SigChld)));
    }

    [Fact]
    public void CompiledProfile_IsShort_AndQuickToRun()
    {
        var spec = DefaultSeccompProfile.Create(DockerCaps, "SCMP_ARCH_X86_64");
        var program = SeccompFilter.Compile(spec, "SCMP_ARCH_X86_64");
        var allowed = spec.Syscalls!.Where(s => s.Action == "SCMP_ACT_ALLOW" && s.Args is null).SelectMany(s => s.Names)
            .Select(SeccompArchitecture.X86_64.Resolve).Where(nr => nr >= 0).Distinct().ToList();
        var executed = new List<int>();
        foreach (var nr in allowed)
        {
            Assert.Equal(Allow, SeccompBpfInterpreter.Run(program, new SeccompData(nr, SeccompData.AuditArchX86_64), out var n));
            executed.Add(n);
        }
        output.WriteLine($"default profile, x86_64+x86+x32: {program.Length} instructions; {allowed.Count} allowed x86_64 calls " +
                         $"run {executed.Average():F1} instructions on average, {executed.Max()} at most");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var cpu = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
        for (var i = 0; i < 50; i++) SeccompFilter.Compile(DefaultSeccompProfile.Create(DockerCaps, "SCMP_ARCH_X86_64"), "SCMP_ARCH_X86_64");
        cpu = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpu;
        output.WriteLine($"create + compile (JIT, warm): {clock.Elapsed.TotalMilliseconds / 50:F3} ms wall, {cpu.TotalMilliseconds / 50:F3} ms CPU");
        double Cpu(Action a)
        {
            var start = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
            for (var i = 0; i < 50; i++) a();
            return (System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - start).TotalMilliseconds / 50;
        }
        var names = spec.Syscalls!.SelectMany(s => s.Names).ToArray();
        output.WriteLine($"create {Cpu(() => DefaultSeccompProfile.Create(DockerCaps, "SCMP_ARCH_X86_64")):F3} ms; compile {Cpu(() => SeccompFilter.Compile(spec, "SCMP_ARCH_X86_64")):F3} ms; " +
                         $"resolve {names.Length}x3 names {Cpu(() => { foreach (var n in names) { SeccompArchitecture.X86_64.Resolve(n); SeccompArchitecture.X86.Resolve(n); SeccompArchitecture.X32.Resolve(n); } }):F3} ms");
        output.WriteLine(string.Join(", ", program.GroupBy(i => i.Code).Select(g => $"0x{g.Key:x2}: {g.Count()}")));
        Assert.True(allowed.Count > 280);
        Assert.True(program.Length < 600, $"{program.Length} instructions");
        Assert.True(executed.Max() < 20, $"{executed.Max()} instructions at most");
    }
}
