using Berth.Testing;

namespace Berth.EndToEnd.Tests;

/// <summary>
/// docker cp (the real docker CLI against berthd) where Debian's dockerd 20.10 was seen to behave in a particular way:
/// through a symlink of the container into a bind mount, into and out of a --tmpfs destination (dockerd copies into
/// the layer beneath it, which the running container does not see), and on a container that was created and never
/// started (its volumes already take the copy).
/// </summary>
public sealed class CopyGapsTests(BerthDaemon daemon) : IClassFixture<BerthDaemon>
{
    private string Name(string what) => $"{daemon.Tag}-{what}";

    private string LocalFile(string name, string content)
    {
        var path = daemon.TempPath(name);
        File.WriteAllText(path, content);
        return path;
    }

    [RootFact]
    public async Task Cp_follows_a_symlink_into_a_bind_mount()
    {
        await daemon.BusyboxAsync();
        var name = Name("cplink");
        var bind = daemon.TempPath("cplink-bind");
        Directory.CreateDirectory(bind);
        File.WriteAllText(Path.Combine(bind, "h.txt"), "from-host\n");
        var local = LocalFile("cplink-x.txt", "sent\n");
        await daemon.DockerOkAsync("run", "-d", "--name", name, "-v", $"{bind}:/data", "busybox", "sh", "-c", "ln -s /data /link; ln -s data /rlink; sleep 300");
        try
        {
            // The links are made by the container's shell: wait until they are there.
            for (var i = 0; i < 50 && (await daemon.DockerAsync("exec", name, "test", "-L", "/rlink")).Code != 0; i++) await Task.Delay(100);
            await daemon.DockerOkAsync("cp", local, $"{name}:/link/");
            Assert.Equal("sent\n", File.ReadAllText(Path.Combine(bind, "cplink-x.txt")));
            await daemon.DockerOkAsync("cp", local, $"{name}:/rlink/renamed.txt");
            Assert.Equal("sent\n", File.ReadAllText(Path.Combine(bind, "renamed.txt")));
            Assert.Equal("sent\n", await daemon.DockerOkAsync("exec", name, "cat", "/data/renamed.txt"));

            var outDir = daemon.TempPath("cplink-out");
            Directory.CreateDirectory(outDir);
            await daemon.DockerOkAsync("cp", $"{name}:/link/h.txt", outDir);
            Assert.Equal("from-host\n", File.ReadAllText(Path.Combine(outDir, "h.txt")));
            // Without -L the link itself; with -L what it leads to, the bind's directory, named as the link.
            await daemon.DockerOkAsync("cp", $"{name}:/link", outDir);
            Assert.Equal("/data", new FileInfo(Path.Combine(outDir, "link")).LinkTarget);
            var followed = daemon.TempPath("cplink-followed");
            await daemon.DockerOkAsync("cp", "-L", $"{name}:/link", followed);
            Assert.Equal("from-host\n", File.ReadAllText(Path.Combine(followed, "h.txt")));
            // Nothing went into the layer's mount point.
            Assert.DoesNotContain("cplink-x.txt", await daemon.DockerOkAsync("diff", name));
        }
        finally
        {
            await daemon.DockerAsync("rm", "-f", name);
        }
    }

    [RootFact]
    public async Task Cp_of_a_directory_at_the_root_lands_in_the_mounts_it_reaches()
    {
        await daemon.BusyboxAsync();
        var name = Name("cptree");
        var rw = daemon.TempPath("cptree-rw");
        var ro = daemon.TempPath("cptree-ro");
        var tree = daemon.TempPath("cptree-src");
        Directory.CreateDirectory(rw);
        Directory.CreateDirectory(ro);
        Directory.CreateDirectory(Path.Combine(tree, "data"));
        Directory.CreateDirectory(Path.Combine(tree, "ro"));
        File.WriteAllText(Path.Combine(tree, "data", "new.txt"), "new\n");
        File.WriteAllText(Path.Combine(tree, "ro", "new.txt"), "new\n");
        await daemon.DockerOkAsync("run", "-d", "--name", name, "-v", $"{rw}:/data", "-v", $"{ro}:/ro:ro", "busybox", "sleep", "300");
        try
        {
            // `docker cp DIR c:/` copies DIR to /DIR: here the bind at /data, as dockerd (it extracts with the mounts in place).
            await daemon.DockerOkAsync("cp", Path.Combine(tree, "data"), $"{name}:/");
            Assert.Equal("new\n", File.ReadAllText(Path.Combine(rw, "new.txt")));
            Assert.Equal("new\n", await daemon.DockerOkAsync("exec", name, "cat", "/data/new.txt"));
            // The read-only bind refuses, with dockerd's words.
            var refused = await daemon.DockerAsync("cp", Path.Combine(tree, "ro"), $"{name}:/");
            Assert.True(refused.Code == 1, refused.ToString());
            Assert.Contains("Error processing tar file(exit status 1): lchown /ro: read-only file system", refused.Err);
            Assert.Empty(Directory.EnumerateFileSystemEntries(ro));
        }
        finally
        {
            await daemon.DockerAsync("rm", "-f", name);
        }
    }

