using System.Runtime.InteropServices;
using System.Text;

namespace Berth.Linux;

public partial interface ISyscalls : IEventLoopCalls;

/// <summary>One entry of poll(2): the descriptor, the events wanted, the events that happened (struct pollfd).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct PollEntry
{
    public int Fd;
    public short Events;
    public short Returned;

    public const short In = 0x001, Out = 0x004, Error = 0x008, HangUp = 0x010, Invalid = 0x020;

    public PollEntry(int fd, short events) { Fd = fd; Events = events; Returned = 0; }
    public readonly bool Readable => (Returned & (In | HangUp | Error)) != 0;
    public readonly bool Writable => (Returned & (Out | HangUp | Error)) != 0;
}

/// <summary>
/// A single-threaded event loop over raw descriptors (the shim: pipes, a pty, unix sockets, pidfds) and file
/// change notification (the engine's log follower): non-blocking reads and writes that report "would block"
/// instead of throwing, listening sockets, inotify, the wall clock in nanoseconds.
/// </summary>
public interface IEventLoopCalls
{
    /// <summary>poll(2); returns how many entries have events (0 on timeout or when interrupted by a signal).</summary>
    int Poll(Span<PollEntry> entries, int timeoutMs);
    void SetNonBlocking(int fd);
    /// <summary>A non-blocking, close-on-exec unix stream socket bound to <paramref name="path"/> and listening. Paths
    /// longer than sockaddr_un allows are bound through /proc/self/fd of their directory.</summary>
    int ListenUnixSocket(string path, int backlog);
    /// <summary>Connects a (blocking, close-on-exec) unix stream socket; long paths through /proc/self/fd as above.</summary>
    int ConnectUnixSocketAnyLength(string path);
    /// <summary>accept4 (non-blocking, close-on-exec); -1 when none is pending.</summary>
    int Accept(int listener);
    /// <summary>read(2) that does not throw for "would block": the byte count, 0 at end of file (also EIO of a pty
    /// whose other side closed), -1 when nothing is available now.</summary>
    int TryRead(int fd, Span<byte> buffer);
    /// <summary>write/send (MSG_NOSIGNAL for sockets): bytes written, -1 when it would block, -2 when the reader is gone.</summary>
    int TryWrite(int fd, ReadOnlySpan<byte> data);
    /// <summary>waitpid(-1, WNOHANG): the pid of a reaped child and its status; 0 when none is ready, -1 when there are no children.</summary>
    int ReapAnyChild(out int status);
    /// <summary>Ignore SIGPIPE in this process (writes to a closed pipe return EPIPE instead of killing it).</summary>
    void IgnoreBrokenPipe();
    /// <summary>CLOCK_REALTIME in nanoseconds since the Unix epoch.</summary>
    long RealtimeNanoseconds();
    /// <summary>inotify_init1(IN_CLOEXEC).</summary>
    int CreateInotify();
    /// <summary>inotify_add_watch; returns the watch descriptor.</summary>
    int AddInotifyWatch(int inotifyFd, string path, uint mask);
    void RemoveInotifyWatch(int inotifyFd, int watch);
    /// <summary>ftruncate(2).</summary>
    void Truncate(int fd, long length);
    /// <summary>rename(2).</summary>
    void Rename(string from, string to);
    /// <summary>unlink(2); false when nothing was there.</summary>
    bool Unlink(string path);
    /// <summary>madvise(MADV_DONTNEED): drops this process's pages of a range. Only for clean file-backed mappings
    /// (they fault back in from the page cache when touched again); it would zero anonymous memory.</summary>
    void DropPages(nint start, nint length);
    /// <summary>malloc_trim(0): gives the C heap's free memory back to the kernel.</summary>
    void TrimNativeHeap();
}

public static class InotifyMask
{
    public const uint Modify = 0x2, CloseWrite = 0x8, MovedFrom = 0x40, MovedTo = 0x80, Create = 0x100, Delete = 0x200,
        DeleteSelf = 0x400, MoveSelf = 0x800, Ignored = 0x8000;
}

public sealed unsafe partial class LinuxSyscalls
{
    private const int SOCK_NONBLOCK = 0x800, MSG_NOSIGNAL = 0x4000, WNOHANG = 1, ENOTSOCK = 88, EWOULDBLOCK = 11;

    public int Poll(Span<PollEntry> entries, int timeoutMs)
    {
        fixed (PollEntry* p = entries)
        {
            var n = NativePoll(p, (ulong)entries.Length, timeoutMs);
            if (n >= 0) return n;
            var e = Errno.Last;
            return e == Errno.EINTR ? 0 : throw new SyscallException("poll", e);
        }
    }

