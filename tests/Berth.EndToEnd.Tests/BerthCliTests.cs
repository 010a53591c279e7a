using System.Text.Json;
using Berth.Testing;

namespace Berth.EndToEnd.Tests;

/// <summary>The berth CLI (published, NativeAOT) against berthd: every command of the issue.</summary>
public sealed class BerthCliTests(BerthDaemon daemon) : IClassFixture<BerthDaemon>
{
    private string Name(string what) => $"{daemon.Tag}-{what}";

    [RootFact]
    public async Task Version_info_and_images_come_from_berthd()
    {
        var version = await daemon.BerthOkAsync("version");
        Assert.Contains("Server: Berth Engine", version);
        Assert.Contains("API version:      1.47", version);
        Assert.Equal(daemon.DataRoot + "\n", await daemon.BerthOkAsync("info", "--format", "{{.DockerRootDir}}"));
    }

    [RootFact]
    public async Task Images_lists_the_imported_busybox()
    {
        await daemon.BusyboxAsync();
        var images = await daemon.BerthOkAsync("images");
        Assert.Matches(@"^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE\nbusybox +latest +[0-9a-f]{12} ", images);
    }

    [RootFact]
    public async Task Run_rm_prints_output_and_exits_with_the_containers_code()
    {
        await daemon.BusyboxAsync();
        var hi = await daemon.BerthAsync("run", "--rm", "busybox", "echo", "hi");
        Assert.Equal((0, "hi\n"), (hi.Code, hi.Out));
        Assert.Equal(3, (await daemon.BerthAsync("run", "--rm", "busybox", "sh", "-c", "exit 3")).Code);
        var notFound = await daemon.BerthAsync("run", "--rm", "busybox", "nosuchcommand");
        Assert.Equal(127, notFound.Code);
        Assert.StartsWith("berth: Error response from daemon: ", notFound.Err);
        Assert.Equal(126, (await daemon.BerthAsync("run", "--rm", "busybox", "/etc/passwd")).Code);
        var hostname = await daemon.BerthOkAsync("run", "--rm", "--hostname", "boxy", "busybox", "sh", "-c", "hostname; echo $$");
        Assert.Equal("boxy\n1\n", hostname);
        Assert.DoesNotContain("busybox", await daemon.BerthOkAsync("ps", "-a", "--format", "{{.Image}}")); // --rm removed them
    }

    [RootFact]
    public async Task Lifecycle_commands_and_ps_columns()
    {
        await daemon.BusyboxAsync();
        var name = Name("life");
        var id = (await daemon.BerthOkAsync("create", "--name", name, "-l", "suite=e2e", "busybox", "sleep", "300")).Trim();
        Assert.Matches("^[0-9a-f]{64}$", id);
        Assert.Contains("Created", await daemon.BerthOkAsync("ps", "-a", "--filter", "name=" + name));
        Assert.Equal(name + "\n", await daemon.BerthOkAsync("start", name));
        var ps = await daemon.BerthOkAsync("ps", "--filter", "label=suite=e2e");
        Assert.Matches(@"^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES\n[0-9a-f]{12} +busybox +""sleep 300"" +.* ago +Up .*" + name + "\n$", ps);
        Assert.Equal(id[..12] + "\n", await daemon.BerthOkAsync("ps", "-q", "--filter", "name=" + name));
        Assert.Equal(id + "\n", await daemon.BerthOkAsync("ps", "-q", "--no-trunc", "--filter", "name=" + name));
        Assert.Equal(name + "\n", await daemon.BerthOkAsync("ps", "-l", "--format", "{{.Names}}"));
        Assert.Equal("running true\n", await daemon.BerthOkAsync("inspect", "--format", "{{.State.Status}} {{.State.Running}}", name));
        Assert.Contains("sleep 300", await daemon.BerthOkAsync("top", name));
        Assert.Matches($"{id[..12]} +{name} +[0-9.]+% ", await daemon.BerthOkAsync("stats", "--no-stream", name));

        await daemon.BerthOkAsync("pause", name);
        Assert.Contains("(Paused)", await daemon.BerthOkAsync("ps", "--filter", "name=" + name, "--format", "{{.Status}}"));
        await daemon.BerthOkAsync("unpause", name);
        await daemon.BerthOkAsync("rename", name, name + "2");
        await daemon.BerthOkAsync("restart", "-t", "1", name + "2");
        Assert.Equal("running\n", await daemon.BerthOkAsync("inspect", "--format", "{{.State.Status}}", name + "2"));
        await daemon.BerthOkAsync("kill", name + "2");
        Assert.Equal("137\n", await daemon.BerthOkAsync("wait", name + "2"));
        Assert.Contains("Exited (137)", await daemon.BerthOkAsync("ps", "-a", "--filter", "name=" + name + "2", "--format", "{{.Status}}"));
        await daemon.BerthOkAsync("start", name + "2");
        var running = await daemon.BerthAsync("rm", name + "2");
        Assert.Equal(1, running.Code);
        Assert.Contains($"cannot remove container \"/{name}2\": container is running", running.Err);
        await daemon.BerthOkAsync("stop", "-t", "1", name + "2");
        Assert.Equal(name + "2\n", await daemon.BerthOkAsync("rm", name + "2"));
        Assert.Equal("", await daemon.BerthOkAsync("ps", "-aq", "--filter", "name=" + name));
    }

