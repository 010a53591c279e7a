using System.Diagnostics;
using System.Text;
using Berth.Engine.Models;
using Berth.Testing;
using Xunit.Abstractions;

namespace Berth.Engine.Tests.Integration;

/// <summary>The engine on the real kernel: berth-shim and berth-runtime from artifacts/bin, overlay2, cgroups v1.</summary>
public sealed class RealEngineTests(ITestOutputHelper output)
{
    private static readonly CancellationToken None = CancellationToken.None;

    [RootFact]
    public async Task Run_rm_echo_prints_and_leaves_nothing_behind()
    {
        await using var e = await RealEngine.StartAsync();
        var timings = new List<double>();
        for (var i = 0; i < 4; i++)
        {
            var clock = Stopwatch.StartNew();
            var id = await e.CreateAsync(["echo", "hi"], r => r.HostConfig!.AutoRemove = true);
            var session = await e.Containers.AttachAsync(id, new AttachOptions(false, true, true, true, false, null), None);
            var removed = await e.Containers.WaitAsync(id, WaitCondition.Removed, None);
            await e.Containers.StartAsync(id, None);
            var text = new StringBuilder();
            await foreach (var chunk in session.Output) text.Append(Encoding.UTF8.GetString(chunk.Data.Span));
            var result = await removed.WaitAsync(TimeSpan.FromSeconds(30));
            clock.Stop();
            timings.Add(clock.Elapsed.TotalMilliseconds);
            Assert.Equal("hi\n", text.ToString());
            Assert.Equal(0, result.StatusCode);
            Assert.Null(e.Containers.Store.TryGet(id));
            Assert.Empty(e.Engine.Storage.Layers.ListContainerLayers());
            Assert.False(e.HasMountsLeft());
            Assert.False(Directory.Exists(Path.Combine(e.ExecRoot, "bundles", id)));
            // The run's state lived on the engine's own tmpfs mounts, not on the exec root's disk.
            foreach (var dir in new[] { "containers", "bundles", "runtime-berth" }) Assert.Equal("tmpfs", RealEngine.MountType(Path.Combine(e.ExecRoot, dir)));
        }
        output.WriteLine("create+attach+start+exit+remove (ms): " + string.Join(", ", timings.Select(t => t.ToString("F1"))));
    }

