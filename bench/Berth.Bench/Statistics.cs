namespace Berth.Bench;

/// <summary>The summary of one system's samples in one metric: median and spread.</summary>
public sealed record Summary(int Count, double Median, double P25, double P75, double Min, double Max)
{
    /// <summary>Summarises <paramref name="samples"/> (at least one). Percentiles interpolate linearly
    /// between the closest ranks, so a single sample is its own median and spread.</summary>
    public static Summary Of(IReadOnlyCollection<double> samples)
    {
        if (samples.Count == 0) throw new ArgumentException("no samples to summarise", nameof(samples));
        var sorted = samples.Order().ToArray();
        return new Summary(sorted.Length, Percentile(sorted, 0.5), Percentile(sorted, 0.25), Percentile(sorted, 0.75), sorted[0], sorted[^1]);
    }

    /// <summary>The <paramref name="fraction"/> quantile (0..1) of ascending <paramref name="sorted"/>.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double fraction)
    {
        if (sorted.Count == 0) throw new ArgumentException("no samples", nameof(sorted));
        if (fraction is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "a quantile is between 0 and 1");
        var rank = fraction * (sorted.Count - 1);
        var below = (int)Math.Floor(rank);
        var above = (int)Math.Ceiling(rank);
        return sorted[below] + (sorted[above] - sorted[below]) * (rank - below);
    }
}
