using System.Text;
using Berth.Engine;
using Berth.Engine.Supervision;
using Berth.Testing;
using OciProcess = Berth.Oci.Runtime.Process;

namespace Berth.Shim.Tests;

/// <summary>Attach, stdin, a terminal with resize, and exec through berth-shim and the runtime, on the real kernel.</summary>
public sealed class StdioTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [RootFact]
    public Task AttachWithStdinOnce_BerthRuntime() => AttachWithStdinOnce(ShimHarness.BerthRuntime);

    [RootFact]
    public Task AttachWithStdinOnce_Runc() => AttachWithStdinOnce(ShimHarness.Runc);

    private static async Task AttachWithStdinOnce(string runtime)
    {
        using var h = new ShimHarness(runtime, "sh", "-c", "cat; echo done >&2");
        await using var c = await h.Supervisor.CreateAsync(h.Request(openStdin: true, stdinOnce: true), CancellationToken.None);
        var session = await c.AttachAsync(new AttachOptions(true, true, true, true, false, null), CancellationToken.None);
        await c.StartAsync(CancellationToken.None);
        await session.WriteStdinAsync("hello\nworld\n"u8.ToArray(), CancellationToken.None);
        await session.CloseStdinAsync();
        var (stdout, stderr) = await Collect(session);
        await session.DisposeAsync();
        var exit = await c.Exited.WaitAsync(Timeout);
        Assert.Equal(0, exit.ExitCode);
        Assert.Equal("hello\nworld\n", stdout);
        Assert.Equal("done\n", stderr);
        Assert.Equal("hello\nworld\n", h.LogText("stdout"));
        await c.DeleteAsync(false, CancellationToken.None);
    }

    [RootFact]
    public Task StdinSentBeforeTheStartArrivesWhole_BerthRuntime() => StdinSentBeforeTheStartArrivesWhole(ShimHarness.BerthRuntime);

    [RootFact]
    public Task StdinSentBeforeTheStartArrivesWhole_Runc() => StdinSentBeforeTheStartArrivesWhole(ShimHarness.Runc);

    /// <summary>
    /// docker run -i sends stdin as soon as its attach stands, before the start: a run-on-start shim keeps it (more than
    /// a pipe holds) and its close for the container the run makes.
    /// </summary>
    private static async Task StdinSentBeforeTheStartArrivesWhole(string runtime)
    {
        using var h = new ShimHarness(runtime, "md5sum");
        await using var c = await h.Supervisor.CreateAsync(h.Request(openStdin: true, stdinOnce: true), CancellationToken.None);
        var session = await c.AttachAsync(new AttachOptions(true, true, true, true, false, null), CancellationToken.None);
        var data = new byte[300_000];
        new Random(7).NextBytes(data);
        var writing = Task.Run(async () =>
        {
            await session.WriteStdinAsync(data, CancellationToken.None);
            await session.CloseStdinAsync();
        });
        await Task.Delay(100); // the first 64 KiB fill the pipe before anything reads it
        await c.StartAsync(CancellationToken.None);
        await writing.WaitAsync(Timeout);
        var (stdout, _) = await Collect(session);
        await session.DisposeAsync();
        Assert.Equal(0, (await c.Exited.WaitAsync(Timeout)).ExitCode);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(data)) + "  -\n", stdout);
        await c.DeleteAsync(false, CancellationToken.None);
    }

    /// <summary>On a terminal the master exists only once the run has made it: what was typed before waits for it.</summary>
    [RootFact]
    public async Task TerminalInputTypedBeforeTheStartReachesTheShell()
    {
        using var h = new ShimHarness(ShimHarness.BerthRuntime, "sh");
        await using var c = await h.Supervisor.CreateAsync(h.Request(tty: true, openStdin: true), CancellationToken.None);
        var session = await c.AttachAsync(new AttachOptions(true, true, true, true, false, null), CancellationToken.None);
        await session.WriteStdinAsync("exit 5\n"u8.ToArray(), CancellationToken.None);
        await c.StartAsync(CancellationToken.None);
        await Collect(session).WaitAsync(Timeout);
        await session.DisposeAsync();
        Assert.Equal(5, (await c.Exited.WaitAsync(Timeout)).ExitCode);
        await c.DeleteAsync(false, CancellationToken.None);
    }

    [RootFact]
    public async Task StdinStaysOpenAcrossAttaches()
    {
        using var h = new ShimHarness(ShimHarness.BerthRuntime, "sh", "-c", "while read line; do echo got $line; done");
        await using var c = await h.Supervisor.CreateAsync(h.Request(openStdin: true), CancellationToken.None);
        await c.StartAsync(CancellationToken.None);
        await using (var first = await c.AttachAsync(new AttachOptions(true, true, true, true, false, null), CancellationToken.None))
        {
            await first.WriteStdinAsync("one\n"u8.ToArray(), CancellationToken.None);
            await first.CloseStdinAsync(); // not StdinOnce: the container's stdin stays open
            Assert.Equal("got one\n", await ReadUntil(first, "got one\n"));
        }
        await using (var second = await c.AttachAsync(new AttachOptions(true, true, true, true, false, null), CancellationToken.None))
        {
            await second.WriteStdinAsync("two\n"u8.ToArray(), CancellationToken.None);
            Assert.Equal("got two\n", await ReadUntil(second, "got two\n"));
        }
        Assert.False(c.Exited.IsCompleted);
        await c.SignalAsync(9, false, CancellationToken.None);
        Assert.Equal(137, (await c.Exited.WaitAsync(Timeout)).ExitCode);
        Assert.Equal("got one\ngot two\n", h.LogText());
        await c.DeleteAsync(true, CancellationToken.None);
    }

    [RootFact]
    public Task TtyAndResize_BerthRuntime() => TtyAndResize(ShimHarness.BerthRuntime);

    [RootFact]
    public Task TtyAndResize_Runc() => TtyAndResize(ShimHarness.Runc);

    private static async Task TtyAndResize(string runtime)
    {
        using var h = new ShimHarness(runtime, "sh", "-c", "read x; stty size; [ -t 0 ] && echo tty");
        await using var c = await h.Supervisor.CreateAsync(h.Request(tty: true, openStdin: true), CancellationToken.None);
        var session = await c.AttachAsync(new AttachOptions(true, true, true, true, false, null), CancellationToken.None);
        Assert.True(session.Tty);
        await c.StartAsync(CancellationToken.None);
        await c.ResizeAsync(31, 101, CancellationToken.None);
        await session.WriteStdinAsync("\n"u8.ToArray(), CancellationToken.None);
        var (output, _) = await Collect(session);
        var exit = await c.Exited.WaitAsync(Timeout);
        Assert.Equal(0, exit.ExitCode);
        Assert.Contains("31 101", output);
        Assert.Contains("tty", output);
        Assert.Contains("31 101", h.LogText("stdout"));
        Assert.Empty(h.LogText("stderr"));
        await c.DeleteAsync(false, CancellationToken.None);
    }

    [RootFact]
    public Task Exec_BerthRuntime() => Exec(ShimHarness.BerthRuntime);

    [RootFact]
    public Task Exec_Runc() => Exec(ShimHarness.Runc);

    private static async Task Exec(string runtime)
    {
        using var h = new ShimHarness(runtime, "sleep", "100");
        await using var c = await h.Supervisor.CreateAsync(h.Request(), CancellationToken.None);
        await c.StartAsync(CancellationToken.None);

        var process = new OciProcess { Args = ["sh", "-c", "read x; echo out $x; echo err >&2; exit 5"], Env = ["PATH=/bin:/usr/bin"], Cwd = "/" };
        var exec = await c.ExecAsync(process, attachStdin: true, CancellationToken.None);
        await exec.Stdio!.WriteStdinAsync("in\n"u8.ToArray(), CancellationToken.None);
        var (stdout, stderr) = await Collect(exec.Stdio);
        Assert.Equal(5, (await exec.Exited.WaitAsync(Timeout)).ExitCode);
        Assert.Equal("out in\n", stdout);
        Assert.Equal("err\n", stderr);
        Assert.Empty(h.LogText()); // exec output is not the container's log

        var tty = new OciProcess { Terminal = true, Args = ["sh", "-c", "read x; stty size"], Env = ["PATH=/bin:/usr/bin"], Cwd = "/" };
        var ttyExec = await c.ExecAsync(tty, attachStdin: true, CancellationToken.None);
        Assert.True(ttyExec.Stdio!.Tty);
        await ttyExec.ResizeAsync(25, 77, CancellationToken.None);
        await ttyExec.Stdio.WriteStdinAsync("\n"u8.ToArray(), CancellationToken.None);
        var (ttyOut, _) = await Collect(ttyExec.Stdio);
        Assert.Equal(0, (await ttyExec.Exited.WaitAsync(Timeout)).ExitCode);
        Assert.Contains("25 77", ttyOut);

        var missing = await c.ExecAsync(new OciProcess { Args = ["/no/such"], Env = [], Cwd = "/" }, false, CancellationToken.None);
        await Collect(missing.Stdio!);
        Assert.Equal(127, (await missing.Exited.WaitAsync(Timeout)).ExitCode);

        await c.DeleteAsync(true, CancellationToken.None);
    }

    internal static async Task<(string Stdout, string Stderr)> Collect(IStdioSession session)
    {
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var cts = new CancellationTokenSource(Timeout);
        await foreach (var chunk in session.Output.WithCancellation(cts.Token))
            (chunk.Stream == StdStream.Stderr ? stderr : stdout).Append(Encoding.UTF8.GetString(chunk.Data.Span));
        return (stdout.ToString(), stderr.ToString());
    }

    private static async Task<string> ReadUntil(IStdioSession session, string wanted)
    {
        var text = new StringBuilder();
        using var cts = new CancellationTokenSource(Timeout);
        await foreach (var chunk in session.Output.WithCancellation(cts.Token))
        {
            text.Append(Encoding.UTF8.GetString(chunk.Data.Span));
            if (text.ToString().Contains(wanted)) break;
        }
        return text.ToString();
    }
}
