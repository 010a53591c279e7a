using System.Runtime.InteropServices;
using System.Text;

namespace Berth.Linux;

public partial interface ISyscalls : IDescriptorCalls;

/// <summary>File descriptors the runtime passes between processes: socket pairs, fifos, unix sockets with
/// SCM_RIGHTS, and plain reads and writes on them.</summary>
public interface IDescriptorCalls
{
    /// <summary>A connected AF_UNIX stream pair, both ends close-on-exec.</summary>
    (int A, int B) CreateSocketPair();
    /// <summary>pipe2(O_CLOEXEC).</summary>
    (int Read, int Write) CreatePipe();
    /// <summary>open(2); flags as the kernel's (O_CLOEXEC is always added).</summary>
    int OpenFile(string path, int flags, int mode = 0);
    void CloseFd(int fd);
    /// <summary>read(2), retrying on EINTR; 0 at end of file.</summary>
    int ReadSome(int fd, Span<byte> buffer);
    /// <summary>write(2) until all is written.</summary>
    void WriteAll(int fd, ReadOnlySpan<byte> data);
    void CreateFifo(string path, int mode);
    /// <summary>poll(2) for readability on the given descriptors; returns the index of the first ready one, or -1 on timeout.</summary>
    int WaitReadable(ReadOnlySpan<int> fds, int timeoutMs);
    /// <summary>Connects a stream socket to a unix socket path (close-on-exec).</summary>
    int ConnectUnixSocket(string path);
    /// <summary>Sends <paramref name="fd"/> over a unix socket with SCM_RIGHTS; the message body is <paramref name="name"/>.</summary>
    void SendDescriptor(int socket, int fd, string name);
    /// <summary>Receives one descriptor sent with SCM_RIGHTS (close-on-exec); -1 when the peer closed.</summary>
    int ReceiveDescriptor(int socket, out string name);
    /// <summary>Marks every descriptor from <paramref name="first"/> up close-on-exec (close_range CLOSE_RANGE_CLOEXEC),
    /// so nothing the runtime's caller left open leaks into a container.</summary>
    void CloseOnExecFrom(int first);
}

public sealed unsafe partial class LinuxSyscalls
{
    private const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000, SOL_SOCKET = 1, SCM_RIGHTS = 1, MSG_CMSG_CLOEXEC = 0x40000000;

