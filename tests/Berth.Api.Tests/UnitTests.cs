namespace Berth.Api.Tests;

public sealed class UnitTests
{
    [Theory]
    [InlineData("1.47", null)]
    [InlineData("1.24", null)]
    [InlineData("1.9", "client version 1.9 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version")]
    [InlineData("2.0", "client version 2.0 is too new. Maximum supported API version is 1.47")]
    public void Versions_are_compared_numerically(string requested, string? refusal)
        => Assert.Equal(refusal, ApiVersion.Unsupported(requested));

    [Fact]
    public void Router_matches_greedy_image_names_and_reports_wrong_methods()
    {
        var router = new Router<string>();
        router.Add("GET", "/images/json", "list");
        router.Add("GET", "/images/{name*}/json", "inspect");
        router.Add("DELETE", "/images/{name*}", "delete");
        router.Add("GET", "/containers/{id}/json", "cinspect");
        Assert.Equal(Router<string>.Outcome.Found, router.Match("GET", "/images/json", out var h, out _));
        Assert.Equal("list", h);
        Assert.Equal(Router<string>.Outcome.Found, router.Match("GET", "/images/reg:5000/a/b:c/json", out h, out var p));
        Assert.Equal(("inspect", "reg:5000/a/b:c"), (h, p["name"]));
        Assert.Equal(Router<string>.Outcome.Found, router.Match("DELETE", "/images/a/b", out h, out p));
        Assert.Equal(("delete", "a/b"), (h, p["name"]));
        Assert.Equal(Router<string>.Outcome.Found, router.Match("HEAD", "/containers/x/json", out h, out _));
        Assert.Equal(Router<string>.Outcome.WrongMethod, router.Match("POST", "/containers/x/json", out _, out _));
        Assert.Equal(Router<string>.Outcome.NoSuchPath, router.Match("GET", "/containers/x/y/json", out _, out _));
    }

    [Theory]
    [InlineData("ctrl-p,ctrl-q", new byte[] { 16, 17 })]
    [InlineData("ctrl-a,x", new byte[] { 1, (byte)'x' })]
    [InlineData("ctrl-@,ctrl-[,ctrl-_", new byte[] { 0, 27, 31 })]
    public void Detach_keys_parse_as_Docker(string keys, byte[] expected) => Assert.Equal(expected, DetachKeyScanner.Parse(keys));

    [Theory]
    [InlineData("ctrl-")]
    [InlineData("alt-p")]
    [InlineData("ctrl-1")]
    public void Bad_detach_keys_are_refused(string keys) => Assert.Null(DetachKeyScanner.Parse(keys));

    [Fact]
    public void Detach_scanner_holds_a_prefix_and_releases_it_when_the_sequence_breaks()
    {
        var scanner = new DetachKeyScanner([16, 17]);
        Assert.Equal("a"u8.ToArray(), scanner.Feed("a\x10"u8));
        Assert.Equal(new byte[] { 16, (byte)'b' }, scanner.Feed("b"u8));
        Assert.False(scanner.Detached);
        Assert.Equal(new byte[] { (byte)'c' }, scanner.Feed(new byte[] { (byte)'c', 16 }));
        Assert.Empty(scanner.Feed(new byte[] { 17, (byte)'z' }));
        Assert.True(scanner.Detached);
    }

    [Fact]
    public void Std_frame_header_is_stream_then_big_endian_size()
    {
        var header = new byte[8];
        StdFrame.WriteHeader(header, Berth.Engine.StdStream.Stderr, 0x01020304);
        Assert.Equal(new byte[] { 2, 0, 0, 0, 1, 2, 3, 4 }, header);
    }

    [Fact]
    public void Filters_accept_both_encodings()
    {
        var filters = ApiCall.ParseFilters("""{"status":["running","paused"],"label":{"a=b":true,"c":false}}""");
        Assert.Equal(["running", "paused"], filters.Get("status"));
        Assert.Equal(["a=b"], filters.Get("label"));
        Assert.Throws<Berth.Engine.InvalidParameterException>(() => ApiCall.ParseFilters("""{"status":1}"""));
    }

    [Fact]
    public void Docker_times_are_RFC3339Nano()
    {
        var time = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        Assert.Equal("2026-01-02T03:04:05Z", Berth.Engine.Models.DockerTime.Format(time));
        Assert.Equal("2026-01-02T03:04:05.12Z", Berth.Engine.Models.DockerTime.Format(time.AddTicks(1_200_000)));
        Assert.Equal("2026-01-02T03:04:05.000000000Z", DockerApi.FixedNano(time));
        Assert.Equal(time.AddTicks(1234567), Berth.Engine.Models.DockerTime.Parse("2026-01-02T03:04:05.123456789Z"));
        Assert.Null(Berth.Engine.Models.DockerTime.Parse("0001-01-01T00:00:00Z"));
    }

    [Fact]
    public void Daemon_flags_and_daemon_json_merge_and_conflict_as_dockerd()
    {
        var config = DaemonConfig.Parse(["--data-root", "/d", "-H", "unix:///s.sock", "--live-restore", "--add-runtime", "runc=/usr/bin/runc"],
            _ => """{"exec-root": "/e", "log-level": "debug", "runtimes": {"crun": {"path": "/usr/bin/crun"}}}""");
        Assert.Equal("/d", config.DataRoot);
        Assert.Equal("/e", config.ExecRoot);
        Assert.Equal(["unix:///s.sock"], config.Hosts);
        Assert.True(config.LiveRestore);
        Assert.Equal("debug", config.LogLevel);
        Assert.Equal("/usr/bin/runc", config.Runtimes["runc"]);
        Assert.Equal("/usr/bin/crun", config.Runtimes["crun"]);
        Assert.Equal(["unix:///run/berth/berth.sock"], DaemonConfig.Parse([], _ => null).Hosts);
        var conflict = Assert.Throws<FormatException>(() => DaemonConfig.Parse(["--data-root", "/d"], _ => """{"data-root": "/x"}"""));
        Assert.Contains("the following directives are specified both as a flag and in the configuration file: data-root", conflict.Message);
        Assert.Contains("unknown flag: --nope", Assert.Throws<FormatException>(() => DaemonConfig.Parse(["--nope"], _ => null)).Message);
        Assert.Equal("/berth", DaemonConfig.Parse([], _ => null).CgroupParent);
        Assert.Equal("/e2e-1", DaemonConfig.Parse(["--cgroup-parent", "/e2e-1"], _ => null).CgroupParent);
        Assert.Equal("ci.slice", DaemonConfig.Parse([], _ => """{"cgroup-parent": "ci.slice"}""").CgroupParent);
        Assert.Contains("cgroup-parent: (from flag: /a, from file: \"/b\")",
            Assert.Throws<FormatException>(() => DaemonConfig.Parse(["--cgroup-parent=/a"], _ => """{"cgroup-parent": "/b"}""")).Message);
        Assert.Contains("invalid cgroup-parent \"/a/../..\"", Assert.Throws<FormatException>(() => DaemonConfig.Parse(["--cgroup-parent", "/a/../.."], _ => null)).Message);
        Assert.Contains("don't match any configuration option: nope", Assert.Throws<FormatException>(() => DaemonConfig.Parse([], _ => """{"nope": 1}""")).Message);
    }
}
