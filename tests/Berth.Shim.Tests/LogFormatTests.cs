using System.Text;
using System.Text.Json.Nodes;
using Berth.Linux;
using Berth.Testing;

namespace Berth.Shim.Tests;

/// <summary>The json-file format as dockerd writes it, line splitting and rotation; no root needed.</summary>
public sealed class LogFormatTests
{
    private static string Format(string log, bool stderr = false, long nanos = 1_700_000_000_123_456_789)
        => Format(Encoding.UTF8.GetBytes(log), stderr, nanos);

    private static string Format(byte[] log, bool stderr = false, long nanos = 1_700_000_000_123_456_789)
    {
        var buffer = new byte[JsonLogFormat.MaxLength(log.Length)];
        return Encoding.UTF8.GetString(buffer, 0, JsonLogFormat.Format(buffer, log, stderr, nanos));
    }

    [Fact]
    public void EntryIsDockersLine()
        => Assert.Equal("{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":\"2023-11-14T22:13:20.123456789Z\"}\n", Format("hello\n"));

    [Fact]
    public void StderrEntry() => Assert.Contains("\"stream\":\"stderr\"", Format("x", stderr: true));

    [Theory]
    [InlineData("a\"b", "a\\\"b")]
    [InlineData("a\\b", "a\\\\b")]
    [InlineData("\t\r\n", "\\t\\r\\n")]
    [InlineData("<a&b>", "\\u003ca\\u0026b\\u003e")]
    [InlineData("\u0001\u001b", "\\u0001\\u001b")]
    [InlineData("héllo ✓", "héllo ✓")]
    [InlineData("\u2028\u2029", "\\u2028\\u2029")]
    public void EscapesAsDocker(string text, string escaped) => Assert.Contains($"\"log\":\"{escaped}\"", Format(text));

    [Fact]
    public void InvalidUtf8BecomesOneReplacementPerByte()
        => Assert.Contains("\"log\":\"a\\ufffd\\ufffdb\"", Format([(byte)'a', 0xE2, 0x82, (byte)'b']));

    [Theory]
    [InlineData(1_700_000_000_000_000_000L, "2023-11-14T22:13:20Z")]
    [InlineData(1_700_000_000_100_000_000L, "2023-11-14T22:13:20.1Z")]
    [InlineData(1_700_000_000_000_000_010L, "2023-11-14T22:13:20.00000001Z")]
    public void TimeTrimsTrailingZeros(long nanos, string text) => Assert.Equal(text, JsonLogFormat.FormatTime(nanos));

    [Theory]
    [InlineData("2023-11-14T22:13:20.123456789Z", 1_700_000_000_123_456_789L)]
    [InlineData("2023-11-14T22:13:20Z", 1_700_000_000_000_000_000L)]
    [InlineData("2023-11-15T00:13:20.5+02:00", 1_700_000_000_500_000_000L)]
    public void TimeParses(string text, long nanos)
    {
        Assert.True(JsonLogFormat.TryParseTime(Encoding.ASCII.GetBytes(text), out var parsed));
        Assert.Equal(nanos, parsed);
    }

    [Fact]
    public void ParseRoundTrips()
    {
        var line = Format("a\"<\u0001\n", stderr: true);
        Assert.True(JsonLogFormat.TryParse(Encoding.UTF8.GetBytes(line.TrimEnd('\n')), out var entry));
        Assert.True(entry.Stderr);
        Assert.Equal("a\"<\u0001\n", Encoding.UTF8.GetString(entry.Log));
        Assert.Equal(1_700_000_000_123_456_789L, entry.UnixNanoseconds);
        Assert.False(JsonLogFormat.TryParse("{\"log\":\"x\",\"str"u8, out _));
    }

    private static List<JsonObject> Entries(string path)
        => File.ReadAllLines(path).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();

    [Fact]
    public void WriterSplitsLinesAndKeepsPartialsUntilTheirNewline()
    {
        using var dir = new TempDir();
        var path = dir.Combine("c-json.log");
        using (var w = new JsonLogWriter(LinuxSyscalls.Instance, path, 0, 1))
        {
            w.Append(false, "one\ntw"u8, 1);
            w.Append(false, "o\nthr"u8, 2);
            w.Append(true, "err\n"u8, 3);
            w.Flush(false, 4);
        }
        var entries = Entries(path);
        Assert.Equal(["one\n", "two\n", "err\n", "thr"], entries.Select(e => (string)e["log"]!));
        Assert.Equal(["stdout", "stdout", "stderr", "stdout"], entries.Select(e => (string)e["stream"]!));
    }

    [Fact]
    public void WriterCutsLongLinesAt16KiB()
    {
        using var dir = new TempDir();
        var path = dir.Combine("c-json.log");
        using (var w = new JsonLogWriter(LinuxSyscalls.Instance, path, 0, 1))
        {
            w.Append(false, Encoding.ASCII.GetBytes(new string('a', 16384 * 2 + 10) + "\n"), 1);
            w.Append(false, Encoding.ASCII.GetBytes(new string('b', 16383) + "\n"), 2); // fits with its newline
            w.Append(false, Encoding.ASCII.GetBytes(new string('c', 16384)), 3);        // fills the buffer: partial
            w.Append(false, "\n"u8, 4);
        }
        var logs = Entries(path).Select(e => (string)e["log"]!).ToList();
        Assert.Equal([16384, 16384, 11, 16384, 16384, 1], logs.Select(l => l.Length));
        Assert.EndsWith("\n", logs[2]);
        Assert.DoesNotContain('\n', logs[0]);
        Assert.EndsWith("b\n", logs[3]);
        Assert.Equal("\n", logs[5]);
    }

