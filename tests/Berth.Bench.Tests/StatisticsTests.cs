using Berth.Bench;

namespace Berth.Bench.Tests;

public class StatisticsTests
{
    [Fact]
    public void OddCountHasTheMiddleSampleAsMedian()
    {
        var summary = Summary.Of([5, 1, 3, 2, 4]);
        Assert.Equal(5, summary.Count);
        Assert.Equal(3, summary.Median);
        Assert.Equal(2, summary.P25);
        Assert.Equal(4, summary.P75);
        Assert.Equal(1, summary.Min);
        Assert.Equal(5, summary.Max);
    }

    [Fact]
    public void EvenCountInterpolatesBetweenTheMiddleSamples()
    {
        var summary = Summary.Of([4, 1, 3, 2]);
        Assert.Equal(2.5, summary.Median, 9);
        Assert.Equal(1.75, summary.P25, 9);
        Assert.Equal(3.25, summary.P75, 9);
    }

    [Fact]
    public void ASingleSampleIsItsOwnMedianAndSpread()
    {
        var summary = Summary.Of([42]);
        Assert.Equal(new Summary(1, 42, 42, 42, 42, 42), summary);
    }

    [Fact]
    public void NoSamplesIsAnError() => Assert.Throws<ArgumentException>(() => Summary.Of([]));

    [Theory]
    [InlineData(0.0, 10)]
    [InlineData(1.0, 50)]
    [InlineData(0.9, 46)]
    public void PercentileInterpolatesLinearly(double fraction, double expected) =>
        Assert.Equal(expected, Summary.Percentile([10, 20, 30, 40, 50], fraction), 9);

    [Fact]
    public void PercentileOutsideZeroToOneIsRejected() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Summary.Percentile([1, 2], 1.5));

    [Fact]
    public void SpreadIsInterquartileFromFourSamplesAndMinMaxBelow()
    {
        var four = new Cell { System = "runc", Samples = [10, 20, 30, 40] };
        four.Summarise();
        Assert.Equal("17.5–32.5 ms", Format.Spread(four, "ms"));

        var two = new Cell { System = "runc", Samples = [10, 20] };
        two.Summarise();
        Assert.Equal("10.0–20.0 ms (min–max)", Format.Spread(two, "ms"));

        var one = new Cell { System = "runc", Samples = [10] };
        one.Summarise();
        Assert.Equal("", Format.Spread(one, "ms"));
    }

    [Theory]
    [InlineData(6.123, "ms", "6.12 ms")]
    [InlineData(31.25, "ms", "31.3 ms")]
    [InlineData(250, "ms", "250 ms")]
    [InlineData(1490, "ms", "1.49 s")]
    [InlineData(12345, "req/s", "12,345 req/s")]
    public void ValuesKeepAboutThreeSignificantDigits(double value, string unit, string expected) =>
        Assert.Equal(expected, Format.Value(value, unit));
}
