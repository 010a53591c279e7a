using System.Text;
using Berth.Testing;

namespace Berth.Distribution.Tests;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ClientUnitTests
{
    [Fact]
    public void Parses_bearer_and_basic_challenges()
    {
        var challenges = AuthChallenge.Parse(["Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/busybox:pull\"", "Basic realm=\"x\""]);
        Assert.Equal(2, challenges.Count);
        Assert.Equal("bearer", challenges[0].Scheme);
        Assert.Equal("https://auth.docker.io/token", challenges[0]["realm"]);
        Assert.Equal("registry.docker.io", challenges[0]["service"]);
        Assert.Equal("repository:library/busybox:pull", challenges[0]["scope"]);
        Assert.Equal("basic", challenges[1].Scheme);
        var error = AuthChallenge.Parse(["Bearer realm=\"r\",error=\"insufficient_scope\",scope=\"a:b:pull a:c:pull\""]).Single();
        Assert.Equal("insufficient_scope", error["error"]);
        Assert.Equal("a:b:pull a:c:pull", error["scope"]);
    }

    [Theory]
    [InlineData("docker.io", "registry-1.docker.io", "https://index.docker.io/v1/")]
    [InlineData("localhost:5000", "localhost:5000", "localhost:5000")]
    [InlineData("ghcr.io", "ghcr.io", "ghcr.io")]
    public void Docker_hub_names(string domain, string host, string key)
    {
        Assert.Equal(host, DockerHub.ApiHost(domain));
        Assert.Equal(key, DockerHub.CredentialKey(domain));
    }

    [Theory]
    [InlineData(null, "docker.io")]
    [InlineData("https://index.docker.io/v1/", "docker.io")]
    [InlineData("localhost:5000", "localhost:5000")]
    [InlineData("http://127.0.0.1:5000/", "127.0.0.1:5000")]
    [InlineData("registry.example.com/v2/", "registry.example.com")]
    public void Server_addresses_normalise(string? server, string domain) => Assert.Equal(domain, DistributionClient.NormalizeServer(server));

    [Fact]
    public void Insecure_registries_are_loopback_listed_names_and_cidrs()
    {
        var options = new DistributionOptions();
        options.InsecureRegistries.AddRange(["registry.lan:5000", "10.1.0.0/16"]);
        Assert.True(options.IsInsecure("127.0.0.1:5000"));
        Assert.True(options.IsInsecure("localhost:1234"));
        Assert.True(options.IsInsecure("[::1]:5000"));
        Assert.True(options.IsInsecure("registry.lan:5000"));
        Assert.True(options.IsInsecure("10.1.2.3:443"));
        Assert.False(options.IsInsecure("10.2.0.1:443"));
        Assert.False(options.IsInsecure("registry-1.docker.io"));
    }

    [Fact]
    public void Docker_config_auths_store_get_and_erase()
    {
        using var dir = new TempDir();
        var config = new DockerConfigFile(dir.Combine("config.json"));
        Assert.Null(config.Get("localhost:5000"));
        config.Store("localhost:5000", new RegistryCredential("alice", "pa:ss"));
        config.Store("docker.io", new RegistryCredential("bob", "hub"));
        var text = File.ReadAllText(config.Path);
        Assert.Contains(Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:pa:ss")), text);
        Assert.Contains("https://index.docker.io/v1/", text);
        Assert.Equal(new RegistryCredential("alice", "pa:ss"), config.Get("localhost:5000"));
        Assert.Equal("bob", config.Get("docker.io")!.Username);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(config.Path));
        Assert.True(config.Erase("localhost:5000"));
        Assert.False(config.Erase("localhost:5000"));
        Assert.Null(config.Get("localhost:5000"));
        Assert.NotNull(config.Get("docker.io"));
    }

    [Fact]
    public void Credential_helper_from_creds_store()
    {
        using var dir = new TempDir();
        // A helper that knows one server, as docker-credential-pass would, and logs what it was asked.
        var helper = dir.Combine("docker-credential-berthtest" + Environment.ProcessId);
        File.WriteAllText(helper, $$"""
            #!/bin/sh
            read server
            echo "$1 $server" >> {{dir.Combine("calls")}}
            case "$1" in
              get) if [ "$server" = "registry.test:5000" ]; then echo '{"ServerURL":"registry.test:5000","Username":"carol","Secret":"from-helper"}'; else echo "credentials not found in native keychain"; exit 1; fi ;;
              erase) exit 0 ;;
            esac
            """);
        File.SetUnixFileMode(helper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.WriteAllText(dir.Combine("config.json"), $$"""{"credsStore":"berthtest{{Environment.ProcessId}}","auths":{"other:1":{"auth":"{{Convert.ToBase64String("x:y"u8)}}"} } }""");
        var path = Environment.GetEnvironmentVariable("PATH");
        Environment.SetEnvironmentVariable("PATH", dir.Path + ":" + path);
        try
        {
            var config = new DockerConfigFile(dir.Combine("config.json"));
            Assert.Equal(new RegistryCredential("carol", "from-helper"), config.Get("registry.test:5000"));
            Assert.Null(config.Get("unknown:1"));
            Assert.Contains("get registry.test:5000", File.ReadAllText(dir.Combine("calls")));
        }
        finally { Environment.SetEnvironmentVariable("PATH", path); }
        var missing = new DockerConfigFile(dir.Combine("config.json"));
        var error = Assert.Throws<DistributionException>(() => missing.Get("registry.test:5000"));
        Assert.Contains("executable file not found", error.Message);
    }

    [Fact]
    public void Progress_messages_serialise_as_docker_json_messages()
    {
        var bar = "[" + new string('=', 12) + "\\u003E" + new string(' ', 37) + "]      1kB/4kB";
        Assert.Equal("{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1000,\"total\":4000},\"progress\":\"" + bar + "\",\"id\":\"abc\"}",
            ProgressMessage.Bytes("abc", "Downloading", 1000, 4000).ToString());
        Assert.Equal("{\"status\":\"Pull complete\",\"progressDetail\":{},\"id\":\"abc\"}", ProgressMessage.Layer("abc", "Pull complete").ToString());
        Assert.Equal("{\"errorDetail\":{\"message\":\"boom\"},\"error\":\"boom\"}", ProgressMessage.Failure("boom").ToString());
        Assert.Equal("1.235MB", ProgressMessage.HumanSize(1_234_567));
    }
}
