using System.Text.Json;
using Berth.Linux;
using Berth.Oci.Runtime;
using Berth.Runtime.Config;
using Berth.Runtime.Hooks;
using Berth.Runtime.State;

namespace Berth.Runtime.Lifecycle;

/// <summary>The verbs on an existing container: start, kill, delete, pause, resume; with runc's wrong-state errors.</summary>
public sealed class ContainerOperations(ISyscalls sys, StateStore store)
{
    public void Start(string id)
    {
        var record = store.Load(id);
        switch (store.StatusOf(record))
        {
            case ContainerStatus.Created: break;
            case ContainerStatus.Stopped: throw new RuntimeException("cannot start a container that has stopped");
            case ContainerStatus.Running: throw new RuntimeException("cannot start an already running container");
            case var s: throw new RuntimeException($"cannot start a container in the {s} state");
        }
        // Poststart hooks run after the init's startContainer hooks: wait for those when there are any to run.
        ExecFifo.Release(sys, store, record, awaitStartHooks: record.HasPoststart != false);
        if (record.HasPoststart == false) return;
        var spec = LoadConfig(record);
        if (spec?.Hooks?.Poststart is { Count: > 0 } hooks)
            new HookRunner(sys).RunWarning(hooks, "poststart", HookState(record, ContainerStatus.Running));
    }

    public void Kill(string id, int signal, bool all)
    {
        var record = store.Load(id);
        var status = store.StatusOf(record);
        if (status == ContainerStatus.Stopped) throw new RuntimeException("container not running");
        if (all)
        {
            var cgroup = ContainerCgroup.Open(record.CgroupsPath, id);
            if (cgroup is not null)
            {
                cgroup.KillAll(signal);
                return;
            }
        }
        if (!sys.SendSignal(record.Pid, signal)) throw new RuntimeException("container not running");
    }

    public void Delete(string id, bool force)
    {
        ContainerRecord record;
        try { record = store.Load(id); }
        catch (RuntimeException) when (force)
        {
            if (ContainerId.IsValid(id)) store.Remove(id); // an aborted create may have left a directory
            return;
        }
        var status = store.StatusOf(record);
        if (status == ContainerStatus.Running && !force && ProcStat.IsExiting(record.Pid, record.PidStartTime))
        {
            // Its output has ended but it is not a zombie yet: wait for that moment (a pidfd) rather than call it running.
            AwaitExit(record, TimeSpan.FromSeconds(1));
            status = store.StatusOf(record);
        }
        switch (status)
        {
            case ContainerStatus.Stopped: break;
            case ContainerStatus.Created: KillAndWait(record); break;
            default:
                if (!force) throw new RuntimeException($"cannot delete container {id} that is not stopped: {status}");
                if (status == ContainerStatus.Paused) ContainerCgroup.Open(record.CgroupsPath, id)?.Thaw();
                KillAndWait(record);
                break;
        }
        Destroy(record);
    }

    private void AwaitExit(ContainerRecord record, TimeSpan limit)
    {
        int pidfd;
        try { pidfd = sys.OpenProcessHandle(record.Pid); }
        catch (SyscallException) { return; }
        try { sys.WaitReadable([pidfd], (int)limit.TotalMilliseconds); }
        finally { sys.CloseFd(pidfd); }
    }

    /// <summary>SIGKILL the init and wait until it is gone (a pidfd: we need not be its parent).</summary>
    public void KillAndWait(ContainerRecord record)
    {
        int pidfd;
        try { pidfd = sys.OpenProcessHandle(record.Pid); }
        catch (SyscallException) { return; }
        try
        {
            if (!ProcStat.IsSameLiveProcess(record.Pid, record.PidStartTime)) return;
            sys.SendSignal(record.Pid, 9);
            sys.WaitReadable([pidfd], 10_000);
            // Reap it if it is our own child (run, or create in this process); ignore otherwise.
            try { sys.WaitForChild(record.Pid, out _, noHang: true); } catch (SyscallException) { }
        }
        finally { sys.CloseFd(pidfd); }
    }

    /// <summary>Removes the cgroup, runs poststop hooks (warnings only) and removes the state directory.</summary>
    public void Destroy(ContainerRecord record)
    {
        if (!ContainerCgroup.TryRemoveEmpty(record.CgroupDirectories, sys)) RemoveCgroup(record);
        var spec = record.HasPoststop == false ? null : LoadConfig(record);
        if (spec?.Hooks?.Poststop is { Count: > 0 } hooks)
            new HookRunner(sys).RunWarning(hooks, "poststop", HookState(record, ContainerStatus.Stopped));
        store.Remove(record.Id);
    }

    /// <summary>Kills what is left in the cgroup and removes it, sub-cgroups included.</summary>
    private static void RemoveCgroup(ContainerRecord record)
    {
        var cgroup = ContainerCgroup.Open(record.CgroupsPath, record.Id);
        if (cgroup is not null)
        {
            try
            {
                if (cgroup.Pids().Count > 0) cgroup.KillAll(9);
                cgroup.Destroy();
            }
            catch (Exception e) { RuntimeLog.Warn($"removing cgroup {cgroup.Path}: {e.Message}"); }
        }
    }

    public void Pause(string id)
    {
        var record = store.Load(id);
        var status = store.StatusOf(record);
        if (status is not (ContainerStatus.Running or ContainerStatus.Created)) throw new RuntimeException(status == ContainerStatus.Paused ? "container already paused" : "container not running");
        var cgroup = ContainerCgroup.Open(record.CgroupsPath, id) ?? throw new RuntimeException("container has no cgroup to freeze");
        cgroup.Freeze();
        File.WriteAllText(Path.Combine(store.DirectoryOf(id), StateStore.PausedMarker), "");
    }

    public void Resume(string id)
    {
        var record = store.Load(id);
        if (store.StatusOf(record) != ContainerStatus.Paused) throw new RuntimeException("container not paused");
        var cgroup = ContainerCgroup.Open(record.CgroupsPath, id) ?? throw new RuntimeException("container has no cgroup to thaw");
        cgroup.Thaw();
        File.Delete(Path.Combine(store.DirectoryOf(id), StateStore.PausedMarker));
    }

    public Spec? LoadConfig(ContainerRecord record)
    {
        try { return store.LoadConfig(record.Id) is { } raw ? SpecLoader.Parse(raw) : null; }
        catch (IOException) { return null; }
        catch (RuntimeException) { return null; }
    }

    public static string HookState(ContainerRecord record, string status)
        => JsonSerializer.Serialize(StateStore.SpecState(record, status), CompactJsonContext.Default.State);
}
