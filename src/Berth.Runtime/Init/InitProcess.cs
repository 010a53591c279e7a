using System.Text;
using Berth.Linux;
using Berth.Oci.Runtime;
using Berth.Runtime.Config;
using Berth.Runtime.Hooks;
using Berth.Runtime.Lifecycle;
using Berth.Runtime.Terminal;

namespace Berth.Runtime.Init;

/// <summary>
/// `berth-runtime init FD`: the process the runtime started inside the container's namespaces. It reads its
/// instructions from the inherited socket FD, sets up the container (rootfs, console), tells the runtime it is
/// ready, waits on the exec fifo for `start` (a container) and execs the user process. Errors before "ready" go
/// back to the runtime, which prints them; after it, to stderr.
/// </summary>
public static class InitProcess
{
    public static int Run(ISyscalls sys, int fd)
    {
        var channel = new InitChannel(sys, fd);
        InitRequest? request;
        try { request = channel.ReceiveRequest(); }
        catch (Exception e) { Console.Error.WriteLine($"init: {e.Message}"); return 1; }
        if (request is null) return 1; // the runtime went away before telling us anything
        return Continue(sys, channel, request, parsed: null, rootfsReady: false);
    }

    /// <summary>
    /// The init as a clone of `create` that did not exec (LaunchPlan.RunInChild): it already holds the parsed
    /// <paramref name="spec"/>. With <paramref name="rootfsFirst"/> (no hooks, no cgroup namespace: nothing in the
    /// rootfs step needs the runtime) it builds the rootfs while the runtime sets up the cgroup, and then waits for the
    /// request, which the runtime sends once the cgroup is made and limited, before anything the container's process could
    /// see of it. With <paramref name="cgroupJoin"/> the init is not in its cgroup yet: it moves itself in as soon as
    /// the request has come (so after the rootfs, or before a `cgroup` mount, which shows its cgroups), before anything
    /// of the container's runs. Otherwise the order is that of <see cref="Run"/>.
    /// </summary>
    public static int RunCloned(ISyscalls sys, int fd, Spec spec, string bundle, bool noPivot, bool rootfsFirst, DeferredCgroupJoin? cgroupJoin = null)
    {
        var channel = new InitChannel(sys, fd);
        string? early = null;
        InitRequest? request = null;
        var requestRead = false;
        var joined = cgroupJoin is null;
        void AwaitRequestAndJoin()
        {
            if (!requestRead)
            {
                requestRead = true;
                request = channel.ReceiveRequest() ?? throw new RuntimeGoneException();
            }
            if (!joined)
            {
                joined = true;
                cgroupJoin!.Join(sys);
            }
        }
        if (rootfsFirst)
        {
            try { RootfsStep.Prepare(spec, bundle, noPivot, sys, () => { }, cgroupJoin is null ? null : AwaitRequestAndJoin); }
            catch (RuntimeGoneException) { return 1; }
            catch (Exception e) { early = e.Message; }
        }
        if (!requestRead)
        {
            requestRead = true;
            try { request = channel.ReceiveRequest(); }
            catch (Exception e) { Console.Error.WriteLine($"init: {e.Message}"); return 1; }
        }
        if (request is null) return 1; // the runtime went away before telling us anything
        if (early is null && !joined)
        {
            try { AwaitRequestAndJoin(); }
            catch (Exception e) { early = e.Message; }
        }
        if (early is not null)
        {
            // Reported only now: the runtime reads reports after it has sent the request.
            try { channel.Send(new InitReport { Type = "error", Message = early }); } catch (Exception) { Console.Error.WriteLine(early); }
            return 1;
        }
        return Continue(sys, channel, request, spec, rootfsReady: rootfsFirst);
    }

    /// <summary>The runtime closed the channel before it sent the request (it failed, or was killed).</summary>
    private sealed class RuntimeGoneException : Exception;

