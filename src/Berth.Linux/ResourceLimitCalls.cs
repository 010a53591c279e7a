using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>Resource limits (setrlimit/prlimit).</summary>
public interface IResourceLimitCalls
{
    /// <summary>prlimit(2) on this process for <paramref name="resource"/> (an RLIMIT_* number).</summary>
    void SetResourceLimit(int resource, ulong soft, ulong hard);
}

public partial interface ISyscalls : IResourceLimitCalls;

public sealed partial class LinuxSyscalls
{
    public unsafe void SetResourceLimit(int resource, ulong soft, ulong hard)
    {
        var limit = stackalloc ulong[2] { soft, hard };
        Errno.Check(NativePrlimit(0, resource, limit, null), "prlimit", resource.ToString());
    }

    [LibraryImport("libc", EntryPoint = "prlimit", SetLastError = true)]
    private static unsafe partial int NativePrlimit(int pid, int resource, ulong* newLimit, ulong* oldLimit);
}
