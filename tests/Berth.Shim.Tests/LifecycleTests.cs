using Berth.Engine;
using Berth.Engine.Supervision;
using Berth.Testing;

namespace Berth.Shim.Tests;

/// <summary>Containers under berth-shim on the real kernel, through berth-runtime and runc.</summary>
public sealed class LifecycleTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [RootFact]
    public Task CreateStartExit_BerthRuntime() => CreateStartExit(ShimHarness.BerthRuntime);

    [RootFact]
    public Task CreateStartExit_Runc() => CreateStartExit(ShimHarness.Runc);

    private static async Task CreateStartExit(string runtime)
    {
        using var h = new ShimHarness(runtime, "sh", "-c", "echo hello; echo oops >&2; exit 3");
        await using var c = await h.Supervisor.CreateAsync(h.Request(), CancellationToken.None);
        Assert.True(c.Pid > 0);
        Assert.False(c.Exited.IsCompleted);
        await c.StartAsync(CancellationToken.None);
        var exit = await c.Exited.WaitAsync(Timeout);
        Assert.Equal(3, exit.ExitCode);
        Assert.False(exit.OomKilled);
        Assert.Equal("hello\n", h.LogText("stdout"));
        Assert.Equal("oops\n", h.LogText("stderr"));
        Assert.Equal(3, h.Supervisor.ReadRecordedExit(h.StateDirectory)!.ExitCode);
        await c.DeleteAsync(force: false, CancellationToken.None);
        var shim = h.ShimPid();
        Assert.True(shim is null || !ShimHarness.Alive(shim.Value), "the shim left after the exit");
    }

    [RootFact]
    public Task KillRunning_BerthRuntime() => KillRunning(ShimHarness.BerthRuntime);

    [RootFact]
    public Task KillRunning_Runc() => KillRunning(ShimHarness.Runc);

    private static async Task KillRunning(string runtime)
    {
        using var h = new ShimHarness(runtime, "sleep", "100");
        await using var c = await h.Supervisor.CreateAsync(h.Request(), CancellationToken.None);
        await c.StartAsync(CancellationToken.None);
        await Task.Delay(100);
        Assert.False(c.Exited.IsCompleted);
        await c.SignalAsync(9, all: false, CancellationToken.None);
        var exit = await c.Exited.WaitAsync(Timeout);
        Assert.Equal(137, exit.ExitCode);
        await c.DeleteAsync(force: true, CancellationToken.None);
    }

    [RootFact]
    public Task CreateFailure_BerthRuntime() => CreateFailure(ShimHarness.BerthRuntime);

    [RootFact]
    public Task CreateFailure_Runc() => CreateFailure(ShimHarness.Runc);

    private static async Task CreateFailure(string runtime)
    {
        using var h = new ShimHarness(runtime, "/no/such/binary");
        var e = await Assert.ThrowsAnyAsync<EngineException>(() => h.Supervisor.CreateAsync(h.Request(), CancellationToken.None));
        Assert.Contains("/no/such/binary", e.Message);
        Assert.False(File.Exists(Path.Combine(h.StateDirectory, "shim.sock")));
        Assert.NotEqual(0, h.RunRuntime("state", h.Id).Code); // nothing left in the runtime
    }
}
