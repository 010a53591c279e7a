using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Berth.Testing;

namespace Berth.Distribution.Tests;

/// <summary>
/// Berth.Distribution against Debian's docker-registry (distribution 2.8; package docker-registry) with
/// htpasswd basic auth, on a free loopback port.
/// </summary>
public sealed class DistributionInteropTests
{
    private const string DockerRegistry = "/usr/bin/docker-registry";

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    internal static async Task WaitForAsync(string url, Process process)
    {
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                using var r = await http.GetAsync(url);
                return;
            }
            catch (HttpRequestException) { }
            if (process.HasExited) throw new InvalidOperationException($"{process.StartInfo.FileName} exited {process.ExitCode}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{url} did not answer");
            await Task.Delay(50);
        }
    }

    [RootFact]
    public async Task Push_to_and_pull_from_distribution_with_basic_auth()
    {
        if (!File.Exists(DockerRegistry)) Assert.Fail("docker-registry is not installed (apt-get install docker-registry)");
        using var dir = new TempDir();
        var port = FreePort();
        var htpasswd = dir.Combine("htpasswd");
        TestRegistry.WriteHtpasswd(htpasswd, ("alice", "secret"));
        File.WriteAllText(dir.Combine("config.yml"), $"""
            version: 0.1
            log:
              level: error
            storage:
              filesystem:
                rootdirectory: {dir.Combine("storage")}
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:{port}
            auth:
              htpasswd:
                realm: basic-realm
                path: {htpasswd}
            """);
        var psi = new ProcessStartInfo(DockerRegistry) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("serve");
        psi.ArgumentList.Add(dir.Combine("config.yml"));
        using var registry = Process.Start(psi)!;
        registry.OutputDataReceived += (_, _) => { };
        registry.ErrorDataReceived += (_, _) => { };
        registry.BeginOutputReadLine();
        registry.BeginErrorReadLine();
        try
        {
            await WaitForAsync($"http://127.0.0.1:{port}/v2/", registry);
            var host = $"127.0.0.1:{port}";
            using var source = new TestStore();
            using var target = new TestStore();
            var id = source.ImportBusybox($"{host}/library/busybox:1");
            var options = new DistributionOptions { UploadChunkSize = 0 };
            options.Credentials = CredentialProviders.FromDictionary(new Dictionary<string, RegistryCredential> { [host] = new("alice", "secret") });
            using var client = new DistributionClient(options);
            await client.LoginAsync(host, new RegistryCredential("alice", "secret"));
            var pushed = (await new ImagePusher(client, source.Images, source.Metadata).PushAsync($"{host}/library/busybox:1")).Single();
            var again = new List<ProgressMessage>();
            await new ImagePusher(client, source.Images, source.Metadata).PushAsync($"{host}/library/busybox:1", again.Add);
            Assert.Contains(again, m => m.Status == "Layer already exists");

            var pull = await new ImagePuller(client, target.Images).PullAsync($"{host}/library/busybox:1");
            Assert.Equal(id, pull.ImageId);
            Assert.Equal(pushed.Digest, pull.ManifestDigest);
            Assert.Equal(["1"], await client.Registry(host).TagsAsync("library/busybox", CancellationToken.None));

            // Without credentials distribution says 401; the client says what Docker says.
            using var anonymous = new DistributionClient();
            var e = await Assert.ThrowsAsync<DistributionException>(() => new ImagePuller(anonymous, target.Images).PullAsync($"{host}/library/busybox:1"));
            Assert.Contains("pull access denied", e.Message);
        }
        finally
        {
            registry.Kill();
            await registry.WaitForExitAsync();
        }
    }
}
