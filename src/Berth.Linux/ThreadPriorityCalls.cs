using System.Runtime.InteropServices;

namespace Berth.Linux;

public partial interface ISyscalls : IThreadPriorityCalls;

/// <summary>The CPU priority of the calling thread (Linux schedules threads, and a thread's nice value is its own).</summary>
public interface IThreadPriorityCalls
{
    /// <summary>setpriority(PRIO_PROCESS, 0, nice): on Linux the calling thread only. 19 is the lowest priority, 0 the default
    /// (going back up needs CAP_SYS_NICE).</summary>
    void SetThreadNice(int nice);
}

public sealed partial class LinuxSyscalls
{
    private const int PRIO_PROCESS = 0;

    public void SetThreadNice(int nice) => Errno.Check(setpriority(PRIO_PROCESS, 0, nice), "setpriority");

    [LibraryImport("libc", SetLastError = true)] private static partial int setpriority(int which, uint who, int prio);
}
