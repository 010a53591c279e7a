using System.Formats.Tar;
using System.Text;
using Berth.Engine.Filesystem;
using Berth.Engine.Tests.Images;
using Berth.Testing;

namespace Berth.Engine.Tests.Filesystem;

/// <summary>
/// docker cp through symlinks of the container that lead into its binds and volumes, as Debian's dockerd 20.10 does
/// it (it mounts them on the rootfs for the call, so a path resolves across them): [RootFact]s on a real overlay layer.
/// </summary>
public sealed class CopyThroughMountsTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private sealed class Fixture : IDisposable
    {
        public required ContainerHarness Container { get; init; }
        public required string Bind { get; init; }
        public required string Volume { get; init; }

        public ContainerFilesystemTarget Target(bool volumeWritable = true) => new("mycontainer", Container.Layer,
            Mounts: [new HostMount("/data", Bind, true), new HostMount("/data/sub/vol", Volume, volumeWritable)]);

        public async Task<List<(string Name, TarEntryType Type, string Link, string Content)>> GetAsync(string path)
        {
            using var output = new MemoryStream();
            await Container.Filesystem.GetArchiveAsync(Target(), path, output, None);
            var list = new List<(string, TarEntryType, string, string)>();
            using var reader = new TarReader(new MemoryStream(output.ToArray()));
            while (reader.GetNextEntry(copyData: true) is { } e)
                list.Add((e.Name, e.EntryType, e.LinkName, e.DataStream is null ? "" : new StreamReader(e.DataStream).ReadToEnd()));
            return list;
        }

        public Task PutAsync(string path, string name, string content, bool volumeWritable = true)
        {
            using var output = new MemoryStream();
            using (var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name)
                {
                    Mode = (UnixFileMode)0x1A4,
                    DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)),
                });
            return Container.Filesystem.PutArchiveAsync(Target(volumeWritable), new(path, false, false), new MemoryStream(output.ToArray()), None);
        }

        public Task PutTarAsync(string path, Action<TarWriter> write, bool volumeWritable = true)
        {
            using var output = new MemoryStream();
            using (var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true)) write(writer);
            return Container.Filesystem.PutArchiveAsync(Target(volumeWritable), new(path, false, false), new MemoryStream(output.ToArray()), None);
        }

        public void Dispose() => Container.Dispose();
    }

    /// <summary>
    /// A container with a bind at /data (holding sub/ and a link "up" -> /etc, absolute, so the container's /etc) and
    /// a volume at /data/sub/vol; in the layer: /link -> /data, /rlink -> data, /sublink -> /data/sub, /loop -> /loop,
    /// and /data and /data/sub/vol as the empty mount points the runtime makes.
    /// </summary>
    private static async Task<Fixture> CreateAsync()
    {
        var container = await ContainerHarness.CreateAsync();
        var bind = container.Images.Temp.Combine("bind");
        var volume = container.Images.Temp.Combine("volume");
        Directory.CreateDirectory(Path.Combine(bind, "sub", "vol"));
        Directory.CreateDirectory(volume);
        File.WriteAllText(Path.Combine(bind, "h.txt"), "from the bind");
        File.WriteAllText(Path.Combine(volume, "v.txt"), "from the volume");
        File.CreateSymbolicLink(Path.Combine(bind, "up"), "/etc");
        container.Change(root =>
        {
            Directory.CreateDirectory(Path.Combine(root, "data"));
            File.CreateSymbolicLink(Path.Combine(root, "link"), "/data");
            File.CreateSymbolicLink(Path.Combine(root, "rlink"), "data");
            File.CreateSymbolicLink(Path.Combine(root, "sublink"), "/data/sub");
            File.CreateSymbolicLink(Path.Combine(root, "loop"), "/loop");
            File.WriteAllText(Path.Combine(root, "etc", "marker"), "the container's /etc");
        });
        return new Fixture { Container = container, Bind = bind, Volume = volume };
    }

    [RootFact]
    public async Task Copy_in_follows_a_symlink_into_a_bind_or_volume()
    {
        using var f = await CreateAsync();
        await f.PutAsync("/link/", "x.txt", "absolute link");
        Assert.Equal("absolute link", File.ReadAllText(Path.Combine(f.Bind, "x.txt")));
        await f.PutAsync("/rlink", "x2.txt", "relative link, final element");
        Assert.Equal("relative link, final element", File.ReadAllText(Path.Combine(f.Bind, "x2.txt")));
        // Two mounts deep: the link leads into the bind, the rest of the path into the volume mounted inside it.
        await f.PutAsync("/sublink/vol", "x3.txt", "into the volume");
        Assert.Equal("into the volume", File.ReadAllText(Path.Combine(f.Volume, "x3.txt")));
        // The mount's rules follow the path: a read-only volume reached through a link is refused.
        var refused = await Assert.ThrowsAsync<InvalidParameterException>(() => f.PutAsync("/sublink/vol", "no.txt", "no", volumeWritable: false));
        Assert.Equal("mounted volume is marked read-only", refused.Message);
        // Nothing went into the layer's empty mount points.
        f.Container.Change(root =>
        {
            Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(root, "data")));
            Assert.False(File.Exists(Path.Combine(root, "x.txt")));
        });
    }

    private static PaxTarEntry Entry(TarEntryType type, string name, int mode = 0x1A4, string? content = null)
    {
        var entry = new PaxTarEntry(type, name) { Mode = (UnixFileMode)mode, ModificationTime = DateTimeOffset.FromUnixTimeSeconds(1_000_000_000) };
        if (content is not null) entry.DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content));
        return entry;
    }

    /// <summary>
    /// A tree extracted at "/" whose entries reach below mount points lands in the mounts (dockerd extracts with them
    /// mounted): "data/…" in the bind, "link/…" through the container's link into it, "data/sub/vol/…" in the volume.
    /// </summary>
    [RootFact]
    public async Task Copy_in_of_a_tree_goes_into_the_mounts_below_the_destination()
    {
        using var f = await CreateAsync();
        await f.PutTarAsync("/", w =>
        {
            w.WriteEntry(Entry(TarEntryType.Directory, "data/", 0x1FF));
            w.WriteEntry(Entry(TarEntryType.RegularFile, "data/new.txt", content: "into the bind"));
            w.WriteEntry(Entry(TarEntryType.RegularFile, "data/sub/vol/deep.txt", content: "into the volume"));
            w.WriteEntry(Entry(TarEntryType.RegularFile, "link/through.txt", content: "through the link"));
            w.WriteEntry(Entry(TarEntryType.RegularFile, "etc/in-layer.txt", content: "in the layer"));
        });
        Assert.Equal("into the bind", File.ReadAllText(Path.Combine(f.Bind, "new.txt")));
        Assert.Equal("into the volume", File.ReadAllText(Path.Combine(f.Volume, "deep.txt")));
        Assert.Equal("through the link", File.ReadAllText(Path.Combine(f.Bind, "through.txt")));
        // The directory entry at the mount point applies to the mounted directory, as Docker's does.
        Assert.True(Berth.Linux.LinuxSyscalls.Instance.Lstat(null, f.Bind, out var bindStatus));
        Assert.Equal(0x1FF, bindStatus.Mode & 0xFFF);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_000_000_000).UtcDateTime, Directory.GetLastWriteTimeUtc(f.Bind));
        f.Container.Change(root =>
        {
            Assert.Equal("in the layer", File.ReadAllText(Path.Combine(root, "etc", "in-layer.txt")));
            Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(root, "data")));
        });

        // An entry in a read-only mount fails as Docker's untar fails there, and writes nothing into it.
        var e = await Assert.ThrowsAsync<EngineFailureException>(() => f.PutTarAsync("/data", w =>
            w.WriteEntry(Entry(TarEntryType.RegularFile, "sub/vol/no.txt", content: "no")), volumeWritable: false));
        Assert.Equal("Error processing tar file(exit status 1): open /data/sub/vol/no.txt: read-only file system", e.Message);
        Assert.False(File.Exists(Path.Combine(f.Volume, "no.txt")));
        // A file cannot take a mount point's place.
        var busy = await Assert.ThrowsAsync<EngineFailureException>(() => f.PutTarAsync("/", w => w.WriteEntry(Entry(TarEntryType.RegularFile, "data", content: "x"))));
        Assert.Equal("Error processing tar file(exit status 1): unlinkat /data: device or resource busy", busy.Message);
        Assert.False(f.Container.IsMounted());
    }

    [RootFact]
    public async Task Copy_out_follows_a_symlink_into_a_bind_or_volume()
    {
        using var f = await CreateAsync();
        Assert.Equal([("h.txt", TarEntryType.RegularFile, "", "from the bind")], await f.GetAsync("/link/h.txt"));
        Assert.Equal([("v.txt", TarEntryType.RegularFile, "", "from the volume")], await f.GetAsync("/sublink/vol/v.txt"));
        // A trailing slash follows the final link: the bind's contents under the name the client wrote.
        var directory = await f.GetAsync("/link/");
        Assert.Equal(["link/", "link/h.txt", "link/sub/", "link/sub/vol/", "link/sub/vol/v.txt", "link/up"], directory.Select(e => e.Name).ToList());
        // Without it the link itself.
        Assert.Equal([("link", TarEntryType.SymbolicLink, "/data", "")], await f.GetAsync("/link"));
        // A link inside the bind resolves in the container, not on the host.
        Assert.Equal([("marker", TarEntryType.RegularFile, "", "the container's /etc")], await f.GetAsync("/link/up/marker"));
        Assert.False(f.Container.IsMounted());
    }

    [RootFact]
    public async Task Stat_reports_the_link_target_across_mounts()
    {
        using var f = await CreateAsync();
        var link = await f.Container.Filesystem.StatPathAsync(f.Target(), "/sublink", None);
        Assert.Equal(("sublink", "/data/sub"), (link.Name, link.LinkTarget));
        // The link inside the bind: fully evaluated in the container.
        Assert.Equal("/etc", (await f.Container.Filesystem.StatPathAsync(f.Target(), "/link/up", None)).LinkTarget);
        var file = await f.Container.Filesystem.StatPathAsync(f.Target(), "/rlink/h.txt", None);
        Assert.Equal(("h.txt", 13L, ""), (file.Name, file.Size, file.LinkTarget));
        var missing = await Assert.ThrowsAsync<NotFoundException>(() => f.Container.Filesystem.StatPathAsync(f.Target(), "/link/nope", None));
        Assert.Equal("Could not find the file /link/nope in container mycontainer", missing.Message);
    }

    [RootFact]
    public async Task A_symlink_loop_is_Dockers_500()
    {
        using var f = await CreateAsync();
        var e = await Assert.ThrowsAsync<EngineFailureException>(() => f.GetAsync("/loop/x"));
        Assert.Equal("evalSymlinksInScope: too many links in /loop", e.Message);
        await Assert.ThrowsAsync<EngineFailureException>(() => f.Container.Filesystem.StatPathAsync(f.Target(), "/loop", None));
        Assert.False(f.Container.IsMounted());
    }
}
