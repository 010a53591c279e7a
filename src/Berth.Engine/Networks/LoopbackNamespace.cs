using Berth.Linux;

namespace Berth.Engine.Networks;

/// <summary>
/// The network namespaces of <c>--network none</c> containers: each a new namespace with only loopback, up, pinned at a
/// path (NetworkSettings.SandboxKey, as Docker's) so that inspect shows it and the runtime joins it by path.
/// <para>
/// A thread's network namespace is its own, so namespaces are made on one long-lived thread of their own: it unshares,
/// brings loopback up through a netlink socket opened inside, keeps a descriptor of the namespace and goes back to the
/// daemon's namespace. It makes one namespace ahead (a spare), so that a start takes a finished namespace and only pins it
/// (a bind mount); the next spare is made meanwhile, at the lowest CPU priority, so it never competes with a start.
/// Starting a thread per namespace cost a start 0.2 ms idle and up to 3 ms under load (the starting thread waits for the
/// new one to run), and unshare another 0.5 ms.
/// </para>
/// </summary>
internal sealed class LoopbackNamespaces(ISyscalls sys)
{
    private readonly object gate = new(); // Monitor.Wait and Pulse: the maker sleeps until a spare is taken
    private readonly Queue<(string Path, TaskCompletionSource Done)> waiting = new();
    private int spare = -1; // a made namespace no container has taken yet (a descriptor of it)
    private Thread? maker;
    private bool broken; // the maker could not get back to the daemon's namespace: namespaces are made on threads of their own

    /// <summary>Starts making the namespace pinned at <paramref name="path"/>; the task ends when it is ready (or failed,
    /// leaving nothing behind). With a spare ready it is ready on return.</summary>
    public Task Create(string path)
    {
        NetworkNamespace.Delete(sys, path); // a leftover of a crash
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        sys.CloseFd(sys.OpenFile(path, OpenFlags.O_RDONLY | OpenFlags.O_CREAT | OpenFlags.O_EXCL, 0b100_100_100 /* 0444 */));
        int taken;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (gate)
        {
            if (broken) return OnThreadOfItsOwn(path);
            taken = spare;
            spare = -1;
            if (taken < 0) waiting.Enqueue((path, done));
            StartMakerLocked();
            Monitor.PulseAll(gate); // a spare is to be made (and a waiting start served)
        }
        if (taken < 0) return done.Task;
        try { Pin(taken, path); }
        catch (Exception e) when (e is SyscallException or IOException or UnauthorizedAccessException) { return Task.FromException(e); }
        return Task.CompletedTask;
    }

    /// <summary>Bind-mounts the namespace <paramref name="fd"/> refers to at <paramref name="path"/> and closes the descriptor;
    /// on failure the path is removed.</summary>
    private void Pin(int fd, string path)
    {
        try { sys.Mount("/proc/self/fd/" + fd, path, null, MountFlags.Bind, null); }
        catch
        {
            TryDelete(path);
            throw;
        }
        finally { sys.CloseFd(fd); }
    }

    private void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    private void StartMakerLocked()
    {
        if (maker is not null) return;
        maker = new Thread(MakeForever, 256 * 1024) { IsBackground = true, Name = "berth-netns" };
        maker.Start();
    }

    private void MakeForever()
    {
        int daemonNamespace;
        try { daemonNamespace = sys.OpenFile("/proc/thread-self/ns/net", OpenFlags.O_RDONLY); }
        catch (SyscallException e)
        {
            GiveUp(e);
            return;
        }
        var nice = 0;
        while (true)
        {
            bool forWaiting;
            lock (gate)
            {
                while (spare >= 0 && waiting.Count == 0) Monitor.Wait(gate);
                forWaiting = waiting.Count > 0;
            }
            // A spare is made behind the starts, at the lowest priority; a start that waits is served at the normal one.
            var wanted = forWaiting ? 0 : 19;
            if (wanted != nice)
            {
                try { sys.SetThreadNice(wanted); nice = wanted; }
                catch (SyscallException) { }
            }
            int made;
            try
            {
                sys.UnshareNamespaces(Namespaces.CloneNewNet);
                try
                {
                    using (var inside = new Linux.Netlink.RouteNetlink(sys))
                        if (inside.GetLink("lo") is { IsUp: false } lo) inside.SetUp(lo.Index);
                    made = sys.OpenFile("/proc/thread-self/ns/net", OpenFlags.O_RDONLY);
                }
                finally { sys.JoinNamespace(daemonNamespace, Namespaces.CloneNewNet, "the daemon's network namespace"); }
            }
            catch (Exception e) when (e is SyscallException or IOException)
            {
                // This thread may be left in a namespace of its own: it makes no more; each start makes its own.
                GiveUp(e);
                return;
            }
            (string Path, TaskCompletionSource Done)? served = null;
            lock (gate)
            {
                if (waiting.Count > 0) served = waiting.Dequeue();
                else spare = made;
            }
            if (served is not { } s) continue;
            try
            {
                Pin(made, s.Path);
                s.Done.SetResult();
            }
            catch (Exception e) when (e is SyscallException or IOException or UnauthorizedAccessException) { s.Done.SetException(e); }
        }
    }

    private void GiveUp(Exception e)
    {
        List<(string Path, TaskCompletionSource Done)> failed;
        lock (gate)
        {
            broken = true;
            failed = [.. waiting];
            waiting.Clear();
        }
        foreach (var (path, done) in failed)
        {
            TryDelete(path);
            done.SetException(e);
        }
    }

    /// <summary>The fallback: a thread of its own that unshares, brings loopback up and pins the namespace, then ends.</summary>
    private Task OnThreadOfItsOwn(string path)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            var mounted = false;
            try
            {
                sys.UnshareNamespaces(Namespaces.CloneNewNet);
                using (var inside = new Linux.Netlink.RouteNetlink(sys))
                    if (inside.GetLink("lo") is { IsUp: false } lo) inside.SetUp(lo.Index);
                sys.Mount("/proc/thread-self/ns/net", path, null, MountFlags.Bind, null);
                mounted = true;
                done.SetResult();
            }
            catch (Exception e)
            {
                try { if (mounted) sys.Unmount(path, UnmountFlags.Detach); }
                catch (SyscallException) { }
                TryDelete(path);
                done.SetException(e);
            }
        }, 256 * 1024) { IsBackground = true, Name = "berth-netns" };
        try { thread.Start(); }
        catch
        {
            TryDelete(path);
            throw;
        }
        return done.Task;
    }
}