    [RootFact]
    public async Task Logs_follow_tail_timestamps_and_since()
    {
        await daemon.BusyboxAsync();
        var name = Name("logs");
        await daemon.BerthOkAsync("run", "-d", "--name", name, "busybox", "sh", "-c", "echo one; echo two >&2; sleep 1; echo three");
        var follow = await daemon.BerthAsync("logs", "-f", name); // ends when the container does
        Assert.Equal(0, follow.Code);
        Assert.Equal("one\nthree\n", follow.Out);
        Assert.Equal("two\n", follow.Err);
        Assert.Equal("three\n", await daemon.BerthOkAsync("logs", "--tail", "1", name));
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z one\n", await daemon.BerthOkAsync("logs", "-t", name));
        Assert.Equal("", await daemon.BerthOkAsync("logs", "--since", "2099-01-01T00:00:00Z", name));
        await daemon.BerthOkAsync("rm", name);
    }

    [RootFact]
    public async Task Exec_attach_and_start_attach()
    {
        await daemon.BusyboxAsync();
        var name = Name("exec");
        await daemon.BerthOkAsync("run", "-d", "-i", "--name", name, "busybox", "sh");
        Assert.Equal("v /tmp 65534\n", await daemon.BerthOkAsync("exec", "-e", "X=v", "-w", "/tmp", "-u", "65534", name, "sh", "-c", "echo $X $(pwd) $(id -u)"));
        Assert.Equal(5, (await daemon.BerthAsync("exec", name, "sh", "-c", "exit 5")).Code);
        Assert.Equal("2\n", (await daemon.BerthWithInputAsync("a\nb\n"u8.ToArray(), "exec", "-i", name, "wc", "-l")).Out.TrimStart());
        await daemon.BerthOkAsync("exec", "-d", name, "touch", "/tmp/detached");
        await Task.Delay(300);
        await daemon.BerthOkAsync("exec", name, "test", "-f", "/tmp/detached");
        var tty = await Programs.RunInTerminalAsync($"{daemon.BerthPath} exec -it {name} sh", daemon.Environment(), "tty; exit 6\\r");
        Assert.Equal(6, tty.Code);
        Assert.Contains("/dev/pts/", tty.Out);
        // attach: what is typed reaches the container's stdin, what it prints comes back.
        var attached = await daemon.BerthWithInputAsync("echo via-attach\nexit 9\n"u8.ToArray(), "attach", name);
        Assert.Equal(9, attached.Code);
        Assert.Contains("via-attach", attached.Out);
        var again = await daemon.BerthWithInputAsync("echo again; exit 4\n"u8.ToArray(), "start", "-ai", name);
        Assert.Equal((4, "again\n"), (again.Code, again.Out));
        await daemon.BerthOkAsync("rm", name);
    }

