namespace Berth.Runtime.State;

/// <summary>Reads /proc/PID/stat: the process state letter and its start time (clock ticks since boot).</summary>
public static class ProcStat
{
    /// <summary>Null when the process does not exist.</summary>
    public static (char State, ulong StartTime)? Read(int pid, string procRoot = "/proc")
    {
        if (pid <= 0) return null;
        string text;
        try { text = File.ReadAllText($"{procRoot}/{pid}/stat"); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
        return Parse(text);
    }

    /// <summary>Fields after the command name (which may hold spaces and parentheses, so split after the last ')').</summary>
    public static (char State, ulong StartTime)? Parse(string stat)
    {
        var close = stat.LastIndexOf(')');
        if (close < 0 || close + 2 >= stat.Length) return null;
        var fields = stat[(close + 2)..].Split(' ');
        // fields[0] is field 3 (state); start time is field 22.
        if (fields.Length < 20 || fields[0].Length == 0 || !ulong.TryParse(fields[19], out var start)) return null;
        return (fields[0][0], start);
    }

    /// <summary>The kernel's task flags (field 9), or null when unreadable.</summary>
    public static uint? ParseFlags(string stat)
    {
        var close = stat.LastIndexOf(')');
        if (close < 0 || close + 2 >= stat.Length) return null;
        var fields = stat[(close + 2)..].Split(' ');
        return fields.Length > 6 && uint.TryParse(fields[6], out var flags) ? flags : null;
    }

    private const uint PF_EXITING = 0x4;

    /// <summary>
    /// True when the process that started at <paramref name="startTime"/> is inside exit(): it has closed its files (a
    /// reader of its output has seen the end) but is not yet a zombie — a window of up to milliseconds, in which a
    /// container's init tears down its mount namespace.
    /// </summary>
    public static bool IsExiting(int pid, ulong startTime, string procRoot = "/proc")
    {
        string text;
        try { text = File.ReadAllText($"{procRoot}/{pid}/stat"); }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
        return Parse(text) is { } s && s.StartTime == startTime && ParseFlags(text) is { } flags && (flags & PF_EXITING) != 0;
    }

    /// <summary>True when <paramref name="pid"/> is alive (not a zombie) and is the process that started at <paramref name="startTime"/>.</summary>
    public static bool IsSameLiveProcess(int pid, ulong startTime, string procRoot = "/proc")
        => Read(pid, procRoot) is { } s && s.StartTime == startTime && s.State is not ('Z' or 'X' or 'x');
}
