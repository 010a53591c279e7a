using System.Runtime.ExceptionServices;

namespace Berth.Linux;

/// <summary>
/// Network namespaces kept alive by a bind-mounted file (as `ip netns` and Docker do), and work done inside one.
/// A thread's network namespace is its own: every call here runs on a dedicated thread that joins (or unshares)
/// the namespace and then ends, so no thread of the process is ever left in a foreign namespace. Sockets keep the
/// namespace they were opened in, so opening a netlink or UDP socket inside and using it from anywhere is the way
/// to act inside a namespace for long.
/// </summary>
public static class NetworkNamespace
{
    /// <summary>Creates a new, empty network namespace pinned at <paramref name="path"/> (the file is created).</summary>
    public static void Create(ISyscalls sys, string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        sys.CloseFd(sys.OpenFile(path, OpenFlags.O_RDONLY | OpenFlags.O_CREAT | OpenFlags.O_EXCL, 0b100_100_100 /* 0444 */));
        try
        {
            OnDedicatedThread(() =>
            {
                sys.UnshareNamespaces(Namespaces.CloneNewNet);
                sys.Mount("/proc/thread-self/ns/net", path, null, MountFlags.Bind, null);
                return 0;
            });
        }
        catch
        {
            File.Delete(path);
            throw;
        }
    }

    /// <summary>Unpins and removes a namespace file made by <see cref="Create"/>; false when it was not there.
    /// The namespace itself ends when its last process and socket are gone.</summary>
    public static bool Delete(ISyscalls sys, string path)
    {
        if (!File.Exists(path)) return false;
        try { sys.Unmount(path, UnmountFlags.Detach); }
        catch (SyscallException e) when (e.ErrorNumber == Errno.EINVAL) { } // not a mount point (a crash between create and mount)
        File.Delete(path);
        return true;
    }

    /// <summary>Runs <paramref name="action"/> on a thread inside the network namespace at <paramref name="path"/>
    /// (a pinned file or /proc/PID/ns/net).</summary>
    public static T Run<T>(ISyscalls sys, string path, Func<T> action)
    {
        var fd = sys.OpenFile(path, OpenFlags.O_RDONLY);
        try { return Run(sys, fd, path, action); }
        finally { sys.CloseFd(fd); }
    }

    /// <summary>Runs <paramref name="action"/> on a thread inside the network namespace <paramref name="fd"/> refers to.</summary>
    public static T Run<T>(ISyscalls sys, int fd, string what, Func<T> action) => OnDedicatedThread(() =>
    {
        sys.JoinNamespace(fd, Namespaces.CloneNewNet, what);
        return action();
    });

    private static T OnDedicatedThread<T>(Func<T> action)
    {
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        // The caller goes on when the work is done, not when the thread has ended (its exit takes a while under load).
        var done = new ManualResetEventSlim(); // not disposed: the thread may still be in Set when the caller wakes
        var thread = new Thread(() =>
        {
            try { result = action(); }
            catch (Exception e) { failure = ExceptionDispatchInfo.Capture(e); }
            finally { done.Set(); }
        }, 256 * 1024) { IsBackground = true, Name = "berth-netns" };
        thread.Start();
        done.Wait();
        failure?.Throw();
        return result;
    }
}

/// <summary>
/// A new network namespace made on a thread of its own while the caller goes on. Making one is the dearest part of
/// cloning a container's init (about 0.5 ms of kernel work, most of the clone); made here, the init joins it like a
/// namespace given by path. <see cref="Take"/> hands over its descriptor once that thread has exited, not merely
/// finished its work: the caller clones itself next, and a raw clone keeps only the calling thread, so no other thread
/// may be caught holding a lock of the runtime or of libc.
/// </summary>
public sealed class NetworkNamespaceAhead : IDisposable
{
    private readonly ISyscalls _sys;
    private readonly Thread _thread;
    private int _fd = -1, _tid;
    private bool _taken;

    private NetworkNamespaceAhead(ISyscalls sys)
    {
        _sys = sys;
        _thread = new Thread(() =>
        {
            _tid = sys.CurrentThreadId();
            try
            {
                sys.UnshareNamespaces(Namespaces.CloneNewNet);
                _fd = sys.OpenFile("/proc/thread-self/ns/net", OpenFlags.O_RDONLY);
            }
            catch (SyscallException) { } // Take answers -1: the caller makes the namespace as before, and reports its error
        }, 256 * 1024) { IsBackground = true, Name = "berth-netns" };
    }

    public static NetworkNamespaceAhead Begin(ISyscalls sys)
    {
        var ahead = new NetworkNamespaceAhead(sys);
        ahead._thread.Start();
        return ahead;
    }

    /// <summary>A descriptor of the new namespace, which the caller then owns; -1 when it could not be made.</summary>
    public int Take()
    {
        if (_taken) throw new InvalidOperationException("the namespace was taken already");
        _taken = true;
        _thread.Join();
        AwaitThreadExit();
        return _fd;
    }

    private void AwaitThreadExit()
    {
        int handle;
        try { handle = _sys.OpenThreadHandle(_tid); }
        catch (SyscallException e) when (e.ErrorNumber == Errno.ESRCH) { return; } // gone already
        catch (SyscallException)
        {
            // No PIDFD_THREAD before Linux 6.9: the thread's directory goes when it has exited.
            var task = $"/proc/self/task/{_tid}";
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (Directory.Exists(task) && clock.ElapsedMilliseconds < 1000) Thread.Yield();
            return;
        }
        try { _sys.WaitReadable([handle], -1); }
        finally { _sys.CloseFd(handle); }
    }

    public void Dispose()
    {
        if (_taken) return;
        var fd = Take();
        if (fd >= 0) _sys.CloseFd(fd);
    }
}
