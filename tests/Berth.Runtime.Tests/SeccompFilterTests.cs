using Berth.Linux;
using Berth.Oci.Runtime;
using Berth.Runtime.Seccomp;
using Xunit.Abstractions;
using SeccompSpec = Berth.Oci.Runtime.Seccomp;

namespace Berth.Runtime.Tests;

public sealed class SeccompFilterTests(ITestOutputHelper output)
{
    // x86_64 numbers (asm/unistd_64.h).
    private const int Read = 0, Write = 1, Getpid = 39, Socket = 41, Clone = 56, Getcwd = 79, Mkdir = 83, Chmod = 90,
        Personality = 135, Reboot = 169, Unshare = 272, Clone3 = 435;

    internal const uint Allow = 0x7fff0000, KillThread = 0, KillProcess = 0x80000000, Trap = 0x00030000, Log = 0x7ffc0000;
    internal static uint Errno(int e) => 0x00050000u | (uint)e;
    internal static uint Trace(int data) => 0x7ff00000u | (uint)data;

    internal static SeccompSpec Spec(string defaultAction, params SeccompSyscall[] syscalls)
        => new() { DefaultAction = defaultAction, Syscalls = [.. syscalls] };

    internal static SeccompSyscall Rule(string action, string[] names, uint? errnoRet = null, params SeccompArg[] args)
        => new() { Names = [.. names], Action = action, ErrnoRet = errnoRet, Args = args.Length == 0 ? null : [.. args] };

    internal static SeccompArg Arg(uint index, string op, ulong value, ulong valueTwo = 0)
        => new() { Index = index, Op = op, Value = value, ValueTwo = valueTwo };

    internal static uint Verdict(SockFilter[] program, int nr, params ulong[] args)
        => SeccompBpfInterpreter.Run(program, new SeccompData(nr, SeccompData.AuditArchX86_64, 0x401000, args));

    private static SockFilter[] Compile(SeccompSpec spec) => SeccompFilter.Compile(spec, "SCMP_ARCH_X86_64");

    [Fact]
    public void DefaultAllow_DeniesOneSyscallWithItsErrno()
    {
        var program = Compile(Spec("SCMP_ACT_ALLOW", Rule("SCMP_ACT_ERRNO", ["mkdir"], errnoRet: 28)));

        Assert.Equal(Errno(28), Verdict(program, Mkdir));
        Assert.Equal(Allow, Verdict(program, Getcwd));
        Assert.Equal(Allow, Verdict(program, Read));
        Assert.Equal(Allow, Verdict(program, 1000)); // past the profile: default allow, no ENOSYS stub
    }

    [Fact]
    public void ErrnoWithoutErrnoRet_IsEperm()
    {
        var program = Compile(Spec("SCMP_ACT_ALLOW", Rule("SCMP_ACT_ERRNO", ["chmod"])));
        Assert.Equal(Errno(1), Verdict(program, Chmod));
    }

    [Fact]
    public void DefaultErrno_AllowsOnlyTheList_AndNewerCallsGetEnosys()
    {
        var spec = Spec("SCMP_ACT_ERRNO", Rule("SCMP_ACT_ALLOW", ["read", "write", "getpid", "reboot"]));
        spec.DefaultErrnoRet = 13;
        var program = Compile(spec);

        Assert.Equal(Allow, Verdict(program, Read));
        Assert.Equal(Allow, Verdict(program, Write));
        Assert.Equal(Allow, Verdict(program, Getpid));
        Assert.Equal(Allow, Verdict(program, Reboot));
        Assert.Equal(Errno(13), Verdict(program, Mkdir));
        Assert.Equal(Errno(13), Verdict(program, 2));
        Assert.Equal(Errno(38), Verdict(program, Reboot + 1)); // above every call the profile names: ENOSYS
        Assert.Equal(Errno(38), Verdict(program, Clone3));
    }

