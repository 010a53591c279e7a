using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>The kernel calls the cgroup code makes besides reading and writing cgroupfs files.</summary>
public interface ICgroupCalls
{
    /// <summary>kill(2). Returns 0, or the errno (ESRCH for a process that is already gone).</summary>
    int Kill(int pid, int signal);

    /// <summary>rmdir(2). Returns 0, or the errno (EBUSY while the cgroup still has tasks, ENOENT if gone).</summary>
    int RemoveDirectory(string path);

    /// <summary>
    /// Loads <paramref name="program"/> as a BPF_PROG_TYPE_CGROUP_DEVICE program and attaches it to the v2 cgroup
    /// <paramref name="cgroupDirectory"/>, replacing the one attached before. Returns 0 or the errno, with the
    /// verifier's log when loading failed.
    /// </summary>
    int AttachDeviceFilter(string cgroupDirectory, ReadOnlySpan<ulong> program, out string? verifierLog);
}

public partial interface ISyscalls : ICgroupCalls;

public sealed partial class LinuxSyscalls
{
    // Explicit implementations: another concern may declare a Kill of its own on LinuxSyscalls.
    int ICgroupCalls.Kill(int pid, int signal) => CgroupKill(pid, signal) == 0 ? 0 : Errno.Last;

    int ICgroupCalls.RemoveDirectory(string path) => CgroupRmdir(path) == 0 ? 0 : Errno.Last;

    int ICgroupCalls.AttachDeviceFilter(string cgroupDirectory, ReadOnlySpan<ulong> program, out string? verifierLog)
    {
        verifierLog = null;
        const int O_RDONLY = 0, O_DIRECTORY = 0x10000, O_CLOEXEC = 0x80000;
        const int BPF_PROG_LOAD = 5, BPF_PROG_ATTACH = 8, BPF_PROG_TYPE_CGROUP_DEVICE = 15, BPF_CGROUP_DEVICE = 6;
        var cgroupFd = CgroupOpen(cgroupDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cgroupFd < 0) return Errno.Last;
        try
        {
            var license = "Apache-2.0\0"u8;
            var log = new byte[64 * 1024];
            long programFd;
            unsafe
            {
                fixed (ulong* insns = program)
                fixed (byte* lic = license)
                fixed (byte* logBuf = log)
                {
                    // union bpf_attr for BPF_PROG_LOAD; the rest of the 128 bytes stays zero, as the kernel requires.
                    var attr = stackalloc byte[128];
                    new Span<byte>(attr, 128).Clear();
                    *(uint*)(attr + 0) = BPF_PROG_TYPE_CGROUP_DEVICE;
                    *(uint*)(attr + 4) = (uint)program.Length;
                    *(ulong*)(attr + 8) = (ulong)insns;
                    *(ulong*)(attr + 16) = (ulong)lic;
                    *(uint*)(attr + 24) = 1;                 // log_level
                    *(uint*)(attr + 28) = (uint)log.Length;  // log_size
                    *(ulong*)(attr + 32) = (ulong)logBuf;
                    programFd = CgroupBpf(CgroupBpfSyscallX64, BPF_PROG_LOAD, attr, 128);
                }
            }
            if (programFd < 0)
            {
                var errno = Errno.Last;
                var end = Array.IndexOf(log, (byte)0);
                verifierLog = System.Text.Encoding.UTF8.GetString(log, 0, end < 0 ? log.Length : end).Trim();
                return errno;
            }
            try
            {
                unsafe
                {
                    var attr = stackalloc byte[32];
                    new Span<byte>(attr, 32).Clear();
                    *(uint*)(attr + 0) = (uint)cgroupFd;     // target_fd
                    *(uint*)(attr + 4) = (uint)programFd;    // attach_bpf_fd
                    *(uint*)(attr + 8) = BPF_CGROUP_DEVICE;  // attach_type; flags 0: replaces an earlier program
                    return CgroupBpf(CgroupBpfSyscallX64, BPF_PROG_ATTACH, attr, 32) < 0 ? Errno.Last : 0;
                }
            }
            finally { CgroupClose((int)programFd); } // the attachment holds its own reference
        }
        finally { CgroupClose(cgroupFd); }
    }

    private const long CgroupBpfSyscallX64 = 321; // x86_64; aarch64 below
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int CgroupOpen(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int CgroupClose(int fd);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static unsafe partial long CgroupBpfRaw(long number, long command, byte* attr, long size);

    private static unsafe long CgroupBpf(long number, long command, byte* attr, long size)
        => CgroupBpfRaw(RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 280 : number, command, attr, size);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int CgroupKill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "rmdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int CgroupRmdir(string path);
}
