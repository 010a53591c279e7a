using System.Text.Json;
using Berth.Engine.Models;
using Berth.Engine.Supervision;
using Berth.Oci.Runtime;
using Berth.Storage;

namespace Berth.Engine.Containers;

public sealed partial class ContainerService
{
    private string StateDirectory(string id) => Path.Combine(settings.ExecRoot, "containers", id);
    private string BundleDirectory(string id) => Path.Combine(settings.ExecRoot, "bundles", id);
    private string RuntimeRoot(string runtime) => Path.Combine(settings.ExecRoot, "runtime-" + runtime);

    private readonly Lock _execStateGate = new();
    private bool _execStateReady;

    /// <summary>
    /// With <see cref="ContainerEngineSettings.ExecStateOnTmpfs"/>: the state directories, bundles, network namespace pins
    /// and runtime roots (files that live as long as a run and mean nothing after a reboot) go on tmpfs mounts of their own, as dockerd's
    /// /run/docker is: on a disk filesystem their creates, renames and unlinks wait on the journal on every `run --rm`.
    /// A directory that is already a mount (a daemon restarted with live restore) or holds an earlier daemon's state is
    /// left as it is; where mounting is refused, the state stays on disk.
    /// </summary>
    private void PrepareExecState()
    {
        if (!settings.ExecStateOnTmpfs) return;
        lock (_execStateGate)
        {
            if (_execStateReady) return;
            _execStateReady = true;
            string[] directories = [Path.Combine(settings.ExecRoot, "containers"), Path.Combine(settings.ExecRoot, "bundles"), Path.Combine(settings.ExecRoot, "netns"), .. settings.Runtimes.Keys.Select(RuntimeRoot)];
            foreach (var directory in directories.Select(Path.GetFullPath))
            {
                Directory.CreateDirectory(directory);
                if (IsMountPoint(directory) || Directory.EnumerateFileSystemEntries(directory).Any()) continue;
                try
                {
                    Linux.LinuxSyscalls.Instance.Mount("tmpfs", directory, "tmpfs", Linux.MountFlags.NoSuid | Linux.MountFlags.NoDev, "mode=0711");
                    _execStateMounts.Add(directory);
                }
                catch (Linux.SyscallException) { } // not allowed here: the state stays on disk
            }
        }
    }

    private readonly List<string> _execStateMounts = [];

    /// <summary>
    /// At a daemon stop without live restore, once every container has stopped: unmounts the exec-root tmpfs mounts this
    /// daemon made (as dockerd unmounts what it mounted), lazily where something still holds one. With live restore they
    /// stay: the running containers' shims, bundles and namespace pins live there.
    /// </summary>
    private void UnmountExecState()
    {
        lock (_execStateGate)
        {
            foreach (var directory in Enumerable.Reverse(_execStateMounts))
            {
                try { Linux.LinuxSyscalls.Instance.Unmount(directory, Linux.UnmountFlags.None); }
                catch (Linux.SyscallException e) when (e.ErrorNumber == Linux.Errno.EBUSY)
                {
                    try { Linux.LinuxSyscalls.Instance.Unmount(directory, Linux.UnmountFlags.Detach); } catch (Linux.SyscallException) { }
                }
                catch (Linux.SyscallException) { } // unmounted by someone else
            }
            _execStateMounts.Clear();
            _execStateReady = false;
        }
    }

    // ---- start -----------------------------------------------------------------------------------

    public async Task StartAsync(string idOrName, CancellationToken cancellationToken)
    {
        var c = store.Get(idOrName);
        var removeAfterFailure = false;
        await c.Operation.WaitAsync(cancellationToken);
        try
        {
            lock (c.Gate)
            {
                if (c.State.Paused) throw new ConflictException("cannot start a paused container, try unpause instead");
                if (c.State.Running) throw new NotModifiedException();
                if (c.RemovalInProgress || c.State.Dead) throw new ConflictException("container is marked for removal and cannot be started");
                c.Record.HasBeenManuallyStopped = false;
                c.Record.RestartCount = 0;
            }
            c.Restart.Reset();
            try { await StartLockedAsync(c, cancellationToken); }
            catch (EngineException) when (c.Record.HostConfig.AutoRemove)
            {
                removeAfterFailure = true;
                throw;
            }
        }
        finally
        {
            c.Operation.Release();
            // As dockerd: an AutoRemove container that cannot start is removed before the error is returned.
            if (removeAfterFailure) await AutoRemoveAsync(c);
        }
    }

