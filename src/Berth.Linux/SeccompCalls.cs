using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>One classic-BPF instruction (struct sock_filter of linux/filter.h), as the kernel reads it.</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct SockFilter(ushort code, byte jt, byte jf, uint k) : IEquatable<SockFilter>
{
    public readonly ushort Code = code;
    public readonly byte Jt = jt;
    public readonly byte Jf = jf;
    public readonly uint K = k;

    public bool Equals(SockFilter other) => Code == other.Code && Jt == other.Jt && Jf == other.Jf && K == other.K;
    public override bool Equals(object? obj) => obj is SockFilter other && Equals(other);
    public override int GetHashCode() => HashCode.Combine(Code, Jt, Jf, K);
    public override string ToString() => $"{{ 0x{Code:x2}, {Jt}, {Jf}, 0x{K:x8} }}";
}

public partial interface ISyscalls : ISeccompCalls;

/// <summary>Installing a seccomp filter on the calling thread (and with TSYNC, on all its threads).</summary>
public interface ISeccompCalls
{
    /// <summary>seccomp(SECCOMP_SET_MODE_FILTER, flags, prog): returns the notification listener's fd when
    /// <paramref name="flags"/> has SECCOMP_FILTER_FLAG_NEW_LISTENER, otherwise 0.</summary>
    int SeccompSetModeFilter(uint flags, ReadOnlySpan<SockFilter> program);

    /// <summary>prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog): the older way, without flags.</summary>
    void PrctlSetSeccompFilter(ReadOnlySpan<SockFilter> program);
}

public sealed partial class LinuxSyscalls
{
    private const int SeccompSetModeFilterOp = 1; // SECCOMP_SET_MODE_FILTER
    private const int PrSetSeccomp = 22, SeccompModeFilter = 2;

    public unsafe int SeccompSetModeFilter(uint flags, ReadOnlySpan<SockFilter> program)
    {
        fixed (SockFilter* filter = program)
        {
            var prog = new SockFprog { Length = checked((ushort)program.Length), Filter = filter };
            var result = SeccompLibc.syscall(SeccompSyscallNumber, SeccompSetModeFilterOp, flags, &prog);
            return (int)Errno.Check(result, "seccomp(SECCOMP_SET_MODE_FILTER)", $"flags 0x{flags:x}");
        }
    }

    public unsafe void PrctlSetSeccompFilter(ReadOnlySpan<SockFilter> program)
    {
        fixed (SockFilter* filter = program)
        {
            var prog = new SockFprog { Length = checked((ushort)program.Length), Filter = filter };
            Errno.Check(SeccompLibc.prctl(PrSetSeccomp, SeccompModeFilter, &prog, 0, 0), "prctl(PR_SET_SECCOMP)");
        }
    }

    /// <summary>seccomp(2) has no libc wrapper everywhere; its number differs per architecture.</summary>
    private static long SeccompSyscallNumber => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 317,
        Architecture.Arm64 => 277,
        Architecture.X86 => 354,
        Architecture.Arm => 383,
        Architecture.RiscV64 => 277,
        Architecture.LoongArch64 => 277,
        Architecture.S390x => 348,
        Architecture.Ppc64le => 358,
        var other => throw new PlatformNotSupportedException($"seccomp: unknown syscall number on {other}"),
    };

    [StructLayout(LayoutKind.Sequential)]
    private unsafe struct SockFprog
    {
        public ushort Length;
        public SockFilter* Filter;
    }

    private static unsafe partial class SeccompLibc
    {
        [LibraryImport("libc", SetLastError = true)]
        internal static partial long syscall(long number, long operation, uint flags, SockFprog* program);

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int prctl(int option, nuint arg2, SockFprog* arg3, nuint arg4, nuint arg5);
    }
}