    [RootFact]
    public async Task Run_it_through_a_pty_is_raw_sized_and_detaches_on_ctrl_p_ctrl_q()
    {
        await daemon.BusyboxAsync();
        var berth = daemon.BerthPath;
        var tty = await Programs.RunInTerminalAsync($"stty rows 33 cols 101; {berth} run -it --rm busybox sh", daemon.Environment(), "stty size; exit 7\\r");
        Assert.True(tty.Code == 7, tty.ToString());
        Assert.Contains("33 101", tty.Out);
        var name = Name("detach");
        var detached = await Programs.RunInTerminalAsync($"{berth} run -it --name {name} busybox sh", daemon.Environment(), "echo typed\\r\\020\\021");
        Assert.True(detached.Code == 0, detached.ToString());
        Assert.Equal("true\n", await daemon.BerthOkAsync("inspect", "--format", "{{.State.Running}}", name));
        await daemon.BerthOkAsync("rm", "-f", name);
        var piped = await daemon.BerthWithInputAsync("x\ny\nz\n"u8.ToArray(), "run", "-i", "--rm", "busybox", "wc", "-l");
        Assert.Equal("3", piped.Out.Trim());
    }

    [RootFact]
    public async Task Files_images_and_commits()
    {
        await daemon.BusyboxAsync();
        var name = Name("files");
        await daemon.BerthOkAsync("run", "--name", name, "busybox", "sh", "-c", "mkdir /data && echo content > /data/file && rm /etc/group");
        var diff = await daemon.BerthOkAsync("diff", name);
        Assert.Contains("A /data\n", diff);
        Assert.Contains("D /etc/group\n", diff);
        var local = daemon.TempPath("cp-" + name);
        Directory.CreateDirectory(local);
        await daemon.BerthOkAsync("cp", $"{name}:/data", Path.Combine(local, "copied"));
        Assert.Equal("content\n", File.ReadAllText(Path.Combine(local, "copied", "file")));
        File.WriteAllText(Path.Combine(local, "in"), "from host\n");
        await daemon.BerthOkAsync("cp", Path.Combine(local, "in"), $"{name}:/data/in");
        var tar = await Programs.RunAsync("sh", ["-c", $"{daemon.BerthPath} cp {name}:/data - | tar -t"], daemon.Environment());
        Assert.Contains("data/in", tar.Out);

        var image = $"{daemon.Tag}/committed:v1";
        Assert.StartsWith("sha256:", await daemon.BerthOkAsync("commit", "-c", "ENV MARK=1", name, image));
        Assert.Equal("content\n1\n", await daemon.BerthOkAsync("run", "--rm", image, "sh", "-c", "cat /data/file; echo $MARK"));
        Assert.Contains("sh -c mkdir /data && echo content > /data/file && rm /etc/group", await daemon.BerthOkAsync("history", "--no-trunc", image)); // CREATED BY: the container's command, as Docker
        await daemon.BerthOkAsync("tag", image, $"{daemon.Tag}/committed:v2");
        var saved = daemon.TempPath("saved.tar");
        await daemon.BerthOkAsync("save", "-o", saved, image);
        Assert.Contains("Untagged: " + image, await daemon.BerthOkAsync("rmi", image));
        Assert.Contains("Loaded image: " + image, await daemon.BerthOkAsync("load", "-i", saved));
        var exported = daemon.TempPath("exported.tar");
        await daemon.BerthOkAsync("export", "-o", exported, name);
        Assert.StartsWith("sha256:", await daemon.BerthOkAsync("import", exported, $"{daemon.Tag}/imported"));
        Assert.Equal("content\n", await daemon.BerthOkAsync("run", "--rm", $"{daemon.Tag}/imported", "cat", "/data/file"));
        await daemon.BerthOkAsync("rm", name);
        await daemon.BerthOkAsync("rmi", image, $"{daemon.Tag}/committed:v2", $"{daemon.Tag}/imported");
    }

