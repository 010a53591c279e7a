using Berth.Testing;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Berth.EndToEnd.Tests;

/// <summary>docker-py (Debian python3-docker) and Docker.DotNet through berthd: create, start, logs, remove.</summary>
public sealed class ClientLibraryTests(BerthDaemon daemon) : IClassFixture<BerthDaemon>
{
    [RootFact]
    public async Task Docker_py_runs_a_container()
    {
        await daemon.BusyboxAsync();
        if (!File.Exists("/usr/lib/python3/dist-packages/docker/__init__.py"))
        {
            // As scripts/lib.sh's ensure_packages does: Debian's package, installed once.
            var install = await Programs.RunAsync("apt-get", ["install", "-y", "-q", "python3-docker"],
                new Dictionary<string, string> { ["DEBIAN_FRONTEND"] = "noninteractive" }, timeout: TimeSpan.FromMinutes(5));
            Assert.True(install.Code == 0, "python3-docker could not be installed: " + install);
        }
        var script = """
            import docker, sys
            client = docker.DockerClient(base_url=sys.argv[1])
            c = client.containers.create("busybox", ["sh", "-c", "echo from-docker-py"], name=sys.argv[2])
            c.start()
            print(c.wait()["StatusCode"])
            print(c.logs().decode().strip())
            c.remove()
            print(len(client.containers.list(all=True, filters={"name": sys.argv[2]})))
            """;
        var outcome = await Programs.RunAsync("python3", ["-c", script, daemon.Host, daemon.Tag + "-py"]);
        Assert.True(outcome.Code == 0, outcome.ToString());
        Assert.Equal("0\nfrom-docker-py\n0\n", outcome.Out);
    }

    [RootFact]
    public async Task Docker_DotNet_runs_a_container()
    {
        await daemon.BusyboxAsync();
        using var client = new DockerClientConfiguration(new Uri(daemon.Host)).CreateClient();
        var created = await client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = "busybox", Cmd = ["sh", "-c", "echo from-docker-dotnet"], Name = daemon.Tag + "-dotnet",
        });
        Assert.True(await client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters()));
        var exit = await client.Containers.WaitContainerAsync(created.ID);
        Assert.Equal(0, exit.StatusCode);
        using var logs = await client.Containers.GetContainerLogsAsync(created.ID, tty: false, new ContainerLogsParameters { ShowStdout = true, ShowStderr = true });
        var (stdout, _) = await logs.ReadOutputToEndAsync(CancellationToken.None);
        Assert.Equal("from-docker-dotnet\n", stdout);
        await client.Containers.RemoveContainerAsync(created.ID, new ContainerRemoveParameters());
        var left = await client.Containers.ListContainersAsync(new ContainersListParameters { All = true });
        Assert.DoesNotContain(left, c => c.ID == created.ID);
    }

    [RootFact]
    public async Task Docker_py_execs_with_output_exit_code_and_stdin()
    {
        await daemon.BusyboxAsync();
        var script = """
            import docker, sys
            client = docker.DockerClient(base_url=sys.argv[1])
            c = client.containers.run("busybox", ["sleep", "300"], detach=True, name=sys.argv[2])
            try:
                r = c.exec_run(["sh", "-c", "echo out; echo err >&2; exit 3"], demux=True)
                print(r.exit_code, r.output[0].decode().strip(), r.output[1].decode().strip())
                raw = c.exec_run(["cat"], stdin=True, socket=True).output._sock
                raw.sendall(b"through-stdin\n")
                raw.shutdown(1)
                data = b""
                while True:
                    piece = raw.recv(4096)
                    if not piece: break
                    data += piece
                print(data[8:].decode().strip(), data[0])
                print(client.containers.run("busybox", ["echo", "run-out"], remove=True).decode().strip())
            finally:
                c.remove(force=True)
            """;
        var outcome = await Programs.RunAsync("python3", ["-c", script, daemon.Host, daemon.Tag + "-pyexec"]);
        Assert.True(outcome.Code == 0, outcome.ToString());
        Assert.Equal("3 out err\nthrough-stdin 1\nrun-out\n", outcome.Out);
    }

    [RootFact]
    public async Task Docker_DotNet_execs_and_reads_the_exit_code()
    {
        await daemon.BusyboxAsync();
        using var client = new DockerClientConfiguration(new Uri(daemon.Host)).CreateClient();
        var created = await client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = "busybox", Cmd = ["sleep", "300"], Name = daemon.Tag + "-dotnet-exec",
        });
        try
        {
            await client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters());
            var exec = await client.Exec.ExecCreateContainerAsync(created.ID, new ContainerExecCreateParameters
            {
                Cmd = ["sh", "-c", "echo out; echo err >&2; exit 5"], AttachStdout = true, AttachStderr = true,
            });
            using (var stream = await client.Exec.StartAndAttachContainerExecAsync(exec.ID, tty: false))
            {
                var (stdout, stderr) = await stream.ReadOutputToEndAsync(CancellationToken.None);
                Assert.Equal(("out\n", "err\n"), (stdout, stderr));
            }
            Assert.Equal(5, (await client.Exec.InspectContainerExecAsync(exec.ID)).ExitCode);
        }
        finally
        {
            await client.Containers.RemoveContainerAsync(created.ID, new ContainerRemoveParameters { Force = true });
        }
    }

    [RootFact]
    public async Task Docker_DotNet_reads_version_and_images()
    {
        await daemon.BusyboxAsync();
        using var client = new DockerClientConfiguration(new Uri(daemon.Host)).CreateClient();
        var version = await client.System.GetVersionAsync();
        Assert.Equal("1.47", version.APIVersion);
        var images = await client.Images.ListImagesAsync(new ImagesListParameters());
        Assert.Contains(images, i => i.RepoTags.Contains("busybox:latest"));
    }
}