    /// <summary>Starts a stopped container; the caller holds its Operation lock. On failure nothing of the run is left.</summary>
    private async Task StartLockedAsync(Container c, CancellationToken cancellationToken)
    {
        var record = c.Record;
        var id = c.Id;
        var layer = layers.GetContainerLayer(record.LayerId) ?? throw new EngineFailureException($"the filesystem of container {id} is missing");
        await c.RuntimeDeleted; // the runtime must be done with the last run of this ID
        PrepareExecState();
        var bundle = BundleDirectory(id);
        var stateDirectory = StateDirectory(id);
        Directory.CreateDirectory(bundle);
        Directory.CreateDirectory(stateDirectory);
        string? mounted = null;
        ISupervisedContainer? supervised = null;
        NetworkAttachment? network = null;
        Oci.Runtime.Spec spec;
        try
        {
            // First, so that a namespace made on a thread of its own (--network none) is made while the rootfs is mounted
            // and the spec written; the runtime needs it only at the end.
            network = await Networks.AttachAsync(record, cancellationToken);
            var rootfs = MountRootfs(layer, bundle, out mounted);
            Oci.Image.ImageConfig? imageConfig = null;
            if (!string.IsNullOrEmpty(record.Image))
            {
                try { imageConfig = images.Resolve(record.Image).Config; }
                catch (NotFoundException) { } // the image was removed with force: the container still runs from its layer
            }
            lock (c.Gate)
            {
                record.HostnamePath = Path.Combine(c.Directory, "hostname");
                record.HostsPath = Path.Combine(c.Directory, "hosts");
                record.ResolvConfPath = Path.Combine(c.Directory, "resolv.conf");
            }
            spec = specs.Build(new SpecContext(record, imageConfig, rootfs, network.NamespacePath, record.HostnamePath, record.HostsPath, record.ResolvConfPath,
                JoinedNamespaces(record.HostConfig)));
            spec.Root ??= new Root();
            spec.Root.Path = rootfs;
            lock (c.Gate) record.CgroupsPath = spec.Linux?.CgroupsPath;
            // A small file on the exec root's tmpfs: written at once, no asynchronous file I/O round trip.
            File.WriteAllBytes(Path.Combine(bundle, "config.json"), JsonSerializer.SerializeToUtf8Bytes(spec, RuntimeJsonContext.Default.Spec));
            // The runtime joins the namespace; when it first runs at the start, the namespace is finished while the shim starts.
            var namespaceReady = network.Ready;
            if (namespaceReady is not null && !supervisor.RuntimeRunsAtStart) { await namespaceReady; namespaceReady = null; }

            var config = record.Config;
            var logging = record.HostConfig.LogConfig?.Config;
            var request = new LaunchRequest(
                id, bundle, settings.Runtimes[record.Runtime], RuntimeRoot(record.Runtime), stateDirectory,
                string.IsNullOrEmpty(record.LogPath) ? null : record.LogPath,
                LogSize(logging?.GetValueOrDefault("max-size")), LogFiles(logging?.GetValueOrDefault("max-file")),
                config.Tty, config.OpenStdin, config.StdinOnce);
            supervised = await supervisor.CreateAsync(request, cancellationToken);

            List<PendingAttach> attaches;
            lock (c.Gate) { attaches = [.. c.PendingAttaches]; c.PendingAttaches.Clear(); }
            foreach (var attach in attaches) await attach.ConnectAsync(supervised, cancellationToken);

            if (namespaceReady is not null) await namespaceReady;
            await supervised.StartAsync(cancellationToken);
        }
        catch (Exception e) when (e is EngineException or IOException or StorageException or Linux.SyscallException or UnauthorizedAccessException or OperationCanceledException or JsonException)
        {
            if (supervised is not null)
            {
                try { await supervised.DeleteAsync(force: true, CancellationToken.None); } catch (Exception inner) when (inner is EngineException or IOException) { }
                await supervised.DisposeAsync();
            }
            if (network is not null)
            {
                // A namespace still being made is waited for, so that the detach finds it whole (or finds nothing).
                if (network.Ready is { } pending)
                {
                    try { await pending; }
                    catch (Exception inner) when (inner is IOException or Linux.SyscallException or UnauthorizedAccessException or EngineException) { }
                }
                await DetachNetworkQuietlyAsync(record);
            }
            if (mounted is not null) TryQuietly(() => Mounter.Unmount(mounted));
            AbandonAttaches(c);
            var (failure, exitCode) = StartFailure(e);
            lock (c.Gate)
            {
                record.State.Error = failure.Message;
                record.State.ExitCode = exitCode;
                record.State.Running = false;
                record.State.Restarting = false;
                c.UpdateStatus();
            }
            TryQuietly(() => store.Save(c));
            throw failure;
        }

        var now = time.GetUtcNow();
        var healthConfig = record.Config.Healthcheck;
        lock (c.Gate)
        {
            var state = record.State;
            state.Running = true;
            state.Paused = false;
            state.Restarting = false;
            state.OOMKilled = false;
            state.Dead = false;
            state.Pid = supervised.Pid;
            state.ExitCode = 0;
            state.Error = "";
            state.StartedAt = DockerTime.Format(now);
            state.Health = HealthRules.Enabled(healthConfig) ? new Health { Status = "starting", Log = [] } : null;
            record.HasBeenStartedBefore = true;
            c.Supervised = supervised;
            c.MountedRootfs = mounted;
            c.RootfsPath = spec.Root!.Path;
            c.Spec = spec;
            c.ExitHandled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            c.UpdateStatus();
        }
        store.Save(c);
        Publish(c, "start");
        StartHealthMonitor(c, supervised);
        _ = MonitorExitAsync(c, supervised);
    }

