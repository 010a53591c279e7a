using System.Text.Json;
using Berth.Testing;

namespace Berth.EndToEnd.Tests;

/// <summary>The real docker CLI (28.2, /usr/local/bin/docker) against berthd, through DOCKER_HOST.</summary>
public sealed class DockerCliTests(BerthDaemon daemon) : IClassFixture<BerthDaemon>
{
    private const string NoContainersYet = "berthd does not run containers yet (engine-core)";
    private string Name(string what) => $"{daemon.Tag}-{what}";

    [RootFact]
    public async Task Version_and_info()
    {
        var version = await daemon.DockerOkAsync("version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}");
        Assert.Equal("1.47 linux\n", version);
        Assert.Equal(daemon.DataRoot + "\n", await daemon.DockerOkAsync("info", "--format", "{{.DockerRootDir}}"));
    }

    [RootFact(Skip = NoContainersYet)]
    public async Task Images_history_save_and_load()
    {
        await daemon.BusyboxAsync();
        Assert.Matches(@"busybox +latest +[0-9a-f]{12}", await daemon.DockerOkAsync("images"));
        Assert.Contains("Imported from -", await daemon.DockerOkAsync("history", "busybox"));
        var saved = daemon.TempPath("docker-save.tar");
        await daemon.DockerOkAsync("tag", "busybox", $"{daemon.Tag}/copy:1");
        await daemon.DockerOkAsync("save", "-o", saved, $"{daemon.Tag}/copy:1");
        await daemon.DockerOkAsync("rmi", $"{daemon.Tag}/copy:1");
        Assert.Contains($"Loaded image: {daemon.Tag}/copy:1", await daemon.DockerOkAsync("load", "-i", saved));
    }

    [RootFact(Skip = NoContainersYet)]
    public async Task Run_forms_and_exit_codes()
    {
        await daemon.BusyboxAsync();
        Assert.Equal("hi\n", await daemon.DockerOkAsync("run", "--rm", "busybox", "echo", "hi"));
        Assert.Equal(3, (await daemon.DockerAsync("run", "--rm", "busybox", "sh", "-c", "exit 3")).Code);
        var piped = await daemon.DockerWithInputAsync("a\nb\n"u8.ToArray(), "run", "-i", "--rm", "busybox", "wc", "-l");
        Assert.Equal("2", piped.Out.Trim());
        var tty = await Programs.RunInTerminalAsync("/usr/local/bin/docker run -it --rm busybox sh", daemon.Environment(), "echo in-tty; tty; exit 7\\r");
        Assert.True(tty.Code == 7, tty.ToString());
        Assert.Contains("/dev/pts/0", tty.Out);
    }

    [RootFact(Skip = NoContainersYet)]
    public async Task Detached_container_through_its_life()
    {
        await daemon.BusyboxAsync();
        var name = Name("d");
        var id = (await daemon.DockerOkAsync("run", "-d", "--name", name, "busybox", "sh", "-c", "echo started; sleep 300")).Trim();
        Assert.Matches("^[0-9a-f]{64}$", id);
        Assert.Contains(name, await daemon.DockerOkAsync("ps"));
        await Task.Delay(300);
        Assert.Equal("started\n", await daemon.DockerOkAsync("logs", name));
        Assert.Equal("inside\n", await daemon.DockerOkAsync("exec", name, "echo", "inside"));
        var inspect = JsonDocument.Parse(await daemon.DockerOkAsync("inspect", name)).RootElement[0];
        Assert.Equal(id, inspect.GetProperty("Id").GetString());
        Assert.True(inspect.GetProperty("State").GetProperty("Running").GetBoolean());
        Assert.Matches($"{id[..12]} +{name} ", await daemon.DockerOkAsync("stats", "--no-stream", name));
        await daemon.DockerOkAsync("pause", name);
        Assert.Equal("paused\n", await daemon.DockerOkAsync("inspect", "-f", "{{.State.Status}}", name));
        await daemon.DockerOkAsync("unpause", name);
        await daemon.DockerOkAsync("restart", "-t", "1", name);
        await daemon.DockerOkAsync("stop", "-t", "1", name);
        await daemon.DockerOkAsync("start", name);
        await daemon.DockerOkAsync("rm", "-f", name);
    }

    [RootFact(Skip = NoContainersYet)]
    public async Task Cp_diff_and_commit()
    {
        await daemon.BusyboxAsync();
        var name = Name("files");
        await daemon.DockerOkAsync("run", "-d", "--name", name, "busybox", "sh", "-c", "echo content > /made; sleep 300");
        await Task.Delay(300);
        var local = daemon.TempPath("docker-cp");
        Directory.CreateDirectory(local);
        await daemon.DockerOkAsync("cp", $"{name}:/made", local);
        Assert.Equal("content\n", File.ReadAllText(Path.Combine(local, "made")));
        File.WriteAllText(Path.Combine(local, "sent"), "sent\n");
        await daemon.DockerOkAsync("cp", Path.Combine(local, "sent"), $"{name}:/tmp/");
        Assert.Equal("sent\n", await daemon.DockerOkAsync("exec", name, "cat", "/tmp/sent"));
        Assert.Contains("A /made", await daemon.DockerOkAsync("diff", name));
        Assert.StartsWith("sha256:", await daemon.DockerOkAsync("commit", name, $"{daemon.Tag}/fromdocker"));
        Assert.Equal("content\n", await daemon.DockerOkAsync("run", "--rm", $"{daemon.Tag}/fromdocker", "cat", "/made"));
        await daemon.DockerOkAsync("rm", "-f", name);
    }

    [RootFact(Skip = NoContainersYet)]
    public async Task Events_stream_what_happened()
    {
        await daemon.BusyboxAsync();
        var since = DateTimeOffset.UtcNow.AddSeconds(-1).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var name = Name("ev");
        await daemon.DockerOkAsync("run", "--name", name, "busybox", "true");
        await daemon.DockerOkAsync("rm", name);
        var until = DateTimeOffset.UtcNow.AddSeconds(1).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var events = await daemon.DockerOkAsync("events", "--since", since, "--until", until, "--filter", "container=" + name, "--format", "{{.Status}}");
        foreach (var action in new[] { "create", "start", "die", "destroy" }) Assert.Contains(action, events);
    }
}