    [RootFact]
    public async Task Update_port_events_df_and_prunes()
    {
        await daemon.BusyboxAsync();
        var name = Name("misc");
        var since = DateTimeOffset.UtcNow.AddSeconds(-1).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        await daemon.BerthOkAsync("run", "-d", "--name", name, "busybox", "sleep", "300");
        await daemon.BerthOkAsync("update", "--memory", "64m", "--memory-swap", "128m", "--pids-limit", "40", name);
        Assert.Equal("67108864 40\n", await daemon.BerthOkAsync("inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}", name));
        await daemon.BerthOkAsync("rm", "-f", name);
        var until = DateTimeOffset.UtcNow.AddSeconds(1).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var events = await daemon.BerthOkAsync("events", "--since", since, "--until", until, "--filter", "container=" + name, "--format", "{{.Action}}");
        Assert.Equal(["create", "start", "update", "kill", "die", "destroy"], events.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(a => a is not "attach").ToArray());
        Assert.Matches(@"^TYPE +TOTAL +ACTIVE +SIZE +RECLAIMABLE\nImages ", await daemon.BerthOkAsync("system", "df"));
        await daemon.BerthOkAsync("create", "--name", name + "-stopped", "busybox", "true");
        Assert.Contains("Deleted Containers:", await daemon.BerthOkAsync("container", "prune", "-f"));
        Assert.Contains("Total reclaimed space:", await daemon.BerthOkAsync("image", "prune", "-f"));
        Assert.Contains("busybox", await daemon.BerthOkAsync("image", "ls"));
    }

    [RootFact]
    public async Task Port_lists_published_ports()
    {
        await daemon.BusyboxAsync();
        var name = Name("port");
        await daemon.BerthOkAsync("run", "-d", "--name", name, "-p", "127.0.0.1::80", "busybox", "sleep", "300");
        Assert.Matches(@"^80/tcp -> 127\.0\.0\.1:\d+\n$", await daemon.BerthOkAsync("port", name));
        await daemon.BerthOkAsync("rm", "-f", name);
        Assert.Contains("Total reclaimed space:", await daemon.BerthOkAsync("system", "prune", "-f")); // prunes networks too
    }

    [RootFact]
    public async Task Network_pid_and_ipc_namespaces_of_another_container_are_joined()
    {
        await daemon.BusyboxAsync();
        var name = Name("ns");
        // As Docker: only a shareable donor's IPC namespace can be joined.
        await daemon.BerthOkAsync("run", "-d", "--name", name, "--ipc", "shareable", "busybox", "sleep", "300");
        try
        {
            var pid = (await daemon.BerthOkAsync("inspect", "--format", "{{.State.Pid}}", name)).Trim();
            string Namespace(string type) => new FileInfo($"/proc/{pid}/ns/{type}").LinkTarget!;
            var inside = await daemon.BerthOkAsync("run", "--rm", "--network", "container:" + name, "--pid", "container:" + name, "--ipc", "container:" + name,
                "busybox", "sh", "-c", "for n in net pid ipc; do readlink /proc/self/ns/$n; done; ps -o comm");
            Assert.StartsWith($"{Namespace("net")}\n{Namespace("pid")}\n{Namespace("ipc")}\n", inside);
            Assert.Contains("sleep", inside); // the other container's processes are visible
            var missing = await daemon.BerthAsync("run", "--rm", "--pid", "container:" + Name("nosuch"), "busybox", "true");
            Assert.Equal(125, missing.Code);
            Assert.Contains("No such container", missing.Err);
        }
        finally { await daemon.BerthAsync("rm", "-f", name); }
    }