    /// <summary>
    /// The namespaces of other containers that <c>--network/--pid/--ipc container:X</c> join, by OCI type: X must be
    /// running; its init's /proc/PID/ns entries are what the runtime setns()es into.
    /// </summary>
    private Dictionary<string, string>? JoinedNamespaces(HostConfig host)
    {
        Dictionary<string, string>? joined = null;
        foreach (var (type, mode) in (ReadOnlySpan<(string, string?)>)[("network", host.NetworkMode), ("pid", host.PidMode), ("ipc", host.IpcMode)])
        {
            if (mode is null || !mode.StartsWith("container:", StringComparison.Ordinal)) continue;
            var other = store.Get(mode["container:".Length..]);
            int pid;
            lock (other.Gate) pid = other.State.Running && !other.State.Restarting ? other.State.Pid : 0;
            if (pid <= 0) throw new ConflictException($"cannot join the {type} namespace of container {other.Name.TrimStart('/')}: it is not running");
            (joined ??= [])[type] = $"/proc/{pid}/ns/{(type == "network" ? "net" : type)}";
            if (type == "ipc") joined[RuntimeSpec.SharedMemory.JoinKey] = RuntimeSpec.SharedMemory.Of(other.Record.HostConfig, other.Directory);
        }
        return joined;
    }

    /// <summary>Mounts the container layer at bundle/rootfs (copy drivers give a directory that is used as it is).</summary>
    private static string MountRootfs(ContainerLayer layer, string bundle, out string? mounted)
    {
        mounted = null;
        var mounts = layer.Mounts();
        if (mounts is [{ Type: "bind" } bind]) return bind.Source;
        var rootfs = Path.Combine(bundle, "rootfs");
        // A rootfs directory that is there already (a restart, or a daemon that died mid-start) may still be mounted.
        if (Directory.Exists(rootfs)) { if (IsMountPoint(rootfs)) Mounter.Unmount(rootfs); }
        else Directory.CreateDirectory(rootfs);
        Mounter.Mount(mounts[0], rootfs);
        mounted = rootfs;
        return rootfs;
    }