    [Fact]
    public void DefaultErrnoEnosys_HasNoSeparateStub()
    {
        var spec = Spec("SCMP_ACT_ERRNO", Rule("SCMP_ACT_ALLOW", ["read"]));
        spec.DefaultErrnoRet = 38;
        var program = Compile(spec);
        Assert.Equal(Errno(38), Verdict(program, Write));
        Assert.Equal(Allow, Verdict(program, Read));
    }

    [Fact]
    public void EveryAction_HasItsKernelValue()
    {
        var spec = Spec("SCMP_ACT_ALLOW",
            Rule("SCMP_ACT_KILL", ["read"]),
            Rule("SCMP_ACT_KILL_THREAD", ["write"]),
            Rule("SCMP_ACT_KILL_PROCESS", ["getpid"]),
            Rule("SCMP_ACT_TRAP", ["socket"]),
            Rule("SCMP_ACT_TRACE", ["clone"]),
            Rule("SCMP_ACT_TRACE", ["getcwd"], errnoRet: 7),
            Rule("SCMP_ACT_LOG", ["mkdir"]),
            Rule("SCMP_ACT_NOTIFY", ["chmod"]));
        spec.ListenerPath = "/run/agent.sock";
        var program = Compile(spec);

        Assert.Equal(KillThread, Verdict(program, Read));
        Assert.Equal(KillThread, Verdict(program, Write));
        Assert.Equal(KillProcess, Verdict(program, Getpid));
        Assert.Equal(Trap, Verdict(program, Socket));
        Assert.Equal(Trace(1), Verdict(program, Clone)); // runc passes EPERM as the tracer's data by default
        Assert.Equal(Trace(7), Verdict(program, Getcwd));
        Assert.Equal(Log, Verdict(program, Mkdir));
        Assert.Equal(0x7fc00000u, Verdict(program, Chmod));
        Assert.Equal(Allow, Verdict(program, Personality));
    }

    [Fact]
    public void RuleWithTheDefaultAction_IsSkipped()
    {
        var program = Compile(Spec("SCMP_ACT_ALLOW", Rule("SCMP_ACT_ALLOW", ["mkdir"]), Rule("SCMP_ACT_ERRNO", ["mkdir"])));
        Assert.Equal(Errno(1), Verdict(program, Mkdir));
    }

    public static TheoryData<string> Operators => ["SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_GE", "SCMP_CMP_GT"];

    private static readonly ulong[] Interesting =
    [
        0, 1, 4, 5, 6, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
        0x1_00000000, 0x1_00000004, 0x1_00000005, 0x1_00000006, 0x1_ffffffff, 0x2_00000000, 0x2_00000005,
        0x0_ffffffff_00000005, 0xffffffff_ffffffff, 0x80000000_00000000, 0x7fffffff_ffffffff,
    ];

    private static bool Holds(string op, ulong arg, ulong value) => op switch
    {
        "SCMP_CMP_EQ" => arg == value,
        "SCMP_CMP_NE" => arg != value,
        "SCMP_CMP_LT" => arg < value,
        "SCMP_CMP_LE" => arg <= value,
        "SCMP_CMP_GE" => arg >= value,
        "SCMP_CMP_GT" => arg > value,
        _ => throw new ArgumentException(op),
    };

    [Theory]
    [MemberData(nameof(Operators))]
    public void Comparison_On64BitValues_MatchesUnsignedSemantics(string op)
    {
        foreach (var value in (ulong[])[5, 0x1_00000005, 0xffffffff, 0xffffffff_ffffffff, 0, 0x80000000_00000000])
        {
            foreach (var index in (uint[])[0, 3, 5])
            {
                var program = Compile(Spec("SCMP_ACT_ALLOW", Rule("SCMP_ACT_ERRNO", ["socket"], 99, Arg(index, op, value))));
                foreach (var arg in Interesting)
                {
                    var args = new ulong[6];
                    args[index] = arg;
                    var expected = Holds(op, arg, value) ? Errno(99) : Allow;
                    Assert.True(expected == Verdict(program, Socket, args), $"{op} value 0x{value:x} arg{index} = 0x{arg:x}");
                }
            }
        }
    }

