using Berth.Engine.Models;
using Berth.Engine.Supervision;

namespace Berth.Engine.Containers;

/// <summary>
/// One container in memory: its persisted <see cref="Record"/> and what only a running daemon has (the
/// supervised process, waiters, restart back-off, health monitor, pending attaches). <see cref="Gate"/>
/// guards the record and the waiters; <see cref="Operation"/> serialises start/stop/remove/restart.
/// </summary>
public sealed class Container
{
    public Container(ContainerRecord record, string directory)
    {
        Record = record;
        Directory = directory;
        Restart = new RestartBackoff(record.HostConfig.RestartPolicy);
    }

    public ContainerRecord Record { get; }
    public string Id => Record.ID;
    /// <summary>data-root/containers/ID.</summary>
    public string Directory { get; }
    public Lock Gate { get; } = new();
    internal SemaphoreSlim Operation { get; } = new(1, 1);

    internal ISupervisedContainer? Supervised { get; set; }
    /// <summary>The rootfs the current run uses, mounted by the engine (null when the snapshot directory is used as it is).</summary>
    internal string? MountedRootfs { get; set; }
    internal string? RootfsPath { get; set; }
    /// <summary>The OCI spec of the current run (exec derives its process from it).</summary>
    internal Oci.Runtime.Spec? Spec { get; set; }
    internal RestartBackoff Restart { get; set; }
    /// <summary>Cancels a pending restart-policy restart (stop, remove, daemon shutdown).</summary>
    internal CancellationTokenSource? PendingRestart { get; set; }
    internal HealthMonitor? Health { get; set; }
    internal bool RemovalInProgress { get; set; }
    internal List<string> ExecIds { get; } = [];
    internal List<PendingAttach> PendingAttaches { get; } = [];

    // Waiters, completed under Gate.
    internal List<TaskCompletionSource<ContainerWaitResponse>> NextExitWaiters { get; } = [];
    internal List<TaskCompletionSource<ContainerWaitResponse>> NotRunningWaiters { get; } = [];
    internal List<TaskCompletionSource<ContainerWaitResponse>> RemovedWaiters { get; } = [];
    /// <summary>Completed when the current run's exit has been handled (stop and kill wait on it).</summary>
    internal TaskCompletionSource ExitHandled { get; set; } = Completed();
    /// <summary>
    /// The last run's runtime delete, which the shim runs after telling the exit: the exit's clean-up does not wait for
    /// it, but a new run and the removal of the container's state directories (and so "removed" and the name) do.
    /// </summary>
    internal Task RuntimeDeleted { get; set; } = Task.CompletedTask;

    internal static TaskCompletionSource Completed()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        done.SetResult();
        return done;
    }

    public string Name => Record.Name;
    public ContainerState State => Record.State;

    /// <summary>Docker's State.StateString (created, running, paused, restarting, removing, exited, dead).</summary>
    internal static string StatusOf(ContainerState s, bool removing)
    {
        if (s.Running)
        {
            if (s.Paused) return "paused";
            if (s.Restarting) return "restarting";
            return "running";
        }
        if (removing) return "removing";
        if (s.Dead) return "dead";
        if (s.StartedAt == DockerTime.Zero) return "created";
        return "exited";
    }

    /// <summary>Recomputes State.Status; call under <see cref="Gate"/> after any change.</summary>
    internal void UpdateStatus() => Record.State.Status = StatusOf(Record.State, RemovalInProgress);

    /// <summary>Docker's human status for `docker ps` ("Up 5 seconds (healthy)", "Exited (0) 2 minutes ago").</summary>
    internal static string HumanStatus(ContainerState s, bool removing, DateTimeOffset now)
    {
        var started = DockerTime.Parse(s.StartedAt);
        var finished = DockerTime.Parse(s.FinishedAt);
        if (s.Running)
        {
            var up = HumanDuration(now - (started ?? now));
            if (s.Paused) return $"Up {up} (Paused)";
            if (s.Restarting) return $"Restarting ({s.ExitCode}) {HumanDuration(now - (finished ?? now))} ago";
            if (s.Health is { Status: { } health }) return $"Up {up} ({(health == "starting" ? "health: starting" : health)})";
            return $"Up {up}";
        }
        if (removing) return "Removal In Progress";
        if (s.Dead) return "Dead";
        if (started is null) return "Created";
        if (finished is null) return "";
        return $"Exited ({s.ExitCode}) {HumanDuration(now - finished.Value)} ago";
    }

    /// <summary>go-units' HumanDuration.</summary>
    public static string HumanDuration(TimeSpan d)
    {
        var seconds = (long)d.TotalSeconds;
        if (seconds < 1) return "Less than a second";
        if (seconds == 1) return "1 second";
        if (seconds < 60) return $"{seconds} seconds";
        var minutes = (long)d.TotalMinutes;
        if (minutes == 1) return "About a minute";
        if (minutes < 60) return $"{minutes} minutes";
        var hours = (long)(d.TotalHours + 0.5);
        if (hours == 1) return "About an hour";
        if (hours < 48) return $"{hours} hours";
        if (hours < 24 * 7 * 2) return $"{hours / 24} days";
        if (hours < 24 * 30 * 2) return $"{hours / 24 / 7} weeks";
        if (hours < 24 * 365 * 2) return $"{hours / 24 / 30} months";
        return $"{(long)d.TotalHours / 24 / 365} years";
    }
}
