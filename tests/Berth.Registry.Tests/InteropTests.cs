using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;
using Berth.Oci.Content;
using Berth.Testing;

namespace Berth.Registry.Tests;

/// <summary>Real clients against berth-registry on loopback: skopeo (package skopeo) and a private dockerd (package docker.io).</summary>
public sealed class InteropTests
{
    private const string Skopeo = "/usr/bin/skopeo";

    internal static (int Code, string Stdout, string Stderr) Run(string file, IEnumerable<string> args, IDictionary<string, string>? env = null, string? stdin = null, int timeoutSeconds = 120)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null) { p.StandardInput.Write(stdin); p.StandardInput.Close(); }
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} took more than {timeoutSeconds}s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    internal static string Must(string file, params string[] args) => Must(file, args, null);

    internal static string Must(string file, string[] args, IDictionary<string, string>? env, string? stdin = null)
    {
        var (code, stdout, stderr) = Run(file, args, env, stdin);
        if (code != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {code}: {stderr.Trim()} {stdout.Trim()}");
        return stdout;
    }

    /// <summary>A one-layer OCI image layout (tag v1) whose layer holds hello.txt; returns the layer's diffID.</summary>
    internal static Digest MakeOciLayout(string dir)
    {
        var blobs = Path.Combine(dir, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "hello.txt") { DataStream = new MemoryStream("hello from berth\n"u8.ToArray()) });
        var diffId = Digest.Sha256(tar.ToArray());
        using var gz = new MemoryStream();
        using (var z = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true)) z.Write(tar.ToArray());
        string Put(byte[] bytes) { var d = Digest.Sha256(bytes); File.WriteAllBytes(Path.Combine(blobs, d.Hex), bytes); return d.ToString(); }
        var layer = gz.ToArray();
        var layerDigest = Put(layer);
        var config = Encoding.UTF8.GetBytes($$"""{"architecture":"amd64","os":"linux","config":{"Cmd":["cat","/hello.txt"]},"rootfs":{"type":"layers","diff_ids":["{{diffId}}"]} }""");
        var configDigest = Put(config);
        var manifest = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{configDigest}}","size":{{config.Length}} },"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{{layerDigest}}","size":{{layer.Length}} }]}""");
        var manifestDigest = Put(manifest);
        File.WriteAllText(Path.Combine(dir, "index.json"), $$"""{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{manifestDigest}}","size":{{manifest.Length}},"annotations":{"org.opencontainers.image.ref.name":"v1"} }]}""");
        File.WriteAllText(Path.Combine(dir, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        return diffId;
    }

    [Fact]
    public async Task Skopeo_copies_a_docker_archive_to_berth_registry_and_back()
    {
        if (!File.Exists(Skopeo)) Assert.Fail("skopeo is not installed (apt-get install skopeo)");
        await using var h = await RegistryHarness.StartAsync();
        var diffId = MakeOciLayout(h.Dir.Combine("layout"));
        var archive = h.Dir.Combine("in.tar");
        var back = h.Dir.Combine("out.tar");
        var policy = h.Dir.Combine("policy.json");
        File.WriteAllText(policy, """{"default":[{"type":"insecureAcceptAnything"}]}""");
        var host = h.Server.HostPort;
        Must(Skopeo, "--policy", policy, "copy", $"oci:{h.Dir.Combine("layout")}:v1", $"docker-archive:{archive}:interop/app:v1");
        Must(Skopeo, "--policy", policy, "copy", "--dest-tls-verify=false", $"docker-archive:{archive}", $"docker://{host}/interop/app:v1");

        using (var r = await h.Http.GetAsync("/v2/interop/app/tags/list"))
            Assert.Contains("\"v1\"", await r.Content.ReadAsStringAsync());
        var inspect = JsonDocument.Parse(Must(Skopeo, "--policy", policy, "inspect", "--tls-verify=false", $"docker://{host}/interop/app:v1")).RootElement;
        Assert.Equal("amd64", inspect.GetProperty("Architecture").GetString());

        Must(Skopeo, "--policy", policy, "copy", "--src-tls-verify=false", $"docker://{host}/interop/app:v1", $"docker-archive:{back}:interop/app:v1");
        var config = JsonDocument.Parse(Must(Skopeo, "--policy", policy, "inspect", "--config", $"docker-archive:{back}")).RootElement;
        Assert.Equal(diffId.ToString(), config.GetProperty("rootfs").GetProperty("diff_ids")[0].GetString());
        Assert.Equal(["cat", "/hello.txt"], config.GetProperty("config").GetProperty("Cmd").EnumerateArray().Select(c => c.GetString()!));
    }
}

/// <summary>
/// A private dockerd (Debian docker.io 20.10: own data root, exec root, socket and containerd namespaces, no
/// bridge, no iptables) logs in to, pushes to and pulls from berth-registry with token auth. dockerd treats
/// 127.0.0.0/8 registries as insecure, so plain HTTP on loopback is what it speaks.
/// </summary>
public sealed class DockerdInteropTests : IAsyncLifetime
{
    private const string Docker = "/usr/local/bin/docker";
    private readonly TempDir dir = new();
    private PrivateDockerd? dockerd;
    private readonly string tag = "berth-reg-" + Guid.NewGuid().ToString("N")[..8];
    private string Socket => dir.Combine("docker.sock");

