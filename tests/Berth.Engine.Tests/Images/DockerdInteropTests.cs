using System.Diagnostics;
using System.Globalization;
using Berth.Testing;

namespace Berth.Engine.Tests.Images;

/// <summary>
/// The image service against real Docker: Debian's dockerd (docker.io 20.10; needs the docker.io package) with its
/// own data root, exec root, socket and containerd namespaces, no bridge and no iptables. `docker save` of
/// dockerd loads into Berth with the same image ID, and Berth's save loads into dockerd with the same ID.
/// </summary>
public sealed class DockerdInteropTests : IAsyncLifetime
{
    private const string DockerCli = "/usr/local/bin/docker";
    private readonly TempDir dir = new();
    private PrivateDockerd? dockerd;
    private readonly string tag = "berth-images-" + Guid.NewGuid().ToString("N")[..8];

    public async Task InitializeAsync() => dockerd = await PrivateDockerd.StartAsync(dir, tag);

    public async Task DisposeAsync()
    {
        if (dockerd is not null) await dockerd.DisposeAsync();
        dir.Dispose();
    }

    private (int Code, string Out, string Err) Docker(params string[] args)
    {
        var psi = new ProcessStartInfo(DockerCli) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-H");
        psi.ArgumentList.Add(dockerd!.Host);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOCKER_CONFIG"] = dir.Combine("docker-config");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr);
    }

    [RootFact]
    public async Task Images_move_between_dockerd_and_Berth_with_their_IDs()
    {
        if (dockerd is null) return; // no docker.io on this machine
        using var h = new ImageHarness();
        var rootfsTar = dir.Combine("busybox.tar");
        File.WriteAllBytes(rootfsTar, TestTars.Busybox(h.Temp));

        // dockerd → Berth
        var import = Docker("import", "-c", "CMD [\"sh\"]", rootfsTar, tag + ":from-docker");
        Assert.True(import.Code == 0, import.Err);
        var dockerId = import.Out.Trim();
        var fromDocker = dir.Combine("from-docker.tar");
        var save = Docker("save", "-o", fromDocker, tag + ":from-docker");
        Assert.True(save.Code == 0, save.Err);
        var loaded = await h.LoadAsync(File.ReadAllBytes(fromDocker));
        Assert.Equal([$"Loaded image: {tag}:from-docker\n"], loaded);
        var inBerth = await h.Service.InspectAsync(tag + ":from-docker", CancellationToken.None);
        Assert.Equal(dockerId, inBerth.Id);
        Assert.Equal(["sh"], inBerth.Config!.Cmd!);

        // Berth → dockerd (a Berth-made image: import, then a retag)
        var berthId = await h.ImportIdAsync(TestTars.Files(("hello.txt", "made by Berth\n")), tag, "from-berth", ["ENV MADE_BY=berth"]);
        var fromBerth = dir.Combine("from-berth.tar");
        File.WriteAllBytes(fromBerth, await h.SaveAsync(tag + ":from-berth", tag + ":from-docker"));
        Docker("rmi", tag + ":from-docker");
        var load = Docker("load", "-i", fromBerth);
        Assert.True(load.Code == 0, load.Err);
        Assert.Contains($"Loaded image: {tag}:from-berth", load.Out);
        Assert.Contains($"Loaded image: {tag}:from-docker", load.Out);
        var inspect = Docker("image", "inspect", "--format", "{{.Id}} {{index .Config.Env 0}}", tag + ":from-berth");
        Assert.True(inspect.Code == 0, inspect.Err);
        Assert.Equal($"{berthId} MADE_BY=berth", inspect.Out.Trim());
        Assert.Equal(dockerId, Docker("image", "inspect", "--format", "{{.Id}}", tag + ":from-docker").Out.Trim());

        // dockerd runs the Berth-made busybox image.
        var run = Docker("run", "--rm", "--network", "none", tag + ":from-docker", "cat", "/etc/passwd");
        Assert.True(run.Code == 0, run.Err);
        Assert.StartsWith("root:x:0:0", run.Out);
    }
}
