using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Berth.Engine.Images;

/// <summary>Docker's time filters (until, since): a Go duration before now, RFC 3339, or Unix seconds with a fraction.</summary>
internal static partial class FilterTime
{
    public static DateTimeOffset? Parse(string filter, string value, DateTimeOffset now)
    {
        if (TryDuration(value, out var duration)) return now - duration;
        if (Regex.IsMatch(value, "^[0-9]+(\\.[0-9]+)?\\z"))
        {
            var dot = value.IndexOf('.');
            var seconds = long.Parse(dot < 0 ? value : value[..dot], CultureInfo.InvariantCulture);
            var fraction = dot < 0 ? 0 : long.Parse(value[(dot + 1)..].PadRight(7, '0')[..7], CultureInfo.InvariantCulture);
            return DateTimeOffset.FromUnixTimeSeconds(seconds).AddTicks(fraction);
        }
        string[] formats = ["yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", "yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd"];
        var trimmed = TrimNanoseconds(value);
        if (DateTimeOffset.TryParseExact(trimmed, formats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal, out var parsed)) return parsed;
        throw new InvalidParameterException($"failed to parse value as time or duration: \"{value}\" (filter {filter})");
    }

    /// <summary>Go's time.ParseDuration for the units people use here (h, m, s, ms, us, ns), signed, combined ("1h30m").</summary>
    public static bool TryDuration(string text, out TimeSpan duration)
    {
        duration = default;
        var match = DurationPattern().Match(text);
        if (!match.Success) return false;
        double ticks = 0;
        foreach (Capture part in match.Groups["part"].Captures)
        {
            var unitStart = 0;
            while (unitStart < part.Value.Length && (char.IsAsciiDigit(part.Value[unitStart]) || part.Value[unitStart] == '.')) unitStart++;
            var number = double.Parse(part.Value[..unitStart], CultureInfo.InvariantCulture);
            ticks += part.Value[unitStart..] switch
            {
                "h" => number * TimeSpan.TicksPerHour,
                "m" => number * TimeSpan.TicksPerMinute,
                "s" => number * TimeSpan.TicksPerSecond,
                "ms" => number * TimeSpan.TicksPerMillisecond,
                "us" or "µs" => number * 10,
                _ => number / 100,
            };
        }
        duration = TimeSpan.FromTicks((long)(match.Groups["sign"].Value == "-" ? -ticks : ticks));
        return true;
    }

    [GeneratedRegex("^(?<sign>[-+]?)(?<part>[0-9]+(\\.[0-9]*)?(h|ms|m|s|us|µs|ns))+\\z")]
    private static partial Regex DurationPattern();

    private static string TrimNanoseconds(string text)
    {
        var dot = text.IndexOf('.');
        if (dot < 0) return text;
        var end = dot + 1;
        while (end < text.Length && char.IsAsciiDigit(text[end])) end++;
        return end - dot - 1 > 7 ? text[..(dot + 8)] + text[end..] : text;
    }
}

/// <summary>Docker's label filters: "key" (present) or "key=value" (equal); every value must match.</summary>
internal static class Labels
{
    public static bool Match(IReadOnlyDictionary<string, string>? labels, IReadOnlyList<string> filters)
        => filters.All(f => MatchOne(labels, f));

    /// <summary>For label!: true when any of the filters matches.</summary>
    public static bool MatchAny(IReadOnlyDictionary<string, string>? labels, IReadOnlyList<string> filters)
        => filters.Any(f => MatchOne(labels, f));

    private static bool MatchOne(IReadOnlyDictionary<string, string>? labels, string filter)
    {
        if (labels is null) return false;
        var eq = filter.IndexOf('=');
        if (eq < 0) return labels.ContainsKey(filter);
        return labels.TryGetValue(filter[..eq], out var value) && value == filter[(eq + 1)..];
    }
}

/// <summary>
/// Docker's reference filter (reference.FamiliarMatch): Go's path.Match of the pattern against the familiar
/// reference ("busybox:latest"), then against its name alone ("busybox").
/// </summary>
internal static class ReferenceFilter
{
    public static bool Matches(string pattern, string familiarReference)
    {
        var regex = Compile(pattern);
        if (regex is null) return false;
        if (regex.IsMatch(familiarReference)) return true;
        var at = familiarReference.IndexOf('@');
        var name = at >= 0 ? familiarReference[..at] : familiarReference;
        var colon = name.LastIndexOf(':');
        if (colon > name.LastIndexOf('/')) name = name[..colon];
        return regex.IsMatch(name);
    }

    /// <summary>path.Match's syntax: * (no '/'), ?, [classes] with ^ or ! negation, backslash escapes; null when malformed.</summary>
    private static Regex? Compile(string pattern)
    {
        var sb = new StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '*': sb.Append("[^/]*"); break;
                case '?': sb.Append("[^/]"); break;
                case '\\':
                    if (++i >= pattern.Length) return null;
                    sb.Append(Regex.Escape(pattern[i].ToString()));
                    break;
                case '[':
                    var end = pattern.IndexOf(']', i + 1);
                    if (end < 0) return null;
                    var body = pattern[(i + 1)..end];
                    var negate = body.StartsWith('^') || body.StartsWith('!');
                    if (negate) body = body[1..];
                    sb.Append(negate ? "[^" : "[").Append(body.Replace("\\", "\\\\").Replace("[", "\\[")).Append(']');
                    i = end;
                    break;
                default: sb.Append(Regex.Escape(c.ToString())); break;
            }
        }
        sb.Append("\\z");
        try { return new Regex(sb.ToString(), RegexOptions.CultureInvariant); }
        catch (ArgumentException) { return null; }
    }
}
