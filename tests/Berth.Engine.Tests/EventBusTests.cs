using Berth.Engine.Events;
using Berth.Engine.Models;

namespace Berth.Engine.Tests;

public sealed class EventBusTests
{
    private static Filters F(params (string, string)[] values)
        => new(values.GroupBy(v => v.Item1).ToDictionary(g => g.Key, g => g.Select(v => v.Item2).ToList()));

    private static List<EventMessage> Replay(EventBus bus, Filters filters)
        => [.. bus.SubscribeAsync(new EventsOptions(DateTimeOffset.UnixEpoch, DateTimeOffset.UtcNow, filters), CancellationToken.None).ToBlockingEnumerable()];

    [Fact]
    public void Events_are_stamped_in_order_with_the_legacy_fields()
    {
        var bus = new EventBus();
        var a = bus.Publish("container", "create", "abc", new() { ["image"] = "busybox", ["name"] = "x" });
        var b = bus.Publish("container", "start", "abc", new() { ["image"] = "busybox", ["name"] = "x" });
        Assert.True(b.TimeNano > a.TimeNano);
        Assert.Equal(a.TimeNano / 1_000_000_000, a.Time);
        Assert.Equal("create", a.Status);
        Assert.Equal("abc", a.Id);
        Assert.Equal("busybox", a.From);
    }

    [Fact]
    public void Filters_match_as_dockers()
    {
        var bus = new EventBus();
        bus.Publish("container", "start", "aaa111", new() { ["image"] = "busybox:latest", ["name"] = "web", ["tier"] = "front" });
        bus.Publish("container", "exec_start: sh -c true", "aaa111", new() { ["image"] = "busybox:latest", ["name"] = "web", ["execID"] = "e1" });
        bus.Publish("image", "tag", "sha256:def", new() { ["name"] = "app:1" });
        bus.Publish("container", "die", "bbb222", new() { ["image"] = "alpine", ["name"] = "db", ["exitCode"] = "1" });

        Assert.Equal(4, Replay(bus, Filters.None).Count);
        Assert.Equal(["start", "exec_start: sh -c true"], Replay(bus, F(("container", "web"))).Select(e => e.Action));
        Assert.Equal(["die"], Replay(bus, F(("container", "bbb"))).Select(e => e.Action));
        Assert.Equal(["exec_start: sh -c true"], Replay(bus, F(("event", "exec_start"))).Select(e => e.Action));
        Assert.Equal(["tag"], Replay(bus, F(("type", "image"))).Select(e => e.Action));
        Assert.Equal(["start", "exec_start: sh -c true"], Replay(bus, F(("image", "busybox"))).Select(e => e.Action));
        Assert.Equal(["tag"], Replay(bus, F(("image", "app"))).Select(e => e.Action));
        Assert.Equal(["start"], Replay(bus, F(("label", "tier=front"))).Select(e => e.Action));
        Assert.Equal(["start", "die"], Replay(bus, F(("event", "start"), ("event", "die"))).Select(e => e.Action));
        Assert.Equal("invalid filter 'bogus'", Assert.Throws<InvalidParameterException>(() => Replay(bus, F(("bogus", "x")))).Message);
    }

    [Fact]
    public async Task Live_events_arrive_and_until_ends_the_stream()
    {
        var bus = new EventBus();
        var until = DateTimeOffset.UtcNow.AddSeconds(2); // room for a loaded machine to start the reader first
        var received = new List<string>();
        var reading = Task.Run(async () =>
        {
            await foreach (var e in bus.SubscribeAsync(new EventsOptions(null, until, F(("type", "container"))), CancellationToken.None))
                received.Add(e.Action);
        });
        while (bus.Listeners == 0 && !reading.IsCompleted) await Task.Delay(5);
        Assert.False(reading.IsCompleted, "the subscription ended before it was seen");
        bus.Publish("container", "start", "x");
        bus.Publish("network", "create", "n");
        await reading.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(["start"], received);
        Assert.Equal(0, bus.Listeners);
    }

    [Fact]
    public void Since_replays_only_newer_events_and_the_buffer_is_bounded()
    {
        var bus = new EventBus();
        for (var i = 0; i < EventBus.Retained + 10; i++) bus.Publish("container", "e" + i, "x");
        var all = Replay(bus, Filters.None);
        Assert.Equal(EventBus.Retained, all.Count);
        Assert.Equal("e10", all[0].Action);
        var middle = DateTimeOffset.UnixEpoch.AddTicks(all[100].TimeNano / 100);
        var since = bus.SubscribeAsync(new EventsOptions(middle, DateTimeOffset.UtcNow, Filters.None), CancellationToken.None).ToBlockingEnumerable().ToList();
        Assert.InRange(since.Count, EventBus.Retained - 101, EventBus.Retained - 99);
    }
}
