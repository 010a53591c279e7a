using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Berth.Oci.Content;
using Berth.Registry;
using Berth.Testing;

namespace Berth.Registry.Tests;

/// <summary>A registry on a free loopback port with its own storage, and an HttpClient aimed at it.</summary>
public sealed class RegistryHarness : IAsyncDisposable
{
    public TempDir Dir { get; } = new();
    public RunningRegistry Server { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    public RegistryConfig Config { get; private set; } = null!;

    public static async Task<RegistryHarness> StartAsync(Action<RegistryConfig, TempDir>? configure = null)
    {
        var h = new RegistryHarness();
        h.Config = new RegistryConfig { Addr = "127.0.0.1:0", RootDirectory = h.Dir.Combine("storage"), DeleteEnabled = true };
        configure?.Invoke(h.Config, h.Dir);
        h.Server = await RegistryServer.StartAsync(h.Config);
        h.Http = new HttpClient { BaseAddress = h.Server.Address };
        return h;
    }

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        if (Server is not null) await Server.DisposeAsync();
        Dir.Dispose();
    }

    public static (byte[] Bytes, Digest Digest) Blob(string text) { var b = Encoding.UTF8.GetBytes(text); return (b, Digest.Sha256(b)); }

    public async Task<Digest> PushBlobAsync(string repo, byte[] bytes)
    {
        var digest = Digest.Sha256(bytes);
        using var r = await Http.PostAsync($"/v2/{repo}/blobs/uploads/?digest={digest}", new ByteArrayContent(bytes));
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        return digest;
    }

    /// <summary>Pushes a config and a layer, and a manifest of <paramref name="mediaType"/> naming them; returns the manifest bytes and digest.</summary>
    public async Task<(byte[] Bytes, Digest Digest, Digest Config, Digest Layer)> PushImageAsync(string repo, string tag, string mediaType = "application/vnd.oci.image.manifest.v1+json", string seed = "")
    {
        var config = Encoding.UTF8.GetBytes("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"seed\":\"" + seed + repo + tag + "\"}");
        var layer = Encoding.UTF8.GetBytes("layer of " + seed + repo + tag);
        var c = await PushBlobAsync(repo, config);
        var l = await PushBlobAsync(repo, layer);
        var docker = mediaType.Contains("docker", StringComparison.Ordinal);
        var manifest = Manifest(mediaType, docker ? "application/vnd.docker.container.image.v1+json" : "application/vnd.oci.image.config.v1+json", c, config.Length,
            docker ? "application/vnd.docker.image.rootfs.diff.tar.gzip" : "application/vnd.oci.image.layer.v1.tar+gzip", l, layer.Length);
        var d = await PutManifestAsync(repo, tag, manifest, mediaType);
        return (manifest, d, c, l);
    }

    public static byte[] Manifest(string mediaType, string configType, Digest config, long configSize, string layerType, Digest layer, long layerSize, string? extra = null)
        => Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"{{mediaType}}","config":{"mediaType":"{{configType}}","digest":"{{config}}","size":{{configSize}}},"layers":[{"mediaType":"{{layerType}}","digest":"{{layer}}","size":{{layerSize}}}]{{extra}}}""");

    public async Task<Digest> PutManifestAsync(string repo, string reference, byte[] manifest, string mediaType)
    {
        using var content = new ByteArrayContent(manifest);
        content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        using var r = await Http.PutAsync($"/v2/{repo}/manifests/{reference}", content);
        Assert.True(r.StatusCode == HttpStatusCode.Created, $"PUT manifest: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
        return Digest.Parse(r.Headers.GetValues("Docker-Content-Digest").Single());
    }

    /// <summary>Asserts the status and the first error code of an error response.</summary>
    public static async Task AssertErrorAsync(HttpResponseMessage r, HttpStatusCode status, string code)
    {
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(status == r.StatusCode, $"expected {(int)status}, got {(int)r.StatusCode}: {body}");
        using var doc = JsonDocument.Parse(body);
        var error = doc.RootElement.GetProperty("errors")[0];
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.True(error.TryGetProperty("detail", out _));
    }
}
