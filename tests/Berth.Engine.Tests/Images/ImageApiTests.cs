using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Berth.Api;
using Berth.Engine.Filesystem;
using Berth.Engine.Models;
using Berth.Testing;
using Microsoft.AspNetCore.Builder;

namespace Berth.Engine.Tests.Images;

/// <summary>Only the filesystem routes of one container ("mycontainer"), over <see cref="ContainerFilesystemService"/>.</summary>
internal sealed class FilesystemOnlyContainers(ContainerHarness container) : UnimplementedContainerService
{
    private ContainerFilesystemTarget Target(string idOrName)
        => idOrName == "mycontainer" || idOrName == container.Layer.Id ? container.Target() : throw NotFoundException.Container(idOrName);

    public override Task<IReadOnlyList<FilesystemChange>> ChangesAsync(string idOrName, CancellationToken cancellationToken)
        => container.Filesystem.ChangesAsync(Target(idOrName), cancellationToken);
    public override Task ExportAsync(string idOrName, Stream destination, CancellationToken cancellationToken)
        => container.Filesystem.ExportAsync(Target(idOrName), destination, cancellationToken);
    public override Task<ContainerPathStat> StatPathAsync(string idOrName, string path, CancellationToken cancellationToken)
        => container.Filesystem.StatPathAsync(Target(idOrName), path, cancellationToken);
    public override Task GetArchiveAsync(string idOrName, string path, Stream destination, CancellationToken cancellationToken)
        => container.Filesystem.GetArchiveAsync(Target(idOrName), path, destination, cancellationToken);
    public override Task PutArchiveAsync(string idOrName, ArchiveUpload upload, Stream tar, CancellationToken cancellationToken)
        => container.Filesystem.PutArchiveAsync(Target(idOrName), upload, tar, cancellationToken);
}

/// <summary>Berth's API (Kestrel on a temp unix socket) over the real image service and container filesystem.</summary>
internal sealed class ApiHost : IAsyncDisposable
{
    private readonly WebApplication app;
    public string Socket { get; }
    public HttpClient Client { get; }

    private ApiHost(WebApplication app, string socket)
    {
        this.app = app;
        Socket = socket;
        Client = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, token) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), token);
                return new NetworkStream(s, ownsSocket: true);
            },
        })
        { BaseAddress = new Uri("http://docker"), Timeout = TimeSpan.FromMinutes(2) };
    }

    public static async Task<ApiHost> StartAsync(ContainerHarness container)
    {
        var socket = container.Images.Temp.Combine("api.sock");
        var facts = new DaemonFacts("0.1.0-test", container.Images.Temp.Path, "berth", new Dictionary<string, string>(), LiveRestore: false, Debug: false);
        var engine = new CompositeEngine(new FilesystemOnlyContainers(container), images: container.Images.Service, system: new HostSystemService(facts, () => "TEST"));
        var options = new ApiServerOptions();
        options.Hosts.Add("unix://" + socket);
        return new ApiHost(await ApiServer.StartAsync(new DockerApi(engine, "0.1.0-test"), options), socket);
    }

    /// <summary>The real docker CLI (/usr/local/bin/docker, v28) against this API.</summary>
    public async Task<(int ExitCode, string Stdout, string Stderr)> DockerAsync(params string[] args)
    {
        var psi = new ProcessStartInfo("/usr/local/bin/docker") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-H");
        psi.ArgumentList.Add("unix://" + Socket);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOCKER_CONFIG"] = Path.Combine(Path.GetTempPath(), "berth-test-docker-config");
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await app.StopAsync(deadline.Token);
        await app.DisposeAsync();
    }
}

/// <summary>The image and archive routes end to end: HTTP shapes, and the docker CLI's image and cp verbs.</summary>
public sealed class ImageApiTests
{
    private static bool HaveDockerCli => File.Exists("/usr/local/bin/docker");

