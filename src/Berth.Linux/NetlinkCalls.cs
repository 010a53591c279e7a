using System.Runtime.InteropServices;

namespace Berth.Linux;

public partial interface ISyscalls : INetlinkCalls;

/// <summary>Netlink sockets: the kernel's message channel for links, addresses and routes (rtnetlink).</summary>
public interface INetlinkCalls
{
    /// <summary>socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, protocol) bound to the kernel, with extended acks on.
    /// A netlink socket belongs to the network namespace of the thread that opened it, for its whole life.</summary>
    int OpenNetlink(int protocol);
    /// <summary>Sends one datagram to the kernel (retrying on EINTR).</summary>
    void NetlinkSend(int fd, ReadOnlySpan<byte> datagram);
    /// <summary>Receives one datagram (retrying on EINTR); returns its length.</summary>
    int NetlinkReceive(int fd, Span<byte> buffer);
    void CloseNetlink(int fd);
}

public sealed unsafe partial class LinuxSyscalls
{
    private const int AF_NETLINK = 16, SOCK_RAW = 3, SOL_NETLINK = 270, NETLINK_CAP_ACK = 10, NETLINK_EXT_ACK = 11;

    public int OpenNetlink(int protocol)
    {
        var fd = (int)Errno.Check(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol), "socket", "AF_NETLINK");
        var address = new SockaddrNl { Family = AF_NETLINK };
        var one = 1;
        // Extended acks carry the kernel's own message ("Permission denied" alone rarely says enough); CAP_ACK
        // keeps the request out of error replies, so a reply fits a small buffer.
        setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(int));
        setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(int));
        if (bind(fd, &address, sizeof(SockaddrNl)) != 0)
        {
            var e = Errno.Last;
            close(fd);
            throw new SyscallException("bind", e, "AF_NETLINK");
        }
        return fd;
    }

    public void NetlinkSend(int fd, ReadOnlySpan<byte> datagram)
    {
        var kernel = new SockaddrNl { Family = AF_NETLINK };
        fixed (byte* p = datagram)
        {
            while (sendto(fd, p, datagram.Length, 0, &kernel, sizeof(SockaddrNl)) < 0)
            {
                var e = Errno.Last;
                if (e != Errno.EINTR) throw new SyscallException("sendto", e, "netlink");
            }
        }
    }

    public int NetlinkReceive(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var n = recv(fd, p, buffer.Length, 0);
                if (n >= 0) return (int)n;
                var e = Errno.Last;
                if (e != Errno.EINTR) throw new SyscallException("recv", e, "netlink");
            }
        }
    }

    public void CloseNetlink(int fd) => close(fd);

    [StructLayout(LayoutKind.Sequential)] private struct SockaddrNl { public ushort Family; public ushort Pad; public uint Pid; public uint Groups; }

    [LibraryImport("libc", SetLastError = true)] private static partial int bind(int fd, SockaddrNl* addr, int len);
    [LibraryImport("libc", SetLastError = true)] private static partial int setsockopt(int fd, int level, int name, void* value, int len);
    [LibraryImport("libc", SetLastError = true)] private static partial nint sendto(int fd, byte* buf, nint len, int flags, SockaddrNl* addr, int addrLen);
    [LibraryImport("libc", SetLastError = true)] private static partial nint recv(int fd, byte* buf, nint len, int flags);
}