    [Fact]
    public void MaskedEq_UsesValueAsMaskAndValueTwoAsDatum_OnBothHalves()
    {
        foreach (var (mask, datum) in ((ulong, ulong)[])[(0x7E020000, 0), (0xff, 0x12), (0x1_00000000, 0x1_00000000), (0xffff0000_0000ffff, 0x12340000_00005678), (0xf, 0x10)])
        {
            var program = Compile(Spec("SCMP_ACT_ALLOW", Rule("SCMP_ACT_ERRNO", ["clone"], 1, Arg(0, "SCMP_CMP_MASKED_EQ", mask, datum))));
            foreach (var arg in Interesting.Concat([0x10000000UL, 0x20000UL, 0x112UL, 0x12UL, 0x12345555_55555678UL, 0x1_7E020000UL]))
            {
                var expected = (arg & mask) == datum ? Errno(1) : Allow;
                Assert.True(expected == Verdict(program, Clone, arg), $"mask 0x{mask:x} datum 0x{datum:x} arg 0x{arg:x}");
            }
        }
    }

    [Fact]
    public void ConditionsOnDifferentArguments_AreAnded()
    {
        var program = Compile(Spec("SCMP_ACT_ALLOW",
            Rule("SCMP_ACT_ERRNO", ["socket"], 97, Arg(0, "SCMP_CMP_EQ", 2), Arg(1, "SCMP_CMP_EQ", 1), Arg(2, "SCMP_CMP_GT", 0x1_00000000))));

        Assert.Equal(Errno(97), Verdict(program, Socket, 2, 1, 0x1_00000001));
        Assert.Equal(Allow, Verdict(program, Socket, 2, 1, 0x1_00000000));
        Assert.Equal(Allow, Verdict(program, Socket, 2, 2, 0x1_00000001));
        Assert.Equal(Allow, Verdict(program, Socket, 10, 1, 0x1_00000001));
    }

    [Fact]
    public void ConditionsOnTheSameArgument_AreOred_AsRuncDoes()
    {
        var program = Compile(Spec("SCMP_ACT_ERRNO",
            Rule("SCMP_ACT_ALLOW", ["personality"], null, Arg(0, "SCMP_CMP_EQ", 0), Arg(0, "SCMP_CMP_EQ", 8))));

        Assert.Equal(Allow, Verdict(program, Personality, 0));
        Assert.Equal(Allow, Verdict(program, Personality, 8));
        Assert.Equal(Errno(1), Verdict(program, Personality, 4));
    }

    [Fact]
    public void SeveralRulesForOneSyscall_AreOred_FirstMatchDecides()
    {
        var program = Compile(Spec("SCMP_ACT_ERRNO",
            Rule("SCMP_ACT_ALLOW", ["personality"], null, Arg(0, "SCMP_CMP_EQ", 0)),
            Rule("SCMP_ACT_ERRNO", ["personality"], 22, Arg(0, "SCMP_CMP_EQ", 0x20000)),
            Rule("SCMP_ACT_ALLOW", ["personality"], null, Arg(0, "SCMP_CMP_EQ", 0xffffffff)),
            Rule("SCMP_ACT_ALLOW", ["getpid"])));

        Assert.Equal(Allow, Verdict(program, Personality, 0));
        Assert.Equal(Allow, Verdict(program, Personality, 0xffffffff));
        Assert.Equal(Errno(22), Verdict(program, Personality, 0x20000));
        Assert.Equal(Errno(1), Verdict(program, Personality, 1));
        Assert.Equal(Errno(1), Verdict(program, Personality, 0x1_00000000));
        Assert.Equal(Allow, Verdict(program, Getpid));
    }

    [Fact]
    public void ArchitectureNotInTheFilter_IsKilled()
    {
        var program = Compile(Spec("SCMP_ACT_ALLOW", Rule("SCMP_ACT_ERRNO", ["mkdir"])));

        Assert.Equal(KillThread, SeccompBpfInterpreter.Run(program, new SeccompData(Mkdir, SeccompData.AuditArchAarch64)));
        Assert.Equal(KillThread, SeccompBpfInterpreter.Run(program, new SeccompData(Getpid, SeccompData.AuditArchI386)));
        // x32 calls come with x86_64's audit arch and bit 30: not in the filter, so killed too (libseccomp).
        Assert.Equal(KillThread, Verdict(program, 0x40000000 | Getpid));
    }

