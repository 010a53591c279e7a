using System.Formats.Tar;
using System.Text;
using Berth.Engine.Filesystem;
using Berth.Engine.Images;
using Berth.Engine.Models;
using Berth.Oci.Content;
using Berth.Storage;
using Berth.Testing;

namespace Berth.Engine.Tests.Images;

/// <summary>A busybox image and one container layer on it, in an <see cref="ImageHarness"/>.</summary>
internal sealed class ContainerHarness : IDisposable
{
    public ImageHarness Images { get; }
    public Digest ImageId { get; }
    public ContainerLayer Layer { get; }
    public ContainerFilesystemService Filesystem { get; } = new();
    public string Id { get; } = "fs" + Guid.NewGuid().ToString("N");

    private ContainerHarness(ImageHarness images, Digest imageId, ContainerLayer layer)
    {
        Images = images; ImageId = imageId; Layer = layer;
    }

    public static async Task<ContainerHarness> CreateAsync(string driver = "overlay2")
    {
        var images = new ImageHarness(driver);
        try
        {
            var id = await images.ImportIdAsync(TestTars.Busybox(images.Temp), "busybox", null, ["CMD [\"sh\"]"]);
            var chain = images.Store.GetConfig(id).RootFs.ChainId().ToString();
            var harness = new ContainerHarness(images, id, images.Storage.Layers.CreateContainerLayer("fs" + Guid.NewGuid().ToString("N"), chain));
            return harness;
        }
        catch
        {
            images.Dispose();
            throw;
        }
    }

    public ContainerFilesystemTarget Target(bool readOnly = false, string? user = null) => new("mycontainer", Layer, ReadOnlyRootfs: readOnly, User: user);

    /// <summary>Changes the container's filesystem as a process in it would (through the merged mount).</summary>
    public void Change(Action<string> change)
    {
        var root = Layer.Mount();
        try { change(root); }
        finally { Layer.Unmount(); }
    }

    public T Read<T>(Func<string, T> read)
    {
        var root = Layer.Mount();
        try { return read(root); }
        finally { Layer.Unmount(); }
    }

    public bool IsMounted()
        => File.ReadLines("/proc/self/mountinfo").Any(l => l.Contains(Images.Temp.Path, StringComparison.Ordinal));

    public async Task<byte[]> GetAsync(string path)
    {
        using var output = new MemoryStream();
        await Filesystem.GetArchiveAsync(Target(), path, output, CancellationToken.None);
        return output.ToArray();
    }

    public Task PutAsync(string path, byte[] tar, bool noOverwrite = false, bool copyUidGid = false, ContainerFilesystemTarget? target = null)
        => Filesystem.PutArchiveAsync(target ?? Target(), new ArchiveUpload(path, noOverwrite, copyUidGid), new MemoryStream(tar), CancellationToken.None);

    public void Dispose()
    {
        try { Images.Storage.Layers.DeleteContainerLayer(Layer.Id); } catch (StorageException) { }
        Images.Dispose();
    }
}