    [RootFact]
    public async Task Restart_policies_bring_containers_back()
    {
        await daemon.BusyboxAsync();
        var name = Name("onfail");
        await daemon.BerthOkAsync("run", "-d", "--name", name, "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 1");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        string state;
        do
        {
            await Task.Delay(250);
            state = await daemon.BerthOkAsync("inspect", "--format", "{{.RestartCount}} {{.State.Status}}", name);
        } while (state != "2 exited\n" && DateTime.UtcNow < deadline);
        Assert.Equal("2 exited\n", state);
        var always = Name("always");
        await daemon.BerthOkAsync("run", "-d", "--name", always, "--restart", "always", "busybox", "sh", "-c", "sleep 0.2; exit 0");
        await Task.Delay(2500);
        Assert.NotEqual("0\n", await daemon.BerthOkAsync("inspect", "--format", "{{.RestartCount}}", always));
        await daemon.BerthOkAsync("rm", "-f", name, always);
        var bad = await daemon.BerthAsync("run", "--restart", "sometimes", "busybox", "true");
        Assert.Equal(125, bad.Code);
        Assert.Contains("invalid restart policy", bad.Err);
    }

    [RootFact]
    public async Task Health_checks_report_in_inspect()
    {
        await daemon.BusyboxAsync();
        var healthy = Name("healthy");
        var sick = Name("sick");
        await daemon.BerthOkAsync("run", "-d", "--name", healthy, "--health-cmd", "true", "--health-interval", "300ms", "busybox", "sleep", "60");
        await daemon.BerthOkAsync("run", "-d", "--name", sick, "--health-cmd", "false", "--health-interval", "300ms", "--health-retries", "2", "busybox", "sleep", "60");
        await Task.Delay(2500);
        Assert.Equal("healthy\n", await daemon.BerthOkAsync("inspect", "--format", "{{.State.Health.Status}}", healthy));
        Assert.Equal("unhealthy\n", await daemon.BerthOkAsync("inspect", "--format", "{{.State.Health.Status}}", sick));
        Assert.Contains("(healthy)", await daemon.BerthOkAsync("ps", "--filter", "name=" + healthy, "--format", "{{.Status}}"));
        await daemon.BerthOkAsync("rm", "-f", healthy, sick);
    }

    [RootFact]
    public async Task Oom_kills_pids_limits_and_stats_come_from_cgroups()
    {
        await daemon.BusyboxAsync();
        var oom = Name("oom");
        var run = await daemon.BerthAsync("run", "--name", oom, "--memory", "16m", "--memory-swap", "16m", "busybox", "sh", "-c", "x=a; while true; do x=$x$x; done");
        Assert.Equal(137, run.Code);
        Assert.Equal("true 137\n", await daemon.BerthOkAsync("inspect", "--format", "{{.State.OOMKilled}} {{.State.ExitCode}}", oom));
        var pids = await daemon.BerthAsync("run", "--rm", "--pids-limit", "8", "busybox", "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 & done 2>&1; wait");
        Assert.Contains("can't fork", pids.Out + pids.Err);
        var busy = Name("stats");
        await daemon.BerthOkAsync("run", "-d", "--name", busy, "--memory", "64m", "busybox", "sh", "-c", "sleep 300 & sleep 300 & wait");
        var stats = JsonDocument.Parse(await daemon.BerthOkAsync("stats", "--no-stream", "--format", "{{json .}}", busy)).RootElement;
        Assert.EndsWith(" / 64MiB", stats.GetProperty("MemUsage").GetString());
        Assert.Equal("3", stats.GetProperty("PIDs").GetString());
        await daemon.BerthOkAsync("rm", "-f", oom, busy);
    }
}
