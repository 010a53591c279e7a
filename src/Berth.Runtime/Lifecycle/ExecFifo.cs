using Berth.Linux;
using Berth.Runtime.State;

namespace Berth.Runtime.Lifecycle;

/// <summary>
/// The exec fifo (ROOT/ID/exec.fifo) through which `start` releases a created container's init. The init holds the
/// read end from before it reports ready and waits for one byte; `start` opens the write end without blocking, which
/// fails (ENXIO) when no init reads, writes the byte and is done. The byte waits in the pipe: `start` need not wait for
/// the init to be woken and scheduled, as it must when the init is the writer and `start` reads (runc's way): 0.6–0.9 ms
/// of `start` here. A `start` with poststart hooks waits on until the init closes its end, after its startContainer hooks.
/// </summary>
public static class ExecFifo
{
    /// <summary>0644: the init may be root of a user namespace, "other" to the fifo's owner; only root may start.</summary>
    public const int Mode = 0b110_100_100;

    /// <summary>In the init: the read end, from the inherited O_PATH descriptor (the init may not reach the state
    /// directory), opened without waiting for a writer.</summary>
    public static int OpenReader(ISyscalls sys, int pathFd)
        => sys.OpenFile($"/proc/self/fd/{pathFd}", OpenFlags.O_RDONLY | OpenFlags.O_NONBLOCK);

    /// <summary>In the init: returns once `start` has written its byte, with the read end then open (the caller closes
    /// it). A writer that leaves without writing (not `start`) is outlived: the fifo is opened afresh.</summary>
    public static int AwaitStart(ISyscalls sys, int reader, int pathFd)
    {
        Span<byte> one = stackalloc byte[1];
        while (true)
        {
            // No writer yet: poll waits (a fifo shows a hang-up only after a writer has come and gone).
            sys.WaitReadable([reader], -1);
            int n;
            try { n = sys.ReadSome(reader, one); }
            catch (SyscallException e) when (e.ErrorNumber == Errno.EAGAIN) { continue; }
            if (n == 1) return reader;
            var fresh = OpenReader(sys, pathFd); // before the close: `start` always finds a reader
            sys.CloseFd(reader);
            reader = fresh;
        }
    }

    /// <summary>In `start`: releases the init of <paramref name="record"/>; with <paramref name="awaitStartHooks"/>,
    /// returns only once the init has run its startContainer hooks (closed its end) or exited.</summary>
    public static void Release(ISyscalls sys, StateStore store, ContainerRecord record, bool awaitStartHooks)
    {
        var path = store.FifoOf(record.Id);
        int writer;
        try { writer = sys.OpenFile(path, OpenFlags.O_WRONLY | OpenFlags.O_NONBLOCK); }
        catch (SyscallException e) when (e.ErrorNumber == Errno.ENXIO)
        {
            throw new RuntimeException(store.IsAlive(record)
                ? "container init is not reading its exec fifo (made by an older berth-runtime?): delete the container and create it again"
                : "container init exited before it was started");
        }
        catch (SyscallException) { throw new RuntimeException("cannot start an already running container"); }
        try
        {
            sys.WriteAll(writer, "0"u8);
            if (awaitStartHooks) AwaitReaderGone(sys, store, record, writer);
        }
        finally { sys.CloseFd(writer); }
        try { File.Delete(path); } catch (IOException) { }
    }

    /// <summary>A fifo's write end polls as an error once no reader is left.</summary>
    private static void AwaitReaderGone(ISyscalls sys, StateStore store, ContainerRecord record, int writer)
    {
        var pidfd = -1;
        try { pidfd = sys.OpenProcessHandle(record.Pid); }
        catch (SyscallException) { } // gone already, or no pidfd: watch the fifo, and check liveness between short waits
        try
        {
            while ((pidfd >= 0 ? sys.WaitReadable([writer, pidfd], -1) : sys.WaitReadable([writer], 50)) < 0 && store.IsAlive(record)) { }
        }
        finally { if (pidfd >= 0) sys.CloseFd(pidfd); }
    }
}
