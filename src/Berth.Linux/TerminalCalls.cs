using System.Runtime.InteropServices;

namespace Berth.Linux;

public partial interface ISyscalls : ITerminalCalls;

/// <summary>Pseudo-terminals for containers with process.terminal.</summary>
public interface ITerminalCalls
{
    /// <summary>Opens a new pty pair from <paramref name="ptmxPath"/> (the container's /dev/ptmx): unlocked master
    /// and its peer (slave), both close-on-exec.</summary>
    (int Master, int Slave) OpenPseudoTerminal(string ptmxPath);
    /// <summary>TIOCSWINSZ.</summary>
    void SetWindowSize(int fd, ushort rows, ushort columns);
    /// <summary>TIOCSCTTY: makes the terminal the session's controlling terminal.</summary>
    void MakeControllingTerminal(int fd);
    /// <summary>dup2(2): the new descriptor does not close on exec.</summary>
    void DuplicateTo(int fd, int target);
    /// <summary>TIOCGWINSZ; false when <paramref name="fd"/> is not a terminal.</summary>
    bool TryGetWindowSize(int fd, out ushort rows, out ushort columns);
    /// <summary>Puts the terminal on <paramref name="fd"/> in raw mode (cfmakeraw) and returns its previous settings
    /// for <see cref="RestoreTerminalMode"/>; null when <paramref name="fd"/> is not a terminal.</summary>
    byte[]? MakeTerminalRaw(int fd);
    void RestoreTerminalMode(int fd, byte[] saved);
}

public sealed unsafe partial class LinuxSyscalls
{
    private const ulong TIOCSPTLCK = 0x40045431, TIOCGPTPEER = 0x5441, TIOCSWINSZ = 0x5414, TIOCSCTTY = 0x540E;

    public (int Master, int Slave) OpenPseudoTerminal(string ptmxPath)
    {
        var master = OpenFile(ptmxPath, OpenFlags.O_RDWR | OpenFlags.O_NOCTTY);
        var unlock = 0;
        if (ioctl(master, TIOCSPTLCK, &unlock) != 0) { var e = Errno.Last; close(master); throw new SyscallException("ioctl(TIOCSPTLCK)", e, ptmxPath); }
        var slave = ioctl(master, TIOCGPTPEER, (void*)(nint)(OpenFlags.O_RDWR | OpenFlags.O_NOCTTY | OpenFlags.O_CLOEXEC));
        if (slave < 0) { var e = Errno.Last; close(master); throw new SyscallException("ioctl(TIOCGPTPEER)", e, ptmxPath); }
        return (master, slave);
    }

    public void SetWindowSize(int fd, ushort rows, ushort columns)
    {
        var size = stackalloc ushort[4];
        size[0] = rows; size[1] = columns; size[2] = 0; size[3] = 0;
        Errno.Check(ioctl(fd, TIOCSWINSZ, size), "ioctl(TIOCSWINSZ)");
    }

    public void MakeControllingTerminal(int fd) => Errno.Check(ioctl(fd, TIOCSCTTY, null), "ioctl(TIOCSCTTY)");

    public void DuplicateTo(int fd, int target) => Errno.Check(dup2(fd, target), "dup2");

    public bool TryGetWindowSize(int fd, out ushort rows, out ushort columns)
    {
        var size = stackalloc ushort[4];
        if (ioctl(fd, TIOCGWINSZ, size) != 0) { rows = columns = 0; return false; }
        (rows, columns) = (size[0], size[1]);
        return true;
    }

    private const int TermiosSize = 60; // struct termios on Linux (glibc): 4 flags, c_line, 32 c_cc, 2 speeds, padded

    public byte[]? MakeTerminalRaw(int fd)
    {
        var saved = new byte[TermiosSize];
        fixed (byte* p = saved)
        {
            if (tcgetattr(fd, p) != 0) return null;
            var raw = stackalloc byte[TermiosSize];
            new ReadOnlySpan<byte>(p, TermiosSize).CopyTo(new Span<byte>(raw, TermiosSize));
            cfmakeraw(raw);
            Errno.Check(tcsetattr(fd, TCSANOW, raw), "tcsetattr");
        }
        return saved;
    }

    public void RestoreTerminalMode(int fd, byte[] saved)
    {
        fixed (byte* p = saved) Errno.Check(tcsetattr(fd, TCSANOW, p), "tcsetattr");
    }

    private const ulong TIOCGWINSZ = 0x5413;
    private const int TCSANOW = 0;
    [LibraryImport("libc", SetLastError = true)] private static partial int tcgetattr(int fd, byte* termios);
    [LibraryImport("libc", SetLastError = true)] private static partial int tcsetattr(int fd, int when, byte* termios);
    [LibraryImport("libc")] private static partial void cfmakeraw(byte* termios);
    [LibraryImport("libc", SetLastError = true)] private static partial int ioctl(int fd, ulong request, void* arg);
    [LibraryImport("libc", SetLastError = true)] private static partial int dup2(int fd, int target);
}
