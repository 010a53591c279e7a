using Berth.Testing;

namespace Berth.EndToEnd.Tests;

/// <summary>What berthd leaves on the host when it is stopped.</summary>
public sealed class DaemonStopTests
{
    private static List<string> MountsUnder(string root) =>
        [.. File.ReadLines("/proc/self/mounts").Select(l => l.Split(' ')[1]).Where(p => p.StartsWith(root + "/", StringComparison.Ordinal))];

    [RootFact]
    public async Task Stopped_without_live_restore_it_unmounts_the_exec_root_tmpfs_mounts_it_made()
    {
        var daemon = new BerthDaemon();
        await daemon.InitializeAsync();
        try
        {
            await daemon.BusyboxAsync();
            await daemon.BerthOkAsync("run", "--rm", "--network", "none", "busybox", "true");
            await daemon.BerthOkAsync("run", "-d", "--name", daemon.Tag + "-sleeper", "busybox", "sleep", "60");
            Assert.Contains(daemon.ExecRoot + "/bundles", MountsUnder(daemon.ExecRoot));

            await daemon.StopAsync(); // SIGTERM: the sleeper is stopped, then the exec root's mounts go
            Assert.Empty(MountsUnder(daemon.ExecRoot));
        }
        finally { await daemon.DisposeAsync(); }
    }
}
