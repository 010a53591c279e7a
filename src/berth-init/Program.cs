using System.Runtime.InteropServices;

namespace Berth.Init;

/// <summary>
/// A container's pid 1 for <c>--init</c>: runs <c>berth-init -- COMMAND [ARG...]</c> as its child, forwards the
/// signals it receives to it, reaps every process that ends up its child (orphans re-parent to pid 1), and
/// exits with the command's status (128+N when a signal N ended it), as tini does for Docker. The command gets
/// its own process group, made the terminal's foreground group when stdin is one, so a key like Ctrl-C
/// reaches it once and not also through the init.
/// </summary>
public static unsafe partial class Program
{
    private const int WNOHANG = 1, EINTR = 4, ECHILD = 10, ENOENT = 2, EACCES = 13, PR_SET_CHILD_SUBREAPER = 36;
    private const int SIGCONT = 18;
    private const short POSIX_SPAWN_SETPGROUP = 0x02, POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08;

    /// <summary>The signals passed on (not SIGCHLD, the job-control stops, or those the kernel raises for a fault).</summary>
    private static readonly int[] Forwarded = [1, 2, 3, 10, 12, 14, 15, 23, 24, 25, 26, 27, 28, 29, 30];

    private static int child;
    private static int pendingSignal;

    public static int Main(string[] args)
    {
        var command = args is ["--", ..] ? args[1..] : args;
        if (command.Length == 0)
        {
            Console.Error.WriteLine("berth-init: usage: berth-init -- COMMAND [ARG...]");
            return 1;
        }
        // Outside a pid namespace of its own, orphans must still come to this process to be reaped.
        if (Environment.ProcessId != 1) _ = prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

        var registrations = new List<PosixSignalRegistration>();
        foreach (var signal in Forwarded)
        {
            try { registrations.Add(PosixSignalRegistration.Create((PosixSignal)signal, Forward)); }
            catch (Exception e) when (e is PlatformNotSupportedException or ArgumentOutOfRangeException or IOException) { }
        }

        var spawned = Spawn(command, out var error);
        if (spawned <= 0)
        {
            Console.Error.WriteLine($"berth-init: exec {command[0]} failed: {Marshal.GetPInvokeErrorMessage(error)}");
            return error is ENOENT ? 127 : error is EACCES ? 126 : 1;
        }
        Volatile.Write(ref child, spawned);
        if (isatty(0) == 1 && tcsetpgrp(0, spawned) == 0)
            _ = kill(-spawned, SIGCONT); // a shell that stopped itself waiting to be in the foreground goes on
        if (Interlocked.Exchange(ref pendingSignal, 0) is var early and > 0) _ = kill(spawned, early);

        var exitCode = 0;
        while (true)
        {
            int status;
            var pid = waitpid(-1, &status, 0);
            if (pid < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == EINTR) continue;
                if (errno == ECHILD) break;
                Console.Error.WriteLine($"berth-init: waitpid: {Marshal.GetPInvokeErrorMessage(errno)}");
                return 1;
            }
            if (pid != spawned) continue; // an orphan, reaped
            exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
            break;
        }
        // Whatever else has ended by now is reaped too; the kernel ends the rest with the namespace.
        int ignored;
        while (waitpid(-1, &ignored, WNOHANG) > 0) { }
        foreach (var registration in registrations) registration.Dispose();
        return exitCode;
    }

    private static void Forward(PosixSignalContext context)
    {
        context.Cancel = true;
        var pid = Volatile.Read(ref child);
        var signal = (int)context.Signal switch
        {
            -1 => 1, -2 => 2, -3 => 3, -4 => 15, -6 => 18, -7 => 28, var raw => raw,
        };
        if (pid > 0) _ = kill(pid, signal);
        else Volatile.Write(ref pendingSignal, signal);
    }

    /// <summary>posix_spawnp with default dispositions, an empty mask and a process group of its own; 0 and the errno on failure.</summary>
    private static int Spawn(string[] command, out int error)
    {
        var attr = stackalloc byte[1024];
        var all = stackalloc byte[256];
        var none = stackalloc byte[256];
        _ = posix_spawnattr_init(attr);
        _ = sigfillset(all);
        _ = sigemptyset(none);
        _ = posix_spawnattr_setsigdefault(attr, all);
        _ = posix_spawnattr_setsigmask(attr, none);
        _ = posix_spawnattr_setpgroup(attr, 0);
        _ = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

        var strings = new List<IntPtr>();
        try
        {
            var argv = new IntPtr[command.Length + 1];
            for (var i = 0; i < command.Length; i++) strings.Add(argv[i] = Marshal.StringToCoTaskMemUTF8(command[i]));
            var environ = *(IntPtr**)NativeLibrary.GetExport(NativeLibrary.Load("libc.so.6"), "environ");
            int pid;
            fixed (IntPtr* argvPointer = argv)
                error = posix_spawnp(&pid, (byte*)argv[0], IntPtr.Zero, attr, argvPointer, environ);
            return error == 0 ? pid : 0;
        }
        finally
        {
            foreach (var s in strings) Marshal.FreeCoTaskMem(s);
            _ = posix_spawnattr_destroy(attr);
        }
    }

    [LibraryImport("libc")] private static partial int posix_spawnp(int* pid, byte* file, IntPtr fileActions, void* attr, IntPtr* argv, IntPtr* envp);
    [LibraryImport("libc")] private static partial int posix_spawnattr_init(void* attr);
    [LibraryImport("libc")] private static partial int posix_spawnattr_destroy(void* attr);
    [LibraryImport("libc")] private static partial int posix_spawnattr_setflags(void* attr, short flags);
    [LibraryImport("libc")] private static partial int posix_spawnattr_setsigdefault(void* attr, void* set);
    [LibraryImport("libc")] private static partial int posix_spawnattr_setsigmask(void* attr, void* set);
    [LibraryImport("libc")] private static partial int posix_spawnattr_setpgroup(void* attr, int pgroup);
    [LibraryImport("libc")] private static partial int sigfillset(void* set);
    [LibraryImport("libc")] private static partial int sigemptyset(void* set);
    [LibraryImport("libc", SetLastError = true)] private static partial int waitpid(int pid, int* status, int options);
    [LibraryImport("libc")] private static partial int kill(int pid, int signal);
    [LibraryImport("libc")] private static partial int isatty(int fd);
    [LibraryImport("libc")] private static partial int tcsetpgrp(int fd, int pgrp);
    [LibraryImport("libc")] private static partial int prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);
}
