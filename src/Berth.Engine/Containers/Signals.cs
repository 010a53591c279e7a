namespace Berth.Engine.Containers;

/// <summary>Signal names and numbers as Docker's signal.ParseSignal takes them (SIGTERM, TERM, 15).</summary>
public static class Signals
{
    public const int SIGKILL = 9, SIGTERM = 15;

    private static readonly Dictionary<string, int> Numbers = new(StringComparer.Ordinal)
    {
        ["ABRT"] = 6, ["ALRM"] = 14, ["BUS"] = 7, ["CHLD"] = 17, ["CLD"] = 17, ["CONT"] = 18, ["FPE"] = 8, ["HUP"] = 1,
        ["ILL"] = 4, ["INT"] = 2, ["IO"] = 29, ["IOT"] = 6, ["KILL"] = 9, ["PIPE"] = 13, ["POLL"] = 29, ["PROF"] = 27,
        ["PWR"] = 30, ["QUIT"] = 3, ["SEGV"] = 11, ["STKFLT"] = 16, ["STOP"] = 19, ["SYS"] = 31, ["TERM"] = 15,
        ["TRAP"] = 5, ["TSTP"] = 20, ["TTIN"] = 21, ["TTOU"] = 22, ["URG"] = 23, ["USR1"] = 10, ["USR2"] = 12,
        ["VTALRM"] = 26, ["WINCH"] = 28, ["XCPU"] = 24, ["XFSZ"] = 25,
    };

    /// <summary>Parses "SIGTERM", "term", "15", "RTMIN+3"; throws Docker's "Invalid signal: X".</summary>
    public static int Parse(string text)
    {
        if (int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number))
        {
            if (number is < 1 or > 64) throw new InvalidParameterException($"Invalid signal: {text}");
            return number;
        }
        var name = text.ToUpperInvariant();
        if (name.StartsWith("SIG", StringComparison.Ordinal)) name = name[3..];
        if (Numbers.TryGetValue(name, out var known)) return known;
        if (name.StartsWith("RTMIN", StringComparison.Ordinal) || name.StartsWith("RTMAX", StringComparison.Ordinal))
        {
            var baseNumber = name.StartsWith("RTMIN", StringComparison.Ordinal) ? 34 : 64;
            var rest = name[5..];
            if (rest.Length == 0) return baseNumber;
            if (rest.Length > 1 && (rest[0] == '+' || rest[0] == '-') && int.TryParse(rest.AsSpan(1), out var offset))
            {
                var n = rest[0] == '+' ? baseNumber + offset : baseNumber - offset;
                if (n is >= 34 and <= 64) return n;
            }
        }
        throw new InvalidParameterException($"Invalid signal: {text}");
    }

    /// <summary>The signal a container stops with: the stop request's, the container's StopSignal, else SIGTERM.</summary>
    public static int StopSignal(string? requested, string? configured)
        => !string.IsNullOrEmpty(requested) ? Parse(requested) : !string.IsNullOrEmpty(configured) ? Parse(configured) : SIGTERM;
}