    [Fact]
    public void ListedArchitectures_UseTheirOwnTables()
    {
        var spec = Spec("SCMP_ACT_ALLOW", Rule("SCMP_ACT_ERRNO", ["mkdir", "mkdirat"], errnoRet: 5));
        spec.Architectures = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"];
        var program = Compile(spec);

        Assert.Equal(Errno(5), Verdict(program, Mkdir));
        Assert.Equal(Errno(5), Verdict(program, 258)); // mkdirat
        Assert.Equal(Errno(5), SeccompBpfInterpreter.Run(program, new SeccompData(39, SeccompData.AuditArchI386)));      // i386 mkdir
        Assert.Equal(Allow, SeccompBpfInterpreter.Run(program, new SeccompData(20, SeccompData.AuditArchI386)));         // i386 getpid
        Assert.Equal(Errno(5), Verdict(program, 0x40000000 | Mkdir));                                                       // x32 mkdir
        Assert.Equal(Allow, Verdict(program, 0x40000000 | Getpid));
        Assert.Equal(Errno(5), SeccompBpfInterpreter.Run(program, new SeccompData(34, SeccompData.AuditArchAarch64)));    // mkdirat
        Assert.Equal(Allow, SeccompBpfInterpreter.Run(program, new SeccompData(17, SeccompData.AuditArchAarch64)));      // getcwd
        // ARM is listed but Berth has no table for it: everything gets the default action.
        Assert.Equal(Allow, SeccompBpfInterpreter.Run(program, new SeccompData(39, SeccompData.AuditArchArm)));
        // s390x is not listed: killed.
        Assert.Equal(KillThread, SeccompBpfInterpreter.Run(program, new SeccompData(39, SeccompData.AuditArchS390x)));
    }

    [Fact]
    public void ListedArchitectureWithoutTable_GetsTheDefault_EvenWhenItDenies()
    {
        var spec = Spec("SCMP_ACT_ERRNO", Rule("SCMP_ACT_ALLOW", ["getpid"]));
        spec.Architectures = ["SCMP_ARCH_ARM"];
        var program = Compile(spec);
        Assert.Equal(Errno(1), SeccompBpfInterpreter.Run(program, new SeccompData(20, SeccompData.AuditArchArm)));
        Assert.Equal(Allow, Verdict(program, Getpid));
    }

    [Fact]
    public void NativeArchitecture_IsAlwaysInTheFilter()
    {
        var spec = Spec("SCMP_ACT_ALLOW", Rule("SCMP_ACT_ERRNO", ["mkdirat"]));
        spec.Architectures = ["SCMP_ARCH_X86"];
        var program = SeccompFilter.Compile(spec, "SCMP_ARCH_AARCH64");

        Assert.Equal(Errno(1), SeccompBpfInterpreter.Run(program, new SeccompData(34, SeccompData.AuditArchAarch64)));
        Assert.Equal(Errno(1), SeccompBpfInterpreter.Run(program, new SeccompData(296, SeccompData.AuditArchI386))); // i386 mkdirat
        Assert.Equal(KillThread, Verdict(program, 258));
    }

    [Fact]
    public void UnknownSyscallNames_AreSkipped()
    {
        var program = Compile(Spec("SCMP_ACT_ALLOW",
            Rule("SCMP_ACT_ERRNO", ["no_such_syscall", "mkdir", "arm_fadvise64_64", "s390_pci_mmio_read"])));
        Assert.Equal(Errno(1), Verdict(program, Mkdir));
        Assert.Equal(Allow, Verdict(program, Getcwd));
    }

