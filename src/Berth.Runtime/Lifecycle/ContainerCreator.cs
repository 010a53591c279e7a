using System.Text;
using System.Text.Json;
using Berth.Linux;
using Berth.Oci.Runtime;
using Berth.Runtime.Config;
using Berth.Runtime.Hooks;
using Berth.Runtime.Init;
using Berth.Runtime.State;

namespace Berth.Runtime.Lifecycle;

public sealed class CreateOptions
{
    public string Bundle { get; set; } = ".";
    public string? ConsoleSocket { get; set; }
    public string? PidFile { get; set; }
    public bool NoPivot { get; set; }
    /// <summary>`run` in the foreground: with process.terminal and no --console-socket, the runtime takes the pty
    /// master itself (<see cref="ConsoleMaster"/>) and relays it to its own stdio, as runc does.</summary>
    public bool ForegroundTerminal { get; set; }
    /// <summary>Set by <see cref="ContainerCreator.Create"/> for <see cref="ForegroundTerminal"/>: the pty master, or -1.</summary>
    public int ConsoleMaster { get; set; } = -1;
    /// <summary>--preserve-fds N: descriptors 3 … 3+N-1 of the runtime are passed on to the container process.</summary>
    public int PreserveFds { get; set; }
    /// <summary>
    /// `run`: the init goes on to exec the process as soon as it is ready, without an exec fifo to wait on, so `run`
    /// needs no `start` round trip (the init's wake-up, the state read back). Only without hooks (their order around
    /// the start is the spec's): <see cref="ContainerCreator.Create"/> clears it otherwise, and the caller then starts.
    /// </summary>
    public bool StartAtOnce { get; set; }
}

