using System.Text;
using Berth.Engine;
using Berth.Engine.Supervision;
using Berth.Linux;
using Berth.Testing;

namespace Berth.Shim.Tests;

/// <summary>The engine's json-file reader: tail, since/until, streams, follow across rotation; no root needed.</summary>
public sealed class LogReaderTests
{
    private const long T0 = 1_700_000_000_000_000_000L, Second = 1_000_000_000L;

    private static LogsOptions Options(bool follow = false, bool stdout = true, bool stderr = true, DateTimeOffset? since = null, DateTimeOffset? until = null, int? tail = null)
        => new(follow, stdout, stderr, since, until, false, tail);

    private static DateTimeOffset At(long nanos) => DateTimeOffset.UnixEpoch.AddTicks(nanos / 100);

    /// <summary>Writes lines "line N" at T0 + N seconds, odd ones on stderr, rotating at <paramref name="maxSize"/>.</summary>
    private static void Write(string path, int count, long maxSize = 0, int maxFiles = 1, int first = 0)
    {
        using var w = new JsonLogWriter(LinuxSyscalls.Instance, path, maxSize, maxFiles);
        for (var i = first; i < first + count; i++) w.Append(i % 2 == 1, Encoding.ASCII.GetBytes($"line {i}\n"), T0 + i * Second);
    }

    private static async Task<List<string>> Read(string path, LogsOptions options, Task? stop = null)
    {
        var lines = new List<string>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await foreach (var c in JsonFileLogs.ReadAsync(path, options, stop, cts.Token)) lines.Add(Encoding.UTF8.GetString(c.Data.Span).TrimEnd('\n'));
        return lines;
    }

    [Fact]
    public async Task ReadsAllWithStreamsAndTimes()
    {
        using var dir = new TempDir();
        var path = dir.Combine("c-json.log");
        Write(path, 4);
        var chunks = new List<OutputChunk>();
        await foreach (var c in JsonFileLogs.ReadAsync(path, Options(), null, CancellationToken.None)) chunks.Add(c);
        Assert.Equal([StdStream.Stdout, StdStream.Stderr, StdStream.Stdout, StdStream.Stderr], chunks.Select(c => c.Stream));
        Assert.Equal(At(T0 + 3 * Second), chunks[3].Time);
        Assert.Equal(["line 0", "line 2"], await Read(path, Options(stderr: false)));
        Assert.Equal(["line 1", "line 3"], await Read(path, Options(stdout: false)));
    }

    [Fact]
    public async Task TailAcrossRotatedFiles()
    {
        using var dir = new TempDir();
        var path = dir.Combine("c-json.log");
        Write(path, 30, maxSize: 200, maxFiles: 5);
        Assert.True(File.Exists(path + ".2"));
        var all = await Read(path, Options());
        Assert.Equal("line 29", all[^1]);
        Assert.Equal(all[^7..], await Read(path, Options(tail: 7)));
        Assert.Equal(all, await Read(path, Options(tail: 10_000)));
        Assert.Equal(["line 29"], await Read(path, Options(tail: 1)));
        Assert.Empty(await Read(path, Options(tail: 0)));
        Assert.Equal(["line 28"], await Read(path, Options(tail: 2, stderr: false))); // tail counts both streams, as dockerd
    }

    [Fact]
    public async Task SinceAndUntil()
    {
        using var dir = new TempDir();
        var path = dir.Combine("c-json.log");
        Write(path, 10);
        Assert.Equal(["line 7", "line 8", "line 9"], await Read(path, Options(since: At(T0 + 7 * Second))));
        Assert.Equal(["line 0", "line 1", "line 2"], await Read(path, Options(until: At(T0 + 2 * Second))));
        Assert.Equal(["line 4", "line 5"], await Read(path, Options(since: At(T0 + 4 * Second), until: At(T0 + 5 * Second + 1))));
    }

    [Fact]
    public async Task FollowSeesNewEntriesAcrossRotationUntilStopped()
    {
        using var dir = new TempDir();
        var path = dir.Combine("c-json.log");
        using var writer = new JsonLogWriter(LinuxSyscalls.Instance, path, 300, 10); // nothing rotated out before the follower reads it
        writer.Append(false, "first\n"u8, T0);
        var stop = new TaskCompletionSource();
        var seen = new List<string>();
        var got = new SemaphoreSlim(0);
        var reading = Task.Run(async () =>
        {
            await foreach (var c in JsonFileLogs.ReadAsync(path, Options(follow: true), stop.Task, CancellationToken.None))
            {
                lock (seen) seen.Add(Encoding.UTF8.GetString(c.Data.Span).TrimEnd('\n'));
                got.Release();
            }
        });
        Assert.True(await got.WaitAsync(TimeSpan.FromSeconds(10)));
        for (var i = 0; i < 20; i++) writer.Append(false, Encoding.ASCII.GetBytes($"more {i}\n"), T0 + i); // rotates a few times
        Assert.True(File.Exists(path + ".1"));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            lock (seen) if (seen.Contains("more 19")) break;
            Assert.True(DateTime.UtcNow < deadline, "follow did not see the last entry");
            await got.WaitAsync(TimeSpan.FromSeconds(1));
        }
        writer.Append(true, "last\n"u8, T0 + 99);
        stop.SetResult();
        await reading.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["first", .. Enumerable.Range(0, 20).Select(i => $"more {i}"), "last"], seen);
    }

    [Fact]
    public async Task FollowWithTailZeroSeesOnlyNewEntries()
    {
        using var dir = new TempDir();
        var path = dir.Combine("c-json.log");
        Write(path, 3);
        using var writer = new JsonLogWriter(LinuxSyscalls.Instance, path, 0, 1);
        var stop = new TaskCompletionSource();
        var reading = Read(path, Options(follow: true, tail: 0), stop.Task);
        await Task.Delay(200);
        writer.Append(false, "new\n"u8, T0 + 100 * Second);
        await Task.Delay(200);
        stop.SetResult();
        Assert.Equal(["new"], await reading);
    }
}

/// <summary>engine-core's adapter (Containers/JsonFileLogReader) over this room's reader.</summary>
public sealed class JsonFileLogReaderTests
{
    [Fact]
    public async Task ReadsThroughTheEngineSeam()
    {
        using var dir = new TempDir();
        var path = dir.Combine("c-json.log");
        using (var w = new JsonLogWriter(LinuxSyscalls.Instance, path, 0, 1)) w.Append(false, "hi\n"u8, 1_700_000_000_000_000_000L);
        Berth.Engine.Containers.IContainerLogReader reader = Berth.Engine.Containers.JsonFileLogReader.Instance;
        var chunks = new List<OutputChunk>();
        await foreach (var c in reader.ReadAsync(path, new LogsOptions(true, true, true, null, null, false, null), Task.CompletedTask, CancellationToken.None)) chunks.Add(c);
        Assert.Equal("hi\n", Encoding.UTF8.GetString(Assert.Single(chunks).Data.Span));
    }
}