/// <summary>docker diff, export, cp and commit on real container layers (overlay2 and vfs): [RootFact]s.</summary>
public sealed class ContainerFilesystemTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static List<(string Name, TarEntryType Type, string Link, string Content, int Uid, int Mode)> Entries(byte[] tar)
    {
        var list = new List<(string, TarEntryType, string, string, int, int)>();
        using var reader = new TarReader(new MemoryStream(tar));
        while (reader.GetNextEntry(copyData: true) is { } e)
        {
            var content = e.DataStream is null ? "" : new StreamReader(e.DataStream).ReadToEnd();
            list.Add((e.Name, e.EntryType, e.LinkName, content, e.Uid, (int)e.Mode));
        }
        return list;
    }

    [RootFact]
    public Task Diff_on_overlay2() => Diff("overlay2");

    [RootFact]
    public Task Diff_on_vfs() => Diff("vfs");

    private static async Task Diff(string driver)
    {
        using var c = await ContainerHarness.CreateAsync(driver);
        c.Change(root =>
        {
            File.WriteAllText(Path.Combine(root, "root", "new.txt"), "new");
            File.AppendAllText(Path.Combine(root, "etc", "passwd"), "app:x:1000:1000::/:/bin/sh\n");
            File.Delete(Path.Combine(root, "bin", "ls"));
            File.WriteAllText(Path.Combine(root, "etc", "hosts"), "127.0.0.1 localhost\n"); // the engine's bind-mount target: hidden
            Directory.CreateDirectory(Path.Combine(root, "dev", "pts"));                     // likewise, and /dev with it
        });
        var changes = await c.Filesystem.ChangesAsync(c.Target(), None);
        Assert.Equal(
            ["C /bin", "D /bin/ls", "C /etc", "C /etc/passwd", "C /root", "A /root/new.txt"],
            changes.Select(x => $"{x.Kind switch { 0 => 'C', 1 => 'A', 2 => 'D', _ => '?' }} {x.Path}").ToList());
    }

    [RootFact]
    public async Task Export_writes_the_merged_filesystem()
    {
        using var c = await ContainerHarness.CreateAsync();
        c.Change(root =>
        {
            File.WriteAllText(Path.Combine(root, "root", "new.txt"), "new");
            File.Delete(Path.Combine(root, "bin", "ls"));
        });
        using var output = new MemoryStream();
        await c.Filesystem.ExportAsync(c.Target(), output, None);
        var entries = Entries(output.ToArray());
        Assert.Contains(entries, e => e.Name == "root/new.txt" && e.Content == "new");
        Assert.Contains(entries, e => e.Name == "bin/busybox" && e.Type == TarEntryType.RegularFile);
        Assert.Contains(entries, e => e.Name == "bin/sh" && e.Type == TarEntryType.SymbolicLink && e.Link == "/bin/busybox");
        Assert.DoesNotContain(entries, e => e.Name == "bin/ls");
        Assert.False(c.IsMounted()); // mounted for the export only
    }

    [RootFact]
    public async Task Copy_out_names_entries_as_Docker_does()
    {
        using var c = await ContainerHarness.CreateAsync();
        var passwd = c.Read(root => File.ReadAllText(Path.Combine(root, "etc", "passwd")));

        var file = Entries(await c.GetAsync("/etc/passwd"));
        Assert.Equal(("passwd", passwd), (Assert.Single(file).Name, file[0].Content));

        Assert.Equal(["etc/", "etc/group", "etc/passwd"], Entries(await c.GetAsync("/etc")).Select(e => e.Name).ToList());
        Assert.Equal(["etc/", "etc/group", "etc/passwd"], Entries(await c.GetAsync("etc/")).Select(e => e.Name).ToList());
        Assert.Equal(["./", "./group", "./passwd"], Entries(await c.GetAsync("/etc/.")).Select(e => e.Name).ToList());

        // A final symlink is archived as the link, not followed (docker cp -L follows it with the stat's linkTarget).
        var link = Assert.Single(Entries(await c.GetAsync("/bin/sh")));
        Assert.Equal(("sh", TarEntryType.SymbolicLink, "/bin/busybox"), (link.Name, link.Type, link.Link));
        var stat = await c.Filesystem.StatPathAsync(c.Target(), "/bin/sh", None);
        Assert.Equal("sh", stat.Name);
        Assert.Equal("/bin/busybox", stat.LinkTarget);
        Assert.NotEqual(0u, stat.Mode & (1u << 27)); // Go's ModeSymlink
        var dir = await c.Filesystem.StatPathAsync(c.Target(), "/tmp", None);
        Assert.Equal((1u << 31) | (1u << 20) | 0x1FFu, dir.Mode); // ModeDir | ModeSticky | 0777
        Assert.Equal("tmp", dir.Name);
        var fileStat = await c.Filesystem.StatPathAsync(c.Target(), "/etc/passwd", None);
        Assert.Equal((0x1A4u, (long)passwd.Length, ""), (fileStat.Mode, fileStat.Size, fileStat.LinkTarget));
        Assert.False(c.IsMounted());
    }

    [RootFact]
    public async Task Copy_out_stays_inside_the_container()
    {
        using var c = await ContainerHarness.CreateAsync();
        var passwd = c.Read(root => File.ReadAllText(Path.Combine(root, "etc", "passwd")));
        Assert.NotEqual(File.ReadAllText("/etc/passwd"), passwd);
        c.Change(root =>
        {
            File.CreateSymbolicLink(Path.Combine(root, "escape"), "/../../../../../../etc");
            File.CreateSymbolicLink(Path.Combine(root, "up"), "../../../../../../etc/passwd");
        });
        Assert.Equal(passwd, Assert.Single(Entries(await c.GetAsync("../../../etc/passwd"))).Content);
        Assert.Equal(passwd, Assert.Single(Entries(await c.GetAsync("/escape/passwd"))).Content);
        Assert.Equal("/etc/passwd", (await c.Filesystem.StatPathAsync(c.Target(), "/up", None)).LinkTarget);
        Assert.Equal("/etc", (await c.Filesystem.StatPathAsync(c.Target(), "/escape", None)).LinkTarget);

        var missing = await Assert.ThrowsAsync<NotFoundException>(() => c.GetAsync("/nope/file"));
        Assert.Equal("Could not find the file /nope/file in container mycontainer", missing.Message);
        await Assert.ThrowsAsync<NotFoundException>(() => c.Filesystem.StatPathAsync(c.Target(), "/etc/nope", None));
    }

    private static byte[] Tar(Action<TarWriter> write)
    {
        using var output = new MemoryStream();
        using (var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true)) write(writer);
        return output.ToArray();
    }

    private static PaxTarEntry Entry(TarEntryType type, string name, int mode = 0x1A4, int uid = 0, int gid = 0, string? content = null, string? link = null)
    {
        var e = new PaxTarEntry(type, name) { Mode = (UnixFileMode)mode, Uid = uid, Gid = gid, ModificationTime = DateTimeOffset.FromUnixTimeSeconds(1_000_000_000) };
        if (content is not null) e.DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content));
        if (link is not null) e.LinkName = link;
        return e;
    }

    [RootFact]
    public Task Copy_in_on_overlay2() => CopyIn("overlay2");

    [RootFact]
    public Task Copy_in_on_vfs() => CopyIn("vfs");

    private static async Task CopyIn(string driver)
    {
        using var c = await ContainerHarness.CreateAsync(driver);
        var tar = Tar(w =>
        {
            w.WriteEntry(Entry(TarEntryType.Directory, "d/", 0x1E8, 1234, 5678));
            w.WriteEntry(Entry(TarEntryType.RegularFile, "d/f", 0x1A0, 1234, 5678, "data"));
            w.WriteEntry(Entry(TarEntryType.SymbolicLink, "d/l", 0x1FF, 1234, 5678, link: "f"));
            w.WriteEntry(Entry(TarEntryType.HardLink, "d/h", 0x1A0, 1234, 5678, link: "d/f"));
            w.WriteEntry(Entry(TarEntryType.RegularFile, "deep/er/file", content: "no parents in the tar"));
        });
        await c.PutAsync("/tmp", tar);
        Assert.False(c.IsMounted());
        c.Change(root =>
        {
            var d = Path.Combine(root, "tmp", "d");
            Assert.Equal("data", File.ReadAllText(Path.Combine(d, "f")));
            Assert.Equal("f", new FileInfo(Path.Combine(d, "l")).LinkTarget);
            Assert.Equal("data", File.ReadAllText(Path.Combine(d, "h")));
            Assert.Equal("640 1234:5678 2", BusyboxRootfs.Run("stat", "-c", "%a %u:%g %h", Path.Combine(d, "f")).Trim()); // owner from the tar; two names, one inode
            Assert.Equal("750 1234:5678", BusyboxRootfs.Run("stat", "-c", "%a %u:%g", d).Trim());
            Assert.Equal("no parents in the tar", File.ReadAllText(Path.Combine(root, "tmp", "deep", "er", "file")));
        });

        // copyUIDGID: everything belongs to the container's user, looked up in the container's /etc/passwd.
        await c.PutAsync("/root", tar, copyUidGid: true, target: c.Target(user: "nobody"));
        c.Change(root => Assert.Equal("65534:65534", BusyboxRootfs.Run("stat", "-c", "%u:%g", Path.Combine(root, "root", "d", "f")).Trim()));

        // The destination's symlinks are followed inside the container.
        c.Change(root => File.CreateSymbolicLink(Path.Combine(root, "into-tmp"), "/../../tmp"));
        await c.PutAsync("/into-tmp", Tar(w => w.WriteEntry(Entry(TarEntryType.RegularFile, "via-link", content: "x"))));
        c.Change(root => Assert.True(File.Exists(Path.Combine(root, "tmp", "via-link"))));
    }

    [RootFact]
    public async Task Copy_in_refuses_escapes_and_reports_Dockers_errors()
    {
        using var c = await ContainerHarness.CreateAsync();
        var outside = c.Images.Temp.Combine("outside");
        Directory.CreateDirectory(outside);

        // ../ in a name: refused, nothing written anywhere.
        var climbing = Tar(w => w.WriteEntry(Entry(TarEntryType.RegularFile, "../../../../../../" + outside.TrimStart('/') + "/evil", content: "x")));
        var e = await Assert.ThrowsAsync<InvalidParameterException>(() => c.PutAsync("/tmp", climbing));
        Assert.Contains("is outside of", e.Message);

        // A symlink to the host's directory, then a file through it: the link resolves inside the container,
        // where that directory does not exist (refused, as Docker's chrooted untar); never on the host.
        var trap = Tar(w =>
        {
            w.WriteEntry(Entry(TarEntryType.SymbolicLink, "link", 0x1FF, link: outside));
            w.WriteEntry(Entry(TarEntryType.RegularFile, "link/evil", content: "x"));
        });
        await Assert.ThrowsAsync<InvalidParameterException>(() => c.PutAsync("/tmp", trap));
        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
        // A climbing symlink to a directory that does exist: the file lands in the container's directory.
        var climbingLink = Tar(w =>
        {
            w.WriteEntry(Entry(TarEntryType.SymbolicLink, "up", 0x1FF, link: "../../../../../../../../root"));
            w.WriteEntry(Entry(TarEntryType.RegularFile, "up/evil", content: "x"));
        });
        await c.PutAsync("/tmp", climbingLink);
        Assert.False(File.Exists("/root/evil"));
        c.Change(root => Assert.Equal("x", File.ReadAllText(Path.Combine(root, "root", "evil"))));

        // A hard link to a file above the destination: refused.
        var hard = Tar(w => w.WriteEntry(Entry(TarEntryType.HardLink, "h", link: "../etc/passwd")));
        await Assert.ThrowsAsync<InvalidParameterException>(() => c.PutAsync("/tmp", hard));

        // The path itself climbing: resolved inside the root.
        await c.PutAsync("../../../../tmp", Tar(w => w.WriteEntry(Entry(TarEntryType.RegularFile, "climbed", content: "x"))));
        c.Change(root => Assert.True(File.Exists(Path.Combine(root, "tmp", "climbed"))));

        var file = Tar(w => w.WriteEntry(Entry(TarEntryType.RegularFile, "f", content: "x")));
        Assert.Equal("Could not find the file /nope in container mycontainer",
            (await Assert.ThrowsAsync<NotFoundException>(() => c.PutAsync("/nope", file))).Message);
        Assert.Equal("extraction point is not a directory",
            (await Assert.ThrowsAsync<InvalidParameterException>(() => c.PutAsync("/etc/passwd", file))).Message);
        Assert.Equal("container rootfs is marked read-only",
            (await Assert.ThrowsAsync<ForbiddenException>(() => c.PutAsync("/tmp", file, target: c.Target(readOnly: true)))).Message);

        // noOverwriteDirNonDir: a file must not replace /etc, and without it, it does.
        var etcAsFile = Tar(w => w.WriteEntry(Entry(TarEntryType.RegularFile, "etc", content: "not a dir")));
        var overwrite = await Assert.ThrowsAsync<InvalidParameterException>(() => c.PutAsync("/", etcAsFile, noOverwrite: true));
        Assert.Contains("cannot overwrite directory", overwrite.Message);
        c.Change(root => Assert.True(Directory.Exists(Path.Combine(root, "etc"))));
        await c.PutAsync("/", etcAsFile);
        c.Change(root => Assert.Equal("not a dir", File.ReadAllText(Path.Combine(root, "etc"))));
        Assert.False(c.IsMounted());
    }

    [RootFact]
    public Task Commit_on_overlay2() => Commit("overlay2");

    [RootFact]
    public Task Commit_on_vfs() => Commit("vfs");

    /// <summary>docker commit: the container's changes become a layer; its config (with the request's and the changes) the image config.</summary>
    private static async Task Commit(string driver)
    {
        using var c = await ContainerHarness.CreateAsync(driver);
        c.Change(root =>
        {
            File.WriteAllText(Path.Combine(root, "root", "made-here"), "by the container");
            File.Delete(Path.Combine(root, "bin", "ls"));
        });
        var config = new ContainerConfig { Cmd = ["sh", "-c", "echo hi"], Env = ["PATH=/bin", "FROM_CONTAINER=1"], Labels = new() { ["l"] = "container" } };
        c.Images.Containers.Commits["mycontainer"] = new CommitSource(c.Layer.Id, c.ImageId, c.Layer, config, Running: true, Paused: false);
        c.Images.Containers.Uses.Add(new ImageUse(c.Layer.Id, c.ImageId, true));

        var request = new ContainerConfig { Labels = new() { ["l"] = "request" } };
        var id = await c.Images.Service.CommitAsync(new CommitOptions("mycontainer", "committed", "v1", "a comment", "someone", true, ["ENV B=2"], request), None);
        Assert.Equal(["pause " + c.Layer.Id, "unpause " + c.Layer.Id], c.Images.Containers.Calls);

        var inspect = await c.Images.Service.InspectAsync("committed:v1", None);
        Assert.Equal(id.Id, inspect.Id);
        Assert.Equal(c.ImageId.ToString(), inspect.Parent);
        Assert.Equal(("a comment", "someone"), (inspect.Comment, inspect.Author));
        Assert.Equal(["sh", "-c", "echo hi"], inspect.Config!.Cmd!);
        Assert.Contains("FROM_CONTAINER=1", inspect.Config.Env!);
        Assert.Contains("B=2", inspect.Config.Env!);
        Assert.Equal("request", inspect.Config.Labels!["l"]);
        Assert.Equal(2, inspect.RootFS.Layers.Count);
        var history = await c.Images.Service.HistoryAsync("committed:v1", None);
        Assert.Equal(("sh -c echo hi", "a comment", id.Id), (history[0].CreatedBy, history[0].Comment, history[0].Id));
        Assert.Equal(c.ImageId.ToString(), history[1].Id);
        Assert.Contains(c.Images.EventList(), e => e.Action == "commit" && e.Id == c.Layer.Id);

        // A container of the new image sees the committed changes.
        var chain = c.Images.Store.GetConfig(Digest.Parse(id.Id)).RootFs.ChainId().ToString();
        var next = c.Images.Storage.Layers.CreateContainerLayer("next" + Guid.NewGuid().ToString("N"), chain);
        try
        {
            var root = next.Mount();
            try
            {
                Assert.Equal("by the container", File.ReadAllText(Path.Combine(root, "root", "made-here")));
                Assert.DoesNotContain(Path.Combine(root, "bin", "ls"), Directory.EnumerateFileSystemEntries(Path.Combine(root, "bin")));
                Assert.Contains(Path.Combine(root, "bin", "sh"), Directory.EnumerateFileSystemEntries(Path.Combine(root, "bin")));
            }
            finally { next.Unmount(); }
        }
        finally { c.Images.Storage.Layers.DeleteContainerLayer(next.Id); }

        // The parent is in use by the new image: rmi of it by ID is refused.
        var conflict = await Assert.ThrowsAsync<ConflictException>(() => c.Images.Service.RemoveAsync(c.ImageId.Hex, true, false, None));
        Assert.Contains("image has dependent child images", conflict.Message);
        await Assert.ThrowsAsync<NotFoundException>(() => c.Images.Service.CommitAsync(new CommitOptions("other", null, null, null, null, true, [], null), None));
    }
}
