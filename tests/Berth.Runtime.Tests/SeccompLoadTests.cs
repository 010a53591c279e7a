using Berth.Linux;
using Berth.Runtime.Seccomp;

namespace Berth.Runtime.Tests;

public sealed class SeccompLoadTests
{
    private sealed class RecordingSeccomp(int seccompErrno = 0) : ISeccompCalls
    {
        public List<string> Calls { get; } = [];
        public SockFilter[]? Program { get; private set; }

        public int SeccompSetModeFilter(uint flags, ReadOnlySpan<SockFilter> program)
        {
            Calls.Add($"seccomp 0x{flags:x}");
            Program = program.ToArray();
            if (seccompErrno != 0) throw new SyscallException("seccomp", seccompErrno);
            return (flags & SeccompFilter.FlagNewListener) != 0 ? 42 : 0;
        }

        public void PrctlSetSeccompFilter(ReadOnlySpan<SockFilter> program)
        {
            Calls.Add("prctl");
            Program = program.ToArray();
        }
    }

    private static SockFilter[] Program(string defaultAction = "SCMP_ACT_ALLOW", string action = "SCMP_ACT_ERRNO")
    {
        var spec = SeccompFilterTests.Spec(defaultAction, SeccompFilterTests.Rule(action, ["mkdir"]));
        spec.ListenerPath = "/run/agent.sock";
        return SeccompFilter.Compile(spec, "SCMP_ARCH_X86_64");
    }

    [Fact]
    public void WithoutFlags_UsesSeccompWithNoFlags()
    {
        var sys = new RecordingSeccomp();
        var program = Program();
        Assert.Equal(-1, SeccompFilter.Load(sys, program, null));
        Assert.Equal(["seccomp 0x0"], sys.Calls);
        Assert.Equal(program, sys.Program);
    }

    [Fact]
    public void KernelWithoutSeccompSyscall_FallsBackToPrctl()
    {
        var sys = new RecordingSeccomp(Errno.ENOSYS);
        Assert.Equal(-1, SeccompFilter.Load(sys, Program(), []));
        Assert.Equal(["seccomp 0x0", "prctl"], sys.Calls);
    }

    [Fact]
    public void Flags_GoToSeccomp_AndFailuresAreNotHidden()
    {
        var sys = new RecordingSeccomp();
        SeccompFilter.Load(sys, Program(), ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]);
        Assert.Equal(["seccomp 0x7"], sys.Calls);

        var failing = new RecordingSeccomp(Errno.EINVAL);
        Assert.Throws<SyscallException>(() => SeccompFilter.Load(failing, Program(), ["SECCOMP_FILTER_FLAG_LOG"]));
        Assert.Equal(["seccomp 0x2"], failing.Calls);
    }

    [Fact]
    public void NotifyVerdicts_AskForAListener_AndReturnItsFd()
    {
        var sys = new RecordingSeccomp();
        Assert.Equal(42, SeccompFilter.Load(sys, Program(action: "SCMP_ACT_NOTIFY"), null));
        Assert.Equal(["seccomp 0x8"], sys.Calls);
    }

    [Fact]
    public void TsyncWithAListener_AsksForEsrch()
    {
        var sys = new RecordingSeccomp();
        Assert.Equal(42, SeccompFilter.Load(sys, Program(action: "SCMP_ACT_NOTIFY"), ["SECCOMP_FILTER_FLAG_TSYNC"]));
        Assert.Equal(["seccomp 0x19"], sys.Calls); // TSYNC | NEW_LISTENER | TSYNC_ESRCH
    }

    [Fact]
    public void UnknownFlag_IsRejectedBeforeAnyCall()
    {
        var sys = new RecordingSeccomp();
        Assert.Throws<SeccompConfigException>(() => SeccompFilter.Load(sys, Program(), ["SECCOMP_FILTER_FLAG_NOPE"]));
        Assert.Empty(sys.Calls);
    }

    [Fact]
    public void SockFilter_HasTheKernelsLayout()
    {
        Assert.Equal(8, System.Runtime.InteropServices.Marshal.SizeOf<SockFilter>());
        Assert.Equal(8, System.Runtime.CompilerServices.Unsafe.SizeOf<SockFilter>());
    }
}
