using Berth.Oci.Content;
using Berth.Oci.Image;

namespace Berth.Oci.Tests;

public class PlatformTests
{
    [Theory]
    [InlineData("linux/amd64", "linux/amd64")]
    [InlineData("linux/x86_64", "linux/amd64")]
    [InlineData("linux/x86-64", "linux/amd64")]
    [InlineData("Linux/AMD64", "linux/amd64")]
    [InlineData("linux/aarch64", "linux/arm64")]
    [InlineData("linux/arm64/v8", "linux/arm64")]
    [InlineData("linux/arm64/v9.0", "linux/arm64/v9")]
    [InlineData("linux/arm", "linux/arm/v7")]
    [InlineData("linux/arm/7", "linux/arm/v7")]
    [InlineData("linux/arm/v6", "linux/arm/v6")]
    [InlineData("linux/armhf", "linux/arm/v7")]
    [InlineData("linux/armel", "linux/arm/v6")]
    [InlineData("linux/i386", "linux/386")]
    [InlineData("macos/arm64", "darwin/arm64")]
    [InlineData("windows/amd64", "windows/amd64")]
    public void ParsesAndNormalises(string input, string expected) => Assert.Equal(expected, Platforms.Parse(input).ToString());

    [Fact]
    public void ALoneWordIsAnOsOrAnArchitecture()
    {
        Assert.Equal("linux", Platforms.Parse("linux").Os);
        Assert.Equal(Platforms.Host.Architecture, Platforms.Parse("linux").Architecture);
        var arch = Platforms.Parse("s390x");
        Assert.Equal("s390x", arch.Architecture);
        Assert.Equal(Platforms.Host.Os, arch.Os);
    }

    [Theory]
    [InlineData("")]
    [InlineData("linux/")]
    [InlineData("a/b/c/d")]
    [InlineData("linux/amd 64")]
    [InlineData("nonsense")]
    public void RefusesMalformed(string input) => Assert.Throws<FormatException>(() => Platforms.Parse(input));

    [Fact]
    public void HostIsLinuxAndNormalised()
    {
        Assert.Equal("linux", Platforms.Host.Os);
        Assert.Equal(Platforms.Host, Platforms.Normalize(Platforms.Host));
        Assert.Contains(Platforms.Host.Architecture, new[] { "amd64", "arm64", "arm", "386", "s390x", "ppc64le", "riscv64", "loong64" });
    }

    [Fact]
    public void MatchesAcrossAliases()
    {
        Assert.True(Platforms.Matches(new Platform("linux", "arm64", "v8"), new Platform("linux", "aarch64")));
        Assert.True(Platforms.Matches(new Platform("linux", "arm"), new Platform("linux", "arm", "v7")));
        Assert.False(Platforms.Matches(new Platform("linux", "arm", "v6"), new Platform("linux", "arm", "v7")));
        Assert.False(Platforms.Matches(new Platform("linux", "amd64"), new Platform("windows", "amd64")));
    }

    [Fact]
    public void CompatibleVectorsFollowContainerd()
    {
        Assert.Equal(["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"], Platforms.Compatible(Platforms.Parse("linux/arm/v7")).Select(p => p.ToString()));
        Assert.Equal(["linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"], Platforms.Compatible(Platforms.Parse("linux/arm64")).Select(p => p.ToString()));
        Assert.Equal(["linux/amd64", "linux/386"], Platforms.Compatible(Platforms.Parse("linux/amd64")).Select(p => p.ToString()));
        Assert.Equal(["linux/amd64/v3", "linux/amd64/v2", "linux/amd64", "linux/386"], Platforms.Compatible(Platforms.Parse("linux/amd64/v3")).Select(p => p.ToString()));
    }

    private static Descriptor Entry(string platform, char fill, Dictionary<string, string>? annotations = null)
        => new(MediaTypes.OciManifest, Digest.Parse("sha256:" + new string(fill, 64)), 1)
        {
            Platform = platform == "" ? null : Platforms.Parse(platform),
            Annotations = annotations,
        };

    [Fact]
    public void SelectsTheBestEntryOfAnIndex()
    {
        var index = new List<Descriptor>
        {
            Entry("", '0'),
            Entry("linux/arm/v5", '1'),
            Entry("linux/arm/v6", '2'),
            Entry("linux/amd64", '3'),
            Entry("linux/arm64/v8", '4'),
            Entry("linux/amd64", '5'),
        };
        Assert.Equal('3', Platforms.Select(index, Platforms.Parse("linux/amd64"))!.Digest.Hex[0]);
        Assert.Equal('4', Platforms.Select(index, Platforms.Parse("linux/aarch64"))!.Digest.Hex[0]);
        Assert.Equal('2', Platforms.Select(index, Platforms.Parse("linux/arm/v7"))!.Digest.Hex[0]);
        Assert.Equal('1', Platforms.Select(index, Platforms.Parse("linux/arm/v5"))!.Digest.Hex[0]);
        Assert.Null(Platforms.Select(index, Platforms.Parse("linux/s390x")));
        Assert.Null(Platforms.Select(index, Platforms.Parse("windows/amd64")));
    }

    [Fact]
    public void SelectSkipsAttestationsAndFallsBackTo386()
    {
        var index = new List<Descriptor>
        {
            Entry("linux/amd64", 'a', new() { [Annotations.DockerReferenceType] = "attestation-manifest" }),
            Entry("linux/386", 'b'),
        };
        Assert.Equal('b', Platforms.Select(index, Platforms.Parse("linux/amd64"))!.Digest.Hex[0]);
    }
}
