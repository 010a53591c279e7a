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
        // The shim answers "deleted" and then leaves: the delete does not wait for its process to be gone.
        var shim = h.ShimPid();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (shim is not null && ShimHarness.Alive(shim.Value) && DateTime.UtcNow < deadline) await Task.Delay(10);
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
    public Task ShimStartsAndDeletes_BerthRuntime() => ShimStartsAndDeletes(ShimHarness.BerthRuntime);

    [RootFact]
    public Task ShimStartsAndDeletes_Runc() => ShimStartsAndDeletes(ShimHarness.Runc);

    /// <summary>The shim runs the runtime's start when asked and its delete as soon as the init has exited: by the time
    /// the exit is known the runtime is deleting, and berthd's DeleteAsync only waits for the shim's word.</summary>
    private static async Task ShimStartsAndDeletes(string runtime)
    {
        using var h = new ShimHarness(runtime, "true");
        await using var c = await h.Supervisor.CreateAsync(h.Request(), CancellationToken.None);
        Assert.Contains("created", h.RunRuntime("state", h.Id).Output);
        await c.StartAsync(CancellationToken.None);
        var exit = await c.Exited.WaitAsync(Timeout);
        Assert.Equal(0, exit.ExitCode);
        var shim = h.ShimPid()!.Value;
        await SupervisionTests.WaitFor(() => !ShimHarness.Alive(shim), "the shim to leave after its delete");
        Assert.NotEqual(0, h.RunRuntime("state", h.Id).Code); // deleted by the shim, not by DeleteAsync
        await c.DeleteAsync(force: true, CancellationToken.None);
    }

    [RootFact]
    public async Task StartFailureComesBackFromTheShim()
    {
        using var h = new ShimHarness(ShimHarness.BerthRuntime, "sleep", "30");
        await using var c = await h.Supervisor.CreateAsync(h.Request(), CancellationToken.None);
        await c.StartAsync(CancellationToken.None);
        var e = await Assert.ThrowsAnyAsync<EngineException>(() => c.StartAsync(CancellationToken.None));
        Assert.Contains("running", e.Message); // the runtime's own words: cannot start an already running container
        await c.SignalAsync(9, all: false, CancellationToken.None);
        Assert.Equal(137, (await c.Exited.WaitAsync(Timeout)).ExitCode);
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
