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
        await using var c = await h.CreatingSupervisor.CreateAsync(h.Request(), CancellationToken.None);
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
        await using var c = await h.CreatingSupervisor.CreateAsync(h.Request(), CancellationToken.None);
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
    public Task RunOnStart_BerthRuntime() => RunOnStart(ShimHarness.BerthRuntime);

    [RootFact]
    public Task RunOnStart_Runc() => RunOnStart(ShimHarness.Runc);

    /// <summary>
    /// berthd's way: the shim creates nothing until the start, then runs the runtime's `run --detach` (one runtime process
    /// instead of create and start) and answers with the init's pid; an attach made before the start sees all output.
    /// </summary>
    private static async Task RunOnStart(string runtime)
    {
        using var h = new ShimHarness(runtime, "sh", "-c", "echo hello; echo oops >&2; exit 3");
        await using var c = await h.Supervisor.CreateAsync(h.Request(), CancellationToken.None);
        Assert.Equal(0, c.Pid); // not created yet
        Assert.NotEqual(0, h.RunRuntime("state", h.Id).Code);
        await using var attach = await c.AttachAsync(new AttachOptions(false, true, true, true, false, null), CancellationToken.None);
        await c.StartAsync(CancellationToken.None);
        Assert.True(c.Pid > 0);
        Assert.Equal(c.Pid, int.Parse(File.ReadAllText(Path.Combine(h.StateDirectory, ShimProtocol.InitPidFile)).Trim()));
        var seen = new System.Text.StringBuilder();
        await foreach (var chunk in attach.Output) seen.Append(System.Text.Encoding.UTF8.GetString(chunk.Data.Span));
        Assert.Contains("hello\n", seen.ToString());
        Assert.Contains("oops\n", seen.ToString());
        var exit = await c.Exited.WaitAsync(Timeout);
        Assert.Equal(3, exit.ExitCode);
        Assert.False(exit.OomKilled);
        Assert.Equal("hello\n", h.LogText("stdout"));
        Assert.Equal("oops\n", h.LogText("stderr"));
        await c.DeleteAsync(force: false, CancellationToken.None);
        Assert.NotEqual(0, h.RunRuntime("state", h.Id).Code); // the shim's delete is done when DeleteAsync returns
    }

    [RootFact]
    public Task RunFailure_BerthRuntime() => RunFailure(ShimHarness.BerthRuntime);

    [RootFact]
    public Task RunFailure_Runc() => RunFailure(ShimHarness.Runc);

    /// <summary>A run that fails comes back from StartAsync with the runtime's words; nothing is left and the shim leaves.</summary>
    private static async Task RunFailure(string runtime)
    {
        using var h = new ShimHarness(runtime, "/no/such/binary");
        var c = await h.Supervisor.CreateAsync(h.Request(), CancellationToken.None);
        var shim = h.ShimPid()!.Value;
        var e = await Assert.ThrowsAnyAsync<EngineException>(() => c.StartAsync(CancellationToken.None));
        Assert.Contains("/no/such/binary", e.Message);
        await c.DeleteAsync(force: true, CancellationToken.None).WaitAsync(Timeout);
        await c.DisposeAsync();
        Assert.False(ShimHarness.Alive(shim), "the shim left after its failed run");
        Assert.False(File.Exists(Path.Combine(h.StateDirectory, ShimProtocol.SocketName)));
        Assert.NotEqual(0, h.RunRuntime("state", h.Id).Code); // nothing left in the runtime
    }

    /// <summary>A start that never comes (berthd gave up before it): DeleteAsync ends the waiting shim.</summary>
    [RootFact]
    public async Task ShimWaitingForStartGoesOnDelete()
    {
        using var h = new ShimHarness(ShimHarness.BerthRuntime, "true");
        var c = await h.Supervisor.CreateAsync(h.Request(), CancellationToken.None);
        var shim = h.ShimPid()!.Value;
        await c.DeleteAsync(force: true, CancellationToken.None).WaitAsync(Timeout);
        await c.DisposeAsync();
        Assert.False(ShimHarness.Alive(shim));
        Assert.NotEqual(0, h.RunRuntime("state", h.Id).Code);
    }

    /// <summary>The shim tells the exit (Exit, announcing its delete) before it runs the runtime's delete, and Deleted
    /// once that is done: berthd's clean-up overlaps the delete, and "removed" can wait for Deleted.</summary>
    [RootFact]
    public async Task ExitComesBeforeTheDeleteAndDeletedAfterIt()
    {
        using var h = new ShimHarness(ShimHarness.BerthRuntime, "sleep", "30");
        await using var c = await h.Supervisor.CreateAsync(h.Request(), CancellationToken.None);
        await c.StartAsync(CancellationToken.None);
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        socket.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(Path.Combine(h.StateDirectory, ShimProtocol.SocketName)));
        socket.Send(ShimProtocol.Frame(ShimProtocol.Wait, default));
        await c.SignalAsync(9, all: false, CancellationToken.None);
        var frames = new List<(byte Kind, byte[] Payload)>();
        using var stream = new System.Net.Sockets.NetworkStream(socket);
        var header = new byte[ShimProtocol.HeaderSize];
        while (true)
        {
            try { await stream.ReadExactlyAsync(header).AsTask().WaitAsync(Timeout); }
            catch (EndOfStreamException) { break; }
            var payload = new byte[BitConverter.ToInt32(header, 1)];
            await stream.ReadExactlyAsync(payload);
            frames.Add((header[0], payload));
            if (header[0] == ShimProtocol.Exit)
            {
                // Told before the delete: the runtime still knows the container (stopped) at this moment, unless the
                // delete was quicker than this check; the order of the frames is what is guaranteed.
                Assert.NotNull(ShimProtocol.ParseExit(payload, out var shimDeletes));
                Assert.True(shimDeletes);
            }
        }
        Assert.Equal([ShimProtocol.Exit, ShimProtocol.Deleted], frames.Select(f => f.Kind).ToArray());
        Assert.Empty(frames[1].Payload); // the delete succeeded
        Assert.NotEqual(0, h.RunRuntime("state", h.Id).Code);
        Assert.Equal(137, (await c.Exited.WaitAsync(Timeout)).ExitCode);
    }

    [RootFact]
    public async Task RunOnStartReportsAnOomKill()
    {
        using var h = new ShimHarness(ShimHarness.BerthRuntime, "tail", "/dev/zero");
        h.Config["linux"]!["resources"] = new System.Text.Json.Nodes.JsonObject
        {
            ["memory"] = new System.Text.Json.Nodes.JsonObject { ["limit"] = 8L * 1024 * 1024, ["swap"] = 8L * 1024 * 1024 },
        };
        h.Save();
        await using var c = await h.Supervisor.CreateAsync(h.Request(), CancellationToken.None);
        await c.StartAsync(CancellationToken.None);
        var exit = await c.Exited.WaitAsync(Timeout);
        Assert.Equal(137, exit.ExitCode);
        Assert.True(exit.OomKilled);
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
        var e = await Assert.ThrowsAnyAsync<EngineException>(() => h.CreatingSupervisor.CreateAsync(h.Request(), CancellationToken.None));
        Assert.Contains("/no/such/binary", e.Message);
        Assert.False(File.Exists(Path.Combine(h.StateDirectory, "shim.sock")));
        Assert.NotEqual(0, h.RunRuntime("state", h.Id).Code); // nothing left in the runtime
    }
}
