using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>The kernel calls the cgroup code makes besides reading and writing cgroupfs files.</summary>
public interface ICgroupCalls
{
    /// <summary>kill(2). Returns 0, or the errno (ESRCH for a process that is already gone).</summary>
    int Kill(int pid, int signal);

    /// <summary>rmdir(2). Returns 0, or the errno (EBUSY while the cgroup still has tasks, ENOENT if gone).</summary>
    int RemoveDirectory(string path);
}

public partial interface ISyscalls : ICgroupCalls;

public sealed partial class LinuxSyscalls
{
    // Explicit implementations: another concern may declare a Kill of its own on LinuxSyscalls.
    int ICgroupCalls.Kill(int pid, int signal) => CgroupKill(pid, signal) == 0 ? 0 : Errno.Last;

    int ICgroupCalls.RemoveDirectory(string path) => CgroupRmdir(path) == 0 ? 0 : Errno.Last;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int CgroupKill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "rmdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int CgroupRmdir(string path);
}