/// <summary>
/// `create`: claims the ID, starts `berth-runtime init` inside new namespaces (see LaunchPlan), writes the id maps,
/// places it in its cgroup, sends it the config, runs prestart/createRuntime hooks when it asks, and returns once it
/// waits on the exec fifo. Any failure kills the init and removes everything made (state dir, cgroup).
/// </summary>
public sealed class ContainerCreator(ISyscalls sys, StateStore store)
{
    public ContainerRecord Create(string id, CreateOptions options)
    {
        ContainerId.Validate(id);
        var bundle = Path.GetFullPath(options.Bundle);
        var raw = SpecLoader.Read(bundle);
        using var networkAhead = BeginNetworkNamespace(bundle, raw, out var spec);
        if (store.Exists(id)) throw new RuntimeException($"container with id exists: {id}");
        store.Claim(id, sys);
        var pid = 0;
        var cgroup = (Berth.Linux.Cgroups.ICgroup?)null;
        var consoleReceiver = -1;
        try
        {
            if (options.StartAtOnce && HasHooks(spec.Hooks)) options.StartAtOnce = false;
            if (!options.StartAtOnce)
            {
                sys.CreateFifo(store.FifoOf(id), ExecFifo.Mode);
                if (OperatingSystem.IsLinux()) File.SetUnixFileMode(store.FifoOf(id), (UnixFileMode)ExecFifo.Mode); // past the umask
            }
            var consoleFd = -1;
            if (spec.Process!.Terminal && options.ConsoleSocket is null && !options.ForegroundTerminal)
                throw new RuntimeException("cannot allocate tty if berth-runtime will detach without setting console socket (process.terminal is set: give --console-socket)");
            if (options.ConsoleSocket is { } socketPath)
            {
                try { consoleFd = sys.ConnectUnixSocket(socketPath); }
                catch (SyscallException e) { throw new RuntimeException($"--console-socket: {e.Message}"); }
            }
            else if (spec.Process.Terminal) (consoleReceiver, consoleFd) = sys.CreateSocketPair();
            var preserved = PreservedFds.OfThisProcess(options.PreserveFds);
            var (parentEnd, childEnd) = sys.CreateSocketPair();
            using var channel = new InitChannel(sys, parentEnd);
            var newUserNs = false;
            var joins = new List<(int Fd, int Flag, string Name)>();
            var selfJoin = new List<(int Fd, string Path)>();
            var deferredJoin = (Init.DeferredCgroupJoin?)null;
            var fifoFd = -1;
            try
            {
                OpenJoins(spec, joins); // first: a bad path fails before anything is made
                cgroup = ContainerCgroup.Locate(spec, id);
                deferredJoin = OpenDeferredJoin(spec, cgroup);
                if (deferredJoin is null)
                {
                    // The init finds its cgroup made, limited and open, and moves itself in before it runs anything of its
                    // own (LaunchPlan.CgroupTasks); where the cgroup offers no such files (v2), it is added after the launch.
                    ContainerCgroup.Prepare(cgroup, spec);
                    foreach (var file in cgroup.SelfJoinFiles() ?? [])
                    {
                        try { selfJoin.Add((sys.OpenFile(file, OpenFlags.O_WRONLY), file)); }
                        catch (SyscallException e) { throw new RuntimeException($"joining cgroup {cgroup.Path}: {e.Message}"); }
                    }
                }
                if (!options.StartAtOnce) fifoFd = sys.OpenFile(store.FifoOf(id), OpenFlags.O_PATH);
                if (networkAhead?.Take() is >= 0 and var network) joins.Add((network, Namespaces.CloneNewNet, "network namespace"));
                pid = Launch(spec, bundle, options.NoPivot, childEnd, [parentEnd, .. consoleReceiver >= 0 ? [consoleReceiver] : Array.Empty<int>()],
                    consoleFd, fifoFd, preserved.Fds, joins, selfJoin, deferredJoin, out newUserNs);
            }
            finally
            {
                sys.CloseFd(childEnd);
                if (fifoFd >= 0) sys.CloseFd(fifoFd);
                foreach (var (fd, _) in selfJoin) sys.CloseFd(fd);
                foreach (var join in joins) sys.CloseFd(join.Fd);
                foreach (var (mount, _, _) in deferredJoin?.Files ?? []) mount.Dispose();
            }
            // Made once the init runs: the clone needs none of it, and formatting the time costs first-use set-up here.
            var record = new ContainerRecord
            {
                Id = id, Bundle = bundle, Rootfs = SpecLoader.RootfsOf(spec, bundle), Annotations = spec.Annotations,
                Created = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", System.Globalization.CultureInfo.InvariantCulture),
                Owner = Host.IsRoot ? "root" : Environment.UserName, CgroupsPath = spec.Linux?.CgroupsPath,
                HasPoststart = spec.Hooks?.Poststart is { Count: > 0 }, HasPoststop = spec.Hooks?.Poststop is { Count: > 0 }, Config = raw,
                Pid = pid,
            };
            record.PidStartTime = ProcStat.Read(pid)?.StartTime ?? 0;
            record.NewUserNamespace = newUserNs;
            record.CgroupDirectories = [.. cgroup.Directories.Values.Distinct()];
            // The init sets up its rootfs meanwhile; it joins the cgroup once the request below says it is ready.
            if (deferredJoin is not null) ContainerCgroup.Prepare(cgroup, spec);
            if (selfJoin.Count == 0 && deferredJoin is null)
            {
                try { cgroup.AddProcess(pid); }
                catch (Berth.Linux.Cgroups.CgroupException e) { throw new RuntimeException(e.Message, e); }
            }

            // The state JSON only when a hook will read it (serializing costs a JSON type setup in this process).
            var hookState = spec.Hooks is null ? null : JsonSerializer.Serialize(StateStore.SpecState(record, ContainerStatus.Creating), CompactJsonContext.Default.State);
            var request = new InitRequest
            {
                Kind = "create", Id = id, Bundle = bundle, Rootfs = record.Rootfs, Spec = raw, NoPivot = options.NoPivot,
                FifoFd = fifoFd, ConsoleSocket = consoleFd, NewUserNamespace = newUserNs, ExtraEnv = [.. preserved.Env], PreservedFds = preserved.Fds.Count,
                NewCgroupNamespace = spec.Linux?.Namespaces?.Exists(n => n.Type == "cgroup" && string.IsNullOrEmpty(n.Path)) == true,
                RuntimeHooks = spec.Hooks?.Prestart is { Count: > 0 } || spec.Hooks?.CreateRuntime is { Count: > 0 },
                HookState = hookState,
            };
            channel.Send(request);
            if (consoleFd >= 0) sys.CloseFd(consoleFd);
            // Written while the init finishes its set-up, put in place once it is ready: `state` never shows a container
            // whose init is still being set up.
            var pendingState = store.WritePending(record);
            AwaitReady(channel, spec, hookState, pid);
            if (consoleReceiver >= 0)
            {
                options.ConsoleMaster = sys.ReceiveDescriptor(consoleReceiver, out _);
                if (options.ConsoleMaster < 0) throw new RuntimeException("the container did not send its terminal");
            }
            store.Commit(record, pendingState);
            if (options.PidFile is { } pidFile) WritePidFile(pidFile, pid);
            return record;
        }
        catch (Exception e)
        {
            if (pid > 0)
            {
                sys.SendSignal(pid, 9);
                try { sys.WaitForChild(pid, out _); } catch (SyscallException) { }
            }
            try { cgroup?.Destroy(); } catch (Exception) { }
            if (options.ConsoleMaster >= 0) { sys.CloseFd(options.ConsoleMaster); options.ConsoleMaster = -1; }
            store.Remove(id);
            if (e is RuntimeException) throw;
            throw new RuntimeException(e.Message, e);
        }
        finally
        {
            if (consoleReceiver >= 0) sys.CloseFd(consoleReceiver);
        }
    }

