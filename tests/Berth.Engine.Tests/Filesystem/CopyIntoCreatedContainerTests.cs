using System.Formats.Tar;
using System.Text;
using Berth.Engine.Containers;
using Berth.Engine.Filesystem;
using Berth.Engine.Models;
using Berth.Engine.Tests.Images;
using Berth.Engine.Volumes;
using Berth.Testing;

namespace Berth.Engine.Tests.Filesystem;

/// <summary>
/// docker cp on a container that was created and never started. Debian's dockerd 20.10 made its volumes at create, so
/// `docker cp FILE c:/vol/` writes into the named volume's data and `c:/anon/` into the anonymous one, and copying out
/// reads them; a --tmpfs destination is no directory yet ("no such directory" in the CLI, Could not find … from the
/// daemon). Berth makes volumes at the first start: cp resolves them as that start will, and the start then uses them.
/// </summary>
public sealed class CopyIntoCreatedContainerTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static byte[] OneFile(string name, string content)
    {
        using var output = new MemoryStream();
        using (var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)0x1A4, DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) });
        return output.ToArray();
    }

    private static List<string> Names(byte[] tar)
    {
        var names = new List<string>();
        using var reader = new TarReader(new MemoryStream(tar));
        while (reader.GetNextEntry() is { } e) names.Add(e.Name);
        return names;
    }

    [RootFact]
    public async Task Copy_reaches_the_volumes_the_first_start_will_mount()
    {
        using var c = await ContainerHarness.CreateAsync();
        var bind = c.Images.Temp.Combine("bind");
        Directory.CreateDirectory(bind);
        var store = new VolumeStore(c.Images.Temp.Combine("volumes"));
        var resolver = new VolumeResolver(store);
        var service = new ContainerFilesystemService(volumes: resolver);
        var created = new ContainerFilesystem(c.Id, "/c1", c.Layer, null, false, false, c.ImageId.ToString(),
            new ContainerConfig { Volumes = new() { ["/image-volume"] = new EmptyObject() } },
            new HostConfig { Binds = ["nv:/vol", "/anon", bind + ":/data"], Tmpfs = new() { ["/tm"] = "" } });

        await service.PutArchiveAsync(created, new ArchiveUpload("/vol/", false, false), new MemoryStream(OneFile("x.txt", "named")), None);
        await service.PutArchiveAsync(created, new ArchiveUpload("/anon", false, false), new MemoryStream(OneFile("y.txt", "anonymous")), None);
        await service.PutArchiveAsync(created, new ArchiveUpload("/image-volume", false, false), new MemoryStream(OneFile("z.txt", "image")), None);
        await service.PutArchiveAsync(created, new ArchiveUpload("/data", false, false), new MemoryStream(OneFile("b.txt", "bind")), None);

        // The named volume exists now (Docker's did since create) and holds the file.
        Assert.NotNull(store.Find("nv"));
        Assert.Equal("named", File.ReadAllText(Path.Combine(store.DataPath("nv"), "x.txt")));
        Assert.Equal("bind", File.ReadAllText(Path.Combine(bind, "b.txt")));
        // The start resolves the same anonymous volumes, so what was copied is what the container sees.
        var (_, anonymous) = resolver.Resolve(null, c.Id, "/anon", null);
        Assert.Equal("anonymous", File.ReadAllText(Path.Combine(anonymous, "y.txt")));
        var (_, imageVolume) = resolver.Resolve(null, c.Id, "/image-volume", null);
        Assert.Equal("image", File.ReadAllText(Path.Combine(imageVolume, "z.txt")));
        Assert.Equal(3, store.List().Count);

        using (var output = new MemoryStream())
        {
            await service.GetArchiveAsync(created, "/anon", output, None);
            Assert.Equal(["anon/", "anon/y.txt"], Names(output.ToArray()));
        }
        Assert.Equal(5, (await service.StatPathAsync(created, "/vol/x.txt", None)).Size);

        // The tmpfs is mounted at start only: before it there is nothing at /tm.
        var missing = await Assert.ThrowsAsync<NotFoundException>(() => service.StatPathAsync(created, "/tm", None));
        Assert.Equal("Could not find the file /tm in container c1", missing.Message);
        // Nothing went into the layer.
        c.Change(root =>
        {
            Assert.False(Directory.Exists(Path.Combine(root, "vol")));
            Assert.False(Directory.Exists(Path.Combine(root, "anon")));
        });
        Assert.False(c.IsMounted());
    }

    [RootFact]
    public async Task Without_a_volume_resolver_only_binds_are_reached()
    {
        using var c = await ContainerHarness.CreateAsync();
        var created = new ContainerFilesystem(c.Id, "/c1", c.Layer, null, false, false, c.ImageId.ToString(), new ContainerConfig(),
            new HostConfig { Binds = ["nv:/vol"] });
        var e = await Assert.ThrowsAsync<NotFoundException>(() => new ContainerFilesystemService().StatPathAsync(created, "/vol", None));
        Assert.Equal("Could not find the file /vol in container c1", e.Message);
    }
}
