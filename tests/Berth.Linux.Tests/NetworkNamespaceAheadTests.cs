using Berth.Testing;

namespace Berth.Linux.Tests;

/// <summary>A network namespace made ahead on a thread of its own: new, with only `lo`, and handed over only once that
/// thread is gone (the runtime clones itself next, keeping only the calling thread).</summary>
public sealed class NetworkNamespaceAheadTests
{
    private static readonly ISyscalls Sys = LinuxSyscalls.Instance;

    [RootFact]
    public void Take_hands_over_a_new_namespace_with_only_loopback_once_its_thread_has_exited()
    {
        using var ahead = NetworkNamespaceAhead.Begin(Sys);
        var fd = ahead.Take();
        Assert.True(fd >= 0);
        try
        {
            Assert.DoesNotContain(ThreadNames(), name => name == "berth-netns");
            var made = LinkOf($"/proc/self/fd/{fd}");
            Assert.StartsWith("net:[", made);
            Assert.NotEqual(LinkOf("/proc/self/ns/net"), made);
            var devices = NetworkNamespace.Run(Sys, fd, "the namespace made ahead",
                () => File.ReadAllLines("/proc/thread-self/net/dev").Skip(2).Select(l => l.Split(':')[0].Trim()).ToArray());
            Assert.Equal(["lo"], devices);
        }
        finally { Sys.CloseFd(fd); }
    }

    [RootFact]
    public void Disposed_untaken_it_leaves_no_descriptor_open()
    {
        var before = NamespaceDescriptors();
        var ahead = NetworkNamespaceAhead.Begin(Sys);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (NamespaceDescriptors() == before && clock.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(5);
        Assert.Equal(before + 1, NamespaceDescriptors()); // made, and open until the dispose
        ahead.Dispose();
        Assert.Equal(before, NamespaceDescriptors());
    }

    private static string[] ThreadNames()
        => [.. Directory.GetDirectories("/proc/self/task").Select(t => { try { return File.ReadAllText(t + "/comm").Trim(); } catch (IOException) { return ""; } })];

    private static int NamespaceDescriptors()
        => Directory.GetFiles("/proc/self/fd").Count(f => { try { return LinkOf(f).StartsWith("net:["); } catch (IOException) { return false; } });

    private static string LinkOf(string path) => new FileInfo(path).LinkTarget ?? "";
}
