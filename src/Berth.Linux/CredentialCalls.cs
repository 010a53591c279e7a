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
    // glibc's wrappers apply the change to every thread of the process (POSIX semantics), which is what a
    // multi-threaded .NET process about to execve wants.
    public unsafe void SetGroups(ReadOnlySpan<uint> groups)
    {
        fixed (uint* list = groups) Errno.Check(NativeSetgroups((nuint)groups.Length, list), "setgroups");
    }

    public void SetResGid(uint real, uint effective, uint saved) => Errno.Check(NativeSetresgid(real, effective, saved), "setresgid", effective.ToString());

    public void SetResUid(uint real, uint effective, uint saved) => Errno.Check(NativeSetresuid(real, effective, saved), "setresuid", effective.ToString());

    [LibraryImport("libc", EntryPoint = "setgroups", SetLastError = true)]
    private static unsafe partial int NativeSetgroups(nuint size, uint* list);

    [LibraryImport("libc", EntryPoint = "setresgid", SetLastError = true)]
    private static partial int NativeSetresgid(uint real, uint effective, uint saved);

    [LibraryImport("libc", EntryPoint = "setresuid", SetLastError = true)]
    private static partial int NativeSetresuid(uint real, uint effective, uint saved);
}