    private void AwaitReady(InitChannel channel, Spec spec, string? hookState, int pid)
    {
        while (true)
        {
            var report = channel.ReceiveReport();
            switch (report?.Type)
            {
                case "ready": return;
                case "error": throw new RuntimeException(report.Message ?? "container init failed");
                case "hooks":
                    try
                    {
                        var hooks = new HookRunner(sys);
                        hooks.Run(spec.Hooks?.Prestart, "prestart", hookState ?? "{}");
                        hooks.Run(spec.Hooks?.CreateRuntime, "createRuntime", hookState ?? "{}");
                    }
                    catch (RuntimeException e)
                    {
                        channel.Send(new InitReport { Type = "error", Message = e.Message });
                        throw;
                    }
                    channel.Send(new InitReport { Type = "resume" });
                    break;
                default:
                    sys.WaitForChild(pid, out var status, noHang: true);
                    throw new RuntimeException("container init exited before it was ready" +
                        (status != 0 ? $" ({(WaitStatus.Exited(status) ? "exit status " + WaitStatus.ExitCode(status) : "signal " + WaitStatus.TermSignal(status))})" : ""));
            }
        }
    }

    /// <summary>Opens each namespace config.json joins by path, in join order: user first (it grants the rights to join
    /// the rest), then the others in the kernel's usual order (<see cref="Namespaces.All"/>).</summary>
    private void OpenJoins(Spec spec, List<(int Fd, int Flag, string Name)> joins)
    {
        var namespaces = spec.Linux?.Namespaces ?? [];
        foreach (var (specType, _, flag) in Namespaces.All)
        {
            var ns = namespaces.Find(n => n.Type == specType);
            if (ns is null || string.IsNullOrEmpty(ns.Path)) continue;
            try { joins.Add((sys.OpenFile(ns.Path, OpenFlags.O_RDONLY), flag, $"{specType} namespace {ns.Path}")); }
            catch (SyscallException e) { throw new RuntimeException($"config.json: linux.namespaces: {specType} path: {e.Message}"); }
        }
    }

