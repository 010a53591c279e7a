using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>
/// The one seam through which Berth makes kernel calls. Partial: each concern (mounts, namespaces,
/// credentials, ...) adds its members in a file of its own, so the rooms above can be unit-tested with a
/// recording double and no root.
/// </summary>
public partial interface ISyscalls;

/// <summary>The real kernel.</summary>
public sealed partial class LinuxSyscalls : ISyscalls
{
    public static readonly LinuxSyscalls Instance = new();
}

/// <summary>A failed system call: names the call, the object it acted on, and errno.</summary>
public sealed class SyscallException(string call, int errno, string? subject = null)
    : Exception($"{call}{(subject is null ? "" : " " + subject)}: {Errno.Describe(errno)}")
{
    public string Call { get; } = call;
    public int ErrorNumber { get; } = errno;
}

public static partial class Errno
{
    public const int EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, ENXIO = 6, EBADF = 9, ECHILD = 10, EAGAIN = 11,
        ENOMEM = 12, EACCES = 13, EFAULT = 14, EBUSY = 16, EEXIST = 17, EXDEV = 18, ENODEV = 19, ENOTDIR = 20,
        EISDIR = 21, EINVAL = 22, ENOSPC = 28, EROFS = 30, EPIPE = 32, ERANGE = 34, ENOSYS = 38, ENOTEMPTY = 39,
        ELOOP = 40, ENODATA = 61, EOPNOTSUPP = 95;

    public static int Last => Marshal.GetLastPInvokeError();

    public static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";

    /// <summary>Throws <see cref="SyscallException"/> when a libc call returned -1.</summary>
    public static long Check(long result, string call, string? subject = null)
        => result == -1 ? throw new SyscallException(call, Last, subject) : result;
}