    public void SetNonBlocking(int fd)
    {
        var flags = (int)Errno.Check(NativeFcntl(fd, 3 /* F_GETFL */, 0), "fcntl(F_GETFL)");
        Errno.Check(NativeFcntl(fd, 4 /* F_SETFL */, flags | OpenFlags.O_NONBLOCK), "fcntl(F_SETFL)");
    }

    public int ListenUnixSocket(string path, int backlog)
    {
        var fd = (int)Errno.Check(NativeSocket(1 /* AF_UNIX */, 1 | 0x80000 | SOCK_NONBLOCK, 0), "socket");
        try
        {
            WithUnixAddress(path, (addr, length) =>
            {
                if (NativeBind(fd, addr, length) != 0) throw new SyscallException("bind", Errno.Last, path);
                return 0;
            });
            Errno.Check(NativeListen(fd, backlog), "listen", path);
            return fd;
        }
        catch { NativeClose(fd); throw; }
    }

    public int ConnectUnixSocketAnyLength(string path)
    {
        var fd = (int)Errno.Check(NativeSocket(1 /* AF_UNIX */, 1 | 0x80000, 0), "socket");
        try
        {
            WithUnixAddress(path, (addr, length) =>
            {
                while (NativeConnect(fd, addr, length) != 0)
                {
                    var e = Errno.Last;
                    if (e != Errno.EINTR) throw new SyscallException("connect", e, path);
                }
                return 0;
            });
            return fd;
        }
        catch { NativeClose(fd); throw; }
    }

    private delegate int AddressUser(byte* address, int length);

    /// <summary>Builds a sockaddr_un for <paramref name="path"/>; when it does not fit, opens the directory O_PATH and
    /// uses /proc/self/fd/N/NAME (the kernel resolves the magic link), closing the descriptor afterwards.</summary>
    private static void WithUnixAddress(string path, AddressUser use)
    {
        var dirFd = -1;
        var effective = path;
        if (Encoding.UTF8.GetByteCount(path) >= 108)
        {
            var dir = Path.GetDirectoryName(path) ?? ".";
            dirFd = NativeOpen(dir, OpenFlags.O_PATH | OpenFlags.O_DIRECTORY | OpenFlags.O_CLOEXEC, 0);
            if (dirFd < 0) throw new SyscallException("open", Errno.Last, dir);
            effective = $"/proc/self/fd/{dirFd}/{Path.GetFileName(path)}";
            if (Encoding.UTF8.GetByteCount(effective) >= 108) { NativeClose(dirFd); throw new SyscallException("bind", 36 /* ENAMETOOLONG */, path); }
        }
        try
        {
            var address = stackalloc byte[110];
            new Span<byte>(address, 110).Clear();
            *(ushort*)address = 1; // AF_UNIX
            var length = Encoding.UTF8.GetBytes(effective, new Span<byte>(address + 2, 107));
            use(address, 2 + length + 1);
        }
        finally { if (dirFd >= 0) NativeClose(dirFd); }
    }

    public int Accept(int listener)
    {
        while (true)
        {
            var fd = NativeAccept4(listener, null, null, 0x80000 | SOCK_NONBLOCK);
            if (fd >= 0) return fd;
            var e = Errno.Last;
            if (e == Errno.EINTR) continue;
            if (e == EWOULDBLOCK || e == 103 /* ECONNABORTED */) return -1;
            throw new SyscallException("accept4", e);
        }
    }

