using System.Runtime.InteropServices;

namespace Berth.Linux;

public partial interface ISyscalls : IProcessCalls;

/// <summary>Processes: waiting, signalling, spawning helpers (hooks), replacing the process image.</summary>
public interface IProcessCalls
{
    /// <summary>waitpid; returns the pid reaped (0 with WNOHANG when none), retrying on EINTR.</summary>
    int WaitForChild(int pid, out int status, bool noHang = false);

    /// <summary>kill(2). Returns false when the process does not exist (ESRCH).</summary>
    bool SendSignal(int pid, int signal);

    /// <summary>pidfd_open: a descriptor that polls readable when the process exits (even when not our child).</summary>
    int OpenProcessHandle(int pid);

    /// <summary>pidfd_open with PIDFD_THREAD (Linux 6.9): a descriptor that polls readable when the thread
    /// <paramref name="tid"/> of this process has exited.</summary>
    int OpenThreadHandle(int tid);

    /// <summary>gettid(2).</summary>
    int CurrentThreadId();

    /// <summary>posix_spawn of <paramref name="path"/> with argv/envp as given; the three fds become 0, 1, 2.</summary>
    int SpawnProcess(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp, int stdinFd, int stdoutFd, int stderrFd);

    /// <summary>Replaces this process with <paramref name="path"/> after resetting signal dispositions the runtime
    /// changed (SIGPIPE ignored, blocked masks), so the new program starts as from a clean fork. Returns only by throwing.</summary>
    void ReplaceProcess(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp);

    /// <summary>setsid(2).</summary>
    void StartSession();

    /// <summary>prctl(PR_SET_CHILD_SUBREAPER).</summary>
    void BecomeSubreaper();

    /// <summary>prctl(PR_SET_PDEATHSIG).</summary>
    void SetParentDeathSignal(int signal);
}

public static class WaitStatus
{
    public static bool Exited(int status) => (status & 0x7f) == 0;
    public static int ExitCode(int status) => (status >> 8) & 0xff;
    public static bool Signaled(int status) => (status & 0x7f) != 0 && (status & 0x7f) != 0x7f;
    public static int TermSignal(int status) => status & 0x7f;
    /// <summary>The shell's convention: the exit code, or 128 + the signal that killed the process.</summary>
    public static int ShellCode(int status) => Exited(status) ? ExitCode(status) : 128 + TermSignal(status);
}

public sealed unsafe partial class LinuxSyscalls
{
    public int WaitForChild(int pid, out int status, bool noHang = false)
    {
        int s;
        while (true)
        {
            var r = waitpid(pid, &s, noHang ? 1 : 0);
            if (r >= 0) { status = s; return r; }
            var e = Errno.Last;
            if (e != Errno.EINTR) throw new SyscallException("waitpid", e, pid.ToString());
        }
    }

    public bool SendSignal(int pid, int signal)
    {
        if (kill(pid, signal) == 0) return true;
        var e = Errno.Last;
        return e == Errno.ESRCH ? false : throw new SyscallException("kill", e, pid.ToString());
    }

    public int OpenProcessHandle(int pid) => (int)Errno.Check(syscall_pidfd_open(SysPidfdOpen, pid, 0), "pidfd_open", pid.ToString());

    private const uint PidfdThread = 0x80; // O_EXCL

    public int OpenThreadHandle(int tid) => (int)Errno.Check(syscall_pidfd_open(SysPidfdOpen, tid, PidfdThread), "pidfd_open", tid.ToString());

    public int CurrentThreadId() => gettid();

    private static long SysPidfdOpen => 434; // same number on x86_64 and aarch64

    public int SpawnProcess(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp, int stdinFd, int stdoutFd, int stderrFd)
    {
        using var args = new NativeStringArray(argv);
        using var env = new NativeStringArray(envp);
        var actions = stackalloc byte[128]; // posix_spawn_file_actions_t is 80 bytes in glibc
        var attr = stackalloc byte[512];    // posix_spawnattr_t is 336 bytes in glibc
        Check(posix_spawn_file_actions_init(actions), "posix_spawn_file_actions_init");
        Check(posix_spawnattr_init(attr), "posix_spawnattr_init");
        try
        {
            Check(posix_spawn_file_actions_adddup2(actions, stdinFd, 0), "posix_spawn_file_actions_adddup2");
            Check(posix_spawn_file_actions_adddup2(actions, stdoutFd, 1), "posix_spawn_file_actions_adddup2");
            Check(posix_spawn_file_actions_adddup2(actions, stderrFd, 2), "posix_spawn_file_actions_adddup2");
            var set = stackalloc ulong[16];
            sigemptyset(set);
            Check(posix_spawnattr_setsigmask(attr, set), "posix_spawnattr_setsigmask");
            sigfillset(set);
            Check(posix_spawnattr_setsigdefault(attr, set), "posix_spawnattr_setsigdefault");
            Check(posix_spawnattr_setflags(attr, 0x04 | 0x08), "posix_spawnattr_setflags"); // SETSIGDEF | SETSIGMASK
            int pid;
            var pathBytes = NativeStringArray.Utf8Z(path);
            fixed (byte* p = pathBytes)
            {
                var rc = posix_spawn(&pid, p, actions, attr, args.Pointer, env.Pointer);
                if (rc != 0) throw new SyscallException("posix_spawn", rc, path);
            }
            return pid;
        }
        finally
        {
            posix_spawn_file_actions_destroy(actions);
            posix_spawnattr_destroy(attr);
        }

        static void Check(int rc, string call) { if (rc != 0) throw new SyscallException(call, rc); }
    }

