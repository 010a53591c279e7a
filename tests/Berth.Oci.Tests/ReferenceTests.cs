using Berth.Oci.Content;
using Berth.Oci.Reference;

namespace Berth.Oci.Tests;

public class ReferenceTests
{
    private const string Hex = "1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef";

    [Theory]
    [InlineData("busybox", "docker.io/library/busybox:latest", "busybox:latest")]
    [InlineData("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36")]
    [InlineData("library/busybox", "docker.io/library/busybox:latest", "busybox:latest")]
    [InlineData("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest")]
    [InlineData("index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest")]
    [InlineData("user/repo", "docker.io/user/repo:latest", "user/repo:latest")]
    [InlineData("user/repo/sub", "docker.io/user/repo/sub:latest", "user/repo/sub:latest")]
    [InlineData("localhost/x", "localhost/x:latest", "localhost/x:latest")]
    [InlineData("localhost:5000/x:tag", "localhost:5000/x:tag", "localhost:5000/x:tag")]
    [InlineData("registry.example.com:8443/team/app:v1.2-rc_3", "registry.example.com:8443/team/app:v1.2-rc_3", "registry.example.com:8443/team/app:v1.2-rc_3")]
    [InlineData("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest")]
    [InlineData("Foo/bar", "Foo/bar:latest", "Foo/bar:latest")]
    [InlineData("a__b-c--d_e/f.g", "docker.io/a__b-c--d_e/f.g:latest", "a__b-c--d_e/f.g:latest")]
    public void NormalisesAsDocker(string input, string full, string familiar)
    {
        var r = ImageReference.ParseDockerRef(input);
        Assert.Equal(full, r.ToString());
        Assert.Equal(familiar, r.FamiliarString());
    }

    [Fact]
    public void KeepsDigestAndDropsTagOnlyInDockerRef()
    {
        var both = ImageReference.ParseNormalized($"busybox:1@sha256:{Hex}");
        Assert.Equal("1", both.Tag);
        Assert.Equal($"sha256:{Hex}", both.Digest.ToString());
        Assert.Equal($"docker.io/library/busybox:1@sha256:{Hex}", both.ToString());

        var docker = ImageReference.ParseDockerRef($"busybox:1@sha256:{Hex}");
        Assert.Null(docker.Tag);
        Assert.Equal($"busybox@sha256:{Hex}", docker.FamiliarString());

        var byDigest = ImageReference.ParseDockerRef($"localhost:5000/x@sha256:{Hex}");
        Assert.Null(byDigest.Tag);
        Assert.Equal("localhost:5000", byDigest.Domain);
        Assert.Equal("x", byDigest.Path);
    }

    [Fact]
    public void SplitsDomainAndPath()
    {
        var r = ImageReference.ParseNormalized("host.example:5000/a/b:t");
        Assert.Equal("host.example:5000", r.Domain);
        Assert.Equal("a/b", r.Path);
        Assert.Equal("t", r.Tag);
        Assert.Equal("host.example:5000/a/b", r.Name);
        Assert.False(r.IsNameOnly);
        Assert.True(ImageReference.ParseNormalized("busybox").IsNameOnly);
        Assert.Equal("docker.io/library/busybox:2", ImageReference.ParseDockerRef("busybox").WithTag("2").ToString());
        Assert.Equal("docker.io/library/busybox", ImageReference.ParseDockerRef("busybox:1").WithoutTagOrDigest().ToString());
    }

    [Theory]
    [InlineData("Busybox", "invalid reference format: repository name must be lowercase")]
    [InlineData("docker.io/Busybox", "invalid reference format: repository name must be lowercase")]
    [InlineData("localhost:5000/Upper", "invalid reference format: repository name must be lowercase")]
    [InlineData("", "invalid reference format")]
    [InlineData("busybox:", "invalid reference format")]
    [InlineData(":tag", "invalid reference format")]
    [InlineData("busy box", "invalid reference format")]
    [InlineData("-busybox", "invalid reference format")]
    [InlineData("busybox-", "invalid reference format")]
    [InlineData("a//b", "invalid reference format")]
    [InlineData("busybox\n", "invalid reference format")]
    [InlineData("busybox:.tag", "invalid reference format")]
    [InlineData("busybox@sha256:abc", "invalid reference format")]
    [InlineData("busybox@md5:0123456789abcdef0123456789abcdef", "unsupported digest algorithm")]
    [InlineData("busybox@sha256:0123456789abcdef0123456789abcdef", "invalid checksum digest length")]
    [InlineData(Hex, "invalid repository name (" + Hex + "), cannot specify 64-byte hexadecimal strings")]
    public void RefusesWithDockersMessage(string input, string message)
    {
        var e = Assert.Throws<InvalidReferenceException>(() => ImageReference.ParseNormalized(input));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void LimitsNameLengthAndTagLength()
    {
        var longName = "a/" + new string('b', 250);
        var e = Assert.Throws<InvalidReferenceException>(() => ImageReference.ParseNormalized(longName));
        Assert.Equal("repository name must not be more than 255 characters", e.Message);
        Assert.True(ImageReference.IsValidTag(new string('t', 128)));
        Assert.False(ImageReference.IsValidTag(new string('t', 129)));
        Assert.Throws<InvalidReferenceException>(() => ImageReference.ParseNormalized("x:" + new string('t', 129)));
        Assert.Throws<InvalidReferenceException>(() => ImageReference.ParseDockerRef("x").WithTag("bad tag"));
    }

    [Fact]
    public void RecognisesFullIdentifiers()
    {
        Assert.True(ImageReference.IsFullIdentifier(Hex));
        Assert.False(ImageReference.IsFullIdentifier(Hex[..12]));
        Assert.Equal(Digest.Parse("sha256:" + Hex), ImageReference.ParseNormalized("x@sha256:" + Hex).Digest);
    }
}