    [RootFact]
    public async Task Cp_into_a_tmpfs_destination_writes_the_layer_beneath_it_as_dockerd_does()
    {
        await daemon.BusyboxAsync();
        var name = Name("cptmpfs");
        var local = LocalFile("cptmpfs-x.txt", "sent\n");
        await daemon.DockerOkAsync("run", "-d", "--name", name, "--tmpfs", "/tm", "busybox", "sh", "-c", "echo inside > /tm/t.txt; sleep 300");
        try
        {
            for (var i = 0; i < 50 && (await daemon.DockerAsync("exec", name, "test", "-f", "/tm/t.txt")).Code != 0; i++) await Task.Delay(100);
            await daemon.DockerOkAsync("cp", local, $"{name}:/tm/");
            // The running container sees its tmpfs only.
            Assert.Equal("t.txt\n", await daemon.DockerOkAsync("exec", name, "ls", "/tm"));
            var missing = await daemon.DockerAsync("cp", $"{name}:/tm/t.txt", daemon.TempPath("cptmpfs-out"));
            Assert.True(missing.Code == 1, missing.ToString());
            Assert.Contains($"Could not find the file /tm/t.txt in container {name}", missing.Err);
            // Stopped: the tmpfs is gone and the copy is what is there.
            await daemon.DockerOkAsync("stop", "-t", "0", name);
            var outDir = daemon.TempPath("cptmpfs-stopped");
            await daemon.DockerOkAsync("cp", $"{name}:/tm", outDir);
            Assert.Equal(["cptmpfs-x.txt"], Directory.EnumerateFiles(outDir).Select(Path.GetFileName));
        }
        finally
        {
            await daemon.DockerAsync("rm", "-f", name);
        }
    }

    [RootFact]
    public async Task Cp_into_a_created_container_fills_its_volumes()
    {
        await daemon.BusyboxAsync();
        var name = Name("cpcreated");
        var volume = Name("cpcreatedvol");
        var local = LocalFile("cpcreated-x.txt", "sent\n");
        await daemon.DockerOkAsync("create", "--name", name, "-v", $"{volume}:/vol", "-v", "/anon", "--tmpfs", "/tm", "busybox", "sleep", "300");
        try
        {
            await daemon.DockerOkAsync("cp", local, $"{name}:/vol/");
            await daemon.DockerOkAsync("cp", local, $"{name}:/anon/");
            // The tmpfs is made at start: before it, its destination is not a directory of the container.
            var tmpfs = await daemon.DockerAsync("cp", local, $"{name}:/tm/");
            Assert.True(tmpfs.Code == 1, tmpfs.ToString());
            Assert.Contains("no such directory", tmpfs.Err);
            var outDir = daemon.TempPath("cpcreated-out");
            Directory.CreateDirectory(outDir);
            await daemon.DockerOkAsync("cp", $"{name}:/anon", outDir);
            Assert.Equal("sent\n", File.ReadAllText(Path.Combine(outDir, "anon", "cpcreated-x.txt")));

            // The start mounts the volumes that took the copies.
            await daemon.DockerOkAsync("start", name);
            Assert.Equal("sent\n", await daemon.DockerOkAsync("exec", name, "cat", "/vol/cpcreated-x.txt"));
            Assert.Equal("sent\n", await daemon.DockerOkAsync("exec", name, "cat", "/anon/cpcreated-x.txt"));
            Assert.Equal("", await daemon.DockerOkAsync("exec", name, "ls", "/tm"));
        }
        finally
        {
            await daemon.DockerAsync("rm", "-f", "-v", name);
            await daemon.DockerAsync("volume", "rm", volume);
        }
    }
}
