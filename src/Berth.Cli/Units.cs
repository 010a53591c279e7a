using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Berth.Cli;

/// <summary>docker's humanised durations and sizes (go-units), and its table layout (text/tabwriter).</summary>
public static partial class Units
{
    /// <summary>go-units HumanDuration: "Less than a second", "5 seconds", "About a minute", "3 hours", "2 weeks".</summary>
    public static string HumanDuration(TimeSpan d)
    {
        var seconds = (long)d.TotalSeconds;
        if (seconds < 1) return "Less than a second";
        if (seconds == 1) return "1 second";
        if (seconds < 60) return $"{seconds} seconds";
        var minutes = (long)d.TotalMinutes;
        if (minutes == 1) return "About a minute";
        if (minutes < 60) return $"{minutes} minutes";
        var hours = (long)Math.Round(d.TotalHours, MidpointRounding.AwayFromZero);
        if (hours == 1) return "About an hour";
        if (hours < 48) return $"{hours} hours";
        if (hours < 24 * 7 * 2) return $"{hours / 24} days";
        if (hours < 24 * 30 * 2) return $"{hours / 24 / 7} weeks";
        if (hours < 24 * 365 * 2) return $"{hours / 24 / 30} months";
        return $"{(long)d.TotalHours / 24 / 365} years";
    }

    private static readonly string[] DecimalUnits = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    private static readonly string[] BinaryUnits = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

    /// <summary>go-units HumanSizeWithPrecision: decimal units, Go's %.{precision}g ("4.2MB", "1.23GB").</summary>
    public static string HumanSize(double size, int precision = 3) => Scaled(size, 1000, DecimalUnits, precision);

    /// <summary>go-units BytesSize: binary units, four significant digits ("1.5MiB").</summary>
    public static string BytesSize(double size) => Scaled(size, 1024, BinaryUnits, 4);

    private static string Scaled(double size, double @base, string[] units, int precision)
    {
        var i = 0;
        while (size >= @base && i < units.Length - 1) { size /= @base; i++; }
        return GoG(size, precision) + units[i];
    }

    /// <summary>Go's %.Ng: N significant digits, no trailing zeros, exponent form "1e+03" when it needs one.</summary>
    public static string GoG(double value, int precision)
    {
        var text = value.ToString("G" + precision.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        var e = text.IndexOf('E');
        if (e < 0) return text;
        var mantissa = text[..e];
        var exponent = int.Parse(text[(e + 1)..], CultureInfo.InvariantCulture);
        return mantissa + "e" + (exponent < 0 ? "-" : "+") + Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")]
    private static partial Regex SizePattern();

    /// <summary>go-units RAMInBytes: "512m", "1.5g", "100" (binary multipliers); throws with "invalid size: 'x'".</summary>
    public static long RamInBytes(string text)
    {
        var match = SizePattern().Match(text);
        if (!match.Success || !double.TryParse(match.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var size))
            throw new FormatException($"invalid size: '{text}'");
        var multiplier = match.Groups[3].Value.ToLowerInvariant() switch
        {
            "k" => 1L << 10, "m" => 1L << 20, "g" => 1L << 30, "t" => 1L << 40, "p" => 1L << 50, _ => 1L,
        };
        return (long)(size * multiplier);
    }

    /// <summary>docker's Ellipsis: cut to width with a trailing "…".</summary>
    public static string Ellipsis(string text, int width)
        => text.Length <= width ? text : width <= 1 ? text[..width] : text[..(width - 1)] + "…";

    /// <summary>docker's table writer: Go's tabwriter with minwidth 10, tabwidth 1, padding 3, space padded.</summary>
    public static string Tabulate(IEnumerable<string> lines)
    {
        var rows = lines.Select(l => l.Split('\t')).ToList();
        var widths = new List<int>();
        foreach (var row in rows)
            for (var c = 0; c < row.Length - 1; c++) // the last cell of a row is not aligned
            {
                if (widths.Count <= c) widths.Add(10);
                widths[c] = Math.Max(widths[c], row[c].Length + 3);
            }
        var output = new StringBuilder();
        foreach (var row in rows)
        {
            for (var c = 0; c < row.Length; c++)
            {
                if (c < row.Length - 1) output.Append(row[c].PadRight(widths[c]));
                else output.Append(row[c]);
            }
            output.Append('\n');
        }
        return output.ToString();
    }
}
