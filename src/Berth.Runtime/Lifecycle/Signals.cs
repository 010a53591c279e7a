namespace Berth.Runtime.Lifecycle;

/// <summary>Signal names and numbers as `kill` accepts them: "KILL", "SIGKILL", "kill", "9", "RTMIN+3".</summary>
public static class Signals
{
    private static readonly (string Name, int Number)[] Table =
    [
        ("HUP", 1), ("INT", 2), ("QUIT", 3), ("ILL", 4), ("TRAP", 5), ("ABRT", 6), ("IOT", 6), ("BUS", 7), ("FPE", 8), ("KILL", 9),
        ("USR1", 10), ("SEGV", 11), ("USR2", 12), ("PIPE", 13), ("ALRM", 14), ("TERM", 15), ("STKFLT", 16), ("CHLD", 17), ("CLD", 17),
        ("CONT", 18), ("STOP", 19), ("TSTP", 20), ("TTIN", 21), ("TTOU", 22), ("URG", 23), ("XCPU", 24), ("XFSZ", 25), ("VTALRM", 26),
        ("PROF", 27), ("WINCH", 28), ("IO", 29), ("POLL", 29), ("PWR", 30), ("SYS", 31), ("RTMIN", 34), ("RTMAX", 64),
    ];

    public static int Parse(string text)
    {
        if (int.TryParse(text, out var n))
            return n is > 0 and <= 64 ? n : throw new RuntimeException($"unknown signal \"{text}\"");
        var name = text.ToUpperInvariant();
        if (name.StartsWith("SIG", StringComparison.Ordinal)) name = name[3..];
        var plus = name.IndexOf('+');
        var minus = name.IndexOf('-');
        if (name.StartsWith("RTMIN", StringComparison.Ordinal) && plus == 5 && int.TryParse(name[6..], out var up) && 34 + up <= 64) return 34 + up;
        if (name.StartsWith("RTMAX", StringComparison.Ordinal) && minus == 5 && int.TryParse(name[6..], out var down) && 64 - down >= 34) return 64 - down;
        foreach (var (signalName, number) in Table) if (signalName == name) return number;
        throw new RuntimeException($"unknown signal \"{text}\"");
    }
}
