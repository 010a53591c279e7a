using System.Diagnostics;
using System.Text.Json.Nodes;
using Berth.Engine.Supervision;
using Berth.Testing;

namespace Berth.Shim.Tests;

/// <summary>What the shim is for: containers that outlive berthd, OOM kills reported, logs rotated, pause.</summary>
public sealed class SupervisionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Runs <paramref name="first"/>'s container to its end; the standby shim started once its start was answered.</summary>
    private static async Task<int> RunOneAndWaitForTheStandby(ShimHarness first)
    {
        var supervisor = first.Supervisor;
        await using (var c = await supervisor.CreateAsync(first.Request(), CancellationToken.None))
        {
            await c.StartAsync(CancellationToken.None);
            await c.Exited.WaitAsync(Timeout);
            await c.DeleteAsync(force: true, CancellationToken.None);
        }
        await WaitFor(() => supervisor.StandbyPid is not null, "the standby shim");
        return supervisor.StandbyPid!.Value;
    }

    /// <summary>After a start, the supervisor starts the next container's shim ahead; the next container runs under it,
    /// with its own output, exit and delete, and the standby after it is let go with the supervisor.</summary>
    [RootFact]
    public async Task AStandbyShimRunsTheNextContainer()
    {
        using var first = new ShimHarness(ShimHarness.BerthRuntime, "echo", "one");
        using var next = new ShimHarness(ShimHarness.BerthRuntime, "sh", "-c", "echo two; exit 5");
        var supervisor = first.Supervisor;
        var standby = await RunOneAndWaitForTheStandby(first);
        await using var second = await supervisor.CreateAsync(next.Request(), CancellationToken.None);
        Assert.Equal(standby, next.ShimPid());
        await second.StartAsync(CancellationToken.None);
        Assert.Equal(5, (await second.Exited.WaitAsync(Timeout)).ExitCode);
        Assert.Equal("two\n", next.LogText());
        await second.DeleteAsync(force: true, CancellationToken.None);
        Assert.NotEqual(0, next.RunRuntime("state", next.Id).Code);
        await WaitFor(() => !ShimHarness.Alive(standby), "the standby-turned-shim to leave");
        await WaitFor(() => supervisor.StandbyPid is not null, "the next standby shim");
        var after = supervisor.StandbyPid!.Value;
        supervisor.StopStandby();
        Assert.False(ShimHarness.Alive(after));
    }

    /// <summary>A standby shim that died (killed by someone) is not used: the start spawns a shim as without one.</summary>
    [RootFact]
    public async Task ADeadStandbyShimIsReplacedBySpawningOne()
    {
        using var first = new ShimHarness(ShimHarness.BerthRuntime, "true");
        using var next = new ShimHarness(ShimHarness.BerthRuntime, "echo", "spawned");
        var supervisor = first.Supervisor;
        var standby = await RunOneAndWaitForTheStandby(first);
        Process.GetProcessById(standby).Kill();
        await WaitFor(() => !ShimHarness.Alive(standby), "the standby to die");
        await using var second = await supervisor.CreateAsync(next.Request(), CancellationToken.None);
        Assert.NotEqual(standby, next.ShimPid());
        await second.StartAsync(CancellationToken.None);
        Assert.Equal(0, (await second.Exited.WaitAsync(Timeout)).ExitCode);
        Assert.Equal("spawned\n", next.LogText());
        await second.DeleteAsync(force: true, CancellationToken.None);
    }

    [RootFact]
    public Task ReattachAfterRestart_BerthRuntime() => ReattachAfterRestart(ShimHarness.BerthRuntime);

    [RootFact]
    public Task ReattachAfterRestart_Runc() => ReattachAfterRestart(ShimHarness.Runc);

    private static async Task ReattachAfterRestart(string runtime)
    {
        using var h = new ShimHarness(runtime, "sh", "-c", "trap 'echo bye; exit 7' TERM; while true; do echo tick; sleep 0.1; done");
        var first = await h.Supervisor.CreateAsync(h.Request(), CancellationToken.None);
        var firstShim = h.ShimPid()!.Value;
        await first.StartAsync(CancellationToken.None);
        var pid = first.Pid;
        await first.DisposeAsync(); // "berthd" lets go of everything it had

        var supervisor = new ShimSupervisor(h.Supervisor.ShimPath); // a new "berthd"
        await using var again = supervisor.Reattach(h.Id, h.StateDirectory);
        Assert.NotNull(again);
        Assert.Equal(pid, again.Pid);
        var before = h.LogEntries().Count;
        await WaitFor(() => h.LogEntries().Count > before + 2, "the log to grow after reattaching");
        await again.SignalAsync(15, false, CancellationToken.None);
        var exit = await again.Exited.WaitAsync(Timeout);
        Assert.Equal(7, exit.ExitCode);
        Assert.EndsWith("bye\n", h.LogText());
        Assert.Null(supervisor.Reattach(h.Id, h.StateDirectory)); // the shim has gone
        Assert.Equal(7, supervisor.ReadRecordedExit(h.StateDirectory)!.ExitCode);
        await again.DeleteAsync(false, CancellationToken.None);
        await ReapAsync(firstShim);
    }

    [RootFact]
    public async Task ShimSurvivesItsLauncherBeingKilled()
    {
        using var h = new ShimHarness(ShimHarness.BerthRuntime, "sh", "-c", "while true; do echo tick; sleep 0.1; done");
        h.Request(); // writes config.json
        Directory.CreateDirectory(h.StateDirectory);
        var report = Path.Combine(h.StateDirectory, "..", "report");
        var options = new ShimOptions
        {
            ContainerId = h.Id, Bundle = h.Bundle, Runtime = h.Runtime, RuntimeRoot = h.RuntimeRoot, StateDirectory = h.StateDirectory, LogPath = h.LogPath,
        };
        // The launcher: a shell that starts the shim and stays, as berthd would; then it is SIGKILLed.
        var psi = new ProcessStartInfo("/bin/sh") { RedirectStandardInput = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("\"$0\" \"$@\" >\"$REPORT\" & exec sleep 1000");
        psi.ArgumentList.Add(h.Supervisor.ShimPath);
        foreach (var a in options.ToArguments()) psi.ArgumentList.Add(a);
        psi.Environment["REPORT"] = report;
        using var launcher = Process.Start(psi)!;
        try
        {
            await WaitFor(() => File.Exists(report) && File.ReadAllText(report).Length > 0, "the shim to report");
            Assert.StartsWith("created ", File.ReadAllText(report));
            launcher.Kill();
            await launcher.WaitForExitAsync();
            File.WriteAllText(Path.Combine(h.StateDirectory, ShimSupervisor.LaunchFile),
                new JsonObject { ["ContainerId"] = h.Id, ["RuntimePath"] = h.Runtime, ["RuntimeRoot"] = h.RuntimeRoot, ["Bundle"] = h.Bundle, ["Tty"] = false, ["ShimPid"] = 0 }.ToJsonString());
            await using var c = h.Supervisor.Reattach(h.Id, h.StateDirectory);
            Assert.NotNull(c);
            await c.StartAsync(CancellationToken.None);
            await WaitFor(() => h.LogText().Contains("tick\ntick\n"), "the container to log");
            Assert.True(ShimHarness.Alive(h.ShimPid()!.Value));
            await c.SignalAsync(9, false, CancellationToken.None);
            Assert.Equal(137, (await c.Exited.WaitAsync(Timeout)).ExitCode);
            await c.DeleteAsync(false, CancellationToken.None);
        }
        finally { if (!launcher.HasExited) launcher.Kill(); }
    }

    [RootFact]
    public Task OomKillReported_BerthRuntime() => OomKillReported(ShimHarness.BerthRuntime);

    [RootFact]
    public Task OomKillReported_Runc() => OomKillReported(ShimHarness.Runc);

    private static async Task OomKillReported(string runtime)
    {
        using var h = new ShimHarness(runtime, "sh", "-c", "x=$(head -c 200m /dev/zero | tr '\\0' a); echo survived");
        h.Config["linux"]!["resources"] = new JsonObject { ["memory"] = new JsonObject { ["limit"] = 32L * 1024 * 1024, ["swap"] = 32L * 1024 * 1024 } };
        await using var c = await h.Supervisor.CreateAsync(h.Request(), CancellationToken.None);
        await c.StartAsync(CancellationToken.None);
        var exit = await c.Exited.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit.OomKilled, $"exit {exit.ExitCode} not reported as OOM-killed");
        Assert.True(h.Supervisor.ReadRecordedExit(h.StateDirectory)!.OomKilled);
        await c.DeleteAsync(true, CancellationToken.None);
    }

    [RootFact]
    public async Task PauseAndResume()
    {
        using var h = new ShimHarness(ShimHarness.BerthRuntime, "sh", "-c", "while true; do echo tick; sleep 0.05; done");
        await using var c = await h.Supervisor.CreateAsync(h.Request(), CancellationToken.None);
        await c.StartAsync(CancellationToken.None);
        await WaitFor(() => h.LogEntries().Count > 2, "output");
        await c.PauseAsync(CancellationToken.None);
        Assert.Contains("\"paused\"", h.RunRuntime("state", h.Id).Output);
        await Task.Delay(300);
        var paused = h.LogEntries().Count;
        await Task.Delay(400);
        Assert.Equal(paused, h.LogEntries().Count);
        await c.ResumeAsync(CancellationToken.None);
        await WaitFor(() => h.LogEntries().Count > paused, "output after resume");
        await c.DeleteAsync(true, CancellationToken.None);
        Assert.Equal(137, (await c.Exited.WaitAsync(Timeout)).ExitCode);
    }

    [RootFact]
    public async Task LogRotatesAtMaxSize()
    {
        using var h = new ShimHarness(ShimHarness.BerthRuntime, "sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done");
        await using var c = await h.Supervisor.CreateAsync(h.Request(maxSize: 2000, maxFiles: 3), CancellationToken.None);
        await c.StartAsync(CancellationToken.None);
        Assert.Equal(0, (await c.Exited.WaitAsync(Timeout)).ExitCode);
        Assert.True(File.Exists(h.LogPath + ".1"));
        Assert.True(File.Exists(h.LogPath + ".2"));
        Assert.False(File.Exists(h.LogPath + ".3"));
        foreach (var f in new[] { h.LogPath, h.LogPath + ".1", h.LogPath + ".2" }) Assert.True(new FileInfo(f).Length < 2000 + 200);
        var lines = h.LogEntries().Select(e => (string)e["log"]!).ToList();
        Assert.Equal("line 299\n", lines[^1]);
        for (var i = 1; i < lines.Count; i++) Assert.Equal(int.Parse(lines[i - 1][5..^1]) + 1, int.Parse(lines[i][5..^1])); // in order, no gaps
        await c.DeleteAsync(false, CancellationToken.None);
    }

    internal static async Task WaitFor(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("timed out waiting for " + what);
            await Task.Delay(20);
        }
    }

    /// <summary>The first shim was this test process's child and nobody waits for it any more: reap it, so no zombie stays.</summary>
    private static async Task ReapAsync(int shimPid)
    {
        for (var i = 0; i < 250; i++)
        {
            try { if (Berth.Linux.LinuxSyscalls.Instance.WaitForChild(shimPid, out _, noHang: true) != 0) return; }
            catch (Berth.Linux.SyscallException) { return; }
            await Task.Delay(20);
        }
    }
}
