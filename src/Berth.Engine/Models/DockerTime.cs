using System.Globalization;

namespace Berth.Engine.Models;

/// <summary>Docker's time formats: Go's RFC3339Nano and its zero time.</summary>
public static class DockerTime
{
    /// <summary>Go's zero time.Time, which Docker prints for "never".</summary>
    public const string Zero = "0001-01-01T00:00:00Z";

    /// <summary>RFC 3339 with up to nine fractional digits, trailing zeros trimmed, as Go's time.RFC3339Nano.</summary>
    public static string Format(DateTimeOffset time)
    {
        var utc = time.UtcDateTime;
        var fraction = utc.Ticks % TimeSpan.TicksPerSecond; // 100 ns units
        var text = utc.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture);
        if (fraction == 0) return text + "Z";
        return text + "." + (fraction * 100).ToString("D9", CultureInfo.InvariantCulture).TrimEnd('0') + "Z";
    }

    /// <summary>Parses RFC 3339 (any number of fractional digits); Go's zero time and empty give null.</summary>
    public static DateTimeOffset? Parse(string? text)
    {
        if (string.IsNullOrEmpty(text) || text.StartsWith("0001-01-01", StringComparison.Ordinal)) return null;
        // .NET takes at most 7 fractional digits: cut nanoseconds to 100 ns.
        var dot = text.IndexOf('.');
        if (dot > 0)
        {
            var end = dot + 1;
            while (end < text.Length && char.IsAsciiDigit(text[end])) end++;
            if (end - dot - 1 > 7) text = text[..(dot + 8)] + text[end..];
        }
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed) ? parsed : null;
    }
}
