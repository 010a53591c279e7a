using System.Runtime.InteropServices;

namespace Berth.Cli;

/// <summary>
/// The few terminal calls `-it` needs (termios raw mode, window size). A seam of the CLI's own: the CLI runs
/// on any machine a docker CLI runs on and so does not take the engine's Linux syscall layer.
/// </summary>
public interface ITerminal
{
    bool IsTerminal(int fd);

    /// <summary>Puts the terminal in raw mode (cfmakeraw) and returns what restores it, or null if fd is no terminal.</summary>
    IDisposable? MakeRaw(int fd);

    /// <summary>(rows, columns) of the terminal, or null.</summary>
    (int Rows, int Columns)? Size(int fd);
}

public sealed partial class PosixTerminal : ITerminal
{
    public static readonly PosixTerminal Instance = new();

    // glibc's struct termios is 60 bytes on every Linux architecture .NET runs on; a larger buffer is harmless.
    private const int TermiosSize = 64;
    private const nuint TIOCGWINSZ = 0x5413;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int isatty(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int tcgetattr(int fd, byte* termios);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int tcsetattr(int fd, int optionalActions, byte* termios);

    [LibraryImport("libc")]
    private static unsafe partial void cfmakeraw(byte* termios);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int ioctl(int fd, nuint request, ushort* winsize);

    public bool IsTerminal(int fd) => isatty(fd) == 1;

    public unsafe IDisposable? MakeRaw(int fd)
    {
        var saved = new byte[TermiosSize];
        var raw = new byte[TermiosSize];
        fixed (byte* s = saved)
        fixed (byte* r = raw)
        {
            if (tcgetattr(fd, s) != 0) return null;
            saved.CopyTo(raw, 0);
            cfmakeraw(r);
            if (tcsetattr(fd, 0 /* TCSANOW */, r) != 0) return null;
        }
        return new Restore(fd, saved);
    }

    public unsafe (int Rows, int Columns)? Size(int fd)
    {
        var size = stackalloc ushort[4];
        if (ioctl(fd, TIOCGWINSZ, size) != 0 || size[1] == 0) return null;
        return (size[0], size[1]);
    }

    /// <summary>Puts the saved settings back once, from whichever exit path comes first.</summary>
    private sealed class Restore(int fd, byte[] saved) : IDisposable
    {
        private int done;

        public unsafe void Dispose()
        {
            if (Interlocked.Exchange(ref done, 1) != 0) return;
            fixed (byte* s = saved) tcsetattr(fd, 0, s);
        }
    }
}

/// <summary>
/// docker's detach sequence detector (term.EscapeProxy): bytes pass through; a prefix of the sequence is held
/// back until it either completes (detach) or breaks (the held bytes are released).
/// </summary>
public sealed class DetachKeys
{
    public static readonly byte[] Default = [16, 17]; // ctrl-p, ctrl-q
    private readonly byte[] keys;
    private int matched;

    public DetachKeys(byte[] keys) => this.keys = keys;

    /// <summary>docker's term.ToBytes: "ctrl-p,ctrl-q", "a,ctrl-[", …</summary>
    public static byte[] Parse(string text)
    {
        var bytes = new List<byte>();
        foreach (var key in text.Split(','))
        {
            if (key.Length == 1) { bytes.Add((byte)key[0]); continue; }
            var lower = key.ToLowerInvariant();
            if (!lower.StartsWith("ctrl-", StringComparison.Ordinal) || lower.Length != 6)
                throw new FormatException($"Unknown character: '{key}'");
            var c = lower[5];
            bytes.Add(c switch
            {
                >= 'a' and <= 'z' => (byte)(c - 'a' + 1),
                '@' => 0,
                '[' => 27,
                '\\' => 28,
                ']' => 29,
                '^' => 30,
                '_' => 31,
                _ => throw new FormatException($"Unknown character: '{key}'"),
            });
        }
        return [.. bytes];
    }

    /// <summary>Filters one read: what to forward, and whether the sequence completed (forward nothing after it).</summary>
    public (byte[] Forward, bool Detach) Filter(ReadOnlySpan<byte> input)
    {
        var forward = new List<byte>(input.Length + keys.Length);
        foreach (var b in input)
        {
            if (b == keys[matched])
            {
                matched++;
                if (matched == keys.Length) return ([.. forward], true);
                continue;
            }
            // The held prefix was not the sequence after all: release it, then look at this byte afresh.
            for (var i = 0; i < matched; i++) forward.Add(keys[i]);
            matched = 0;
            if (b == keys[0]) { matched = 1; if (keys.Length == 1) return ([.. forward], true); }
            else forward.Add(b);
        }
        return ([.. forward], false);
    }
}
