using System.Runtime.InteropServices;
using System.Text.Json;
using Berth.Linux;
using Berth.Oci.Runtime;
using Berth.Runtime.Cli;
using Berth.Runtime.Config;
using Berth.Runtime.Init;
using Berth.Runtime.State;

namespace Berth.Runtime.Lifecycle;

/// <summary>
/// `exec`: a new process in a running container, with the same confinement as its init: every namespace of the
/// container joined, its cgroup, its seccomp filter, and the process's own user, capabilities and limits.
/// </summary>
public sealed class ContainerExecutor(ISyscalls sys, StateStore store)
{
    public int Exec(CommandLine line)
    {
        if (line.Arguments.Count == 0) throw new RuntimeException("exec: container id cannot be empty");
        var id = ContainerId.Validate(line.Arguments[0]);
        var record = store.Load(id);
        var status = store.StatusOf(record);
        if (status == ContainerStatus.Stopped) throw new RuntimeException("cannot exec in a stopped container");
        if (status == ContainerStatus.Paused && !line.Has("ignore-paused")) throw new RuntimeException("cannot exec in a paused container");
        var spec = new ContainerOperations(sys, store).LoadConfig(record) ?? throw new RuntimeException($"container {id}: config is missing");
        spec.Process = ProcessOf(line, spec.Process);
        SpecLoader.ValidateProcess(spec.Process, line.Value("process") is null ? "exec" : "process.json");
        if (spec.Process.Terminal && line.Value("console-socket") is null) throw new RuntimeException("exec -t needs --console-socket");

        var consoleFd = -1;
        if (line.Value("console-socket") is { } socketPath)
        {
            try { consoleFd = sys.ConnectUnixSocket(socketPath); }
            catch (SyscallException e) { throw new RuntimeException($"--console-socket: {e.Message}"); }
        }
        var preserved = PreservedFds.OfThisProcess(PreservedFds.ParseFlag(line.Value("preserve-fds")));
        var (parentEnd, childEnd) = sys.CreateSocketPair();
        using var channel = new InitChannel(sys, parentEnd);
        int pid;
        var rootTarget = sys.OpenFile("/", OpenFlags.O_PATH | OpenFlags.O_DIRECTORY); // reserves a descriptor number
        try { pid = Launch(record, spec, childEnd, consoleFd, rootTarget, preserved.Fds); }
        finally
        {
            sys.CloseFd(childEnd);
            sys.CloseFd(rootTarget);
            if (consoleFd >= 0) sys.CloseFd(consoleFd);
        }
        try
        {
            ContainerCgroup.Open(record.CgroupsPath, id)?.AddProcess(pid);
            channel.Send(new InitRequest
            {
                Kind = "exec", Id = id, Bundle = record.Bundle, Rootfs = record.Rootfs,
                Spec = JsonSerializer.SerializeToUtf8Bytes(spec, RuntimeJsonContext.Default.Spec), ConsoleSocket = consoleFd,
                RootFd = spec.Linux?.Namespaces?.Exists(n => n.Type == "mount") == true ? rootTarget : -1, ExtraEnv = [.. preserved.Env], PreservedFds = preserved.Fds.Count,
            });
            var report = channel.ReceiveReport();
            if (report?.Type != "ready") throw new RuntimeException(report?.Message ?? "exec: the process exited before it was ready");
        }
        catch
        {
            sys.SendSignal(pid, 9);
            try { sys.WaitForChild(pid, out _); } catch (SyscallException) { }
            throw;
        }
        if (line.Value("pid-file") is { } pidFile) ContainerCreator.WritePidFile(pidFile, pid);
        if (line.Has("detach")) return 0;
        var forwarded = new List<PosixSignalRegistration>();
        foreach (var (s, n) in new[] { (PosixSignal.SIGINT, 2), (PosixSignal.SIGTERM, 15), (PosixSignal.SIGHUP, 1), (PosixSignal.SIGQUIT, 3) })
            forwarded.Add(PosixSignalRegistration.Create(s, c => { c.Cancel = true; sys.SendSignal(pid, n); }));
        try
        {
            sys.WaitForChild(pid, out var waitStatus);
            return WaitStatus.ShellCode(waitStatus);
        }
        finally { foreach (var r in forwarded) r.Dispose(); }
    }

