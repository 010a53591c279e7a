using Berth.Oci.Runtime;

namespace Berth.Engine.Supervision;

// The seam between the engine's container objects (lifecycle, policies, state) and the processes that
// run them: an OCI runtime driven through a small per-container shim that is the container's parent,
// holds its stdio, writes its json-file log and records its exit, so containers outlive berthd.

/// <summary>Everything a shim needs to create one container.</summary>
public sealed record LaunchRequest(
    string ContainerId,
    /// <summary>Holds config.json (written by the engine); the rootfs path in it is absolute.</summary>
    string BundleDirectory,
    /// <summary>The OCI runtime's executable (berth-runtime, runc, …) and its --root.</summary>
    string RuntimePath,
    string RuntimeRoot,
    /// <summary>exec-root/containers/ID: the shim's socket, pid file and exit record live here.</summary>
    string StateDirectory,
    /// <summary>The json-file log (data-root/containers/ID/ID-json.log); null when the log driver is "none".</summary>
    string? LogPath,
    /// <summary>json-file rotation as Docker's max-size / max-file; 0 means unlimited / one file.</summary>
    long LogMaxSize,
    int LogMaxFiles,
    bool Tty,
    bool OpenStdin,
    bool StdinOnce);

/// <summary>How a container's (or exec's) process ended.</summary>
public sealed record ProcessExit(int ExitCode, DateTimeOffset FinishedAt, bool OomKilled);

public interface ISupervisor
{
    /// <summary>
    /// Starts a shim that creates (does not start) the container and returns once it is created. On failure
    /// throws an <see cref="EngineException"/> carrying the runtime's message and leaves nothing behind.
    /// </summary>
    Task<ISupervisedContainer> CreateAsync(LaunchRequest request, CancellationToken cancellationToken);

    /// <summary>True when the runtime first runs at <see cref="ISupervisedContainer.StartAsync"/> (nothing of the
    /// container exists before it), so what only the runtime needs, such as a network namespace still being made, may
    /// be finished while the shim starts.</summary>
    bool RuntimeRunsAtStart => false;

    /// <summary>
    /// After berthd restarts: reconnects to the shim of a container created by an earlier berthd, or returns
    /// null when that shim is gone (then <see cref="ReadRecordedExit"/> tells how the container ended).
    /// </summary>
    ISupervisedContainer? Reattach(string containerId, string stateDirectory);

    /// <summary>The exit a shim recorded before it went away, or null when none was recorded.</summary>
    ProcessExit? ReadRecordedExit(string stateDirectory);
}

/// <summary>One created container under its shim.</summary>
public interface ISupervisedContainer : IAsyncDisposable
{
    string ContainerId { get; }

    /// <summary>The container's init process in the host's pid namespace.</summary>
    int Pid { get; }

    /// <summary>Runs the runtime's start: the user process begins.</summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>Completes when the process has exited and all its output is in the log.</summary>
    Task<ProcessExit> Exited { get; }

    /// <summary>The runtime's kill (to all processes of the container when <paramref name="all"/>).</summary>
    Task SignalAsync(int signal, bool all, CancellationToken cancellationToken);

    Task PauseAsync(CancellationToken cancellationToken);
    Task ResumeAsync(CancellationToken cancellationToken);

    /// <summary>The runtime's update: new cgroup limits for the running container.</summary>
    Task UpdateResourcesAsync(Resources resources, CancellationToken cancellationToken);

    /// <summary>Live stdio of the container's process, through the shim (attach).</summary>
    Task<IStdioSession> AttachAsync(AttachOptions options, CancellationToken cancellationToken);

    /// <summary>Resizes the container's terminal (only when it has one).</summary>
    Task ResizeAsync(int height, int width, CancellationToken cancellationToken);

    /// <summary>Runs a process inside the container (the runtime's exec); its stdio is not logged.</summary>
    Task<ISupervisedExec> ExecAsync(Process process, bool attachStdin, CancellationToken cancellationToken);

    /// <summary>The runtime's delete (forced when <paramref name="force"/>); the shim then exits.</summary>
    Task DeleteAsync(bool force, CancellationToken cancellationToken);
}

/// <summary>A process started by exec.</summary>
public interface ISupervisedExec
{
    int Pid { get; }
    /// <summary>Its stdio; output ends when the process's streams close. Null when started detached.</summary>
    IStdioSession? Stdio { get; }
    Task<ProcessExit> Exited { get; }
    Task ResizeAsync(int height, int width, CancellationToken cancellationToken);
}
