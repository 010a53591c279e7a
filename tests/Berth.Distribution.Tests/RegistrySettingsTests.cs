using Berth.Engine.Images;

namespace Berth.Distribution.Tests;

/// <summary>daemon.json's "insecure-registries" and "registry-mirrors" as the image service takes them.</summary>
public sealed class RegistrySettingsTests
{
    [Fact]
    public void Settings_reach_the_registry_options_normalised()
    {
        using var store = new TestStore();
        var service = new ImageService(store.Images);
        service.ConfigureRegistries(["registry.internal:5000", "http://old.example", "10.20.0.0/16"], ["http://127.0.0.1:5001", "https://mirror.example/"]);

        Assert.Equal(["registry.internal:5000", "old.example", "10.20.0.0/16"], service.RegistryOptions.InsecureRegistries);
        Assert.Equal([new Uri("http://127.0.0.1:5001/"), new Uri("https://mirror.example/")], service.RegistryOptions.Mirrors);
        Assert.True(service.RegistryOptions.IsInsecure("registry.internal:5000"));
        Assert.True(service.RegistryOptions.IsInsecure("10.20.3.4:443"));
        Assert.False(service.RegistryOptions.IsInsecure("registry.internal:5001"));
        Assert.False(service.RegistryOptions.IsInsecure("10.21.0.1:5000"));
    }

    [Theory]
    [InlineData("ftp://mirror.example", "invalid mirror: unsupported scheme \"ftp\"")]
    [InlineData("https://mirror.example/v2/", "invalid mirror: path, query, or fragment at end of the URI")]
    [InlineData("https://mirror.example/?x=1", "invalid mirror: path, query, or fragment at end of the URI")]
    [InlineData("mirror.example", "invalid mirror: \"mirror.example\" is not a valid URI")]
    public void A_bad_mirror_is_refused_with_dockerds_words(string mirror, string message)
    {
        var error = Assert.Throws<FormatException>(() => ImageService.CheckRegistrySettings([], [mirror]));
        Assert.StartsWith(message, error.Message);
    }

    [Theory]
    [InlineData("tcp://registry:5000", "should not contain '://'")]
    [InlineData("10.0.0.0/40", "invalid CIDR address")]
    [InlineData("not-an-ip/8", "invalid CIDR address")]
    [InlineData("", "empty")]
    public void A_bad_insecure_registry_is_refused(string entry, string message)
    {
        var error = Assert.Throws<FormatException>(() => ImageService.CheckRegistrySettings([entry], []));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void A_bad_entry_changes_nothing()
    {
        using var store = new TestStore();
        var service = new ImageService(store.Images);
        Assert.Throws<FormatException>(() => service.ConfigureRegistries(["good:5000"], ["ftp://bad"]));
        Assert.Empty(service.RegistryOptions.InsecureRegistries);
        Assert.Empty(service.RegistryOptions.Mirrors);
    }
}