    [RootFact]
    public async Task Image_routes_answer_with_Dockers_shapes()
    {
        using var c = await ContainerHarness.CreateAsync();
        await using var api = await ApiHost.StartAsync(c);
        var tar = TestTars.Files(("etc/os-release", "NAME=test\n"));

        using (var import = await api.Client.PostAsync("/v1.47/images/create?fromSrc=-&repo=imported&tag=v1&message=hello&changes=CMD%20%5B%22sh%22%5D", new ByteArrayContent(tar)))
        {
            Assert.Equal(HttpStatusCode.OK, import.StatusCode);
            var line = JsonDocument.Parse((await import.Content.ReadAsStringAsync()).Trim()).RootElement;
            Assert.StartsWith("sha256:", line.GetProperty("status").GetString());
        }
        var inspect = JsonDocument.Parse(await api.Client.GetStringAsync("/v1.47/images/imported:v1/json")).RootElement;
        Assert.Equal("hello", inspect.GetProperty("Comment").GetString());
        Assert.Equal("sh", inspect.GetProperty("Config").GetProperty("Cmd")[0].GetString());
        Assert.Equal("layers", inspect.GetProperty("RootFS").GetProperty("Type").GetString());

        using (var badTag = await api.Client.PostAsync("/v1.47/images/imported:v1/tag?repo=Bad", null))
        {
            Assert.Equal(HttpStatusCode.BadRequest, badTag.StatusCode);
            Assert.Contains("must be lowercase", await badTag.Content.ReadAsStringAsync());
        }
        using (var tag = await api.Client.PostAsync("/v1.47/images/imported:v1/tag?repo=localhost:5000/x&tag=2", null))
            Assert.Equal(HttpStatusCode.Created, tag.StatusCode);
        using (var missing = await api.Client.GetAsync("/v1.47/images/get?names=nothere"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            Assert.Contains("No such image: nothere:latest", await missing.Content.ReadAsStringAsync());
        }
        var saved = await api.Client.GetByteArrayAsync("/v1.47/images/get?names=imported:v1&names=localhost:5000/x:2");
        Assert.Contains("manifest.json", TestTars.Names(saved));

        using (var delete = await api.Client.DeleteAsync("/v1.47/images/localhost:5000/x:2"))
            Assert.Equal("[{\"Untagged\":\"localhost:5000/x:2\"}]", (await delete.Content.ReadAsStringAsync()).Trim());
        using (var load = await api.Client.PostAsync("/v1.47/images/load?quiet=1", new ByteArrayContent(saved)))
        {
            Assert.Equal(HttpStatusCode.OK, load.StatusCode);
            var text = await load.Content.ReadAsStringAsync();
            Assert.Contains("{\"stream\":\"Loaded image: localhost:5000/x:2\\n\"}", text);
        }
        using (var badLoad = await api.Client.PostAsync("/v1.47/images/load?quiet=1", new ByteArrayContent(tar)))
            Assert.Equal(HttpStatusCode.BadRequest, badLoad.StatusCode);

        var list = JsonDocument.Parse(await api.Client.GetStringAsync("/v1.47/images/json?filters=%7B%22reference%22%3A%5B%22imported%22%5D%7D")).RootElement;
        Assert.Equal("imported:v1", Assert.Single(list.EnumerateArray()).GetProperty("RepoTags")[0].GetString());
        var history = JsonDocument.Parse(await api.Client.GetStringAsync("/v1.47/images/imported:v1/history")).RootElement;
        Assert.Equal("hello", history[0].GetProperty("Comment").GetString());
        var prune = JsonDocument.Parse(await (await api.Client.PostAsync("/v1.47/images/prune", null)).Content.ReadAsStringAsync()).RootElement;
        Assert.False(prune.TryGetProperty("ImagesDeleted", out var deleted) && deleted.ValueKind != JsonValueKind.Null);
        Assert.Equal(0, prune.GetProperty("SpaceReclaimed").GetInt64());
    }

    [RootFact]
    public async Task Archive_routes_carry_the_path_stat_header_and_tars()
    {
        using var c = await ContainerHarness.CreateAsync();
        await using var api = await ApiHost.StartAsync(c);

        using var head = await api.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/v1.47/containers/mycontainer/archive?path=/bin/sh"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        var stat = JsonDocument.Parse(Convert.FromBase64String(head.Headers.GetValues("X-Docker-Container-Path-Stat").Single())).RootElement;
        Assert.Equal("sh", stat.GetProperty("name").GetString());
        Assert.Equal("/bin/busybox", stat.GetProperty("linkTarget").GetString());

        using var missing = await api.Client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/v1.47/containers/mycontainer/archive?path=/nope"));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("Could not find the file /nope in container mycontainer", await missing.Content.ReadAsStringAsync());

        using var get = await api.Client.GetAsync("/v1.47/containers/mycontainer/archive?path=/etc");
        Assert.Equal("application/x-tar", get.Content.Headers.ContentType!.MediaType);
        Assert.Equal(["etc/", "etc/group", "etc/passwd"], TestTars.Names(await get.Content.ReadAsByteArrayAsync()));

        var upload = TestTars.Files(("hello.txt", "hi"));
        using (var put = await api.Client.PutAsync("/v1.47/containers/mycontainer/archive?path=/root", new ByteArrayContent(upload)))
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        using (var notDir = await api.Client.PutAsync("/v1.47/containers/mycontainer/archive?path=/etc/passwd", new ByteArrayContent(upload)))
            Assert.Equal(HttpStatusCode.BadRequest, notDir.StatusCode);
        var changes = JsonDocument.Parse(await api.Client.GetStringAsync("/v1.47/containers/mycontainer/changes")).RootElement;
        Assert.Equal("[{\"Path\":\"/root\",\"Kind\":0},{\"Path\":\"/root/hello.txt\",\"Kind\":1}]", changes.GetRawText());
        var export = await api.Client.GetByteArrayAsync("/v1.47/containers/mycontainer/export");
        Assert.Contains("root/hello.txt", TestTars.Names(export));
    }

    [RootFact]
    public async Task Docker_CLI_image_verbs_work_against_Berth()
    {
        if (!HaveDockerCli) return;
        using var c = await ContainerHarness.CreateAsync();
        await using var api = await ApiHost.StartAsync(c);
        var busyboxTar = c.Images.Temp.Combine("busybox-rootfs.tar");
        File.WriteAllBytes(busyboxTar, TestTars.Busybox(c.Images.Temp));

        var (code, stdout, stderr) = await api.DockerAsync("import", "-c", "CMD [\"sh\"]", "-m", "from the CLI", busyboxTar, "imported:cli");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("sha256:", stdout.Trim());
        (code, stdout, stderr) = await api.DockerAsync("tag", "imported:cli", "second:tag");
        Assert.True(code == 0, stderr);
        (code, stdout, stderr) = await api.DockerAsync("images", "--format", "{{.Repository}}:{{.Tag}}");
        Assert.True(code == 0, stderr);
        Assert.Equal(["busybox:latest", "imported:cli", "second:tag"], stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal).ToList());
        (code, stdout, stderr) = await api.DockerAsync("history", "--format", "{{.Comment}}", "imported:cli");
        Assert.True(code == 0, stderr);
        Assert.Equal("from the CLI", stdout.Trim());
        (code, stdout, stderr) = await api.DockerAsync("image", "inspect", "--format", "{{.Os}} {{len .RootFS.Layers}} {{index .Config.Cmd 0}}", "second:tag");
        Assert.True(code == 0, stderr);
        Assert.Equal("linux 1 sh", stdout.Trim());

        var saved = c.Images.Temp.Combine("saved.tar");
        (code, _, stderr) = await api.DockerAsync("save", "-o", saved, "imported:cli", "second:tag");
        Assert.True(code == 0, stderr);
        (code, stdout, stderr) = await api.DockerAsync("rmi", "imported:cli", "second:tag");
        Assert.True(code == 0, stderr);
        Assert.Contains("Untagged: imported:cli", stdout);
        (code, stdout, stderr) = await api.DockerAsync("load", "-i", saved);
        Assert.True(code == 0, stderr);
        Assert.Contains("Loaded image: imported:cli", stdout);
        Assert.Contains("Loaded image: second:tag", stdout);

        (code, _, stderr) = await api.DockerAsync("rmi", "nothere");
        Assert.NotEqual(0, code);
        Assert.Contains("No such image: nothere:latest", stderr);
    }