    [Fact]
    public void WriterRotatesAtMaxSizeKeepingMaxFiles()
    {
        using var dir = new TempDir();
        var path = dir.Combine("c-json.log");
        using (var w = new JsonLogWriter(LinuxSyscalls.Instance, path, 300, 3))
        {
            for (var i = 0; i < 40; i++) w.Append(false, Encoding.ASCII.GetBytes($"line {i:D2}\n"), 1_700_000_000_000_000_000L + i);
        }
        Assert.True(File.Exists(path + ".1"));
        Assert.True(File.Exists(path + ".2"));
        Assert.False(File.Exists(path + ".3"));
        var all = Entries(path + ".2").Concat(Entries(path + ".1")).Concat(Entries(path)).Select(e => (string)e["log"]!).ToList();
        Assert.Equal("line 39\n", all[^1]);
        for (var i = 1; i < all.Count; i++) Assert.Equal(int.Parse(all[i - 1][5..7]) + 1, int.Parse(all[i][5..7]));
        // Rotation happens once a file has reached max-size: each holds max-size plus at most one entry.
        foreach (var f in new[] { path + ".2", path + ".1" }) Assert.InRange(new FileInfo(f).Length, 300, 300 + 80);
    }

    [Fact]
    public void WriterWithOneFileTruncates()
    {
        using var dir = new TempDir();
        var path = dir.Combine("c-json.log");
        using (var w = new JsonLogWriter(LinuxSyscalls.Instance, path, 200, 1))
        {
            for (var i = 0; i < 10; i++) w.Append(false, Encoding.ASCII.GetBytes($"line {i}\n"), 1);
        }
        Assert.False(File.Exists(path + ".1"));
        Assert.InRange(new FileInfo(path).Length, 1, 200 + 80);
        Assert.Equal("line 9\n", (string)Entries(path)[^1]["log"]!);
    }

    [Fact]
    public void ExitRecordRoundTrips()
    {
        using var dir = new TempDir();
        new ExitRecord(137, 1_700_000_000_123_456_789L, true).WriteTo(LinuxSyscalls.Instance, LinuxSyscalls.Instance, dir.Path);
        Assert.Equal(new ExitRecord(137, 1_700_000_000_123_456_789L, true), ExitRecord.Read(dir.Path));
        Assert.Null(ExitRecord.Read(dir.Combine("missing")));
        Assert.Equal(new ExitRecord(3, 5, false), ShimProtocol.ParseExit(ShimProtocol.ExitPayload(new ExitRecord(3, 5, false))));
    }

    [Fact]
    public void OptionsRoundTrip()
    {
        var options = new ShimOptions
        {
            ContainerId = "c1", Bundle = "/b", Runtime = "/r", RuntimeRoot = "/rr", StateDirectory = "/s", LogPath = "/l", LogMaxSize = 10, LogMaxFiles = 3,
            Tty = true, OpenStdin = true, StdinOnce = true,
        };
        var parsed = ShimOptions.Parse(options.ToArguments().ToArray());
        Assert.Equal(options.ToArguments(), parsed.ToArguments());
        Assert.Throws<ArgumentException>(() => ShimOptions.Parse(["--id"]));
        Assert.Throws<ArgumentException>(() => ShimOptions.Parse(["--bundle", "/b"]));
    }

    [Fact]
    public void OomCounterFindsV1MemoryElseV2()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.Combine("memory", "c1"));
        File.WriteAllText(dir.Combine("memory", "c1", "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
        Directory.CreateDirectory(dir.Combine("c2"));
        File.WriteAllText(dir.Combine("c2", "memory.events"), "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n");
        Assert.Equal(dir.Combine("memory", "c1", "memory.oom_control"), OomCounter.CounterFile("12:pids:/c1\n5:memory:/c1\n0::/c1\n", dir.Path));
        Assert.Equal(dir.Combine("c2", "memory.events"), OomCounter.CounterFile("0::/c2\n", dir.Path));
        Assert.Null(OomCounter.CounterFile("0::/none\n", dir.Path));
        Assert.Equal(2, OomCounter.Parse(File.ReadAllText(dir.Combine("memory", "c1", "memory.oom_control"))));
        Assert.Equal(1, OomCounter.Parse(File.ReadAllText(dir.Combine("c2", "memory.events"))));
    }
}

/// <summary>Which of the shim's own mappings it may drop after start-up.</summary>
public sealed class StartupMemoryTests
{
    [Fact]
    public void OnlyCleanReadOnlyMappingsOfTheExecutable()
    {
        const string smaps = """
            55a0-55b0 r--p 00000000 fe:00 42   /bin/berth-shim
            Size:                 64 kB
            Anonymous:             0 kB
            55b0-55c0 r-xp 00007000 fe:00 42   /bin/berth-shim
            Anonymous:             0 kB
            55c0-55d0 r--p 000ff000 fe:00 42   /bin/berth-shim
            Anonymous:            12 kB
            55d0-55e0 rw-p 00100000 fe:00 42   /bin/berth-shim
            Anonymous:             0 kB
            7f00-7f10 r-xp 00000000 fe:00 7    /usr/lib/libc.so.6
            Anonymous:             0 kB
            7f10-7f20 r-xp 00000000 fe:00 8    /bin/berth-shim-other
            Anonymous:             0 kB
            """;
        var parser = new StartupMemory.CleanMappingParser(Encoding.UTF8.GetBytes("/bin/berth-shim"));
        var ranges = new List<(nint, nint)>();
        foreach (var line in smaps.Split('\n')) parser.Line(Encoding.UTF8.GetBytes(line), ranges);
        Assert.Equal([((nint)0x55a0, (nint)0x55b0), ((nint)0x55b0, (nint)0x55c0)], ranges);
    }
}