    public int TryRead(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var n = NativeRead(fd, p, buffer.Length);
                if (n >= 0) return (int)n;
                var e = Errno.Last;
                if (e == Errno.EINTR) continue;
                if (e == EWOULDBLOCK) return -1;
                if (e == Errno.EIO || e == 104 /* ECONNRESET */) return 0;
                throw new SyscallException("read", e);
            }
        }
    }

    public int TryWrite(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            while (true)
            {
                var n = NativeSend(fd, p, data.Length, MSG_NOSIGNAL);
                if (n < 0 && Errno.Last == ENOTSOCK) n = NativeWrite(fd, p, data.Length);
                if (n >= 0) return (int)n;
                var e = Errno.Last;
                if (e == Errno.EINTR) continue;
                if (e == EWOULDBLOCK) return -1;
                if (e is Errno.EPIPE or 104 /* ECONNRESET */ or Errno.EIO) return -2;
                throw new SyscallException("write", e);
            }
        }
    }

    public int ReapAnyChild(out int status)
    {
        int s;
        while (true)
        {
            var r = NativeWaitpid(-1, &s, WNOHANG);
            if (r >= 0) { status = r > 0 ? s : 0; return r; }
            var e = Errno.Last;
            if (e == Errno.EINTR) continue;
            status = 0;
            if (e == Errno.ECHILD) return -1;
            throw new SyscallException("waitpid", e);
        }
    }

    public void IgnoreBrokenPipe() => NativeSignal(13 /* SIGPIPE */, 1 /* SIG_IGN */);

    public long RealtimeNanoseconds()
    {
        var ts = stackalloc long[2];
        NativeClockGettime(0 /* CLOCK_REALTIME */, ts);
        return ts[0] * 1_000_000_000L + ts[1];
    }

    public int CreateInotify() => (int)Errno.Check(NativeInotifyInit1(0x80000 /* IN_CLOEXEC */), "inotify_init1");

    public int AddInotifyWatch(int inotifyFd, string path, uint mask)
        => (int)Errno.Check(NativeInotifyAddWatch(inotifyFd, path, mask), "inotify_add_watch", path);

    public void RemoveInotifyWatch(int inotifyFd, int watch) => NativeInotifyRmWatch(inotifyFd, watch);

    public void Truncate(int fd, long length) => Errno.Check(NativeFtruncate(fd, length), "ftruncate");

    public void Rename(string from, string to) => Errno.Check(NativeRename(from, to), "rename", from + " -> " + to);

    public bool Unlink(string path)
    {
        if (NativeUnlink(path) == 0) return true;
        var e = Errno.Last;
        return e == Errno.ENOENT ? false : throw new SyscallException("unlink", e, path);
    }

    public void DropPages(nint start, nint length) => Errno.Check(NativeMadvise(start, length, 4 /* MADV_DONTNEED */), "madvise");

    public void TrimNativeHeap() => NativeMallocTrim(0);

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)] private static partial int NativeMadvise(nint start, nint length, int advice);
    [LibraryImport("libc", EntryPoint = "malloc_trim")] private static partial int NativeMallocTrim(nuint pad);
    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)] private static partial int NativePoll(PollEntry* fds, ulong count, int timeout);
    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)] private static partial int NativeFcntl(int fd, int command, int argument);
    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)] private static partial int NativeSocket(int domain, int type, int protocol);
    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)] private static partial int NativeBind(int fd, byte* address, int length);
    [LibraryImport("libc", EntryPoint = "connect", SetLastError = true)] private static partial int NativeConnect(int fd, byte* address, int length);
    [LibraryImport("libc", EntryPoint = "listen", SetLastError = true)] private static partial int NativeListen(int fd, int backlog);
    [LibraryImport("libc", EntryPoint = "accept4", SetLastError = true)] private static partial int NativeAccept4(int fd, void* address, void* length, int flags);
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] private static partial int NativeOpen(string path, int flags, int mode);
    [LibraryImport("libc", EntryPoint = "close")] private static partial int NativeClose(int fd);
    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)] private static partial nint NativeRead(int fd, byte* buffer, nint count);
    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)] private static partial nint NativeWrite(int fd, byte* buffer, nint count);
    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)] private static partial nint NativeSend(int fd, byte* buffer, nint count, int flags);
    [LibraryImport("libc", EntryPoint = "waitpid", SetLastError = true)] private static partial int NativeWaitpid(int pid, int* status, int options);
    [LibraryImport("libc", EntryPoint = "signal")] private static partial nint NativeSignal(int signal, nint handler);
    [LibraryImport("libc", EntryPoint = "clock_gettime")] private static partial int NativeClockGettime(int clock, long* timespec);
    [LibraryImport("libc", EntryPoint = "inotify_init1", SetLastError = true)] private static partial int NativeInotifyInit1(int flags);
    [LibraryImport("libc", EntryPoint = "inotify_add_watch", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] private static partial int NativeInotifyAddWatch(int fd, string path, uint mask);
    [LibraryImport("libc", EntryPoint = "inotify_rm_watch")] private static partial int NativeInotifyRmWatch(int fd, int watch);
    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)] private static partial int NativeFtruncate(int fd, long length);
    [LibraryImport("libc", EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] private static partial int NativeRename(string from, string to);
    [LibraryImport("libc", EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] private static partial int NativeUnlink(string path);
}
