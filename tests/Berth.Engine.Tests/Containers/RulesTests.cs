using Berth.Engine.Containers;
using Berth.Engine.Models;

namespace Berth.Engine.Tests.Containers;

public sealed class RestartBackoffTests
{
    [Fact]
    public void Delays_double_from_100ms_and_reset_after_ten_seconds_up()
    {
        var b = new RestartBackoff(new RestartPolicy { Name = "always" });
        var quick = TimeSpan.FromSeconds(1);
        Assert.Equal(TimeSpan.FromMilliseconds(100), b.ShouldRestart(0, false, quick));
        Assert.Equal(TimeSpan.FromMilliseconds(200), b.ShouldRestart(1, false, quick));
        Assert.Equal(TimeSpan.FromMilliseconds(400), b.ShouldRestart(0, true, quick));
        Assert.Equal(TimeSpan.FromMilliseconds(100), b.ShouldRestart(0, false, TimeSpan.FromSeconds(10)));
        for (var i = 0; i < 20; i++) b.ShouldRestart(0, false, quick);
        Assert.Equal(TimeSpan.FromMinutes(1), b.ShouldRestart(0, false, quick));
        b.Cancel();
        Assert.Null(b.ShouldRestart(1, false, quick));
    }

    [Fact]
    public void Policies_decide_as_dockers()
    {
        var quick = TimeSpan.FromSeconds(1);
        Assert.Null(new RestartBackoff(null).ShouldRestart(1, false, quick));
        Assert.Null(new RestartBackoff(new RestartPolicy { Name = "no" }).ShouldRestart(1, false, quick));
        Assert.Null(new RestartBackoff(new RestartPolicy { Name = "unless-stopped" }).ShouldRestart(0, true, quick));
        Assert.NotNull(new RestartBackoff(new RestartPolicy { Name = "unless-stopped" }).ShouldRestart(0, false, quick));
        var onFailure = new RestartBackoff(new RestartPolicy { Name = "on-failure", MaximumRetryCount = 2 });
        Assert.Null(onFailure.ShouldRestart(0, false, quick));
        Assert.NotNull(onFailure.ShouldRestart(1, false, quick));
        Assert.NotNull(onFailure.ShouldRestart(1, false, quick));
        Assert.Null(onFailure.ShouldRestart(1, false, quick));
        var unlimited = new RestartBackoff(new RestartPolicy { Name = "on-failure" });
        for (var i = 0; i < 10; i++) Assert.NotNull(unlimited.ShouldRestart(2, false, quick));
    }

    [Fact]
    public void Validation_uses_dockers_messages()
    {
        RestartBackoff.Validate(new RestartPolicy { Name = "on-failure", MaximumRetryCount = 3 }, false);
        Assert.Throws<InvalidParameterException>(() => RestartBackoff.Validate(new RestartPolicy { Name = "always", MaximumRetryCount = 3 }, false));
        Assert.Throws<InvalidParameterException>(() => RestartBackoff.Validate(new RestartPolicy { Name = "on-failure", MaximumRetryCount = -1 }, false));
        Assert.Equal("can't create 'AutoRemove' container with restart policy",
            Assert.Throws<InvalidParameterException>(() => RestartBackoff.Validate(new RestartPolicy { Name = "always" }, true)).Message);
    }
}

