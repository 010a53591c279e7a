using System.Text.Json;
using Berth.Testing;

namespace Berth.EndToEnd.Tests;

/// <summary>Volumes through berthd with the real docker CLI and the berth CLI: named, anonymous, copy-up, in-use refusals, rm -v.</summary>
public sealed class VolumeTests(BerthDaemon daemon) : IClassFixture<BerthDaemon>
{
    private string Name(string what) => $"{daemon.Tag}-{what}";

    private async Task<string> RunOkAsync(params string[] args)
    {
        var outcome = await NetworkTests.RunLoggedAsync(daemon, args);
        Assert.True(outcome.Code == 0, $"docker run {string.Join(' ', args)}: {outcome}");
        return outcome.Out;
    }

    [RootFact]
    public async Task Named_volume_data_outlives_its_containers_and_an_used_volume_is_not_removed()
    {
        await daemon.BusyboxAsync();
        var volume = Name("data");
        var writer = Name("writer");
        try
        {
            Assert.Equal(volume + "\n", await daemon.DockerOkAsync("volume", "create", "--label", "suite=e2e", volume));
            Assert.Contains(volume, await daemon.DockerOkAsync("volume", "ls", "--format", "{{.Name}} {{.Driver}}"));
            var inspect = JsonDocument.Parse(await daemon.DockerOkAsync("volume", "inspect", volume)).RootElement[0];
            var mountpoint = inspect.GetProperty("Mountpoint").GetString()!;
            Assert.Equal(Path.Combine(daemon.DataRoot, "volumes", volume, "_data"), mountpoint);
            Assert.Equal("e2e", inspect.GetProperty("Labels").GetProperty("suite").GetString());

            await daemon.DockerOkAsync("run", "--name", writer, "-v", volume + ":/data", "busybox", "sh", "-c", "echo kept > /data/note");
            Assert.Equal("kept\n", await File.ReadAllTextAsync(Path.Combine(mountpoint, "note")));
            // Another container, this time through --mount and the berth CLI, reads it.
            var reader = (await daemon.BerthOkAsync("run", "-d", "--mount", $"type=volume,source={volume},target=/in,readonly", "busybox", "cat", "/in/note")).Trim();
            Assert.Equal("0\n", await daemon.BerthOkAsync("wait", reader));
            Assert.Equal("kept\n", await daemon.BerthOkAsync("logs", reader));
            await daemon.BerthOkAsync("rm", reader);
            var mounts = JsonDocument.Parse(await daemon.DockerOkAsync("inspect", writer)).RootElement[0].GetProperty("Mounts");
            var mount = Assert.Single(mounts.EnumerateArray());
            Assert.Equal(("volume", volume, "/data", mountpoint), (mount.GetProperty("Type").GetString(), mount.GetProperty("Name").GetString(),
                mount.GetProperty("Destination").GetString(), mount.GetProperty("Source").GetString()));

            // In use by the stopped writer: refused, and the data stays.
            var refused = await daemon.DockerAsync("volume", "rm", volume);
            Assert.NotEqual(0, refused.Code);
            Assert.Contains("volume is in use", refused.Err);
            Assert.True(File.Exists(Path.Combine(mountpoint, "note")));

            await daemon.DockerOkAsync("rm", writer);
            Assert.Equal(volume + "\n", await daemon.DockerOkAsync("volume", "rm", volume));
            Assert.False(Directory.Exists(Path.Combine(daemon.DataRoot, "volumes", volume)));
        }
        finally
        {
            await daemon.DockerAsync("rm", "-f", writer);
            await daemon.DockerAsync("volume", "rm", "-f", volume);
        }
    }

