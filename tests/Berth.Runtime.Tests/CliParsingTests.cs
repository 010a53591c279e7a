using Berth.Runtime;
using Berth.Runtime.Cli;
using Berth.Runtime.Lifecycle;

namespace Berth.Runtime.Tests;

public class CliParsingTests
{
    [Fact]
    public void GlobalFlagsComeBeforeTheVerbInEitherDashStyle()
    {
        var line = CommandLineParser.Parse(["-root", "/r", "--log=/l", "--log-format", "json", "--debug", "create", "--bundle", "/b", "x"]);
        Assert.Equal("/r", line.Root);
        Assert.Equal("/l", line.LogPath);
        Assert.Equal("json", line.LogFormat);
        Assert.True(line.Debug);
        Assert.Equal("create", line.Verb);
        Assert.Equal("/b", line.Value("bundle"));
        Assert.Equal(["x"], line.Arguments);
    }

    [Fact]
    public void ShortAliasesAndEqualsValues()
    {
        var line = CommandLineParser.Parse(["run", "-b=/b", "-d", "id1"]);
        Assert.Equal("/b", line.Value("bundle"));
        Assert.True(line.Has("detach"));
        Assert.Equal("id1", line.Arguments[0]);
    }

    [Fact]
    public void RuncOnlyGlobalsAreAcceptedAndRemembered()
    {
        var line = CommandLineParser.Parse(["--systemd-cgroup", "--criu", "/usr/bin/criu", "--rootless=auto", "state", "x"]);
        Assert.Equal(["--systemd-cgroup", "--criu", "--rootless"], line.Ignored);
        Assert.Equal("state", line.Verb);
    }

    [Fact]
    public void UnknownFlagsAreErrorsNamingTheFlag()
    {
        var e = Assert.Throws<RuntimeException>(() => CommandLineParser.Parse(["--bogus", "state", "x"]));
        Assert.Contains("-bogus", e.Message);
        Assert.Throws<RuntimeException>(() => CommandLineParser.Parse(["kill", "--nope", "x"]));
        Assert.Contains("needs an argument", Assert.Throws<RuntimeException>(() => CommandLineParser.Parse(["--root"])).Message);
    }

    [Fact]
    public void BooleanFlagsTakeExplicitValues()
    {
        Assert.False(CommandLineParser.Parse(["delete", "--force=false", "x"]).Has("force"));
        Assert.True(CommandLineParser.Parse(["delete", "-f", "x"]).Has("force"));
    }

    [Fact]
    public void FlagsAfterPositionalArgumentsAreStillFlagsExceptForExec()
    {
        var kill = CommandLineParser.Parse(["kill", "x", "KILL", "--all"]);
        Assert.True(kill.Has("all"));
        Assert.Equal(["x", "KILL"], kill.Arguments);
        var exec = CommandLineParser.Parse(["exec", "-t", "x", "ls", "-la", "--cwd", "/"]);
        Assert.True(exec.Has("tty"));
        Assert.Null(exec.Value("cwd"));
        Assert.Equal(["x", "ls", "-la", "--cwd", "/"], exec.Arguments);
    }

    [Fact]
    public void RepeatedFlagsAccumulate()
    {
        var line = CommandLineParser.Parse(["exec", "-e", "A=1", "--env", "B=2", "x", "sh"]);
        Assert.Equal(["A=1", "B=2"], line.Values("env"));
    }

    [Fact]
    public void UnknownVerbIsAnError() => Assert.Throws<RuntimeException>(() => CommandLineParser.Parse(["frobnicate"]));

    [Theory]
    [InlineData("abc", true)]
    [InlineData("a-b_c.d+e", true)]
    [InlineData("A1", true)]
    [InlineData("", false)]
    [InlineData(".", false)]
    [InlineData("..", false)]
    [InlineData("a/b", false)]
    [InlineData("../x", false)]
    [InlineData("a b", false)]
    public void ContainerIds(string id, bool valid) => Assert.Equal(valid, ContainerId.IsValid(id));

    [Theory]
    [InlineData("KILL", 9)]
    [InlineData("SIGKILL", 9)]
    [InlineData("kill", 9)]
    [InlineData("9", 9)]
    [InlineData("TERM", 15)]
    [InlineData("SIGUSR1", 10)]
    [InlineData("RTMIN+2", 36)]
    [InlineData("SIGRTMAX-1", 63)]
    public void SignalNamesAndNumbers(string text, int number) => Assert.Equal(number, Signals.Parse(text));

    [Theory]
    [InlineData("SIGNOPE")]
    [InlineData("0")]
    [InlineData("65")]
    public void BadSignals(string text) => Assert.Throws<RuntimeException>(() => Signals.Parse(text));

    [Fact]
    public void JsonLogLinesCarryLevelMessageAndTime()
    {
        var line = RuntimeLog.Format("error", "bad \"thing\"", new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc), json: true);
        using var doc = System.Text.Json.JsonDocument.Parse(line);
        Assert.Equal("error", doc.RootElement.GetProperty("level").GetString());
        Assert.Equal("bad \"thing\"", doc.RootElement.GetProperty("msg").GetString());
        Assert.StartsWith("2026-01-02T03:04:05", doc.RootElement.GetProperty("time").GetString());
    }

    [Fact]
    public void ListTableIsPaddedLikeGoTabwriter()
    {
        var text = RuntimeCli.Table([["ID", "PID", "OWNER"], ["a-much-longer-id", "1", "root"]]);
        var lines = text.Split('\n');
        Assert.Equal("ID" + new string(' ', 17) + "PID" + new string(' ', 9) + "OWNER", lines[0]);
        Assert.Equal("a-much-longer-id   1           root", lines[1]);
    }
}