public sealed class HealthRulesTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static HealthcheckResult Result(int code) => new() { ExitCode = code, Output = code.ToString() };

    [Fact]
    public void Failures_count_toward_retries_after_the_start_period()
    {
        var config = new HealthConfig { Test = ["CMD", "x"], Retries = 2, StartPeriod = 10_000_000_000 };
        var h = new Health { Status = "starting" };
        Assert.False(HealthRules.Record(h, config, Result(1), Start, Start.AddSeconds(5))); // within the start period: not counted
        Assert.Equal(0, h.FailingStreak);
        Assert.False(HealthRules.Record(h, config, Result(1), Start, Start.AddSeconds(11)));
        Assert.Equal(1, h.FailingStreak);
        Assert.True(HealthRules.Record(h, config, Result(1), Start, Start.AddSeconds(12)));
        Assert.Equal("unhealthy", h.Status);
        Assert.True(HealthRules.Record(h, config, Result(0), Start, Start.AddSeconds(13)));
        Assert.Equal("healthy", h.Status);
        Assert.Equal(0, h.FailingStreak);
    }

    [Fact]
    public void A_healthy_container_counts_failures_even_in_its_start_period_and_the_log_keeps_five()
    {
        var config = new HealthConfig { Test = ["CMD", "x"], Retries = 1, StartPeriod = 60_000_000_000 };
        var h = new Health { Status = "starting" };
        HealthRules.Record(h, config, Result(0), Start, Start.AddSeconds(1));
        Assert.True(HealthRules.Record(h, config, Result(1), Start, Start.AddSeconds(2)));
        Assert.Equal("unhealthy", h.Status);
        for (var i = 0; i < 10; i++) HealthRules.Record(h, config, Result(i), Start, Start.AddSeconds(3 + i));
        Assert.Equal(5, h.Log!.Count);
        Assert.Equal("9", h.Log[^1].Output);
    }

    [Fact]
    public void Probe_commands_and_defaults()
    {
        Assert.Equal(["/bin/sh", "-c", "curl -f x"], HealthRules.ProbeCommand(new HealthConfig { Test = ["CMD-SHELL", "curl -f x"] }, null));
        Assert.Equal(["cat", "/ok"], HealthRules.ProbeCommand(new HealthConfig { Test = ["CMD", "cat", "/ok"] }, null));
        Assert.False(HealthRules.Enabled(new HealthConfig { Test = ["NONE"] }));
        Assert.False(HealthRules.Enabled(null));
        var defaults = new HealthConfig { Test = ["CMD", "x"] };
        Assert.Equal(TimeSpan.FromSeconds(30), HealthRules.Interval(defaults));
        Assert.Equal(3, HealthRules.Retries(defaults));
    }
}

public sealed class NamesAndSignalsTests
{
    [Fact]
    public void Generated_names_are_valid_docker_names()
    {
        for (var i = 0; i < 200; i++)
        {
            Assert.Matches(NameGenerator.Valid(), NameGenerator.Next(i % 3));
        }
        Assert.DoesNotMatch(NameGenerator.Valid(), "-leading-dash");
        Assert.DoesNotMatch(NameGenerator.Valid(), "a");
        Assert.Matches(NameGenerator.Valid(), "/ok.name_1-2");
    }

    [Theory]
    [InlineData("SIGTERM", 15)]
    [InlineData("term", 15)]
    [InlineData("9", 9)]
    [InlineData("KILL", 9)]
    [InlineData("SIGRTMIN+3", 37)]
    public void Signals_parse(string text, int number) => Assert.Equal(number, Signals.Parse(text));

    [Fact]
    public void Bad_signals_are_refused()
    {
        Assert.Throws<InvalidParameterException>(() => Signals.Parse("0"));
        Assert.Throws<InvalidParameterException>(() => Signals.Parse("65"));
        Assert.Throws<InvalidParameterException>(() => Signals.Parse("SIGFOO"));
    }

    [Fact]
    public void Human_durations_match_go_units()
    {
        Assert.Equal("Less than a second", Container.HumanDuration(TimeSpan.FromMilliseconds(500)));
        Assert.Equal("1 second", Container.HumanDuration(TimeSpan.FromSeconds(1)));
        Assert.Equal("45 seconds", Container.HumanDuration(TimeSpan.FromSeconds(45)));
        Assert.Equal("About a minute", Container.HumanDuration(TimeSpan.FromSeconds(90)));
        Assert.Equal("5 minutes", Container.HumanDuration(TimeSpan.FromMinutes(5)));
        Assert.Equal("About an hour", Container.HumanDuration(TimeSpan.FromMinutes(65)));
        Assert.Equal("3 days", Container.HumanDuration(TimeSpan.FromDays(3)));
    }

    [Fact]
    public void Ps_output_keeps_the_containers_processes()
    {
        var output = "UID PID PPID C STIME TTY TIME CMD\nroot 10 1 0 10:00 ? 00:00:00 sleep 100\nroot 11 1 0 10:00 ? 00:00:00 other thing\n";
        var top = ContainerService.ParsePs(output, new HashSet<int> { 10 });
        Assert.Equal(["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], top.Titles);
        Assert.Equal(["root", "10", "1", "0", "10:00", "?", "00:00:00", "sleep 100"], Assert.Single(top.Processes));
    }
}