    [RootFact]
    public async Task Volumes_from_shares_another_container_s_volumes_and_binds_read_write_or_read_only()
    {
        await daemon.BusyboxAsync();
        var source = Name("vfsrc");
        var user = Name("vfuser");
        var bind = daemon.TempPath(Name("vfbind"));
        Directory.CreateDirectory(bind);
        await File.WriteAllTextAsync(Path.Combine(bind, "host"), "from the host\n");
        try
        {
            // An anonymous volume and a read-only bind; the source never runs.
            await daemon.DockerOkAsync("create", "--name", source, "-v", "/data", "-v", bind + ":/hostdir:ro", "busybox", "true");

            // The docker CLI: writes through the shared anonymous volume, reads the bind (still read-only).
            Assert.Equal("from the host\nro\n", await RunOkAsync("--volumes-from", source, "busybox", "sh", "-c",
                "echo shared > /data/note && cat /hostdir/host && (touch /hostdir/x 2>/dev/null && echo rw || echo ro)"));
            // :ro makes every inherited mount read-only, the volume too; the berth CLI passes --volumes-from as well.
            var reader = (await daemon.BerthOkAsync("run", "-d", "--name", user, "--volumes-from", source + ":ro", "busybox", "sh", "-c",
                "cat /data/note; touch /data/y 2>/dev/null && echo rw || echo ro")).Trim();
            Assert.Equal("0\n", await daemon.BerthOkAsync("wait", reader));
            Assert.Equal("shared\nro\n", await daemon.BerthOkAsync("logs", reader));

            var inspect = JsonDocument.Parse(await daemon.DockerOkAsync("inspect", user)).RootElement[0];
            Assert.Equal(source + ":ro", Assert.Single(inspect.GetProperty("HostConfig").GetProperty("VolumesFrom").EnumerateArray()).GetString());
            var mounts = inspect.GetProperty("Mounts").EnumerateArray().ToDictionary(m => m.GetProperty("Destination").GetString()!);
            Assert.Equal("volume", mounts["/data"].GetProperty("Type").GetString());
            Assert.False(mounts["/data"].GetProperty("RW").GetBoolean());
            Assert.Equal(bind, mounts["/hostdir"].GetProperty("Source").GetString());
            // The source's anonymous volume (made for it, as it never ran), shared by name.
            var shared = mounts["/data"].GetProperty("Name").GetString()!;
            Assert.Matches("^[0-9a-f]{64}$", shared);
            Assert.Contains(shared, await daemon.DockerOkAsync("volume", "ls", "-q"));

            // Bad input: a missing container, a bad mode; nothing is created.
            var missing = await daemon.DockerAsync("create", "--volumes-from", Name("nosuch"), "busybox", "true");
            Assert.NotEqual(0, missing.Code);
            Assert.Contains("No such container: " + Name("nosuch"), missing.Err);
            var badMode = await daemon.DockerAsync("create", "--volumes-from", source + ":rx", "busybox", "true");
            Assert.NotEqual(0, badMode.Code);
            Assert.Contains("invalid mode for volumes-from: rx", badMode.Err);
        }
        finally
        {
            await daemon.DockerAsync("rm", "-f", "-v", user, source);
        }
    }

    [RootFact]
    public async Task Anonymous_volumes_are_kept_across_restarts_and_removed_with_rm_v()
    {
        await daemon.BusyboxAsync();
        var box = Name("anon");
        try
        {
            await daemon.DockerOkAsync("run", "--name", box, "-v", "/scratch", "busybox", "sh", "-c", "echo $$ >> /scratch/runs");
            var mount = JsonDocument.Parse(await daemon.DockerOkAsync("inspect", box)).RootElement[0].GetProperty("Mounts")[0];
            var name = mount.GetProperty("Name").GetString()!;
            Assert.Matches("^[0-9a-f]{64}$", name);
            // Started again: the same volume, so both runs are in it.
            await daemon.DockerOkAsync("start", box);
            await daemon.DockerOkAsync("wait", box);
            Assert.Equal(2, File.ReadAllLines(Path.Combine(mount.GetProperty("Source").GetString()!, "runs")).Length);
            Assert.Contains(name, await daemon.DockerOkAsync("volume", "ls", "-q"));

            await daemon.DockerOkAsync("rm", "-v", box);
            Assert.DoesNotContain(name, await daemon.DockerOkAsync("volume", "ls", "-q"));
        }
        finally { await daemon.DockerAsync("rm", "-f", "-v", box); }
    }

    [RootFact]
    public async Task A_new_volume_is_filled_from_the_image_and_prune_keeps_volumes_in_use()
    {
        await daemon.BusyboxAsync();
        var volume = Name("bin");
        var keeper = Name("keeper");
        var spare = Name("spare");
        try
        {
            // Copy-up: the empty new volume gets the image's /bin.
            await daemon.DockerOkAsync("run", "--rm", "-v", volume + ":/bin", "busybox", "true");
            var listed = await RunOkAsync("-v", volume + ":/mnt", "busybox", "ls", "/mnt");
            Assert.Contains("busybox", listed.Split('\n'));
            // nocopy leaves a new volume empty.
            Assert.Equal("", await RunOkAsync("--mount", $"type=volume,source={volume}-empty,target=/bin2,volume-nocopy", "busybox", "ls", "/bin2"));

            await daemon.DockerOkAsync("volume", "create", spare);
            await daemon.DockerOkAsync("create", "--name", keeper, "-v", volume + ":/keep", "busybox", "true");
            await daemon.DockerOkAsync("start", keeper);
            var pruned = await daemon.DockerOkAsync("volume", "prune", "-a", "-f");
            Assert.Contains(spare, pruned);
            Assert.DoesNotContain(volume + "\n", pruned);
            Assert.Contains(volume, await daemon.DockerOkAsync("volume", "ls", "-q"));
        }
        finally
        {
            await daemon.DockerAsync("rm", "-f", keeper);
            await daemon.DockerAsync("volume", "rm", "-f", volume, volume + "-empty", spare);
        }
    }
}
