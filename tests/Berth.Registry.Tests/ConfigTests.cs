namespace Berth.Registry.Tests;

public sealed class ConfigTests
{
    [Fact]
    public void Reads_distribution_keys_and_the_token_service_extension()
    {
        var config = new RegistryConfig();
        config.Apply("""
            version: 0.1
            log:
              level: info
            storage:
              filesystem:
                rootdirectory: /srv/registry
              delete:
                enabled: true
              cache:
                blobdescriptor: inmemory
            http:
              addr: 127.0.0.1:5001
              tls:
                certificate: /etc/cert.pem
                key: /etc/key.pem
            auth:
              token:
                realm: https://auth.example/token
                service: registry.example
                issuer: example-issuer
                htpasswd: /etc/registry/htpasswd
                expiration: 600
                access:
                  - account: alice
                    repository: "alice/*"
                    actions: [pull, push]
                  - account: ""
                    repository: "public/*"
                    actions: pull
            """);
        Assert.Equal("/srv/registry", config.RootDirectory);
        Assert.True(config.DeleteEnabled);
        Assert.Equal("127.0.0.1:5001", config.Addr);
        Assert.Equal("/etc/cert.pem", config.TlsCertificate);
        Assert.Equal("/etc/key.pem", config.TlsKey);
        Assert.Equal("info", config.LogLevel);
        Assert.True(config.TokenAuth);
        Assert.Equal("https://auth.example/token", config.TokenRealm);
        Assert.Equal("registry.example", config.TokenService);
        Assert.Equal("example-issuer", config.TokenIssuer);
        Assert.Equal(600, config.TokenExpirationSeconds);
        Assert.Equal(2, config.TokenAccess.Count);
        Assert.Equal(["pull", "push"], config.TokenAccess[0].Actions);
        Assert.Equal("", config.TokenAccess[1].Account);
        Assert.Equal(["pull"], config.TokenAccess[1].Actions);
    }

    [Theory]
    [InlineData("storage: [unclosed", "invalid YAML")]
    [InlineData("- a list", "must be a mapping")]
    [InlineData("storage:\n  delete:\n    enabled: maybe", "storage.delete.enabled")]
    public void Bad_configuration_is_one_clear_error(string yaml, string expected)
    {
        var e = Assert.Throws<FormatException>(() => new RegistryConfig().Apply(yaml));
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("127.0.0.1:5000", "127.0.0.1", 5000)]
    [InlineData(":5000", "0.0.0.0", 5000)]
    [InlineData("localhost:0", "127.0.0.1", 0)]
    [InlineData("[::1]:5000", "::1", 5000)]
    public void Listen_addresses(string addr, string ip, int port)
    {
        var endpoint = RegistryServer.ParseAddress(addr);
        Assert.Equal(ip, endpoint.Address.ToString());
        Assert.Equal(port, endpoint.Port);
    }

    [Theory]
    [InlineData("bytes=0-4", 10, 0, 4)]
    [InlineData("bytes=5-", 10, 5, 9)]
    [InlineData("bytes=-3", 10, 7, 9)]
    [InlineData("bytes=8-100", 10, 8, 9)]
    public void Byte_ranges(string header, long size, long start, long end)
    {
        Assert.True(RegistryApp.TryParseByteRange(header, size, out var s, out var e));
        Assert.Equal((start, end), (s, e));
    }

    [Theory]
    [InlineData("bytes=10-", 10)]
    [InlineData("bytes=5-2", 10)]
    [InlineData("items=0-1", 10)]
    [InlineData("bytes=0-1,3-4", 10)]
    public void Bad_byte_ranges(string header, long size) => Assert.False(RegistryApp.TryParseByteRange(header, size, out _, out _));
}
