using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>
/// How to start a process inside namespaces from a multi-threaded .NET process. Everything the child needs is
/// marshalled to unmanaged memory before clone; the child then runs only [SuppressGCTransition] libc calls
/// (no allocation, no GC poll) until execveat, so it never touches the runtime whose other threads it lost.
/// Two shapes: with nothing to join, one clone(CLONE_NEW*) whose child execs; with namespaces to join by path
/// or a time namespace, the child joins (setns), unshares the new ones, and forks once more (CLONE_PARENT) so the
/// process that execs is inside the pid/time namespaces too. A <see cref="RunInChild"/> launch is always one clone:
/// its child joins by setns what it may join without a second fork (not user, pid or time) before it runs on.
/// </summary>
public sealed unsafe class LaunchPlan : IDisposable
{
    /// <summary>New namespaces (CLONE_NEW*), excluding cgroup (the init unshares it once placed in its cgroup).</summary>
    public int NewNamespaces { get; init; }
    /// <summary>Namespaces to join: an open descriptor each, with its CLONE_NEW* flag, in join order.</summary>
    public IReadOnlyList<(int Fd, int Flag, string Name)> Joins { get; init; } = [];
    /// <summary>
    /// Open descriptors of a cgroup's v1 `tasks` files (ICgroup.SelfJoinFiles). The process that execs (or runs
    /// <see cref="RunInChild"/>) writes "0" to each before anything else of its own, so it is in the container's cgroup,
    /// with its limits, from then on. Moving the calling thread of a one-thread process this way skips the kernel's
    /// global threadgroup lock that writing a pid to cgroup.procs takes (an RCU grace period, about 10 ms here).
    /// </summary>
    public IReadOnlyList<(int Fd, string Path)> CgroupTasks { get; init; } = [];
    /// <summary>Contents for /proc/self/timens_offsets when a new time namespace is made.</summary>
    public string? TimeOffsets { get; init; }
    /// <summary>
    /// For joining a container's mount namespace: the kernel resolves the executable's ELF interpreter in the mount
    /// namespace current at execve, and the container has no copy of ours. When set (an O_PATH descriptor of the
    /// host's "/"), the child, after joining, opens the container's "/" onto descriptor <see cref="ContainerRootFd"/>
    /// and chroots back to the host's root; the new program then enters the container root with that descriptor.
    /// </summary>
    public int HostRootFd { get; init; } = -1;
    /// <summary>The descriptor number the container's root is left on (see <see cref="HostRootFd"/>).</summary>
    public int ContainerRootFd { get; init; } = -1;
    /// <summary>A new user namespace's id maps must be written before the exec (the kernel computes the new program's
    /// capabilities from its uid in the namespace). When set, the child blocks reading this descriptor (the read end of
    /// a pipe) until <see cref="BeforeExec"/> has written the maps and a byte, then becomes uid/gid 0 of the namespace.</summary>
    public int MappingGateFd { get; init; } = -1;
    /// <summary>Become uid/gid 0 of the (joined) user namespace before exec, so the new program keeps its capabilities there.</summary>
    public bool BecomeNamespaceRoot { get; init; }
    /// <summary>Called in the parent with the pid of the process that will exec, before it execs (write id maps here,
    /// then release <see cref="MappingGateFd"/>).</summary>
    public Action<int>? BeforeExec { get; init; }
    /// <summary>Descriptors the new program inherits (their close-on-exec flag is cleared in the child).</summary>
    public IReadOnlyList<int> InheritedFds { get; init; } = [];
    /// <summary>An open descriptor of the executable (execveat with AT_EMPTY_PATH: no path lookup in the new mount namespace);
    /// unused with <see cref="RunInChild"/>.</summary>
    public int ExecutableFd { get; init; } = -1;
    public IReadOnlyList<string> Argv { get; init; } = [];
    public IReadOnlyList<string> Envp { get; init; } = [];
    /// <summary>
    /// Instead of exec'ing a new program, the cloned child runs this managed function and _exits with its result: no
    /// second runtime start-up and no re-parsing of what the parent already holds. Only for one-stage launches: joins
    /// of namespaces that take effect for the caller at setns (not user, pid or time), no time namespace, no id-map gate. The child is a copy of this process with only the calling thread:
    /// the other threads (NativeAOT's finalizer, parked in a wait outside managed code, so a GC in the child need not
    /// suspend it) are gone, which is why <see cref="LinuxSyscalls.WithoutOtherThreads"/> is set there (glibc's
    /// set*id would wait on the missing threads). Everything the child does must end in execve or _exit, never in a
    /// return to the parent's code.
    /// </summary>
    public Func<int>? RunInChild { get; init; }
    /// <summary>The parent's descriptors the <see cref="RunInChild"/> child closes first (it does not exec, so
    /// close-on-exec does not drop them; an open copy of the parent's socket end would hide the parent's exit).</summary>
    public IReadOnlyList<int> CloseInChild { get; init; } = [];

