using System.Runtime.InteropServices;

namespace Berth.Linux;

public partial interface ISyscalls : INamespaceCalls;

/// <summary>Namespaces: joining, unsharing, and starting a process inside new ones.</summary>
public interface INamespaceCalls
{
    /// <summary>setns(2) on a descriptor of /proc/PID/ns/X or a bind-mounted namespace file.</summary>
    void JoinNamespace(int fd, int cloneFlag, string what);

    /// <summary>unshare(2) of the given CLONE_NEW* flags.</summary>
    void UnshareNamespaces(int cloneFlags);

    /// <summary>setresgid(0,0,0) and setresuid(0,0,0): become root of a freshly mapped user namespace.</summary>
    void BecomeNamespaceRoot();

    /// <summary>Starts a process as described by <paramref name="plan"/>: a raw clone whose child runs only
    /// pre-marshalled system calls (setns, unshare, a second fork for pid/time namespaces) and execs.
    /// Returns the pid of the process that exec'd; throws naming the step that failed.</summary>
    int Launch(LaunchPlan plan);

    /// <summary>fchdir + chroot(".") + chdir("/"): makes the directory <paramref name="dirFd"/> this process's root.</summary>
    void EnterRootDirectory(int dirFd);
}

/// <summary>The CLONE_NEW* flags and the runtime-spec namespace names.</summary>
public static class Namespaces
{
    public const int CloneNewTime = 0x00000080, CloneNewNs = 0x00020000, CloneNewCgroup = 0x02000000, CloneNewUts = 0x04000000,
        CloneNewIpc = 0x08000000, CloneNewUser = 0x10000000, CloneNewPid = 0x20000000, CloneNewNet = 0x40000000;

    /// <summary>The spec's namespace types in the order they are joined (user first: it grants the rights for the rest).</summary>
    public static readonly (string SpecType, string ProcName, int Flag)[] All =
    [
        ("user", "user", CloneNewUser), ("ipc", "ipc", CloneNewIpc), ("uts", "uts", CloneNewUts), ("network", "net", CloneNewNet),
        ("pid", "pid", CloneNewPid), ("mount", "mnt", CloneNewNs), ("cgroup", "cgroup", CloneNewCgroup), ("time", "time", CloneNewTime),
    ];

    public static int FlagOf(string specType)
    {
        foreach (var n in All) if (n.SpecType == specType) return n.Flag;
        return 0;
    }
}

public sealed unsafe partial class LinuxSyscalls
{
    public void JoinNamespace(int fd, int cloneFlag, string what) => Errno.Check(setns(fd, cloneFlag), "setns", what);
    public void UnshareNamespaces(int cloneFlags) => Errno.Check(unshare(cloneFlags), "unshare");

    public void BecomeNamespaceRoot()
    {
        Errno.Check(setresgid(0, 0, 0), "setresgid");
        Errno.Check(setresuid(0, 0, 0), "setresuid");
    }

    public int Launch(LaunchPlan plan) => plan.Run();

    public void EnterRootDirectory(int dirFd)
    {
        Errno.Check(fchdir(dirFd), "fchdir");
        Errno.Check(chroot_dot("."), "chroot");
        Errno.Check(chdir_root("/"), "chdir", "/");
    }

    [LibraryImport("libc", SetLastError = true)] private static partial int fchdir(int fd);
    [LibraryImport("libc", EntryPoint = "chroot", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] private static partial int chroot_dot(string path);
    [LibraryImport("libc", EntryPoint = "chdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] private static partial int chdir_root(string path);

    [LibraryImport("libc", SetLastError = true)] private static partial int setns(int fd, int nstype);
    [LibraryImport("libc", SetLastError = true)] private static partial int unshare(int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial int setresuid(uint r, uint e, uint s);
    [LibraryImport("libc", SetLastError = true)] private static partial int setresgid(uint r, uint e, uint s);
}
