using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>Changing the process's user and groups.</summary>
public interface ICredentialCalls
{
    void SetGroups(ReadOnlySpan<uint> groups);
    void SetResGid(uint real, uint effective, uint saved);
    void SetResUid(uint real, uint effective, uint saved);
}

public partial interface ISyscalls : ICredentialCalls;

public sealed partial class LinuxSyscalls
{
    /// <summary>
    /// Set in a child cloned from a multi-threaded process that runs on without exec (LaunchPlan.RunInChild): glibc still
    /// lists the parent's threads there, and its set*id wrappers signal each and wait for answers that never come. The
    /// child is single-threaded, so the raw system calls (which change only the calling thread) are the whole change.
    /// </summary>
    public static bool WithoutOtherThreads { get; set; }

    // glibc's wrappers apply the change to every thread of the process (POSIX semantics), which is what a
    // multi-threaded .NET process about to execve wants.
    public unsafe void SetGroups(ReadOnlySpan<uint> groups)
    {
        fixed (uint* list = groups)
            Errno.Check(WithoutOtherThreads ? (int)RawSyscall(Arm64 ? 159 : 116, groups.Length, (long)list, 0) : NativeSetgroups((nuint)groups.Length, list), "setgroups");
    }

    public void SetResGid(uint real, uint effective, uint saved)
        => Errno.Check(WithoutOtherThreads ? (int)RawSyscall(Arm64 ? 149 : 119, real, effective, saved) : NativeSetresgid(real, effective, saved), "setresgid", effective.ToString());

    public void SetResUid(uint real, uint effective, uint saved)
        => Errno.Check(WithoutOtherThreads ? (int)RawSyscall(Arm64 ? 147 : 117, real, effective, saved) : NativeSetresuid(real, effective, saved), "setresuid", effective.ToString());

    private static bool Arm64 => RuntimeInformation.ProcessArchitecture == Architecture.Arm64;

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long RawSyscall(long number, long a1, long a2, long a3);

    [LibraryImport("libc", EntryPoint = "setgroups", SetLastError = true)]
    private static unsafe partial int NativeSetgroups(nuint size, uint* list);

    [LibraryImport("libc", EntryPoint = "setresgid", SetLastError = true)]
    private static partial int NativeSetresgid(uint real, uint effective, uint saved);

    [LibraryImport("libc", EntryPoint = "setresuid", SetLastError = true)]
    private static partial int NativeSetresuid(uint real, uint effective, uint saved);
}
