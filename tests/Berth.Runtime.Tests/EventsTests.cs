using System.Diagnostics;
using System.Text.Json.Nodes;
using Berth.Testing;

namespace Berth.Runtime.Tests;

/// <summary>`events`: stats on demand, and OOM events as the kernel reports them.</summary>
public class EventsTests
{
    [RootFact]
    public void AnOutOfMemoryKillShowsAsAnOomEvent()
    {
        // The shell survives the killed `tail` and keeps the container running long enough to be seen.
        using var h = new LifecycleHarness("sh", "-c", "sleep 1; tail /dev/zero; sleep 30");
        var limit = 16L << 20;
        h.Config["linux"]!["resources"] = new JsonObject { ["memory"] = new JsonObject { ["limit"] = limit, ["swap"] = limit } };
        h.Save();
        Assert.Equal(0, h.Create().Code);
        var psi = new ProcessStartInfo(LifecycleHarness.Binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--root", h.Root, "events", "--interval", "30s", h.Id }) psi.ArgumentList.Add(a);
        using var events = Process.Start(psi)!;
        try
        {
            Assert.Equal(0, h.Verb("start", h.Id).Code);
            var lines = new List<string>();
            var read = Task.Run(() =>
            {
                while (events.StandardOutput.ReadLine() is { } line)
                {
                    lines.Add(line);
                    if (line.Contains("\"oom\"")) return line;
                }
                return null;
            });
            Assert.True(read.Wait(20_000), "no oom event within 20 s; got: " + string.Join(" | ", lines));
            var oom = JsonNode.Parse(read.Result!)!;
            Assert.Equal("oom", oom["type"]!.GetValue<string>());
            Assert.Equal(h.Id, oom["id"]!.GetValue<string>());
            Assert.StartsWith("{\"type\":\"stats\"", lines[0]); // the first stats event comes at once
            // The stream ends by itself once the container is gone.
            Assert.Equal(0, h.Verb("kill", h.Id, "KILL").Code);
            Assert.True(events.WaitForExit(10_000), "events did not end with the container");
        }
        finally
        {
            if (!events.HasExited) events.Kill();
        }
    }

    [RootFact]
    public void StatsPrintsOneEventWithTheMemoryLimit()
    {
        using var h = new LifecycleHarness();
        h.Config["linux"]!["resources"] = new JsonObject { ["memory"] = new JsonObject { ["limit"] = 64L << 20 } };
        h.Save();
        Assert.Equal(0, h.Create().Code);
        var r = h.Verb("events", "--stats", h.Id);
        Assert.True(r.Code == 0, r.Stderr);
        var e = JsonNode.Parse(r.Stdout)!;
        Assert.Equal("stats", e["type"]!.GetValue<string>());
        Assert.Equal(64L << 20, e["data"]!["memory"]!["usage"]!["limit"]!.GetValue<long>());
    }
}