    /// <summary>
    /// Starts the container's init in its new and joined namespaces, in its cgroup (<paramref name="cgroupTasks"/>).
    /// Unless it needs a user or time namespace or joins a pid namespace (see <see cref="ClonesInit"/>), the init is a
    /// clone of this process that joins the other namespaces by setns and goes on in managed code with the config it
    /// already holds (LaunchPlan.RunInChild); without hooks it builds the rootfs while this process sends it the request.
    /// Otherwise `berth-runtime init` is exec'd in them. Either way the rootfs is set up in the mount namespace the
    /// init ends up in: a joined one, or a new one.
    /// </summary>
    private int Launch(Spec spec, string bundle, bool noPivot, int initFd, IReadOnlyList<int> parentOnlyFds, int consoleFd, int fifoFd,
        IReadOnlyList<int> preserved, IReadOnlyList<(int Fd, int Flag, string Name)> joins, IReadOnlyList<(int Fd, string Path)> cgroupTasks,
        Init.DeferredCgroupJoin? deferredJoin, out bool newUserNs)
    {
        var newFlags = 0;
        var namespaces = spec.Linux?.Namespaces ?? [];
        foreach (var ns in namespaces)
            if (string.IsNullOrEmpty(ns.Path)) newFlags |= Namespaces.FlagOf(ns.Type);
        foreach (var join in joins) newFlags &= ~join.Flag; // joined, not made: the network namespace made ahead (BeginNetworkNamespace)
        newUserNs = (newFlags & Namespaces.CloneNewUser) != 0;
        if (ClonesInit(spec))
        {
            var rootfsFirst = RootfsFirst(spec);
            using var cloned = new LaunchPlan
            {
                NewNamespaces = newFlags, Joins = joins, CgroupTasks = cgroupTasks,
                InheritedFds = [initFd, .. fifoFd >= 0 ? [fifoFd] : Array.Empty<int>(), .. consoleFd >= 0 ? [consoleFd] : Array.Empty<int>(), .. preserved],
                CloseInChild = parentOnlyFds,
                RunInChild = () => InitProcess.RunCloned(sys, initFd, spec, bundle, noPivot, rootfsFirst, deferredJoin),
            };
            try { return sys.Launch(cloned); }
            catch (SyscallException e) { throw new RuntimeException($"starting container init: {e.Message}"); }
        }
        var exe = sys.OpenFile("/proc/self/exe", OpenFlags.O_RDONLY);
        var (gateRead, gateWrite) = newUserNs ? sys.CreatePipe() : (-1, -1);
        try
        {
            using var plan = new LaunchPlan
            {
                NewNamespaces = newFlags, Joins = joins, CgroupTasks = cgroupTasks, TimeOffsets = TimeOffsetsText(spec.Linux?.TimeOffsets),
                InheritedFds = [initFd, .. fifoFd >= 0 ? [fifoFd] : Array.Empty<int>(), .. consoleFd >= 0 ? [consoleFd] : Array.Empty<int>(), .. preserved], ExecutableFd = exe,
                Argv = ["berth-runtime", "init", initFd.ToString(System.Globalization.CultureInfo.InvariantCulture)], Envp = ["BERTH_INIT=1"],
                MappingGateFd = gateRead,
                BeforeExec = newUserNs ? pid => { WriteIdMaps(pid, spec.Linux!); sys.WriteAll(gateWrite, "1"u8); } : null,
            };
            try { return sys.Launch(plan); }
            catch (SyscallException e) { throw new RuntimeException($"starting container init: {e.Message}"); }
        }
        finally
        {
            sys.CloseFd(exe);
            if (gateRead >= 0) { sys.CloseFd(gateRead); sys.CloseFd(gateWrite); }
        }
    }

    /// <summary>
    /// Parses and validates the config into <paramref name="spec"/> and, when the init will be a clone that makes a new
    /// network namespace, begins that namespace on a thread of its own (<see cref="NetworkNamespaceAhead"/>) while this
    /// thread goes on; the init joins it. The namespace is begun before the parse when a scan of the raw text says it will
    /// be needed, and the guess is corrected once the spec is known. Null when the init is not a clone (a user namespace
    /// must own the network namespace it makes) or makes no network namespace.
    /// </summary>
    private NetworkNamespaceAhead? BeginNetworkNamespace(string bundle, byte[] raw, out Spec spec)
    {
        var ahead = SpecLoader.WantsNetworkNamespaceInClone(raw) ? NetworkNamespaceAhead.Begin(sys) : null;
        try { spec = SpecLoader.Load(bundle, raw); }
        catch
        {
            ahead?.Dispose();
            throw;
        }
        var wanted = ClonesInit(spec) && spec.Linux?.Namespaces?.Exists(n => n.Type == "network" && string.IsNullOrEmpty(n.Path)) == true;
        if (wanted == ahead is not null) return ahead;
        if (ahead is null) return NetworkNamespaceAhead.Begin(sys);
        ahead.Dispose();
        return null;
    }

    /// <summary>The init is a clone that runs on without exec (see Launch) unless it needs a user namespace (its id maps
    /// must be written before the init runs; a joined one would change the credentials it runs with), a time namespace,
    /// or joins a pid namespace (pid and time namespaces take effect only for the children of the process that enters
    /// them, so those need a second fork and an exec).</summary>
    private static bool ClonesInit(Spec spec)
        => spec.Linux?.Namespaces?.Exists(n => n.Type is "user" or "time" || (n.Type == "pid" && !string.IsNullOrEmpty(n.Path))) != true;

