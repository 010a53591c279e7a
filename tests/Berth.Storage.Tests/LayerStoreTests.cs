using System.Formats.Tar;
using Berth.Linux;
using Berth.Oci.Content;
using Berth.Testing;

namespace Berth.Storage.Tests;

/// <summary>A data root in a temp dir; unmounts and removes everything, also when a test fails.</summary>
internal sealed class TestStore : IDisposable
{
    public TempDir Temp { get; } = new();
    public StorageRoot Root { get; }
    public ILayerStore Layers => Root.Layers;
    public TestStore(string driver, StorageOptions? options = null, string? path = null) => Root = StorageRoot.Open(path ?? Temp.Combine("data"), driver, options);

    public Layer Register(byte[] tar, string? parent = null) => Layers.Register(new MemoryStream(tar), "application/vnd.oci.image.layer.v1.tar", parent);

    public void Dispose()
    {
        foreach (var c in Layers.ListContainerLayers().ToList())
            try { Layers.DeleteContainerLayer(c.Id); } catch (StorageException) { }
        Temp.Dispose();
    }
}

public sealed class LayerStoreTests
{
    private static string Read(string path) => File.ReadAllText(path);

    [RootFact]
    public void RegisterUnpacksEveryKindOfEntryAndKeepsMetadata()
    {
        foreach (var driver in new[] { "vfs", "overlay2" })
        {
            using var store = new TestStore(driver);
            var longName = "deep/" + new string('n', 150) + "/file";
            var capability = new byte[] { 0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
            var tar = new MemoryStream();
            var builder = new Archive.TarBuilder(tar);
            builder.Add(new Archive.TarItem("etc", (byte)'5', 0x1ED, 0, 0, 0, 1_000_000));
            builder.Add(new Archive.TarItem("etc/passwd", (byte)'0', 0x1A4, 0, 0, 5, 1_234_567), new MemoryStream("root\n"u8.ToArray()));
            builder.Add(new Archive.TarItem("bin", (byte)'5', 0x1ED, 0, 0, 0, 1_000_000));
            builder.Add(new Archive.TarItem("bin/ping", (byte)'0', 0x9ED, 0, 0, 2, 1_000_000, Xattrs: [new("security.capability", capability), new("user.note", "hi"u8.ToArray())]), new MemoryStream("xx"u8.ToArray()));
            builder.Add(new Archive.TarItem("bin/ping-link", (byte)'1', 0, 0, 0, 0, 1_000_000, "bin/ping"));
            builder.Add(new Archive.TarItem("bin/sh", (byte)'2', 0x1FF, 0, 0, 0, 1_000_000, "/bin/busybox"));
            builder.Add(new Archive.TarItem("tmp", (byte)'5', 0x3FF, 0, 0, 0, 1_000_000)); // 1777 sticky
            builder.Add(new Archive.TarItem("srv", (byte)'5', 0x5ED, 1000, 1000, 0, 1_000_000)); // 2755 setgid, owned by 1000
            builder.Add(new Archive.TarItem("dev", (byte)'5', 0x1ED, 0, 0, 0, 1_000_000));
            builder.Add(new Archive.TarItem("dev/null", (byte)'3', 0x1B6, 0, 0, 0, 1_000_000, null, 1, 3));
            builder.Add(new Archive.TarItem("dev/sda", (byte)'4', 0x1B0, 0, 6, 0, 1_000_000, null, 8, 0));
            builder.Add(new Archive.TarItem("dev/fifo", (byte)'6', 0x1A4, 0, 0, 0, 1_000_000));
            builder.Add(new Archive.TarItem(longName, (byte)'0', 0x1A4, 0, 0, 4, 1_000_000), new MemoryStream("long"u8.ToArray()));
            builder.Finish();
            var bytes = tar.ToArray();

            var layer = store.Register(bytes);
            Assert.Equal(Digest.Sha256(bytes), layer.DiffId);
            Assert.Equal(layer.DiffId.ToString(), layer.ChainId);
            Assert.Null(layer.Parent);
            Assert.Equal(5 + 2 + 4, layer.Size);
            using (var diff = store.Layers.OpenDiff(layer.ChainId)) Assert.Equal(layer.DiffId, Digest.Sha256(diff));

            var c = store.Layers.CreateContainerLayer("c-" + Guid.NewGuid().ToString("N"), layer.ChainId);
            var rootfs = c.Mount();
            try
            {
                var sys = LinuxSyscalls.Instance;
                Assert.Equal("root\n", Read(Path.Combine(rootfs, "etc/passwd")));
                Assert.True(sys.Lstat(null, Path.Combine(rootfs, "etc/passwd"), out var passwd));
                Assert.Equal(1_234_567, passwd.MtimeNanoseconds / 1_000_000_000);
                Assert.True(sys.Lstat(null, Path.Combine(rootfs, "etc"), out var etc));
                Assert.Equal(1_000_000, etc.MtimeNanoseconds / 1_000_000_000); // directory times set after their children
                Assert.True(sys.Lstat(null, Path.Combine(rootfs, "bin/ping"), out var ping));
                Assert.Equal(0x9ED, ping.Mode & 0xFFF); // setuid kept after chown
                Assert.Equal(2u, ping.Links);
                Assert.True(sys.Lstat(null, Path.Combine(rootfs, "bin/ping-link"), out var pingLink));
                Assert.Equal(ping.Inode, pingLink.Inode);
                Assert.Equal(capability, sys.LGetXattr(Path.Combine(rootfs, "bin/ping"), "security.capability"));
                Assert.Equal("hi"u8.ToArray(), sys.LGetXattr(Path.Combine(rootfs, "bin/ping"), "user.note"));
                Assert.Equal("/bin/busybox", new FileInfo(Path.Combine(rootfs, "bin/sh")).LinkTarget);
                Assert.True(sys.Lstat(null, Path.Combine(rootfs, "tmp"), out var tmp));
                Assert.Equal(0x3FF, tmp.Mode & 0xFFF);
                Assert.True(sys.Lstat(null, Path.Combine(rootfs, "srv"), out var srv));
                Assert.Equal((0x5ED, 1000, 1000), (srv.Mode & 0xFFF, srv.Uid, srv.Gid));
                Assert.True(sys.Lstat(null, Path.Combine(rootfs, "dev/null"), out var devNull));
                Assert.Equal((FileTypes.S_IFCHR, 1u, 3u), (devNull.Type, devNull.RdevMajor, devNull.RdevMinor));
                Assert.True(sys.Lstat(null, Path.Combine(rootfs, "dev/sda"), out var sda));
                Assert.Equal((FileTypes.S_IFBLK, 8u, 0u, 6), (sda.Type, sda.RdevMajor, sda.RdevMinor, sda.Gid));
                Assert.True(sys.Lstat(null, Path.Combine(rootfs, "dev/fifo"), out var fifo));
                Assert.Equal(FileTypes.S_IFIFO, fifo.Type);
                Assert.Equal("long", Read(Path.Combine(rootfs, longName)));
            }
            finally { c.Unmount(); }
        }
    }

    [RootFact]
    public void FilesInASetgidDirectoryKeepTheOwnerTheTarGives()
    {
        using var store = new TestStore("vfs");
        var layer = store.Register(new LayerTar().Dir("shared", mode: 0x5FD, uid: 1000, gid: 1000).File("shared/root-file", "r", mode: 0x1A4)
            .File("shared/user-file", "u", mode: 0x1B4, uid: 1000, gid: 1000).File("plain", "p", mode: 0x1FF).Bytes());
        var rootfs = store.Layers.CreateContainerLayer("s" + Guid.NewGuid().ToString("N"), layer.ChainId).Mount();
        var sys = LinuxSyscalls.Instance;
        Assert.True(sys.Lstat(null, Path.Combine(rootfs, "shared/root-file"), out var rootFile));
        Assert.Equal((0, 0, 0x1A4), (rootFile.Uid, rootFile.Gid, rootFile.Mode & 0xFFF));
        Assert.True(sys.Lstat(null, Path.Combine(rootfs, "shared/user-file"), out var userFile));
        Assert.Equal((1000, 1000, 0x1B4), (userFile.Uid, userFile.Gid, userFile.Mode & 0xFFF));
        Assert.True(sys.Lstat(null, Path.Combine(rootfs, "plain"), out var plain));
        Assert.Equal(0x1FF, plain.Mode & 0xFFF); // not cut by the umask
    }

    [RootFact]
    public void GnuLongNamesAndPaxLongLinks()
    {
        using var store = new TestStore("vfs");
        var name = "a/" + new string('g', 200);
        var gnu = new LayerTar(TarEntryFormat.Gnu).Dir("a").File(name, "gnu").Symlink("a/link", new string('t', 180)).Bytes();
        var layer = store.Register(gnu);
        var c = store.Layers.CreateContainerLayer("g" + Guid.NewGuid().ToString("N"), layer.ChainId);
        var rootfs = c.Mount();
        Assert.Equal("gnu", Read(Path.Combine(rootfs, name)));
        Assert.Equal(new string('t', 180), new FileInfo(Path.Combine(rootfs, "a/link")).LinkTarget);
        using var diff = store.Layers.OpenDiff(layer.ChainId);
        Assert.Equal(layer.DiffId, Digest.Sha256(diff));
    }

    [RootFact]
    public void CompressedLayersHaveTheDiffIdOfTheirTar()
    {
        using var store = new TestStore("vfs");
        var tar = new LayerTar().Dir("x").File("x/y", "data").Bytes();
        var gz = store.Layers.Register(new MemoryStream(LayerTar.Gzip(tar)), "application/vnd.docker.image.rootfs.diff.tar.gzip", null);
        Assert.Equal(Digest.Sha256(tar), gz.DiffId);
        store.Layers.Delete(gz.ChainId);
        var zst = store.Layers.Register(new MemoryStream(LayerTar.Zstd(tar)), "application/vnd.oci.image.layer.v1.tar+zstd", null);
        Assert.Equal(Digest.Sha256(tar), zst.DiffId);
        store.Layers.Delete(zst.ChainId);
        var sniffed = store.Layers.Register(new MemoryStream(LayerTar.Gzip(tar)), Compression.Auto, null);
        Assert.Equal(Digest.Sha256(tar), sniffed.DiffId);
    }

    [RootFact]
    public void RegisterIsIdempotentAndChainIdsFollowTheSpec()
    {
        using var store = new TestStore("overlay2");
        var t1 = new LayerTar().File("one", "1").Bytes();
        var t2 = new LayerTar().File("two", "2").Bytes();
        var l1 = store.Register(t1);
        var l2 = store.Register(t2, l1.ChainId);
        var expectedChain = Digest.Sha256(System.Text.Encoding.ASCII.GetBytes($"{l1.ChainId} {Digest.Sha256(t2)}")).ToString();
        Assert.Equal(expectedChain, l2.ChainId);
        Assert.Equal(l1.ChainId, l2.Parent);
        // Known diffID: returns at once without reading the blob.
        Assert.Equal(l2, store.Layers.Register(new UnreadableStream(), "application/vnd.oci.image.layer.v1.tar", l1.ChainId, Digest.Sha256(t2)));
        // Unknown diffID but same content: unpacked again, then found to exist; no duplicate.
        Assert.Equal(l2, store.Register(t2, l1.ChainId));
        Assert.Equal(2, store.Layers.List().Count());
        Assert.True(store.Layers.Check().IsClean);
    }

    [RootFact]
    public void UnknownMediaTypeIsRefused()
    {
        using var store = new TestStore("vfs");
        var e = Assert.Throws<UnsupportedMediaTypeException>(() => store.Layers.Register(new UnreadableStream(), "application/vnd.example.squashfs", null));
        Assert.Contains("application/vnd.example.squashfs", e.Message);
    }

    [RootFact]
    public void DiffIdMismatchRegistersNothing()
    {
        using var store = new TestStore("overlay2");
        var tar = new LayerTar().File("f", "x").Bytes();
        var e = Assert.Throws<InvalidLayerException>(() =>
            store.Layers.Register(new MemoryStream(tar), "application/vnd.oci.image.layer.v1.tar", null, Digest.Sha256("other"u8)));
        Assert.Contains("diffID mismatch", e.Message);
        AssertNothingStored(store);
    }

    [RootFact]
    public void TruncatedTarRegistersNothing()
    {
        using var store = new TestStore("overlay2");
        var tar = new LayerTar().File("big", new byte[100_000]).File("after", "x").Bytes();
        var e = Assert.Throws<InvalidLayerException>(() => store.Register(tar[..50_000]));
        Assert.Contains("truncated", e.Message);
        AssertNothingStored(store);
        var gz = LayerTar.Gzip(tar);
        Assert.Throws<InvalidLayerException>(() => store.Layers.Register(new MemoryStream(gz[..(gz.Length / 2)]), Compression.Gzip, null));
        AssertNothingStored(store);
    }

    [RootFact]
    public void DecompressionBombStopsAtTheLimit()
    {
        using var store = new TestStore("vfs", new StorageOptions { MaxLayerSize = 1 << 20 });
        var bomb = LayerTar.Gzip(new LayerTar().File("zeros", new byte[8 << 20]).Bytes());
        Assert.True(bomb.Length < 100_000);
        var e = Assert.Throws<InvalidLayerException>(() => store.Layers.Register(new MemoryStream(bomb), Compression.Gzip, null));
        Assert.Contains("larger than the limit", e.Message);
        AssertNothingStored(store);
    }

    internal static void AssertNothingStored(TestStore store)
    {
        Assert.Empty(store.Layers.List());
        Assert.Empty(store.Root.Snapshots.Walk());
        Assert.True(store.Layers.Check().IsClean, string.Join("; ", store.Layers.Check().Problems));
        Assert.Empty(Directory.GetFileSystemEntries(store.Temp.Combine("data", "layers", "tmp")));
    }

    [RootFact]
    public void DeleteRefusesWhileAChildOrAContainerUsesTheLayer()
    {
        using var store = new TestStore("overlay2");
        var l1 = store.Register(new LayerTar().File("a", "1").Bytes());
        var l2 = store.Register(new LayerTar().File("b", "2").Bytes(), l1.ChainId);
        Assert.Throws<LayerInUseException>(() => store.Layers.Delete(l1.ChainId));
        var id = "c" + Guid.NewGuid().ToString("N");
        store.Layers.CreateContainerLayer(id, l2.ChainId);
        var e = Assert.Throws<LayerInUseException>(() => store.Layers.Delete(l2.ChainId));
        Assert.Contains(id, e.Message);
        store.Layers.DeleteContainerLayer(id);
        store.Layers.Delete(l2.ChainId);
        store.Layers.Delete(l1.ChainId);
        Assert.Empty(store.Layers.List());
        Assert.Throws<LayerNotFoundException>(() => store.Layers.Delete(l1.ChainId));
    }

    [RootFact]
    public void OpenDiffIsReproducibleEvenWhenATarRepeatsAName()
    {
        using var store = new TestStore("overlay2");
        var tar = new LayerTar().File("dup", "first version").File("keep", "k").File("dup", "second").Dir("d").File("d/gone", "g").Whiteout("d/.wh.gone").Bytes();
        var layer = store.Register(tar);
        using var diff = store.Layers.OpenDiff(layer.ChainId);
        var copy = new MemoryStream();
        diff.CopyTo(copy);
        Assert.Equal(tar, copy.ToArray());
    }
}