    private enum Step { None, Join, Unshare, TimeOffsets, Fork, KeepFd, Exec, RootSwitch, Mapping, Cgroup }
    private static readonly string[] StepNames = ["", "setns", "unshare", "write timens_offsets", "clone", "fcntl", "execveat", "keeping the container root", "becoming root of the user namespace", "joining the container's cgroup: write"];

    /// <summary>Namespaces a RunInChild clone cannot join by setns: user (it would change the credentials the managed
    /// child runs with), and pid and time, which only the caller's later children enter.</summary>
    private const int SecondForkJoins = Namespaces.CloneNewUser | Namespaces.CloneNewPid | Namespaces.CloneNewTime;

    private const int O_PATH = 0x200000, O_DIRECTORY = 0x10000, SIGCHLD = 17, CLONE_PARENT = 0x00008000, AT_EMPTY_PATH = 0x1000, F_SETFD = 2, O_WRONLY = 1, O_CLOEXEC = 0x80000;

    [StructLayout(LayoutKind.Sequential)]
    private struct Report { public int Kind; public int Step; public int Index; public int Value; } // Kind 1: pid, 2: failure

    private NativeStringArray? _argv, _envp;

    public int Run()
    {
        var twoStage = RunInChild is null && (Joins.Count > 0 || (NewNamespaces & Namespaces.CloneNewTime) != 0);
        if (RunInChild is not null && ((NewNamespaces & Namespaces.CloneNewTime) != 0 || MappingGateFd >= 0 || HostRootFd >= 0 || JoinsAny(SecondForkJoins)))
            throw new InvalidOperationException("RunInChild needs a one-stage launch (no user, pid or time join, no time namespace, no id-map gate)");
        // The clone keeps only this thread. NativeAOT's finalizer thread is parked outside managed code unless it is
        // running finalizers, which only a GC can have queued: let it finish them first, so a GC in the clone never
        // waits for a thread caught in managed code.
        if (RunInChild is not null && GC.CollectionCount(0) > 0) GC.WaitForPendingFinalizers();
        var closeInChild = stackalloc int[Math.Max(1, CloseInChild.Count)];
        for (var i = 0; i < CloseInChild.Count; i++) closeInChild[i] = CloseInChild[i];
        _argv = new NativeStringArray(Argv);
        _envp = new NativeStringArray(Envp);
        var joinFds = stackalloc int[Math.Max(1, Joins.Count)];
        var joinFlags = stackalloc int[Math.Max(1, Joins.Count)];
        for (var i = 0; i < Joins.Count; i++) { joinFds[i] = Joins[i].Fd; joinFlags[i] = Joins[i].Flag; }
        var keep = stackalloc int[Math.Max(1, InheritedFds.Count)];
        for (var i = 0; i < InheritedFds.Count; i++) keep[i] = InheritedFds[i];
        var cgroupTasks = stackalloc int[Math.Max(1, CgroupTasks.Count)];
        for (var i = 0; i < CgroupTasks.Count; i++) cgroupTasks[i] = CgroupTasks[i].Fd;
        var cgroupTaskCount = CgroupTasks.Count;
        var joinCount = Joins.Count;
        var zero = stackalloc byte[1];
        zero[0] = (byte)'0';
        var offsets = NativeStringArray.Utf8Z(TimeOffsets ?? "");
        var offsetsPath = NativeStringArray.Utf8Z("/proc/self/timens_offsets");
        var empty = stackalloc byte[1];
        empty[0] = 0;
        var slash = stackalloc byte[2];
        slash[0] = (byte)'/'; slash[1] = 0;
        var dot = stackalloc byte[2];
        dot[0] = (byte)'.'; dot[1] = 0;

        var pipe = stackalloc int[2];
        if (pipe2(pipe, O_CLOEXEC) != 0) throw new SyscallException("pipe2", Marshal.GetLastSystemError());
        long pid;
        fixed (byte* offsetsText = offsets)
        fixed (byte* offsetsFile = offsetsPath)
        {
            var cloneFlags = twoStage ? 0 : NewNamespaces & ~Namespaces.CloneNewCgroup;
            pid = RawClone(cloneFlags | SIGCHLD);
            if (pid == 0 && RunInChild is not null)
            {
                // Failures until here go to the parent through the pipe, as the exec'ing child's do.
                for (var i = 0; i < joinCount; i++)
                {
                    if (setns(joinFds[i], joinFlags[i]) != 0) Fail(pipe[1], Step.Join, i);
                    close(joinFds[i]);
                }
                EnterCgroup(cgroupTasks, cgroupTaskCount, zero, pipe[1], closeAfter: true);
                close(pipe[1]);
                close(pipe[0]);
                for (var i = 0; i < CloseInChild.Count; i++) close(closeInChild[i]);
                for (var i = 0; i < InheritedFds.Count; i++) fcntl(keep[i], F_SETFD, 0);
                RunManagedChild(RunInChild);
            }
            if (pid == 0)
            {
                Child(twoStage, joinFds, joinFlags, Joins.Count, NewNamespaces & ~Namespaces.CloneNewCgroup, offsetsText, offsets.Length - 1,
                    offsetsFile, keep, InheritedFds.Count, ExecutableFd, empty, _argv.Pointer, _envp.Pointer, pipe[1],
                    HostRootFd, ContainerRootFd, slash, dot, MappingGateFd, BecomeNamespaceRoot || MappingGateFd >= 0, cgroupTasks, cgroupTaskCount, zero);
            }
        }
        var cloneErrno = pid < 0 ? *__errno_location() : 0;
        close(pipe[1]);
        if (pid < 0) { close(pipe[0]); throw new SyscallException("clone", cloneErrno); }

        // Read the child's reports until every copy of the pipe's write end is gone (exec or exit).
        var execPid = (int)pid;
        Report failure = default;
        Report r;
        Exception? callbackError = null;
        if (!twoStage) callbackError = Notify(execPid);
        // A RunInChild clone with nothing to join reports nothing on the pipe (it fails only through its init channel):
        // do not wait for it to be scheduled and close its copy before going on.
        var reports = RunInChild is null || joinCount > 0 || cgroupTaskCount > 0;
        while (reports)
        {
            var n = read(pipe[0], &r, sizeof(Report));
            if (n < 0 && Marshal.GetLastSystemError() == Errno.EINTR) continue;
            if (n != sizeof(Report)) break;
            if (r.Kind == 1) { execPid = r.Value; callbackError = Notify(execPid); }
            else failure = r;
        }
        close(pipe[0]);
        if (twoStage)
        {
            int status;
            while (waitpid((int)pid, &status, 0) < 0 && Marshal.GetLastSystemError() == Errno.EINTR) { }
        }
        if (callbackError is not null)
        {
            int status;
            waitpid(execPid, &status, 0);
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(callbackError).Throw();
        }
        if (failure.Kind == 2)
        {
            if (execPid != pid) { int status; waitpid(execPid, &status, 0); }
            else if (!twoStage) { int status; waitpid(execPid, &status, 0); }
            var subject = failure.Step switch
            {
                (int)Step.Join => Joins[failure.Index].Name,
                (int)Step.Cgroup => CgroupTasks[failure.Index].Path,
                _ => null,
            };
            throw new SyscallException(StepNames[failure.Step], failure.Value, subject);
        }
        return execPid;
    }