    public async Task InitializeAsync() => dockerd = await PrivateDockerd.StartAsync(dir, tag);

    public async Task DisposeAsync()
    {
        if (dockerd is not null) await dockerd.DisposeAsync();
        dir.Dispose();
    }

    private (int Code, string Stdout, string Stderr) Run(params string[] args)
        => InteropTests.Run(Docker, ["-H", "unix://" + Socket, .. args], new Dictionary<string, string> { ["DOCKER_CONFIG"] = dir.Combine("client") });

    private string Must(params string[] args)
    {
        var (code, stdout, stderr) = Run(args);
        return code == 0 ? stdout : throw new InvalidOperationException($"docker {string.Join(' ', args)} exited {code}: {stderr.Trim()}");
    }

    [RootFact]
    public async Task Docker_logs_in_pushes_and_pulls_with_token_auth()
    {
        if (dockerd is null) Assert.Fail("dockerd is not installed (apt-get install docker.io)");
        await using var h = await RegistryHarness.StartAsync((c, d) =>
        {
            c.TokenAuth = true;
            c.TokenService = "berth-interop";
            c.TokenHtpasswd = d.Combine("htpasswd");
            File.WriteAllText(c.TokenHtpasswd, $"alice:{BCrypt.Net.BCrypt.HashPassword("secret", 5)}\n");
        });
        var host = h.Server.HostPort;
        var image = $"{host}/team/busybox:latest";

        var denied = Run("login", "-u", "alice", "-p", "wrong", host);
        Assert.NotEqual(0, denied.Code);
        Assert.Contains("unauthorized", denied.Stderr + denied.Stdout, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Login Succeeded", Must("login", "-u", "alice", "-p", "secret", host));

        var rootfs = dir.Combine("rootfs");
        BusyboxRootfs.CopyTo(rootfs);
        BusyboxRootfs.Run("sh", "-c", $"tar -C '{rootfs}' -c . | {Docker} -H 'unix://{Socket}' import - {image}");
        var push = Must("push", image);
        Assert.Contains("latest: digest: sha256:", push);
        var digest = push[(push.IndexOf("digest: ", StringComparison.Ordinal) + 8)..].Split(' ')[0];
        using (var r = await h.Http.GetAsync($"/v2/team/busybox/manifests/{digest}"))
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode); // the registry still wants a token from others

        Must("rmi", image);
        var pull = Must("pull", image);
        Assert.Contains($"Digest: {digest}", pull);
        Assert.Contains($"{host}/team/busybox@{digest}", Must("image", "inspect", "--format", "{{json .RepoDigests}}", image));

        // Logged out, docker may not pull (anonymous clients get no scopes).
        Must("logout", host);
        Must("rmi", image);
        var anonymous = Run("pull", image);
        Assert.NotEqual(0, anonymous.Code);
    }
}

/// <summary>podman (package podman) pushes to and pulls from berth-registry with htpasswd basic auth, from a private store.</summary>
public sealed class PodmanInteropTests
{
    private const string Podman = "/usr/bin/podman";

    [RootFact]
    public async Task Podman_pushes_and_pulls_with_basic_auth()
    {
        if (!File.Exists(Podman)) Assert.Fail("podman is not installed (apt-get install podman)");
        await using var h = await RegistryHarness.StartAsync((c, d) =>
        {
            c.HtpasswdPath = d.Combine("htpasswd");
            File.WriteAllText(c.HtpasswdPath, $"bob:{BCrypt.Net.BCrypt.HashPassword("pw", 5)}\n");
        });
        var root = h.Dir.Combine("podman");
        string[] Args(params string[] rest) => ["--root", root + "/root", "--runroot", root + "/run", "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", .. rest];
        var env = new Dictionary<string, string> { ["REGISTRY_AUTH_FILE"] = h.Dir.Combine("auth.json"), ["XDG_RUNTIME_DIR"] = root + "/xdg" };
        Directory.CreateDirectory(root + "/xdg");
        File.WriteAllText(h.Dir.Combine("auth.json"), "{\"auths\":{}}");
        var image = $"{h.Server.HostPort}/pod/busybox:1";
        try
        {
            var rootfs = h.Dir.Combine("rootfs");
            BusyboxRootfs.CopyTo(rootfs);
            BusyboxRootfs.Run("tar", "-C", rootfs, "-cf", h.Dir.Combine("busybox.tar"), ".");
            InteropTests.Must(Podman, Args("import", h.Dir.Combine("busybox.tar"), image), env);
            var anonymous = InteropTests.Run(Podman, Args("push", "--tls-verify=false", image), env);
            Assert.NotEqual(0, anonymous.Code);
            InteropTests.Must(Podman, Args("push", "--tls-verify=false", "--creds", "bob:pw", image), env);
            using (var r = await h.Http.GetAsync("/v2/pod/busybox/tags/list")) Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
            InteropTests.Must(Podman, Args("rmi", image), env);
            InteropTests.Must(Podman, Args("pull", "--tls-verify=false", "--creds", "bob:pw", image), env);
            Assert.Contains("pod/busybox", InteropTests.Must(Podman, Args("images", "--format", "{{.Repository}}:{{.Tag}}"), env));
        }
        finally
        {
            InteropTests.Run(Podman, Args("rmi", "-af"), env);
            BusyboxRootfs.Run("sh", "-c", $"grep -o ' {root}[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l || true");
        }
    }
}