    /// <summary>-p process.json, or the container's process with ARGS and the flags applied (as runc builds it).</summary>
    public static Process ProcessOf(CommandLine line, Process? template)
    {
        Process process;
        if (line.Value("process") is { } file)
        {
            var bytes = file == "-" ? ReadStdin() : File.ReadAllBytes(file);
            try { process = JsonSerializer.Deserialize(bytes, RuntimeJsonContext.Default.Process) ?? throw new JsonException("null"); }
            catch (JsonException e) { throw new RuntimeException($"process.json: malformed{(e.Path is { Length: > 1 } p ? " at " + p.TrimStart('$', '.') : "")}"); }
        }
        else
        {
            if (line.Arguments.Count < 2) throw new RuntimeException("exec: no command given (ARGS or -p process.json)");
            var t = template ?? new Process();
            process = new Process
            {
                Args = line.Arguments.Skip(1).ToList(), Env = t.Env is null ? [] : [.. t.Env], Cwd = t.Cwd,
                User = new User { Uid = t.User.Uid, Gid = t.User.Gid, AdditionalGids = t.User.AdditionalGids, Umask = t.User.Umask },
                Capabilities = t.Capabilities, Rlimits = t.Rlimits, NoNewPrivileges = t.NoNewPrivileges, ApparmorProfile = t.ApparmorProfile,
                OomScoreAdj = t.OomScoreAdj, SelinuxLabel = t.SelinuxLabel,
            };
        }
        if (line.Has("tty")) process.Terminal = true;
        if (line.Value("cwd") is { } cwd) process.Cwd = cwd;
        foreach (var e in line.Values("env")) (process.Env ??= []).Add(e);
        if (line.Value("user") is { } user)
        {
            var parts = user.Split(':');
            if (!uint.TryParse(parts[0], out var uid) || (parts.Length > 1 && !uint.TryParse(parts[1], out _)) || parts.Length > 2)
                throw new RuntimeException($"--user: \"{user}\" is not UID[:GID]");
            process.User.Uid = uid;
            if (parts.Length > 1) process.User.Gid = uint.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        foreach (var g in line.Values("additional-gids"))
            (process.User.AdditionalGids ??= []).Add(uint.TryParse(g, out var gid) ? gid : throw new RuntimeException($"--additional-gids: \"{g}\" is not a number"));
        if (line.Has("no-new-privs")) process.NoNewPrivileges = true;
        foreach (var cap in line.Values("cap"))
        {
            process.Capabilities ??= new Capabilities();
            foreach (var set in new Func<Capabilities, List<string>?>[] { c => c.Bounding ??= [], c => c.Effective ??= [], c => c.Permitted ??= [] })
                set(process.Capabilities)!.Add(cap);
        }
        if (line.Value("apparmor") is { } aa) process.ApparmorProfile = aa;
        if (line.Value("process-label") is { } label) process.SelinuxLabel = label;
        return process;
    }

    private static byte[] ReadStdin()
    {
        using var stdin = Console.OpenStandardInput();
        using var buffer = new MemoryStream();
        stdin.CopyTo(buffer);
        return buffer.ToArray();
    }

    private int Launch(ContainerRecord record, Spec spec, int initFd, int consoleFd, int rootTarget, IReadOnlyList<int> preserved)
    {
        var joins = new List<(int Fd, int Flag, string Name)>();
        var hostRoot = -1;
        try
        {
            foreach (var (specType, procName, flag) in Namespaces.All)
            {
                if (spec.Linux?.Namespaces?.Exists(n => n.Type == specType) != true) continue;
                try { joins.Add((sys.OpenFile($"/proc/{record.Pid}/ns/{procName}", OpenFlags.O_RDONLY), flag, $"{specType} namespace")); }
                catch (SyscallException e) { throw new RuntimeException($"exec: joining the container's {specType} namespace: {e.Message}"); }
            }
            var joinsMount = joins.Exists(j => j.Flag == Namespaces.CloneNewNs);
            if (joinsMount) hostRoot = sys.OpenFile("/", OpenFlags.O_PATH | OpenFlags.O_DIRECTORY);
            var exe = sys.OpenFile("/proc/self/exe", OpenFlags.O_RDONLY);
            try
            {
                using var plan = new LaunchPlan
                {
                    Joins = joins, HostRootFd = hostRoot, BecomeNamespaceRoot = joins.Exists(j => j.Flag == Namespaces.CloneNewUser), ContainerRootFd = joinsMount ? rootTarget : -1,
                    InheritedFds = [initFd, .. consoleFd >= 0 ? [consoleFd] : Array.Empty<int>(), .. preserved], ExecutableFd = exe,
                    Argv = ["berth-runtime", "init", initFd.ToString(System.Globalization.CultureInfo.InvariantCulture)], Envp = ["BERTH_INIT=1"],
                };
                try { return sys.Launch(plan); }
                catch (SyscallException e) { throw new RuntimeException($"exec: starting the process: {e.Message}"); }
            }
            finally { sys.CloseFd(exe); }
        }
        finally
        {
            foreach (var j in joins) sys.CloseFd(j.Fd);
            if (hostRoot >= 0) sys.CloseFd(hostRoot);
        }
    }
}
