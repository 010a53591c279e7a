using System.Runtime.InteropServices;
using System.Text;

namespace Berth.Bench;

/// <summary>
/// A program started with posix_spawn, its stdin on /dev/null and its stdout and stderr on pipes, waited for on the
/// calling thread (a pidfd and poll). The runtime scenario times processes that live one to forty milliseconds each:
/// .NET's Process, with its SIGCHLD thread and asynchronous pipe readers, added about 0.8 ms to every one of them, for
/// every runtime alike, which blurred the ratio between them.
/// </summary>
internal sealed unsafe partial class SpawnedProcess : IDisposable
{
    public int Pid { get; }
    private readonly int _pidfd;
    private int _stdout, _stderr;
    private readonly StringBuilder _output = new();
    private int _exitCode = -1;

    private SpawnedProcess(int pid, int pidfd, int stdout, int stderr) => (Pid, _pidfd, _stdout, _stderr) = (pid, pidfd, stdout, stderr);

    private static readonly byte** Environ = NativeStrings(Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
        .Select(e => $"{e.Key}={e.Value}").ToArray());

    public static SpawnedProcess Start(IReadOnlyList<string> argv)
    {
        var stdout = stackalloc int[2];
        var stderr = stackalloc int[2];
        Check(pipe2(stdout, OCloexec), "pipe2");
        if (pipe2(stderr, OCloexec) != 0) { close(stdout[0]); close(stdout[1]); throw Failure("pipe2"); }
        var actions = stackalloc byte[128]; // posix_spawn_file_actions_t: 80 bytes in glibc
        posix_spawn_file_actions_init(actions);
        var devNull = Utf8("/dev/null");
        var args = NativeStrings(argv);
        try
        {
            fixed (byte* nullPath = devNull)
            {
                posix_spawn_file_actions_addopen(actions, 0, nullPath, 0, 0);
                posix_spawn_file_actions_adddup2(actions, stdout[1], 1);
                posix_spawn_file_actions_adddup2(actions, stderr[1], 2);
                int pid;
                var error = posix_spawn(&pid, args[0], actions, null, args, Environ);
                close(stdout[1]);
                close(stderr[1]);
                if (error != 0)
                {
                    close(stdout[0]);
                    close(stderr[0]);
                    throw new BenchException($"{argv[0]}: {Marshal.GetPInvokeErrorMessage(error)}");
                }
                var pidfd = (int)syscall(434 /* pidfd_open */, pid, 0);
                if (pidfd < 0)
                {
                    var failure = Failure("pidfd_open");
                    kill(pid, 9);
                    waitpid(pid, null, 0);
                    close(stdout[0]);
                    close(stderr[0]);
                    throw failure;
                }
                return new SpawnedProcess(pid, pidfd, stdout[0], stderr[0]);
            }
        }
        finally
        {
            posix_spawn_file_actions_destroy(actions);
            FreeNativeStrings(args);
        }
    }

    /// <summary>Waits for the process to exit and reaps it; kills it and throws after <paramref name="timeout"/>.</summary>
    public int WaitForExit(TimeSpan timeout, string what)
    {
        if (_exitCode >= 0) return _exitCode;
        var fds = stackalloc PollFd[1];
        fds[0] = new PollFd { Fd = _pidfd, Events = PollIn };
        if (PollRetrying(fds, 1, timeout) == 0)
        {
            kill(Pid, 9);
            Reap();
            throw new BenchException($"{what}: timed out");
        }
        return Reap();
    }

