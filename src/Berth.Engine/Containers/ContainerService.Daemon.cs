using System.Text.Json;
using Berth.Engine.Models;
using Berth.Engine.Supervision;
using Berth.Oci.Runtime;

namespace Berth.Engine.Containers;

public sealed partial class ContainerService
{
    /// <summary>
    /// At daemon start: containers that were running are reattached when their shim lives (with live restore;
    /// without it they are stopped, as dockerd does), or marked exited with the exit their shim recorded. Then
    /// the restart policies bring back what they should.
    /// </summary>
    public async Task RestoreAsync(CancellationToken cancellationToken)
    {
        var restarts = new List<Container>();
        foreach (var c in store.All())
        {
            bool wasRunning;
            lock (c.Gate) wasRunning = c.State.Running;
            if (wasRunning)
            {
                var supervised = supervisor.Reattach(c.Id, StateDirectory(c.Id));
                if (supervised is not null)
                {
                    Reattach(c, supervised);
                    if (settings.LiveRestore) continue;
                    // Without live restore a container does not outlive the daemon that ran it.
                    try { await supervised.SignalAsync(Signals.SIGKILL, all: true, cancellationToken); }
                    catch (EngineException) { }
                    await c.ExitHandled.Task.WaitAsync(cancellationToken);
                }
                else
                {
                    var exit = supervisor.ReadRecordedExit(StateDirectory(c.Id)) ?? new ProcessExit(255, time.GetUtcNow(), false);
                    lock (c.Gate) c.ExitHandled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    await HandleExitAsync(c, null, exit);
                }
                lock (c.Gate) if (c.State.Running) continue; // its policy restarts it already
            }
            lock (c.Gate)
            {
                if (c.RemovalInProgress || c.State.Running) continue;
                if (c.Record.HostConfig.AutoRemove && c.Record.HasBeenStartedBefore) { _ = AutoRemoveAsync(c); continue; }
                if (!c.Record.HasBeenStartedBefore) continue;
                var finished = DockerTime.Parse(c.State.FinishedAt) ?? time.GetUtcNow();
                var started = DockerTime.Parse(c.State.StartedAt) ?? finished;
                if (c.Restart.ShouldRestart(c.State.ExitCode, c.Record.HasBeenManuallyStopped, finished - started) is not null) restarts.Add(c);
            }
        }
        foreach (var c in restarts)
        {
            await c.Operation.WaitAsync(cancellationToken);
            try
            {
                lock (c.Gate) if (c.State.Running) continue;
                await StartLockedAsync(c, cancellationToken);
            }
            catch (EngineException) { } // recorded in State.Error
            finally { c.Operation.Release(); }
        }
    }

    /// <summary>Takes a live shim back: state, rootfs, spec and health monitor as they were, and its exit watched.</summary>
    private void Reattach(Container c, ISupervisedContainer supervised)
    {
        var bundle = BundleDirectory(c.Id);
        Oci.Runtime.Spec? spec = null;
        try { spec = JsonSerializer.Deserialize(File.ReadAllBytes(Path.Combine(bundle, "config.json")), RuntimeJsonContext.Default.Spec); }
        catch (Exception e) when (e is IOException or JsonException) { }
        var rootfs = Path.Combine(bundle, "rootfs");
        lock (c.Gate)
        {
            c.Supervised = supervised;
            c.Spec = spec;
            c.RootfsPath = spec?.Root?.Path ?? rootfs;
            c.MountedRootfs = c.RootfsPath == rootfs ? rootfs : null;
            c.State.Pid = supervised.Pid;
            c.State.Restarting = false;
            c.ExitHandled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (HealthRules.Enabled(c.Record.Config.Healthcheck)) c.State.Health ??= new Health { Status = "starting", Log = [] };
            c.UpdateStatus();
        }
        TryQuietly(() => store.Save(c));
        StartHealthMonitor(c, supervised);
        _ = MonitorExitAsync(c, supervised);
    }

    /// <summary>
    /// At daemon stop: with live restore the containers keep running (their shims are only let go); without it
    /// every running container is stopped with its own stop signal and timeout, all at once, as dockerd does.
    /// </summary>
    public async Task ShutdownAsync(CancellationToken cancellationToken)
    {
        var stops = new List<Task>();
        foreach (var c in store.All())
        {
            ISupervisedContainer? supervised;
            HealthMonitor? health;
            lock (c.Gate)
            {
                c.PendingRestart?.Cancel();
                supervised = c.Supervised;
                health = c.Health;
            }
            if (supervised is null) continue;
            if (settings.LiveRestore)
            {
                health?.Dispose();
                lock (c.Gate) { c.Health = null; c.Supervised = null; }
                await supervised.DisposeAsync();
                continue;
            }
            stops.Add(StopForShutdownAsync(c, cancellationToken));
        }
        await Task.WhenAll(stops);
        if (settings.LiveRestore) return;
        // The runtimes' deletes (run by the shims) still read bundles and write state on the exec-root mounts.
        try { await Task.WhenAll(store.All().Select(c => c.RuntimeDeleted)).WaitAsync(TimeSpan.FromSeconds(10), cancellationToken); }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException or EngineException) { }
        UnmountExecState();
    }

    private async Task StopForShutdownAsync(Container c, CancellationToken cancellationToken)
    {
        await c.Operation.WaitAsync(cancellationToken);
        try
        {
            int signal;
            try { signal = Signals.StopSignal(null, c.Record.Config.StopSignal); }
            catch (InvalidParameterException) { signal = Signals.SIGTERM; }
            c.Restart.Cancel();
            var wasManual = c.Record.HasBeenManuallyStopped;
            await StopLockedAsync(c, null, signal, cancellationToken);
            // A daemon stop is not the user's stop: unless-stopped containers come back at the next start.
            lock (c.Gate) c.Record.HasBeenManuallyStopped = wasManual;
            TryQuietly(() => store.Save(c));
        }
        catch (OperationCanceledException) { }
        finally { c.Operation.Release(); }
    }

    /// <summary>Counts for /info: all, running, paused, stopped.</summary>
    public (int All, int Running, int Paused, int Stopped) Counts()
    {
        int all = 0, running = 0, paused = 0;
        foreach (var c in store.All())
        {
            all++;
            lock (c.Gate)
            {
                if (c.State.Paused) paused++;
                else if (c.State.Running) running++;
            }
        }
        return (all, running, paused, all - running - paused);
    }
}
