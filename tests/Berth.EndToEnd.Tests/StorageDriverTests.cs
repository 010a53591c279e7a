using Berth.Testing;

namespace Berth.EndToEnd.Tests;

/// <summary>berthd --storage-driver: the layer store's snapshot driver, as dockerd's flag.</summary>
public sealed class StorageDriverTests(VfsDaemon daemon) : IClassFixture<VfsDaemon>
{
    [RootFact]
    public async Task Vfs_runs_containers_and_says_so_in_info()
    {
        await daemon.BusyboxAsync();
        Assert.Equal("vfs\n", await daemon.BerthOkAsync("info", "--format", "{{.Driver}}"));
        Assert.True(Directory.Exists(Path.Combine(daemon.DataRoot, "vfs")), "no vfs directory in the data root");
        Assert.Equal("written\n", await daemon.BerthOkAsync("run", "--rm", "busybox", "sh", "-c", "echo written > /f && cat /f"));
        var bad = await Programs.RunAsync(Path.Combine(BerthDaemon.Bin, "berthd"), ["--storage-driver", "zfs", "--data-root", daemon.TempPath("unused")]);
        Assert.Equal(125, bad.Code);
        Assert.Contains("driver not supported: \"zfs\"", bad.Err);
        Assert.False(Directory.Exists(daemon.TempPath("unused")));
    }
}
