using System.Text;
using Berth.Linux;

namespace Berth.Shim;

/// <summary>
/// Once the container is created the shim only runs its poll loop, yet start-up touched most of the executable's code
/// (argument parsing, spawning, file and JSON APIs): ~1.3 MB of resident, file-backed pages that count in its PSS.
/// Dropping this process's mappings of the executable's clean pages (never written: no anonymous copy) costs nothing —
/// the page cache keeps them, and the loop faults back the little code it runs. /proc/self/smaps is parsed as bytes
/// in a small buffer: allocating here would grow the GC heap this is meant to keep small.
/// </summary>
public static class StartupMemory
{
    public static void Release(ISyscalls sys)
    {
        sys.TrimNativeHeap();
        byte[] exe;
        int fd;
        try
        {
            exe = Encoding.UTF8.GetBytes(new FileInfo("/proc/self/exe").LinkTarget ?? "");
            fd = sys.OpenFile("/proc/self/smaps", OpenFlags.O_RDONLY);
        }
        catch (Exception e) when (e is IOException or SyscallException) { return; }
        var ranges = new List<(nint Start, nint End)>(8);
        try
        {
            var parser = new CleanMappingParser(exe);
            var buffer = new byte[8192];
            var length = 0;
            while (true)
            {
                var n = sys.ReadSome(fd, buffer.AsSpan(length));
                length += n;
                var consumed = 0;
                while (true)
                {
                    var newline = buffer.AsSpan(consumed, length - consumed).IndexOf((byte)'\n');
                    if (newline < 0) break;
                    parser.Line(buffer.AsSpan(consumed, newline), ranges);
                    consumed += newline + 1;
                }
                buffer.AsSpan(consumed, length - consumed).CopyTo(buffer);
                length -= consumed;
                if (n == 0 || length == buffer.Length) break;
            }
        }
        catch (SyscallException) { return; }
        finally { sys.CloseFd(fd); }
        foreach (var (start, end) in ranges)
        {
            try { sys.DropPages(start, end - start); }
            catch (SyscallException) { } // nothing lost: the pages just stay
        }
    }

    /// <summary>Finds, in /proc/PID/smaps lines, the mappings of one file that are not writable and hold no anonymous page.</summary>
    public sealed class CleanMappingParser(byte[] path)
    {
        private nint _start, _end;
        private bool _candidate;

        public void Line(ReadOnlySpan<byte> line, List<(nint Start, nint End)> ranges)
        {
            var space = line.IndexOf((byte)' ');
            var dash = line.IndexOf((byte)'-');
            if (dash > 0 && space > dash && IsHex(line[..dash]))
            {
                _start = (nint)Hex(line[..dash]);
                _end = (nint)Hex(line[(dash + 1)..space]);
                var perms = line[(space + 1)..];
                _candidate = perms.Length > 2 && perms[0] == 'r' && perms[1] != 'w' && line.EndsWith(path) && line[^(path.Length + 1)] == ' ';
                return;
            }
            if (_candidate && line.StartsWith("Anonymous:"u8))
            {
                if (line[10..].Trim((byte)' ').StartsWith("0 kB"u8)) ranges.Add((_start, _end));
                _candidate = false;
            }
        }

        private static bool IsHex(ReadOnlySpan<byte> s)
        {
            foreach (var c in s) if (!char.IsAsciiHexDigit((char)c)) return false;
            return s.Length > 0;
        }

        private static long Hex(ReadOnlySpan<byte> s)
        {
            long v = 0;
            foreach (var c in s) v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
            return v;
        }
    }
}