    private bool JoinsAny(int flags)
    {
        foreach (var join in Joins) if ((join.Flag & flags) != 0) return true;
        return false;
    }

    /// <summary>In the child: "0" to each cgroup `tasks` descriptor (see <see cref="CgroupTasks"/>). Raw calls only.</summary>
    private static void EnterCgroup(int* fds, int count, byte* zero, int reportFd, bool closeAfter)
    {
        for (var i = 0; i < count; i++)
        {
            if (write(fds[i], zero, 1) != 1) Fail(reportFd, Step.Cgroup, i);
            if (closeAfter) close(fds[i]);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RunManagedChild(Func<int> body)
    {
        LinuxSyscalls.WithoutOtherThreads = true;
        var code = 1;
        try { code = body(); }
        catch (Exception e)
        {
            try { Console.Error.WriteLine($"berth: container init: {e.Message}"); } catch (Exception) { }
        }
        _exit(code);
    }

    private Exception? Notify(int execPid)
    {
        if (BeforeExec is null) return null;
        try { BeforeExec(execPid); return null; }
        catch (Exception e)
        {
            kill(execPid, 9); // it waits for us at the gate: make it go away so the report pipe closes
            return e;
        }
    }

    /// <summary>The cloned child. Only raw calls from here on: no allocation, no GC transition.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Child(bool twoStage, int* joinFds, int* joinFlags, int joinCount, int newNamespaces, byte* offsets, int offsetsLength,
        byte* offsetsFile, int* keep, int keepCount, int exeFd, byte* empty, byte** argv, byte** envp, int reportFd,
        int hostRoot, int containerRootTarget, byte* slash, byte* dot, int mappingGate, bool becomeRoot, int* cgroupTasks, int cgroupTaskCount, byte* zero)
    {
        if (twoStage)
        {
            for (var i = 0; i < joinCount; i++)
                if (setns(joinFds[i], joinFlags[i]) != 0) Fail(reportFd, Step.Join, i);
            if (hostRoot >= 0)
            {
                var containerRoot = open(slash, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (containerRoot < 0 || dup2(containerRoot, containerRootTarget) < 0) Fail(reportFd, Step.RootSwitch, 0);
                close(containerRoot);
                if (fchdir(hostRoot) != 0 || chroot(dot) != 0) Fail(reportFd, Step.RootSwitch, 1);
            }
            if (newNamespaces != 0 && unshare(newNamespaces) != 0) Fail(reportFd, Step.Unshare, 0);
            if ((newNamespaces & Namespaces.CloneNewTime) != 0 && offsetsLength > 0)
            {
                var fd = open(offsetsFile, O_WRONLY | O_CLOEXEC);
                if (fd < 0 || write(fd, offsets, offsetsLength) != offsetsLength) Fail(reportFd, Step.TimeOffsets, 0);
                close(fd);
            }
            var grandchild = RawClone(CLONE_PARENT | SIGCHLD);
            if (grandchild < 0) Fail(reportFd, Step.Fork, 0);
            if (grandchild > 0)
            {
                Report r = new() { Kind = 1, Value = (int)grandchild };
                write(reportFd, &r, sizeof(Report));
                _exit(0);
            }
        }
        // The process that execs (the second fork's, which has the pid/time namespaces) moves itself: only one
        // process of the launch ever counts against the cgroup's pids limit. Its descriptors close at exec.
        EnterCgroup(cgroupTasks, cgroupTaskCount, zero, reportFd, closeAfter: false);
        if (mappingGate >= 0)
        {
            byte go;
            if (read_raw(mappingGate, &go, 1) != 1) Fail(reportFd, Step.Mapping, 0);
        }
        // Raw syscalls, not libc's setresgid/setresuid: those broadcast the change to every thread glibc knows of
        // (the parent's threads, absent here) and wait on a futex for their answers, which hung this child at times.
        if (becomeRoot && (RawSetResGid(0) != 0 || RawSetResUid(0) != 0)) Fail(reportFd, Step.Mapping, 1);
        for (var i = 0; i < keepCount; i++)
            if (fcntl(keep[i], F_SETFD, 0) != 0) Fail(reportFd, Step.KeepFd, i);
        execveat(exeFd, empty, argv, envp, AT_EMPTY_PATH);
        Fail(reportFd, Step.Exec, 0);
    }

    private static void Fail(int reportFd, Step step, int index)
    {
        Report r = new() { Kind = 2, Step = (int)step, Index = index, Value = *__errno_location() };
        write(reportFd, &r, sizeof(Report));
        _exit(1);
    }

    private static long RawSetResUid(uint id)
        => syscall(RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 147 : 117, id, id, id, 0, 0);

    private static long RawSetResGid(uint id)
        => syscall(RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 149 : 119, id, id, id, 0, 0);

    private static long RawClone(int flags)
    {
        var number = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 220 : 56;
        return syscall(number, flags, 0, 0, 0, 0);
    }

    public void Dispose()
    {
        _argv?.Dispose();
        _envp?.Dispose();
    }

#pragma warning disable SYSLIB1054 // DllImport on purpose: blittable, no marshalling stub, no GC transition in the child.
    [DllImport("libc"), SuppressGCTransition] private static extern long syscall(long number, long a1, long a2, long a3, long a4, long a5);
    [DllImport("libc"), SuppressGCTransition] private static extern int setns(int fd, int nstype);
    [DllImport("libc"), SuppressGCTransition] private static extern int unshare(int flags);
    [DllImport("libc"), SuppressGCTransition] private static extern int fcntl(int fd, int cmd, int arg);
    [DllImport("libc"), SuppressGCTransition] private static extern int execveat(int dirfd, byte* path, byte** argv, byte** envp, int flags);
    [DllImport("libc"), SuppressGCTransition] private static extern nint write(int fd, void* buf, nint count);
    [DllImport("libc"), SuppressGCTransition] private static extern int open(byte* path, int flags);
    [DllImport("libc"), SuppressGCTransition] private static extern int close(int fd);
    [DllImport("libc"), SuppressGCTransition] private static extern int dup2(int fd, int target);
    [DllImport("libc"), SuppressGCTransition] private static extern int fchdir(int fd);
    [DllImport("libc"), SuppressGCTransition] private static extern int chroot(byte* path);
    [DllImport("libc"), SuppressGCTransition] private static extern void _exit(int code);
    [DllImport("libc"), SuppressGCTransition] private static extern int* __errno_location();
    [DllImport("libc", EntryPoint = "read"), SuppressGCTransition] private static extern nint read_raw(int fd, void* buf, nint count);
    [DllImport("libc")] private static extern int kill(int pid, int sig);
    [DllImport("libc")] private static extern int pipe2(int* fds, int flags);
    [DllImport("libc")] private static extern nint read(int fd, void* buf, nint count);
    [DllImport("libc")] private static extern int waitpid(int pid, int* status, int options);
#pragma warning restore SYSLIB1054
}