    /// <summary>Reads stdout and stderr until both reach end of file: for `create`, the moment the container has exited
    /// (it holds the pipes, the runtime closed its copies). False after <paramref name="timeout"/>.</summary>
    public bool ReadToEnd(TimeSpan timeout)
    {
        var buffer = stackalloc byte[4096];
        var fds = stackalloc PollFd[2];
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (_stdout >= 0 || _stderr >= 0)
        {
            var n = 0;
            if (_stdout >= 0) fds[n++] = new PollFd { Fd = _stdout, Events = PollIn };
            if (_stderr >= 0) fds[n++] = new PollFd { Fd = _stderr, Events = PollIn };
            var left = deadline - Environment.TickCount64;
            if (left <= 0 || PollRetrying(fds, n, TimeSpan.FromMilliseconds(left)) == 0) return false;
            for (var i = 0; i < n; i++)
            {
                if (fds[i].Revents == 0) continue;
                var read = (int)read_fd(fds[i].Fd, buffer, 4096);
                if (read > 0) { _output.Append(Encoding.UTF8.GetString(buffer, read)); continue; }
                if (read < 0 && Marshal.GetLastPInvokeError() == 4 /* EINTR */) continue;
                close(fds[i].Fd);
                if (fds[i].Fd == _stdout) _stdout = -1; else _stderr = -1;
            }
        }
        return true;
    }

    /// <summary>What the process wrote so far (stdout and stderr interleaved as read).</summary>
    public string Output => _output.ToString();

    private int Reap()
    {
        int status;
        while (waitpid(Pid, &status, 0) < 0)
            if (Marshal.GetLastPInvokeError() != 4 /* EINTR */) return _exitCode = 255;
        return _exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
    }

    private static int PollRetrying(PollFd* fds, int count, TimeSpan timeout)
    {
        while (true)
        {
            var n = poll(fds, (ulong)count, (int)Math.Min(int.MaxValue, timeout.TotalMilliseconds));
            if (n >= 0) return n;
            if (Marshal.GetLastPInvokeError() != 4 /* EINTR */) throw Failure("poll");
        }
    }

    public void Dispose()
    {
        if (_exitCode < 0) { kill(Pid, 9); Reap(); }
        if (_stdout >= 0) close(_stdout);
        if (_stderr >= 0) close(_stderr);
        close(_pidfd);
    }

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s + "\0");

    private static byte** NativeStrings(IReadOnlyList<string> strings)
    {
        var array = (byte**)NativeMemory.Alloc((nuint)(strings.Count + 1), (nuint)sizeof(byte*));
        for (var i = 0; i < strings.Count; i++)
        {
            var bytes = Utf8(strings[i]);
            array[i] = (byte*)NativeMemory.Alloc((nuint)bytes.Length);
            bytes.CopyTo(new Span<byte>(array[i], bytes.Length));
        }
        array[strings.Count] = null;
        return array;
    }

    private static void FreeNativeStrings(byte** array)
    {
        for (var p = array; *p != null; p++) NativeMemory.Free(*p);
        NativeMemory.Free(array);
    }

    private static void Check(int result, string call) { if (result != 0) throw Failure(call); }
    private static BenchException Failure(string call) => new($"{call}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");

    private const int OCloexec = 0x80000;
    private const short PollIn = 1;

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd { public int Fd; public short Events; public short Revents; }

    [LibraryImport("libc", SetLastError = true)] private static partial int pipe2(int* fds, int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial int close(int fd);
    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)] private static partial nint read_fd(int fd, byte* buffer, nint count);
    [LibraryImport("libc", SetLastError = true)] private static partial int poll(PollFd* fds, ulong count, int timeout);
    [LibraryImport("libc", SetLastError = true)] private static partial int waitpid(int pid, int* status, int options);
    [LibraryImport("libc", SetLastError = true)] private static partial int kill(int pid, int signal);
    [LibraryImport("libc", SetLastError = true)] private static partial long syscall(long number, int pid, uint flags);
    [LibraryImport("libc")] private static partial int posix_spawn(int* pid, byte* path, void* actions, void* attributes, byte** argv, byte** envp);
    [LibraryImport("libc")] private static partial int posix_spawn_file_actions_init(void* actions);
    [LibraryImport("libc")] private static partial int posix_spawn_file_actions_destroy(void* actions);
    [LibraryImport("libc")] private static partial int posix_spawn_file_actions_adddup2(void* actions, int fd, int newFd);
    [LibraryImport("libc")] private static partial int posix_spawn_file_actions_addopen(void* actions, int fd, byte* path, int flags, uint mode);
}