    [Fact]
    public void LongPrograms_JumpPast255Instructions()
    {
        // One conditional rule per syscall: several thousand instructions, so the search tree's jumps to the
        // rule chains, and the chains' jumps to the shared verdicts, are far beyond 8-bit offsets.
        var names = new List<string>();
        for (var nr = 0; nr < 335; nr++)
            if (ToName(nr) is { } name) names.Add(name);
        var rules = names.Select((n, i) => Rule("SCMP_ACT_ALLOW", [n], null, Arg((uint)(i % 6), "SCMP_CMP_NE", (ulong)(i + 1) << 33))).ToArray();
        var program = Compile(Spec("SCMP_ACT_ERRNO", rules));
        output.WriteLine($"{names.Count} conditional rules: {program.Length} instructions");
        Assert.True(program.Length > 1000);
        Assert.Contains(program, i => i.Code == Bpf.Ja && i.K > 255);

        for (var i = 0; i < names.Count; i++)
        {
            var nr = Nr(names[i]);
            var args = new ulong[6];
            Assert.Equal(Allow, Verdict(program, nr, args));
            args[i % 6] = (ulong)(i + 1) << 33;
            Assert.Equal(Errno(1), Verdict(program, nr, args));
        }
        Assert.Equal(Errno(38), Verdict(program, 400));
    }

    [Fact]
    public void ArchitectureChain_FarFromItsSections_StillDispatches()
    {
        var spec = Spec("SCMP_ACT_ERRNO", Enumerable.Range(0, 200).Select(i => Rule("SCMP_ACT_ALLOW", [ToName(i) ?? "read"], null, Arg(0, "SCMP_CMP_GE", (ulong)i))).ToArray());
        spec.Architectures = ["SCMP_ARCH_X86", "SCMP_ARCH_AARCH64", "SCMP_ARCH_X32"];
        var program = Compile(spec);
        output.WriteLine($"200 conditional rules on 4 architectures: {program.Length} instructions");
        Assert.True(program.Length > 1000);
        Assert.Equal(Allow, SeccompBpfInterpreter.Run(program, new SeccompData(17, SeccompData.AuditArchAarch64, 0, 1000)));
        Assert.Equal(Errno(1), SeccompBpfInterpreter.Run(program, new SeccompData(17, SeccompData.AuditArchAarch64, 0, 78)));
        Assert.Equal(Allow, SeccompBpfInterpreter.Run(program, new SeccompData(39, SeccompData.AuditArchI386, 0, 1000)));
        Assert.Equal(Allow, Verdict(program, 0x40000000 | Mkdir, 1000));
        Assert.Equal(Errno(1), Verdict(program, Mkdir, 1));
    }

    [Fact]
    public void ProgramShape_StartsWithTheArchitectureCheck()
    {
        var program = Compile(Spec("SCMP_ACT_ALLOW"));
        Assert.Equal(new SockFilter(Bpf.LdWAbs, 0, 0, 4), program[0]);
        Assert.Equal(Bpf.JeqK, program[1].Code);
        Assert.Equal(0xC000003Eu, program[1].K);
        Assert.Equal(Allow, Verdict(program, Mkdir));
        Assert.Equal(KillThread, Verdict(program, 0x40000000));
    }

    [Theory]
    [InlineData("SCMP_ACT_FOO", null, "linux.seccomp.defaultAction: unknown action \"SCMP_ACT_FOO\"")]
    [InlineData("SCMP_ACT_NOTIFY", null, "linux.seccomp.defaultAction")]
    public void BadDefaultAction_IsRejected(string action, string? listener, string message)
    {
        var spec = Spec(action);
        spec.ListenerPath = listener;
        var e = Assert.Throws<SeccompConfigException>(() => Compile(spec));
        Assert.StartsWith(message, e.Message);
    }