    public void ReplaceProcess(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp)
    {
        var args = new NativeStringArray(argv);
        var env = new NativeStringArray(envp);
        var pathBytes = NativeStringArray.Utf8Z(path);
        ResetSignalsForExec();
        fixed (byte* p = pathBytes) execve(p, args.Pointer, env.Pointer);
        var e = Errno.Last;
        args.Dispose();
        env.Dispose();
        throw new SyscallException("exec", e, path);
    }

    /// <summary>Ignored signals stay ignored across execve and blocked ones stay blocked; the .NET runtime ignores
    /// SIGPIPE, so put those dispositions back to default and unblock everything right before exec. Handled signals
    /// need nothing: exec itself resets them to default.</summary>
    private static void ResetSignalsForExec()
    {
        var ignored = IgnoredSignals() ?? ulong.MaxValue;
        for (var sig = 1; sig < 65; sig++)
        {
            if (sig is 9 or 19) continue; // SIGKILL, SIGSTOP cannot be changed
            if ((ignored & (1UL << (sig - 1))) != 0) signal(sig, 0);
        }
        var set = stackalloc ulong[16];
        sigemptyset(set);
        sigprocmask(2 /* SIG_SETMASK */, set, null);
    }

    /// <summary>The signals this process ignores (SigIgn of /proc/self/status: bit n-1 for signal n), or null
    /// without a readable /proc. One read instead of a sigaction call for each of the 64 signals.</summary>
    private static ulong? IgnoredSignals()
    {
        var fd = open("/proc/self/status", 0x80000 /* O_RDONLY|O_CLOEXEC */, 0);
        if (fd < 0) return null;
        var buffer = stackalloc byte[4096];
        nint length;
        try { length = read(fd, buffer, 4096); }
        finally { close(fd); }
        return length > 0 ? ParseSigIgn(new ReadOnlySpan<byte>(buffer, (int)length)) : null;
    }

    /// <summary>The SigIgn mask of a /proc/PID/status text, or null when it has none.</summary>
    public static ulong? ParseSigIgn(ReadOnlySpan<byte> status)
    {
        var at = status.IndexOf("\nSigIgn:"u8);
        if (at < 0) return null;
        var rest = status[(at + 8)..].TrimStart("\t "u8);
        var end = rest.IndexOf((byte)'\n');
        if (end >= 0) rest = rest[..end];
        return ulong.TryParse(rest, System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out var mask)
            ? mask : null;
    }

    public void StartSession() => Errno.Check(setsid(), "setsid");
    public void BecomeSubreaper() => Errno.Check(prctl(36 /* PR_SET_CHILD_SUBREAPER */, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)");
    public void SetParentDeathSignal(int signal) => Errno.Check(prctl(1 /* PR_SET_PDEATHSIG */, (ulong)signal, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)");

    [LibraryImport("libc", SetLastError = true)] private static partial int waitpid(int pid, int* status, int options);
    [LibraryImport("libc", SetLastError = true)] private static partial int kill(int pid, int sig);
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)] private static partial long syscall_pidfd_open(long number, int pid, uint flags);
    [LibraryImport("libc", SetLastError = true)] private static partial int setsid();
    [LibraryImport("libc")] private static partial int gettid();
    [LibraryImport("libc", SetLastError = true)] private static partial int prctl(int option, ulong a2, ulong a3, ulong a4, ulong a5);
    [LibraryImport("libc", SetLastError = true)] private static partial int execve(byte* path, byte** argv, byte** envp);
    [LibraryImport("libc")] private static partial nint signal(int sig, nint handler);
    [LibraryImport("libc")] private static partial int sigprocmask(int how, ulong* set, ulong* old);
    [LibraryImport("libc")] private static partial int sigemptyset(ulong* set);
    [LibraryImport("libc")] private static partial int sigfillset(ulong* set);
    [LibraryImport("libc")] private static partial int posix_spawn(int* pid, byte* path, void* actions, void* attr, byte** argv, byte** envp);
    [LibraryImport("libc")] private static partial int posix_spawn_file_actions_init(void* actions);
    [LibraryImport("libc")] private static partial int posix_spawn_file_actions_destroy(void* actions);
    [LibraryImport("libc")] private static partial int posix_spawn_file_actions_adddup2(void* actions, int fd, int newfd);
    [LibraryImport("libc")] private static partial int posix_spawnattr_init(void* attr);
    [LibraryImport("libc")] private static partial int posix_spawnattr_destroy(void* attr);
    [LibraryImport("libc")] private static partial int posix_spawnattr_setsigmask(void* attr, ulong* set);
    [LibraryImport("libc")] private static partial int posix_spawnattr_setsigdefault(void* attr, ulong* set);
    [LibraryImport("libc")] private static partial int posix_spawnattr_setflags(void* attr, short flags);
}

/// <summary>A NULL-terminated array of NUL-terminated UTF-8 strings in unmanaged memory (argv, envp).</summary>
public sealed unsafe class NativeStringArray : IDisposable
{
    public byte** Pointer { get; private set; }
    private readonly int _count;

    public NativeStringArray(IReadOnlyList<string> items)
    {
        _count = items.Count;
        Pointer = (byte**)NativeMemory.AllocZeroed((nuint)(_count + 1), (nuint)sizeof(nint));
        for (var i = 0; i < _count; i++)
        {
            var bytes = Utf8Z(items[i]);
            var mem = (byte*)NativeMemory.Alloc((nuint)bytes.Length);
            bytes.CopyTo(new Span<byte>(mem, bytes.Length));
            Pointer[i] = mem;
        }
    }

    public static byte[] Utf8Z(string s)
    {
        var bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(s) + 1];
        System.Text.Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }

    public void Dispose()
    {
        if (Pointer is null) return;
        for (var i = 0; i < _count; i++) NativeMemory.Free(Pointer[i]);
        NativeMemory.Free(Pointer);
        Pointer = null;
    }
}