    /// <summary>A cloned init builds its rootfs before it waits for the request when nothing in that step needs the
    /// runtime: no hooks (createContainer runs there, after prestart/createRuntime), no new cgroup namespace (unshared once
    /// the init is in its cgroup, and the rootfs's cgroup mount shows it).</summary>
    private static bool RootfsFirst(Spec spec)
        => !HasHooks(spec.Hooks) && spec.Linux?.Namespaces?.Exists(n => n.Type == "cgroup" && string.IsNullOrEmpty(n.Path)) != true;

    /// <summary>
    /// For a cloned init that builds its rootfs first, on a cgroup with `tasks` files (v1): the cgroup is made and
    /// limited after the clone, while the init mounts, and the init joins it itself when the request comes
    /// (<see cref="Init.DeferredCgroupJoin"/>), before anything of the container's runs. Null for the other launches,
    /// which find their cgroup ready.
    /// </summary>
    private Init.DeferredCgroupJoin? OpenDeferredJoin(Spec spec, Berth.Linux.Cgroups.ICgroup cgroup)
    {
        if (!ClonesInit(spec) || !RootfsFirst(spec) || cgroup.SelfJoinFilesUnderMounts() is not { } files) return null;
        var opened = new List<(Microsoft.Win32.SafeHandles.SafeFileHandle, string, string)>(files.Count);
        try
        {
            foreach (var (mountPoint, relative) in files)
                opened.Add((sys.OpenAt(null, mountPoint, OpenFlags.O_PATH | OpenFlags.O_DIRECTORY), relative, mountPoint + "/" + relative));
        }
        catch (SyscallException e)
        {
            foreach (var (handle, _, _) in opened) handle.Dispose();
            throw new RuntimeException($"joining cgroup {cgroup.Path}: {e.Message}");
        }
        return new Init.DeferredCgroupJoin(opened);
    }

    private static bool HasHooks(Oci.Runtime.Hooks? hooks) => hooks is not null &&
        (hooks.Prestart is { Count: > 0 } || hooks.CreateRuntime is { Count: > 0 } || hooks.CreateContainer is { Count: > 0 } ||
         hooks.StartContainer is { Count: > 0 } || hooks.Poststart is { Count: > 0 } || hooks.Poststop is { Count: > 0 });

    private static string? TimeOffsetsText(Dictionary<string, TimeOffset>? offsets)
    {
        if (offsets is not { Count: > 0 }) return null;
        var text = new StringBuilder();
        foreach (var (clock, offset) in offsets) text.Append(clock).Append(' ').Append(offset.Secs).Append(' ').Append(offset.Nanosecs).Append('\n');
        return text.ToString();
    }

    private void WriteIdMaps(int pid, Oci.Runtime.Linux linux)
    {
        if (!Host.IsRoot) TryWrite($"/proc/{pid}/setgroups", "deny");
        Write($"/proc/{pid}/uid_map", Map(linux.UidMappings), "linux.uidMappings");
        Write($"/proc/{pid}/gid_map", Map(linux.GidMappings), "linux.gidMappings");

        static string Map(List<IdMapping>? maps)
        {
            var text = new StringBuilder();
            foreach (var m in maps ?? []) text.Append(m.ContainerId).Append(' ').Append(m.HostId).Append(' ').Append(m.Size).Append('\n');
            return text.ToString();
        }
        void Write(string path, string content, string field)
        {
            if (content.Length == 0) return;
            var fd = sys.OpenFile(path, OpenFlags.O_WRONLY);
            try { sys.WriteAll(fd, Encoding.ASCII.GetBytes(content)); }
            catch (SyscallException e) { throw new RuntimeException($"config.json: {field}: writing {path}: {e.Message}"); }
            finally { sys.CloseFd(fd); }
        }
        void TryWrite(string path, string content)
        {
            try { Write(path, content, "setgroups"); } catch (RuntimeException) { } catch (SyscallException) { }
        }
    }

    /// <summary>Writes the pid file atomically (a temp file renamed into place), as runc does.</summary>
    public static void WritePidFile(string path, int pid)
    {
        var full = Path.GetFullPath(path);
        var tmp = Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full) + ".tmp");
        File.WriteAllText(tmp, pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        File.Move(tmp, full, overwrite: true);
    }
}