    [Fact]
    public void BadEntries_AreRejectedNamingTheField()
    {
        void Rejects(SeccompSpec spec, string prefix)
        {
            var e = Assert.Throws<SeccompConfigException>(() => Compile(spec));
            Assert.StartsWith(prefix, e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }

        Rejects(Spec("SCMP_ACT_ALLOW", Rule("SCMP_ACT_NOTIFY", ["mkdir"])), "linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath");
        Rejects(Spec("SCMP_ACT_ALLOW", Rule("SCMP_ACT_ERRNO", ["mkdir"]), Rule("SCMP_ACT_BOGUS", ["read"])), "linux.seccomp.syscalls[1].action: unknown action \"SCMP_ACT_BOGUS\"");
        Rejects(Spec("SCMP_ACT_ALLOW", Rule("SCMP_ACT_ERRNO", ["mkdir"], null, Arg(6, "SCMP_CMP_EQ", 1))), "linux.seccomp.syscalls[0].args[0].index");
        Rejects(Spec("SCMP_ACT_ALLOW", Rule("SCMP_ACT_ERRNO", ["mkdir"], null, Arg(0, "SCMP_CMP_LIKE", 1))), "linux.seccomp.syscalls[0].args[0].op: unknown operator \"SCMP_CMP_LIKE\"");
        Rejects(Spec("SCMP_ACT_ALLOW", Rule("SCMP_ACT_ERRNO", [])), "linux.seccomp.syscalls[0].names");
        Rejects(Spec("SCMP_ACT_ALLOW", Rule("SCMP_ACT_ERRNO", ["mkdir"], errnoRet: 70000)), "linux.seccomp.syscalls[0].action: errnoRet 70000");
        var arch = Spec("SCMP_ACT_ALLOW");
        arch.Architectures = ["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"];
        Rejects(arch, "linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_VAX\"");
        var flags = Spec("SCMP_ACT_ALLOW");
        flags.Flags = ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_BOGUS"];
        Rejects(flags, "linux.seccomp.flags[1]: unknown flag \"SECCOMP_FILTER_FLAG_BOGUS\"");
        var notifyWrite = Spec("SCMP_ACT_ALLOW", Rule("SCMP_ACT_NOTIFY", ["write"]));
        notifyWrite.ListenerPath = "/run/agent.sock";
        Rejects(notifyWrite, "linux.seccomp.syscalls[0]: SCMP_ACT_NOTIFY cannot be used for the write syscall");
    }

    [Fact]
    public void Flags_MapToKernelBits()
    {
        Assert.Equal(0u, SeccompFilter.ParseFlags(null));
        Assert.Equal(1u | 2 | 4 | 32, SeccompFilter.ParseFlags(["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]));
    }

    [Fact]
    public void SyscallTables_KnowTheCommonCalls()
    {
        Assert.Equal(Mkdir, SeccompArchitecture.X86_64.Resolve("mkdir"));
        Assert.Equal(Clone3, SeccompArchitecture.X86_64.Resolve("clone3"));
        Assert.Equal(462, SeccompArchitecture.X86_64.Resolve("mseal"));
        Assert.Equal(-1, SeccompArchitecture.Aarch64.Resolve("mkdir")); // aarch64 only has mkdirat
        Assert.Equal(34, SeccompArchitecture.Aarch64.Resolve("mkdirat"));
        Assert.Equal(220, SeccompArchitecture.Aarch64.Resolve("clone"));
        Assert.Equal(79, SeccompArchitecture.Aarch64.Resolve("newfstatat"));
        Assert.Equal(0x40000000 | 1, SeccompArchitecture.X32.Resolve("write"));
        Assert.Equal(120, SeccompArchitecture.X86.Resolve("clone"));
        Assert.Equal(-1, SeccompArchitecture.Find("SCMP_ARCH_ARM")!.Resolve("read"));
    }

    private static string? ToName(int nr) => Names.Value.TryGetValue(nr, out var name) ? name : null;
    private static int Nr(string name) => SeccompArchitecture.X86_64.Resolve(name);

    private static readonly Lazy<Dictionary<int, string>> Names = new(() =>
    {
        var all = new Dictionary<int, string>();
        foreach (var line in File.ReadLines(Path.Combine(Testing.Repo.Root, "src/Berth.Runtime/Seccomp/SyscallTables.g.cs")))
        {
            var t = line.Trim();
            if (!t.StartsWith('"')) continue;
            var name = t[1..t.IndexOf('"', 1)];
            var nr = SeccompArchitecture.X86_64.Resolve(name);
            if (nr >= 0) all.TryAdd(nr, name);
        }
        return all;
    });
}