    [RootFact]
    public async Task Docker_CLI_cp_diff_export_commit_work_against_Berth()
    {
        if (!HaveDockerCli) return;
        using var c = await ContainerHarness.CreateAsync();
        await using var api = await ApiHost.StartAsync(c);
        var local = c.Images.Temp.Combine("local");
        Directory.CreateDirectory(Path.Combine(local, "dir", "sub"));
        File.WriteAllText(Path.Combine(local, "dir", "sub", "file.txt"), "from the host");

        var (code, stdout, stderr) = await api.DockerAsync("cp", Path.Combine(local, "dir"), "mycontainer:/tmp/");
        Assert.True(code == 0, stderr);
        c.Change(root => Assert.Equal("from the host", File.ReadAllText(Path.Combine(root, "tmp", "dir", "sub", "file.txt"))));

        var back = c.Images.Temp.Combine("back");
        Directory.CreateDirectory(back);
        (code, _, stderr) = await api.DockerAsync("cp", "mycontainer:/tmp/dir", back);
        Assert.True(code == 0, stderr);
        Assert.Equal("from the host", File.ReadAllText(Path.Combine(back, "dir", "sub", "file.txt")));
        (code, _, stderr) = await api.DockerAsync("cp", "mycontainer:/etc/passwd", Path.Combine(back, "passwd"));
        Assert.True(code == 0, stderr);
        Assert.StartsWith("root:x:0:0", File.ReadAllText(Path.Combine(back, "passwd")));
        // -L follows the link in the container: the copy is busybox itself, not a link.
        (code, _, stderr) = await api.DockerAsync("cp", "-L", "mycontainer:/bin/sh", Path.Combine(back, "sh"));
        Assert.True(code == 0, stderr);
        Assert.Null(new FileInfo(Path.Combine(back, "sh")).LinkTarget);
        Assert.True(new FileInfo(Path.Combine(back, "sh")).Length > 500_000);
        (code, _, stderr) = await api.DockerAsync("cp", "mycontainer:/nope", back);
        Assert.NotEqual(0, code);
        Assert.Contains("Could not find the file /nope in container mycontainer", stderr);

        (code, stdout, stderr) = await api.DockerAsync("diff", "mycontainer");
        Assert.True(code == 0, stderr);
        Assert.Equal("C /tmp\nA /tmp/dir\nA /tmp/dir/sub\nA /tmp/dir/sub/file.txt", stdout.Trim());

        var exported = c.Images.Temp.Combine("export.tar");
        (code, _, stderr) = await api.DockerAsync("export", "-o", exported, "mycontainer");
        Assert.True(code == 0, stderr);
        Assert.Contains("tmp/dir/sub/file.txt", TestTars.Names(File.ReadAllBytes(exported)));

        c.Images.Containers.Commits["mycontainer"] = new Berth.Engine.Images.CommitSource(c.Layer.Id, c.ImageId, c.Layer, new ContainerConfig { Cmd = ["sh"] }, false, false);
        (code, stdout, stderr) = await api.DockerAsync("commit", "-c", "ENV COMMITTED=1", "-m", "msg", "mycontainer", "committed:1");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("sha256:", stdout.Trim());
        (code, stdout, stderr) = await api.DockerAsync("image", "inspect", "--format", "{{len .RootFS.Layers}} {{.Comment}} {{index .Config.Env 0}}", "committed:1");
        Assert.True(code == 0, stderr);
        Assert.Equal("2 msg COMMITTED=1", stdout.Trim());
    }
}