    [RootFact]
    public async Task Stop_restart_policy_exec_top_and_stats_on_a_running_container()
    {
        await using var e = await RealEngine.StartAsync();
        var id = await e.CreateAsync(["sh", "-c", "echo up; trap 'echo bye; exit 7' TERM; while true; do sleep 0.1; done"]);
        await e.Containers.StartAsync(id, None);
        var state = await e.StateAsync(id);
        Assert.True(state.Running);
        Assert.True(state.Pid > 0);

        var exec = (await e.Engine.Exec.CreateAsync(id, new ExecConfig { Cmd = ["sh", "-c", "echo inside; exit 4"], AttachStdout = true }, None)).Id;
        var session = await e.Engine.Exec.StartAsync(exec, new ExecStartConfig(), None);
        var text = new StringBuilder();
        await foreach (var chunk in session!.Output) text.Append(Encoding.UTF8.GetString(chunk.Data.Span));
        Assert.Equal("inside\n", text.ToString());
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await e.Engine.Exec.InspectAsync(exec, None)).Running) { Assert.True(DateTime.UtcNow < deadline); await Task.Delay(20); }
        Assert.Equal(4, (await e.Engine.Exec.InspectAsync(exec, None)).ExitCode);

        var top = await e.Containers.TopAsync(id, null, None);
        Assert.Contains(top.Processes, p => p[^1].StartsWith("sh -c", StringComparison.Ordinal));

        var stats = await e.Containers.StatsAsync(id, false, true, None).FirstAsync();
        Assert.True(stats.MemoryStats.Usage > 0);
        Assert.True(stats.PidsStats.Current >= 1);
        Assert.True(stats.CpuStats.CpuUsage.TotalUsage > 0);

        await e.Containers.StopAsync(id, 5, null, None);
        state = await e.StateAsync(id);
        Assert.Equal("exited", state.Status);
        Assert.Equal(7, state.ExitCode);
        Assert.Equal("up\nbye\n", await e.LogsAsync(id));
    }

    [RootFact]
    public async Task On_failure_restarts_until_its_count()
    {
        await using var e = await RealEngine.StartAsync();
        var id = await e.CreateAsync(["sh", "-c", "echo run; exit 3"], r => r.HostConfig!.RestartPolicy = new RestartPolicy { Name = "on-failure", MaximumRetryCount = 2 });
        await e.Containers.StartAsync(id, None);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        ContainerInspect inspect;
        while (!((inspect = await e.Containers.InspectAsync(id, false, None)).State.Status == "exited" && inspect.RestartCount == 2))
        {
            Assert.True(DateTime.UtcNow < deadline, $"state {inspect.State.Status}, restarts {inspect.RestartCount}");
            await Task.Delay(50);
        }
        Assert.Equal(3, inspect.State.ExitCode);
        Assert.Equal("run\nrun\nrun\n", await e.LogsAsync(id));
    }

    [RootFact]
    public async Task Live_restore_keeps_a_container_running_and_under_control()
    {
        await using var e = await RealEngine.StartAsync(liveRestore: true);
        var id = await e.CreateAsync(["sh", "-c", "while true; do echo tick; sleep 0.1; done"]);
        await e.Containers.StartAsync(id, None);
        var pid = (await e.StateAsync(id)).Pid;
        await e.RestartAsync(liveRestore: true);
        var state = await e.StateAsync(id);
        Assert.Equal("running", state.Status);
        Assert.Equal(pid, state.Pid);
        Assert.True(Directory.Exists($"/proc/{pid}"));
        var before = (await e.LogsAsync(id)).Length;
        await Task.Delay(400);
        Assert.True((await e.LogsAsync(id)).Length > before, "the container still logs");
        await e.Containers.StopAsync(id, 2, null, None);
        Assert.Equal("exited", (await e.StateAsync(id)).Status);
        Assert.False(e.HasMountsLeft());
    }

    [RootFact]
    public async Task Without_live_restore_a_restart_stops_containers()
    {
        await using var e = await RealEngine.StartAsync(liveRestore: false);
        var id = await e.CreateAsync(["sleep", "100"]);
        await e.Containers.StartAsync(id, None);
        var pid = (await e.StateAsync(id)).Pid;
        await e.RestartAsync(liveRestore: false);
        Assert.Equal("exited", (await e.StateAsync(id)).Status);
        Assert.False(Directory.Exists($"/proc/{pid}") && File.ReadAllText($"/proc/{pid}/cmdline").StartsWith("sleep", StringComparison.Ordinal));
    }

    [RootFact]
    public async Task Memory_limit_oom_kill_is_reported()
    {
        await using var e = await RealEngine.StartAsync();
        var id = await e.CreateAsync(["sh", "-c", "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done"], r => { r.HostConfig!.Memory = 16 << 20; r.HostConfig.MemorySwap = 16 << 20; });
        await e.Containers.StartAsync(id, None);
        var result = await (await e.Containers.WaitAsync(id, WaitCondition.NotRunning, None)).WaitAsync(TimeSpan.FromSeconds(60));
        var state = await e.StateAsync(id);
        Assert.Equal(137, result.StatusCode);
        Assert.True(state.OOMKilled);
    }

    [RootFact]
    public async Task Pids_limit_is_enforced_and_shown_in_stats()
    {
        await using var e = await RealEngine.StartAsync();
        var id = await e.CreateAsync(["sleep", "60"], r => r.HostConfig!.PidsLimit = 5);
        await e.Containers.StartAsync(id, None);
        var stats = await e.Containers.StatsAsync(id, false, true, None).FirstAsync();
        Assert.Equal(5UL, stats.PidsStats.Limit);
        Assert.Equal(1UL, stats.PidsStats.Current);
        var exec = (await e.Engine.Exec.CreateAsync(id, new ExecConfig { Cmd = ["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 30 >/dev/null 2>&1 & done; echo done"], AttachStdout = true, AttachStderr = true }, None)).Id;
        var session = await e.Engine.Exec.StartAsync(exec, new ExecStartConfig(), None);
        var text = new StringBuilder();
        await foreach (var chunk in session!.Output) text.Append(Encoding.UTF8.GetString(chunk.Data.Span));
        Assert.Contains("fork", text.ToString(), StringComparison.OrdinalIgnoreCase);
        stats = await e.Containers.StatsAsync(id, false, true, None).FirstAsync();
        Assert.InRange(stats.PidsStats.Current ?? 0, 2UL, 5UL);
    }
}