    private static int Continue(ISyscalls sys, InitChannel channel, InitRequest request, Spec? parsed, bool rootfsReady)
    {
        string executable;
        Spec spec;
        SockFilter[]? seccomp;
        int fifoFd = -1, fifoReader = -1;
        try
        {
            if (request.NewCgroupNamespace) sys.UnshareNamespaces(Namespaces.CloneNewCgroup);
            spec = parsed ?? SpecLoader.Parse(request.Spec);
            var process = spec.Process!;
            if (request.ExtraEnv.Length > 0) (process.Env ??= []).AddRange(request.ExtraEnv);
            seccomp = ProcessStep.CompileSeccomp(spec);
            var hooks = new HookRunner(sys);
            if (request.Kind == "create")
            {
                fifoFd = request.FifoFd;
                var hooksRan = false;
                void BeforePivot()
                {
                    if (hooksRan) return;
                    hooksRan = true;
                    if (request.RuntimeHooks)
                    {
                        channel.Send(new InitReport { Type = "hooks" });
                        var answer = channel.ReceiveReport();
                        if (answer?.Type != "resume") throw new RuntimeException(answer?.Message ?? "runtime went away while running hooks");
                    }
                    hooks.Run(spec.Hooks?.CreateContainer, "createContainer", request.HookState ?? "{}");
                }
                if (!rootfsReady) RootfsStep.Prepare(spec, request.Bundle, request.NoPivot, sys, BeforePivot);
                BeforePivot();
            }
            else if (request.RootFd >= 0)
            {
                sys.EnterRootDirectory(request.RootFd);
                sys.CloseFd(request.RootFd);
            }
            if (process.Terminal) ConsoleSetup.Attach(sys, request.ConsoleSocket, process.ConsoleSize);
            else if (request.ConsoleSocket >= 0) sys.CloseFd(request.ConsoleSocket);
            executable = ExecutableLookup.Find(process);
            Credentials.ProcessSetup.Validate(process); // a bad name or limit fails `create`, before anything is applied
            // The read end of the exec fifo, open before "ready" so that `start`, which opens the write end and
            // fails when nobody reads, always finds it (see ExecFifo).
            if (fifoFd >= 0) fifoReader = ExecFifo.OpenReader(sys, fifoFd); // set for `create` only
            channel.Send(new InitReport { Type = "ready" });
            channel.Dispose(); // the user process must not inherit it
        }
        catch (Exception e)
        {
            try { channel.Send(new InitReport { Type = "error", Message = e.Message }); }
            catch (Exception) { Console.Error.WriteLine(e.Message); }
            return 1;
        }

        try
        {
            // While `start` is still on its way (the runtime that created us exits, and `start` is a new process), the
            // process is set up as far as it can be, so that `start` is followed by little more than the exec. runc does
            // the same (its init drops to the process's credentials before it waits on the fifo). Not when
            // startContainer hooks run in between: they run with the runtime's credentials and bounding set. Nor when
            // a seccomp filter must be loaded while still privileged (no noNewPrivileges): it would then filter the
            // wait on the fifo; that filter is loaded in the usual order, after the wait.
            void SetUpProcess(SockFilter[]? filter, bool boundingSetDropped)
            {
                sys.CloseOnExecFrom(3 + request.PreservedFds); // before seccomp, which may not allow close_range
                ProcessStep.Finalize(spec, sys, filter, boundingSetDropped);
            }
            var setUpEarly = request.Kind == "create" && fifoFd >= 0 && spec.Hooks?.StartContainer is not { Count: > 0 };
            var finalizeEarly = setUpEarly && (seccomp is null || spec.Process!.NoNewPrivileges);
            if (finalizeEarly) SetUpProcess(filter: null, boundingSetDropped: false);
            else if (setUpEarly) Credentials.ProcessSetup.DropBoundingSet(spec, sys);
            if (fifoReader >= 0)
            {
                fifoReader = ExecFifo.AwaitStart(sys, fifoReader, fifoFd);
                // The read end stays open through the startContainer hooks: a `start` that has poststart hooks to run
                // waits for it to close, so they run after these, as the spec orders.
                new HookRunner(sys).Run(spec.Hooks?.StartContainer, "startContainer", request.HookState ?? "{}");
                sys.CloseFd(fifoReader);
                sys.CloseFd(fifoFd);
            }
            if (finalizeEarly) ProcessStep.LoadSeccomp(spec, sys, seccomp);
            else SetUpProcess(seccomp, boundingSetDropped: setUpEarly);
            sys.ReplaceProcess(executable, spec.Process!.Args!, spec.Process.Env ?? []);
            return 127;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"berth-runtime init: {e.Message}");
            return 127;
        }
    }
}

/// <summary>Finds the process's executable as exec would (PATH from the process's env), before the runtime is told
/// the container is ready, so a missing program fails `create`, not `start`.</summary>
public static class ExecutableLookup
{
    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public static string Find(Process process, Func<string, bool>? isExecutable = null)
    {
        isExecutable ??= IsExecutableFile;
        var name = process.Args![0];
        if (name.Contains('/'))
        {
            var full = name.StartsWith('/') ? name : Path.Combine(process.Cwd, name);
            if (isExecutable(full)) return full;
            // runc's wording, which engines map to Docker's 127 (missing) and 126 (not executable).
            throw new RuntimeException(File.Exists(full) || Directory.Exists(full)
                ? $"exec: \"{name}\": permission denied"
                : $"exec: \"{name}\": stat {name}: no such file or directory");
        }
        var path = DefaultPath;
        foreach (var e in process.Env ?? [])
            if (e.StartsWith("PATH=", StringComparison.Ordinal)) path = e[5..];
        foreach (var dir in path.Split(':'))
        {
            var candidate = Path.Combine(dir.Length == 0 ? "." : dir, name);
            if (isExecutable(candidate)) return candidate;
        }
        throw new RuntimeException($"exec: \"{name}\": executable file not found in $PATH");
    }

    private static bool IsExecutableFile(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) return false;
            return (info.UnixFileMode & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }
}
