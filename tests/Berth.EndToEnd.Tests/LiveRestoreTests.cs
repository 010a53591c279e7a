using Berth.Testing;

namespace Berth.EndToEnd.Tests;

/// <summary>--live-restore: SIGKILL berthd, start it again; the container kept running and logging, and berth still controls it.</summary>
public sealed class LiveRestoreTests(LiveRestoreDaemon daemon) : IClassFixture<LiveRestoreDaemon>
{
    [RootFact]
    public async Task A_container_outlives_a_killed_daemon()
    {
        await daemon.BusyboxAsync();
        var name = daemon.Tag + "-survivor";
        await daemon.BerthOkAsync("run", "-d", "--name", name, "busybox", "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done");
        await Task.Delay(600);
        var pid = (await daemon.BerthOkAsync("inspect", "--format", "{{.State.Pid}}", name)).Trim();
        await daemon.KillAsync();
        Assert.True(Directory.Exists($"/proc/{pid}"), "the container died with the daemon");
        await Task.Delay(600); // it goes on logging while no daemon runs
        await daemon.StartAsync();
        Assert.Equal($"running {pid}\n", await daemon.BerthOkAsync("inspect", "--format", "{{.State.Status}} {{.State.Pid}}", name));
        var before = (await daemon.BerthOkAsync("logs", name)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        await Task.Delay(800);
        var after = (await daemon.BerthOkAsync("logs", name)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        Assert.True(after > before && before >= 5, $"logs: {before} lines, then {after}");
        await daemon.BerthOkAsync("stop", "-t", "1", name);
        Assert.Equal("exited\n", await daemon.BerthOkAsync("inspect", "--format", "{{.State.Status}}", name));
        Assert.False(Directory.Exists($"/proc/{pid}"));
        await daemon.BerthOkAsync("rm", name);
    }
}