    internal static bool IsMountPoint(string path)
    {
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ', 6);
            if (fields.Length > 4 && fields[4] == path) return true;
        }
        return false;
    }

    /// <summary>Docker's mapping of start failures: a missing executable is 127, one not allowed 126, both the client's fault (400).</summary>
    private static (EngineException Error, int ExitCode) StartFailure(Exception e)
    {
        var message = e.Message;
        if (message.Contains("executable file not found", StringComparison.Ordinal) || message.Contains("no such file or directory", StringComparison.OrdinalIgnoreCase))
            return (new InvalidParameterException(message), 127);
        if (message.Contains("permission denied", StringComparison.OrdinalIgnoreCase))
            return (new InvalidParameterException(message), 126);
        return (e as EngineException ?? new EngineFailureException(message, e), 128);
    }

    private static long LogSize(string? text)
    {
        if (string.IsNullOrEmpty(text)) return 0;
        var t = text.Trim().ToLowerInvariant();
        long unit = 1;
        if (t.EndsWith('b')) t = t[..^1];
        if (t.EndsWith('k')) { unit = 1000; t = t[..^1]; }
        else if (t.EndsWith('m')) { unit = 1000 * 1000; t = t[..^1]; }
        else if (t.EndsWith('g')) { unit = 1000 * 1000 * 1000; t = t[..^1]; }
        return double.TryParse(t, System.Globalization.CultureInfo.InvariantCulture, out var n) ? (long)(n * unit) : 0;
    }

    private static int LogFiles(string? text) => int.TryParse(text, out var n) && n > 0 ? n : 1;

    private async Task DetachNetworkQuietlyAsync(ContainerRecord record)
    {
        try { await Networks.DetachAsync(record, CancellationToken.None); }
        catch (Exception e) when (e is EngineException or IOException or Linux.SyscallException) { }
    }

    private static void AbandonAttaches(Container c)
    {
        List<PendingAttach> attaches;
        lock (c.Gate) { attaches = [.. c.PendingAttaches]; c.PendingAttaches.Clear(); }
        foreach (var attach in attaches) attach.Abandon();
    }

    private void StartHealthMonitor(Container c, ISupervisedContainer supervised)
    {
        var config = c.Record.Config.Healthcheck;
        if (!HealthRules.Enabled(config)) return;
        var monitor = new HealthMonitor(c, config!, (command, ct) => ProbeAsync(c, supervised, command, ct), status =>
        {
            TryQuietly(() => store.Save(c));
            if (status.Length > 0) Publish(c, "health_status: " + status);
        }, time);
        lock (c.Gate) c.Health = monitor;
    }

    /// <summary>Runs a health probe through exec and collects its output.</summary>
    private async Task<(int, string)> ProbeAsync(Container c, ISupervisedContainer supervised, List<string> command, CancellationToken cancellationToken)
    {
        var process = Exec.ExecService.ProcessFor(c, command, env: null, user: null, workingDir: null, tty: false, privileged: false);
        var exec = await supervised.ExecAsync(process, attachStdin: false, cancellationToken);
        var output = new System.Text.StringBuilder();
        if (exec.Stdio is { } stdio)
        {
            await using (stdio)
            {
                await foreach (var chunk in stdio.Output.WithCancellation(cancellationToken))
                    if (output.Length < HealthRules.MaxOutputLength) output.Append(System.Text.Encoding.UTF8.GetString(chunk.Data.Span));
            }
        }
        var exit = await exec.Exited.WaitAsync(cancellationToken);
        return (exit.ExitCode, output.ToString());
    }

    // ---- exit ------------------------------------------------------------------------------------

    private async Task MonitorExitAsync(Container c, ISupervisedContainer supervised)
    {
        ProcessExit exit;
        try { exit = await supervised.Exited; }
        catch (Exception e) when (e is EngineException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            exit = new ProcessExit(255, time.GetUtcNow(), false);
        }
        lock (c.Gate)
            if (!ReferenceEquals(c.Supervised, supervised)) return; // detached at daemon shutdown (live restore)
        await HandleExitAsync(c, supervised, exit);
    }

    /// <summary>
    /// The process ended: release the run (shim, mounts, network), record the exit, tell waiters, and then either
    /// schedule the restart policy's restart or remove an AutoRemove container.
    /// </summary>
    private async Task HandleExitAsync(Container c, ISupervisedContainer? supervised, ProcessExit exit)
    {
        HealthMonitor? health;
        string? mounted;
        bool autoRemove;
        lock (c.Gate)
        {
            health = c.Health;
            c.Health = null;
            mounted = c.MountedRootfs;
            c.MountedRootfs = null;
            // An AutoRemove container has no restart policy (create and update refuse one): it is removed, and its removal
            // starts now, beside the runtime's delete. Marked at once, so a start or a remove meanwhile is refused.
            autoRemove = c.Record.HostConfig.AutoRemove && !c.RemovalInProgress;
            if (autoRemove) c.RemovalInProgress = true;
        }
        health?.Dispose();
        // A shareable /dev/shm is mounted in the container's directory: unmounted first (lazily while containers that
        // joined its IPC still use it), before anything deletes that directory.
        TryQuietly(() => RuntimeSpec.SharedMemory.Release(c.Record.HostConfig, c.Directory));
        // The runtime's delete (a process of its own: cgroups, runtime state), the unmount of berthd's rootfs mount (an
        // overlay unmount syncs the upper filesystem) and the network's detach share nothing, and all sit on `run --rm`'s
        // path: they overlap. So does, for an AutoRemove container, the removal of its layer and of its directory.
        // Each unmount waits in the kernel (an RCU grace period, milliseconds) while using no CPU: they run on threads of
        // their own, side by side, rather than one after the other on the pool's few workers.
        var unmount = Task.Factory.StartNew(() =>
        {
            if (mounted is not null) TryQuietly(() => Mounter.Unmount(mounted));
            else
            {
                var leftover = Path.Combine(BundleDirectory(c.Id), "rootfs");
                if (Directory.Exists(leftover) && IsMountPoint(leftover)) TryQuietly(() => Mounter.Unmount(leftover));
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        // The shim tells the exit before it runs the runtime's delete: the network's release overlaps that delete, and so
        // does, for an AutoRemove container, the removal of its layer and directory. A container being removed (--rm, rm -f)
        // does not wait for the delete here at all: its removal waits for it only before its state directories go and
        // "removed" is told (FinishRemovalAsync).
        var deleting = supervised is null ? Task.CompletedTask : DeleteRunAsync(supervised);
        bool removing;
        lock (c.Gate)
        {
            c.RuntimeDeleted = deleting;
            removing = c.RemovalInProgress;
        }
        var detach = Task.Factory.StartNew(() => DetachNetworkQuietlyAsync(c.Record), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        var storage = autoRemove ? DeleteStorageAsync(c, unmount) : null;
        Execs?.ContainerStopped(c.Id);
        await unmount;
        await detach;
        if (!removing) await deleting;

        TimeSpan? restartIn;
        CancellationTokenSource? pending = null;
        List<TaskCompletionSource<ContainerWaitResponse>> wake;
        ContainerWaitResponse result;
        lock (c.Gate)
        {
            var state = c.State;
            var ranFor = exit.FinishedAt - (DockerTime.Parse(state.StartedAt) ?? exit.FinishedAt);
            restartIn = c.RemovalInProgress ? null : c.Restart.ShouldRestart(exit.ExitCode, c.Record.HasBeenManuallyStopped, ranFor);
            state.Pid = 0;
            state.ExitCode = exit.ExitCode;
            state.FinishedAt = DockerTime.Format(exit.FinishedAt);
            state.OOMKilled = exit.OomKilled;
            state.Paused = false;
            if (restartIn is not null)
            {
                state.Restarting = true;
                state.Running = true;
                c.Record.RestartCount++;
                c.PendingRestart = pending = new CancellationTokenSource();
            }
            else
            {
                state.Restarting = false;
                state.Running = false;
            }
            c.Supervised = null;
            c.RootfsPath = null;
            c.UpdateStatus();
            result = WaitResult(state);
            wake = [.. c.NextExitWaiters];
            c.NextExitWaiters.Clear();
            if (restartIn is null) { wake.AddRange(c.NotRunningWaiters); c.NotRunningWaiters.Clear(); }
        }
        // A record about to be removed is not written again (a daemon that dies meanwhile finds it running, with its shim
        // gone, and removes it at its next start).
        if (!removing) TryQuietly(() => store.Save(c));
        if (exit.OomKilled) Publish(c, "oom");
        Publish(c, "die", new() { ["exitCode"] = exit.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        foreach (var waiter in wake) waiter.TrySetResult(result);
        c.ExitHandled.TrySetResult();

        if (restartIn is { } delay) _ = RestartLaterAsync(c, delay, pending!.Token);
        else if (autoRemove) _ = FinishRemovalAsync(c, storage!);
    }

    private static async Task DeleteRunAsync(ISupervisedContainer supervised)
    {
        try { await supervised.DeleteAsync(force: true, CancellationToken.None); }
        catch (Exception e) when (e is EngineException or IOException or OperationCanceledException) { }
        await supervised.DisposeAsync();
    }

    private static ContainerWaitResponse WaitResult(ContainerState state) => new()
    {
        StatusCode = state.ExitCode,
        Error = string.IsNullOrEmpty(state.Error) ? null : new ContainerWaitExitError { Message = state.Error },
    };

    private async Task RestartLaterAsync(Container c, TimeSpan delay, CancellationToken cancellationToken)
    {
        try { await Task.Delay(delay, time, cancellationToken); }
        catch (OperationCanceledException) { return; }
        await c.Operation.WaitAsync(CancellationToken.None);
        try
        {
            lock (c.Gate)
                if (cancellationToken.IsCancellationRequested || !c.State.Restarting || c.RemovalInProgress) return;
            await StartLockedAsync(c, CancellationToken.None);
        }
        catch (EngineException)
        {
            // StartLockedAsync recorded the error; the container stays exited and its waiters learn of it.
            WakeNotRunning(c);
        }
        finally { c.Operation.Release(); }
    }

    private static void WakeNotRunning(Container c)
    {
        List<TaskCompletionSource<ContainerWaitResponse>> wake;
        ContainerWaitResponse result;
        lock (c.Gate)
        {
            result = WaitResult(c.State);
            wake = [.. c.NotRunningWaiters];
            c.NotRunningWaiters.Clear();
        }
        foreach (var waiter in wake) waiter.TrySetResult(result);
    }

    private async Task AutoRemoveAsync(Container c)
    {
        try { await RemoveAsync(c.Id, force: true, removeVolumes: true, removeLink: false, CancellationToken.None); }
        catch (EngineException) { } // removed by the user meanwhile
    }

    // ---- stop, kill, restart, pause ----------------------------------------------------------------

    public async Task StopAsync(string idOrName, int? timeoutSeconds, string? signal, CancellationToken cancellationToken)
    {
        var c = store.Get(idOrName);
        var stopSignal = Signals.StopSignal(signal, c.Record.Config.StopSignal);
        await c.Operation.WaitAsync(cancellationToken);
        try
        {
            if (!await StopLockedAsync(c, timeoutSeconds, stopSignal, cancellationToken)) throw new NotModifiedException();
        }
        finally { c.Operation.Release(); }
    }

    /// <summary>Docker's stop: the stop signal, then SIGKILL after the timeout. Returns false when it was not running.</summary>
    private async Task<bool> StopLockedAsync(Container c, int? timeoutSeconds, int stopSignal, CancellationToken cancellationToken)
    {
        ISupervisedContainer? supervised;
        TaskCompletionSource exitHandled;
        bool paused;
        lock (c.Gate)
        {
            if (!c.State.Running) return false;
            c.Record.HasBeenManuallyStopped = true;
            c.Restart.Cancel();
            supervised = c.Supervised;
            exitHandled = c.ExitHandled;
            paused = c.State.Paused;
            if (supervised is null)
            {
                // Waiting out a restart back-off: cancel it; the container is simply exited.
                c.PendingRestart?.Cancel();
                c.State.Running = false;
                c.State.Restarting = false;
                c.UpdateStatus();
            }
        }
        TryQuietly(() => store.Save(c));
        if (supervised is null)
        {
            WakeNotRunning(c);
            Publish(c, "stop");
            return true;
        }
        var timeout = timeoutSeconds ?? c.Record.Config.StopTimeout ?? 10;
        if (stopSignal != Signals.SIGKILL)
        {
            await SignalQuietlyAsync(c, supervised, stopSignal, all: false, paused);
            if (timeout < 0) await exitHandled.Task.WaitAsync(cancellationToken);
            else
            {
                try { await exitHandled.Task.WaitAsync(TimeSpan.FromSeconds(timeout), time, cancellationToken); }
                catch (TimeoutException) { }
            }
        }
        if (!exitHandled.Task.IsCompleted)
        {
            await SignalQuietlyAsync(c, supervised, Signals.SIGKILL, all: true, paused);
            await exitHandled.Task.WaitAsync(cancellationToken);
        }
        Publish(c, "stop");
        return true;
    }

    /// <summary>Publishes Docker's kill event and sends the signal; a paused container is thawed so it can act on it.
    /// The event goes first, as dockerd's (which holds the container's lock until it is logged): a container that dies of
    /// the signal at once must not show its die event before the kill.</summary>
    private async Task SignalQuietlyAsync(Container c, ISupervisedContainer supervised, int signal, bool all, bool paused)
    {
        try
        {
            Publish(c, "kill", new() { ["signal"] = signal.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            await supervised.SignalAsync(signal, all, CancellationToken.None);
            if (paused)
            {
                await supervised.ResumeAsync(CancellationToken.None);
                lock (c.Gate) c.State.Paused = false;
            }
        }
        catch (EngineException) { } // it exited meanwhile
    }

    public async Task KillAsync(string idOrName, string? signal, CancellationToken cancellationToken)
    {
        var c = store.Get(idOrName);
        var number = string.IsNullOrEmpty(signal) ? Signals.SIGKILL : Signals.Parse(signal);
        ISupervisedContainer? supervised;
        TaskCompletionSource exitHandled;
        bool paused;
        lock (c.Gate)
        {
            if (!c.State.Running) throw new ConflictException($"Container {c.Id} is not running");
            if (c.Supervised is null) throw new ConflictException($"Container {c.Id} is restarting, wait until the container is running");
            supervised = c.Supervised;
            exitHandled = c.ExitHandled;
            paused = c.State.Paused;
            c.Record.HasBeenManuallyStopped = true;
            // As dockerd: the container's own stop signal means "stop", so the restart policy does not bring it back.
            if (number == Signals.StopSignal(null, c.Record.Config.StopSignal)) c.Restart.Cancel();
        }
        TryQuietly(() => store.Save(c));
        Publish(c, "kill", new() { ["signal"] = number.ToString(System.Globalization.CultureInfo.InvariantCulture) }); // before its die (SignalQuietlyAsync)
        try { await supervised.SignalAsync(number, all: false, cancellationToken); }
        catch (EngineException) when (exitHandled.Task.IsCompleted) { throw new ConflictException($"Container {c.Id} is not running"); }
        if (paused && number == Signals.SIGKILL)
        {
            try { await supervised.ResumeAsync(cancellationToken); } catch (EngineException) { }
        }
        // SIGKILL returns once the container is gone, so `kill; rm` works as with dockerd.
        if (number == Signals.SIGKILL) await exitHandled.Task.WaitAsync(cancellationToken);
    }

    public async Task RestartAsync(string idOrName, int? timeoutSeconds, string? signal, CancellationToken cancellationToken)
    {
        var c = store.Get(idOrName);
        var stopSignal = Signals.StopSignal(signal, c.Record.Config.StopSignal);
        await c.Operation.WaitAsync(cancellationToken);
        try
        {
            lock (c.Gate)
                if (c.RemovalInProgress) throw new ConflictException("container is marked for removal and cannot be started");
            await StopLockedAsync(c, timeoutSeconds, stopSignal, cancellationToken);
            lock (c.Gate)
            {
                c.Record.HasBeenManuallyStopped = false;
                c.Record.RestartCount = 0;
            }
            c.Restart.Reset();
            await StartLockedAsync(c, cancellationToken);
            Publish(c, "restart");
        }
        finally { c.Operation.Release(); }
    }

    public async Task PauseAsync(string idOrName, CancellationToken cancellationToken)
    {
        var c = store.Get(idOrName);
        ISupervisedContainer supervised;
        lock (c.Gate)
        {
            if (!c.State.Running) throw new ConflictException($"Container {c.Id} is not running");
            if (c.State.Paused) throw new ConflictException($"Container {c.Id} is already paused");
            supervised = c.Supervised ?? throw new ConflictException($"Container {c.Id} is restarting, wait until the container is running");
        }
        await supervised.PauseAsync(cancellationToken);
        lock (c.Gate) { c.State.Paused = true; c.UpdateStatus(); }
        store.Save(c);
        Publish(c, "pause");
    }

    public async Task UnpauseAsync(string idOrName, CancellationToken cancellationToken)
    {
        var c = store.Get(idOrName);
        ISupervisedContainer supervised;
        lock (c.Gate)
        {
            if (!c.State.Paused || c.Supervised is null) throw new ConflictException($"Container {c.Id} is not paused");
            supervised = c.Supervised;
        }
        await supervised.ResumeAsync(cancellationToken);
        lock (c.Gate) { c.State.Paused = false; c.UpdateStatus(); }
        store.Save(c);
        Publish(c, "unpause");
    }

    // ---- wait, remove --------------------------------------------------------------------------------

    public Task<Task<ContainerWaitResponse>> WaitAsync(string idOrName, WaitCondition condition, CancellationToken cancellationToken)
    {
        var c = store.Get(idOrName);
        var waiter = new TaskCompletionSource<ContainerWaitResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (c.Gate)
        {
            switch (condition)
            {
                case WaitCondition.NotRunning when !c.State.Running:
                    waiter.SetResult(WaitResult(c.State));
                    break;
                case WaitCondition.NotRunning:
                    c.NotRunningWaiters.Add(waiter);
                    break;
                case WaitCondition.NextExit:
                    c.NextExitWaiters.Add(waiter);
                    break;
                case WaitCondition.Removed:
                    c.RemovedWaiters.Add(waiter);
                    break;
            }
        }
        return Task.FromResult(waiter.Task);
    }

    public async Task RemoveAsync(string idOrName, bool force, bool removeVolumes, bool removeLink, CancellationToken cancellationToken)
    {
        var c = store.Get(idOrName);
        if (removeLink) throw new InvalidParameterException("Conflict, cannot remove the default link name of the container");
        await c.Operation.WaitAsync(cancellationToken);
        try
        {
            ISupervisedContainer? supervised;
            TaskCompletionSource exitHandled;
            lock (c.Gate)
            {
                if (c.RemovalInProgress) throw new ConflictException($"removal of container {c.Id} is already in progress");
                if (c.State.Running && !force)
                {
                    var state = c.State.Paused ? "paused" : c.State.Restarting ? "restarting" : "running";
                    throw new ConflictException($"cannot remove container \"{c.Name}\": container is {state}: stop the container before removing or force remove");
                }
                c.RemovalInProgress = true;
                c.Restart.Cancel();
                c.PendingRestart?.Cancel();
                supervised = c.Supervised;
                exitHandled = c.ExitHandled;
                c.UpdateStatus();
            }
            if (supervised is not null)
            {
                await SignalQuietlyAsync(c, supervised, Signals.SIGKILL, all: true, paused: true); // thawed, whatever its state says
                await exitHandled.Task;
            }
            await DestroyAsync(c);
        }
        finally { c.Operation.Release(); }
    }

    /// <summary>Removes everything of a stopped container: its layer, its directories, its record; wakes its waiters.</summary>
    private Task DestroyAsync(Container c) => FinishRemovalAsync(c, DeleteStorageAsync(c, Task.CompletedTask));

    /// <summary>
    /// Starts removing what a stopped container keeps in the data root: its writable layer (once <paramref name="unmounted"/>
    /// says its rootfs mount is gone) and its directory (record, network files, log), side by side. Each is gone when this
    /// completes (records deleted, directories renamed aside); their files are deleted in the background, as containerd
    /// cleans up removed snapshots: the unlinks and rmdirs wait on the disk, and nothing needs them done before the
    /// container's name is free. Never fails: what cannot be removed is left for the consistency pass.
    /// </summary>
    private Task DeleteStorageAsync(Container c, Task unmounted) => Task.WhenAll(
        Task.Run(async () =>
        {
            await unmounted;
            try { if (layers.GetContainerLayer(c.Record.LayerId) is not null) layers.DeleteContainerLayer(c.Record.LayerId, deferContent: true); }
            catch (Exception e) when (e is StorageException or IOException or UnauthorizedAccessException or Linux.SyscallException) { }
        }),
        Task.Run(() => TryQuietly(() => store.DeleteDirectoryInBackground(c))));

    /// <summary>
    /// The end of a removal, once the runtime is done with the container: its exec-root directories (bundle, shim state, on
    /// tmpfs) go, <paramref name="storage"/> is awaited, and only then are its name and record released, its waiters woken.
    /// </summary>
    private async Task FinishRemovalAsync(Container c, Task storage)
    {
        AbandonAttaches(c);
        Execs?.ContainerRemoved(c.Id);
        await c.RuntimeDeleted; // the runtime's delete (the shim's) may still read the bundle and log to the state directory
        TryQuietly(() => { var b = BundleDirectory(c.Id); if (Directory.Exists(b)) Directory.Delete(b, recursive: true); });
        TryQuietly(() => { var s = StateDirectory(c.Id); if (Directory.Exists(s)) Directory.Delete(s, recursive: true); });
        await storage;
        store.Forget(c);
        List<TaskCompletionSource<ContainerWaitResponse>> wake;
        ContainerWaitResponse result;
        lock (c.Gate)
        {
            c.State.Running = false;
            c.State.Restarting = false;
            c.State.Dead = false;
            result = WaitResult(c.State);
            wake = [.. c.RemovedWaiters, .. c.NextExitWaiters, .. c.NotRunningWaiters];
            c.RemovedWaiters.Clear();
            c.NextExitWaiters.Clear();
            c.NotRunningWaiters.Clear();
        }
        Publish(c, "destroy");
        foreach (var waiter in wake) waiter.TrySetResult(result);
    }

    // ---- update ------------------------------------------------------------------------------------

    public async Task<ContainerUpdateResponse> UpdateAsync(string idOrName, ContainerUpdateRequest update, CancellationToken cancellationToken)
    {
        var c = store.Get(idOrName);
        if (update.RestartPolicy is { } policy)
        {
            if (c.Record.HostConfig.AutoRemove && RestartBackoff.PolicyName(policy) != "no")
                throw new InvalidParameterException("Cannot update container " + c.Id + ": Restart policy cannot be updated because AutoRemove is enabled for the container");
            RestartBackoff.Validate(policy, autoRemove: false);
        }
        ISupervisedContainer? supervised;
        Models.Resources resources;
        bool resourcesChanged;
        lock (c.Gate)
        {
            if (c.RemovalInProgress || c.State.Dead) throw new ConflictException($"Cannot update container {c.Id}: container is marked for removal and cannot be \"update\"");
            var host = c.Record.HostConfig;
            resourcesChanged = ApplyResources(host, update);
            if (update.RestartPolicy is { } p)
            {
                host.RestartPolicy = new RestartPolicy { Name = RestartBackoff.PolicyName(p), MaximumRetryCount = p.MaximumRetryCount };
                c.Restart.SetPolicy(host.RestartPolicy);
            }
            supervised = c.State.Running ? c.Supervised : null;
            resources = host;
        }
        if (resourcesChanged && supervised is not null)
            await supervised.UpdateResourcesAsync(specs.Resources(resources), cancellationToken);
        store.Save(c);
        Publish(c, "update");
        return new ContainerUpdateResponse();
    }

    /// <summary>Copies the fields the update sets (non-zero, as dockerd reads them) into the container's HostConfig.</summary>
    private static bool ApplyResources(HostConfig host, ContainerUpdateRequest u)
    {
        var changed = false;
        void Set<T>(T value, T zero, Action<T> apply)
        {
            if (EqualityComparer<T>.Default.Equals(value, zero)) return;
            apply(value);
            changed = true;
        }
        Set(u.CpuShares, 0, v => host.CpuShares = v);
        Set(u.Memory, 0, v => host.Memory = v);
        Set(u.MemorySwap, 0, v => host.MemorySwap = v);
        Set(u.MemoryReservation, 0, v => host.MemoryReservation = v);
        Set(u.NanoCpus, 0, v => host.NanoCpus = v);
        Set(u.CpuPeriod, 0, v => host.CpuPeriod = v);
        Set(u.CpuQuota, 0, v => host.CpuQuota = v);
        Set(u.CpuRealtimePeriod, 0, v => host.CpuRealtimePeriod = v);
        Set(u.CpuRealtimeRuntime, 0, v => host.CpuRealtimeRuntime = v);
        Set(u.CpusetCpus, null, v => host.CpusetCpus = v);
        Set(u.CpusetMems, null, v => host.CpusetMems = v);
        Set(u.BlkioWeight, 0, v => host.BlkioWeight = v);
        Set(u.KernelMemoryTCP, 0, v => host.KernelMemoryTCP = v);
        Set(u.PidsLimit, null, v => host.PidsLimit = v);
        return changed;
    }
}