    public (int A, int B) CreateSocketPair()
    {
        var fds = stackalloc int[2];
        Errno.Check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), "socketpair");
        return (fds[0], fds[1]);
    }

    public (int Read, int Write) CreatePipe()
    {
        var fds = stackalloc int[2];
        Errno.Check(pipe2(fds, SOCK_CLOEXEC), "pipe2");
        return (fds[0], fds[1]);
    }

    public int OpenFile(string path, int flags, int mode = 0)
    {
        while (true)
        {
            var fd = open(path, flags | OpenFlags.O_CLOEXEC, mode);
            if (fd >= 0) return fd;
            var e = Errno.Last;
            if (e != Errno.EINTR) throw new SyscallException("open", e, path);
        }
    }

    public void CloseFd(int fd) => close(fd);

    public int ReadSome(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var n = read(fd, p, buffer.Length);
                if (n >= 0) return (int)n;
                var e = Errno.Last;
                if (e != Errno.EINTR) throw new SyscallException("read", e);
            }
        }
    }

    public void WriteAll(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            var done = 0;
            while (done < data.Length)
            {
                var n = write(fd, p + done, data.Length - done);
                if (n < 0)
                {
                    var e = Errno.Last;
                    if (e == Errno.EINTR) continue;
                    throw new SyscallException("write", e);
                }
                done += (int)n;
            }
        }
    }

    public void CreateFifo(string path, int mode) => Errno.Check(mkfifo(path, (uint)mode), "mkfifo", path);

    public int WaitReadable(ReadOnlySpan<int> fds, int timeoutMs)
    {
        var polls = stackalloc PollFd[fds.Length];
        for (var i = 0; i < fds.Length; i++) polls[i] = new PollFd { Fd = fds[i], Events = 1 /* POLLIN */ };
        while (true)
        {
            var n = poll(polls, (ulong)fds.Length, timeoutMs);
            if (n < 0)
            {
                var e = Errno.Last;
                if (e == Errno.EINTR) continue;
                throw new SyscallException("poll", e);
            }
            if (n == 0) return -1;
            for (var i = 0; i < fds.Length; i++) if (polls[i].Revents != 0) return i;
        }
    }

    public int ConnectUnixSocket(string path)
    {
        var fd = (int)Errno.Check(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket");
        var addr = new SockaddrUn { Family = AF_UNIX };
        var bytes = Encoding.UTF8.GetBytes(path);
        if (bytes.Length >= 108) { close(fd); throw new SyscallException("connect", Errno.EINVAL, path + " (path too long)"); }
        bytes.CopyTo(new Span<byte>(addr.Path, 108));
        if (connect(fd, &addr, sizeof(SockaddrUn)) != 0)
        {
            var e = Errno.Last;
            close(fd);
            throw new SyscallException("connect", e, path);
        }
        return fd;
    }

    public void SendDescriptor(int socket, int fd, string name)
    {
        var body = Encoding.UTF8.GetBytes(name.Length == 0 ? "\0" : name);
        var control = stackalloc byte[CmsgSpace];
        new Span<byte>(control, CmsgSpace).Clear();
        var header = (CmsgHdr*)control;
        header->Len = (nuint)(sizeof(CmsgHdr) + sizeof(int));
        header->Level = SOL_SOCKET;
        header->Type = SCM_RIGHTS;
        *(int*)(control + sizeof(CmsgHdr)) = fd;
        fixed (byte* b = body)
        {
            var iov = new IoVec { Base = b, Len = (nuint)body.Length };
            var msg = new MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = (nuint)CmsgSpace };
            while (sendmsg(socket, &msg, 0) < 0)
            {
                var e = Errno.Last;
                if (e != Errno.EINTR) throw new SyscallException("sendmsg", e);
            }
        }
    }

    public int ReceiveDescriptor(int socket, out string name)
    {
        var buffer = stackalloc byte[4096];
        var control = stackalloc byte[CmsgSpace];
        var iov = new IoVec { Base = buffer, Len = 4096 };
        var msg = new MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = (nuint)CmsgSpace };
        nint n;
        while ((n = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC)) < 0)
        {
            var e = Errno.Last;
            if (e != Errno.EINTR) throw new SyscallException("recvmsg", e);
        }
        name = Encoding.UTF8.GetString(buffer, (int)n).TrimEnd('\0');
        if (msg.ControlLen < (nuint)sizeof(CmsgHdr)) return -1;
        var header = (CmsgHdr*)control;
        return header->Level == SOL_SOCKET && header->Type == SCM_RIGHTS ? *(int*)(control + sizeof(CmsgHdr)) : -1;
    }

    public void CloseOnExecFrom(int first)
    {
        const uint CLOSE_RANGE_CLOEXEC = 4;
        if (close_range((uint)first, uint.MaxValue, CLOSE_RANGE_CLOEXEC) == 0) return;
        var e = Errno.Last;
        if (e != Errno.ENOSYS && e != Errno.EINVAL) throw new SyscallException("close_range", e);
        // Kernels before 5.11: one fcntl per open descriptor.
        foreach (var entry in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
            if (int.TryParse(Path.GetFileName(entry), out var fd) && fd >= first) fcntl(fd, F_SETFD, FD_CLOEXEC);
    }

    private const int F_SETFD = 2, FD_CLOEXEC = 1;
    [LibraryImport("libc", SetLastError = true)] private static partial int close_range(uint first, uint last, uint flags);
    [LibraryImport("libc", SetLastError = true)] private static partial int fcntl(int fd, int cmd, int arg);

    private static int CmsgSpace => sizeof(CmsgHdr) + 8;

    [StructLayout(LayoutKind.Sequential)] private struct PollFd { public int Fd; public short Events; public short Revents; }
    [StructLayout(LayoutKind.Sequential)] private struct SockaddrUn { public ushort Family; public fixed byte Path[108]; }
    [StructLayout(LayoutKind.Sequential)] private struct IoVec { public byte* Base; public nuint Len; }
    [StructLayout(LayoutKind.Sequential)] private struct CmsgHdr { public nuint Len; public int Level; public int Type; }
    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name; public uint NameLen; public IoVec* Iov; public nuint IovLen; public void* Control; public nuint ControlLen; public int Flags;
    }

    [LibraryImport("libc", SetLastError = true)] private static partial int socketpair(int domain, int type, int protocol, int* fds);
    [LibraryImport("libc", SetLastError = true)] private static partial int pipe2(int* fds, int flags);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] private static partial int open(string path, int flags, int mode);
    [LibraryImport("libc", SetLastError = true)] private static partial int close(int fd);
    [LibraryImport("libc", SetLastError = true)] private static partial nint read(int fd, byte* buf, nint count);
    [LibraryImport("libc", SetLastError = true)] private static partial nint write(int fd, byte* buf, nint count);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] private static partial int mkfifo(string path, uint mode);
    [LibraryImport("libc", SetLastError = true)] private static partial int poll(PollFd* fds, ulong count, int timeout);
    [LibraryImport("libc", SetLastError = true)] private static partial int socket(int domain, int type, int protocol);
    [LibraryImport("libc", SetLastError = true)] private static partial int connect(int fd, SockaddrUn* addr, int len);
    [LibraryImport("libc", SetLastError = true)] private static partial nint sendmsg(int fd, MsgHdr* msg, int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial nint recvmsg(int fd, MsgHdr* msg, int flags);
}
