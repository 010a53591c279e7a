using System.Formats.Tar;
using Berth.Oci.Content;
using Berth.Oci.Image;
using Berth.Storage;
using Berth.Testing;

namespace Berth.Images.Tests;

/// <summary>An image store on a real storage root (overlay2 or vfs) in a temp directory; container layers removed on dispose.</summary>
internal sealed class RealStore : IDisposable
{
    public TempDir Temp { get; } = new();
    public StorageRoot Storage { get; }
    public ImageStore Images { get; }
    public ImageArchive Archive => new(Images);
    public ImageCreation Creation => new(Images);

    public RealStore(string driver = "overlay2")
    {
        Storage = StorageRoot.Open(Temp.Combine("data"), driver);
        Images = ImageStore.Open(Temp.Combine("data", "images"), Storage);
    }

    public void Dispose()
    {
        foreach (var c in Storage.Layers.ListContainerLayers().ToList())
            try { Storage.Layers.DeleteContainerLayer(c.Id); } catch (StorageException) { }
        Temp.Dispose();
    }
}

/// <summary>Integration on the real layer store: it mounts, so these need root.</summary>
public sealed class ImageIntegrationTests
{
    private static readonly ImageUsage NoUsers = _ => null;

    /// <summary>The busybox rootfs as a tar file, made with the system's tar.</summary>
    private static string BusyboxTar(TempDir temp)
    {
        var rootfs = temp.Combine("rootfs");
        BusyboxRootfs.CopyTo(rootfs);
        var tar = temp.Combine("busybox.tar");
        BusyboxRootfs.Run("tar", "-C", rootfs, "--numeric-owner", "-cf", tar, ".");
        return tar;
    }

    private static byte[] Save(RealStore s, ArchiveFormat format, params string[] names)
    {
        using var output = new MemoryStream();
        s.Archive.Save(names, output, format);
        return output.ToArray();
    }

    private static void AssertRuns(RealStore s, Digest image, Action<string> check)
    {
        var chain = s.Images.GetConfig(image).RootFs.ChainId().ToString();
        var container = s.Storage.Layers.CreateContainerLayer("t" + Guid.NewGuid().ToString("N"), chain);
        try
        {
            var root = container.Mount();
            try { check(root); }
            finally { container.Unmount(); }
        }
        finally { s.Storage.Layers.DeleteContainerLayer(container.Id); }
    }

    [RootFact]
    public void ImportInspectSaveLoadSaveGivesIdenticalBytes()
    {
        using var a = new RealStore();
        using var gz = File.OpenRead(BusyboxTar(a.Temp));
        var id = a.Creation.Import(gz, new ImportOptions { Reference = "busybox:latest", Changes = ["CMD [\"sh\"]"], Message = "from busybox-static" });
        var inspect = a.Images.Inspect("busybox");
        Assert.Equal(id, inspect.Id);
        Assert.Equal(["busybox:latest"], inspect.RepoTags);
        Assert.Equal(["sh"], inspect.Config!.Cmd!);
        Assert.True(inspect.Size > 1_000_000, $"size {inspect.Size}");
        AssertRuns(a, id, root => Assert.True(File.Exists(Path.Combine(root, "bin", "busybox"))));

        foreach (var format in new[] { ArchiveFormat.Docker, ArchiveFormat.Oci })
        {
            var first = Save(a, format, "busybox");
            using var b = new RealStore(format == ArchiveFormat.Docker ? "vfs" : "overlay2");
            var result = b.Archive.Load(new MemoryStream(first));
            Assert.Equal(["Loaded image: busybox:latest"], result.Lines);
            Assert.Equal(id, b.Images.Resolve("busybox"));
            var second = Save(b, format, "busybox");
            Assert.Equal(Tars.Sha(first), Tars.Sha(second));
            AssertRuns(b, id, root => Assert.True(File.Exists(Path.Combine(root, "bin", "sh"))));
        }
    }

    [RootFact]
    public void SkopeoReadsOurArchiveAndItsOciLayoutLoadsBack()
    {
        // Needs skopeo (Debian package skopeo).
        using var a = new RealStore();
        var id = a.Creation.Import(File.OpenRead(BusyboxTar(a.Temp)), new ImportOptions { Reference = "busybox:latest" });
        var archive = a.Temp.Combine("busybox-docker.tar");
        File.WriteAllBytes(archive, Save(a, ArchiveFormat.Docker, "busybox:latest"));
        var layout = a.Temp.Combine("layout");
        BusyboxRootfs.Run("timeout", "120", "skopeo", "copy", "--quiet", $"docker-archive:{archive}", $"oci:{layout}:example.com/busybox:1");
        var layoutTar = a.Temp.Combine("layout.tar");
        BusyboxRootfs.Run("tar", "-C", layout, "-cf", layoutTar, ".");

        using var b = new RealStore();
        var result = b.Archive.Load(File.OpenRead(layoutTar));
        Assert.Equal(["Loaded image: example.com/busybox:1"], result.Lines);
        var loaded = b.Images.Resolve("example.com/busybox:1");
        Assert.Equal(a.Images.GetConfig(id).RootFs.DiffIds, b.Images.GetConfig(loaded).RootFs.DiffIds);
        AssertRuns(b, loaded, root => Assert.True(File.Exists(Path.Combine(root, "bin", "busybox"))));

        // skopeo's own docker-archive (its layout of manifest.json differs from Docker's) loads too.
        var skopeoArchive = a.Temp.Combine("skopeo-docker.tar");
        BusyboxRootfs.Run("timeout", "120", "skopeo", "copy", "--quiet", $"oci:{layout}:example.com/busybox:1", $"docker-archive:{skopeoArchive}:example.com/busybox:2");
        Assert.Equal(["Loaded image: example.com/busybox:2"], b.Archive.Load(File.OpenRead(skopeoArchive)).Lines);
        Assert.Equal(a.Images.GetConfig(id).RootFs.DiffIds, b.Images.GetConfig(b.Images.Resolve("example.com/busybox:2")).RootFs.DiffIds);

        // And skopeo reads our OCI-format save as an OCI archive.
        var ociArchive = a.Temp.Combine("busybox-oci.tar");
        File.WriteAllBytes(ociArchive, Save(a, ArchiveFormat.Oci, "busybox:latest"));
        var inspect = BusyboxRootfs.Run("timeout", "60", "skopeo", "inspect", "--raw", $"oci-archive:{ociArchive}:latest");
        Assert.Contains(id.ToString(), inspect);
    }

    [RootFact]
    public void CommitOfAContainerLayerMakesAChildImage()
    {
        using var s = new RealStore();
        var baseId = s.Creation.Import(File.OpenRead(BusyboxTar(s.Temp)), new ImportOptions { Reference = "base" });
        var chain = s.Images.GetConfig(baseId).RootFs.ChainId().ToString();
        var container = s.Storage.Layers.CreateContainerLayer("c" + Guid.NewGuid().ToString("N"), chain);
        Digest child;
        try
        {
            var root = container.Mount();
            try
            {
                File.WriteAllText(Path.Combine(root, "etc", "motd"), "committed\n");
                File.Delete(Path.Combine(root, "etc", "group"));
            }
            finally { container.Unmount(); }
            child = s.Creation.Commit(container, new ImageCommitOptions
            {
                ParentImage = baseId, Author = "tester", Message = "added motd", Changes = ["ENV GREETING=hi"], Reference = "child:1", CreatedBy = "sh",
            });
            var e = Assert.Throws<ImageConflictException>(() => s.Images.Remove("base", force: false, prune: true, i => i == baseId ? new ImageUser(container.Id, false) : null));
            Assert.Contains("is using its referenced image", e.Message);
        }
        finally { s.Storage.Layers.DeleteContainerLayer(container.Id); }

        var config = s.Images.GetConfig(child);
        Assert.Equal(2, config.RootFs.DiffIds.Count);
        Assert.Contains("GREETING=hi", config.Config!.Env!);
        Assert.Equal("tester", config.Author);
        var history = s.Images.History("child:1");
        Assert.Equal(child.ToString(), history[0].Id);
        Assert.Equal(baseId.ToString(), history[1].Id);
        AssertRuns(s, child, root =>
        {
            Assert.Equal("committed\n", File.ReadAllText(Path.Combine(root, "etc", "motd")));
            Assert.False(File.Exists(Path.Combine(root, "etc", "group")));
            Assert.True(File.Exists(Path.Combine(root, "etc", "passwd")));
        });

        // The child's save/load round trip carries the whiteout.
        using var b = new RealStore();
        b.Archive.Load(new MemoryStream(Save(s, ArchiveFormat.Docker, "child:1")));
        AssertRuns(b, child, root => Assert.False(File.Exists(Path.Combine(root, "etc", "group"))));

        // Removal: the child first (the base is its parent), then both are gone with their layers.
        Assert.Throws<ImageConflictException>(() => s.Images.Remove(baseId.Hex, force: true, prune: true, NoUsers));
        s.Images.Remove("base", false, true, NoUsers);
        var records = s.Images.Remove("child:1", false, true, NoUsers).Select(r => r.ToString()).ToList();
        Assert.Contains($"Deleted: {child}", records);
        Assert.Contains($"Deleted: {baseId}", records);
        Assert.Empty(s.Storage.Layers.List());
    }

    [RootFact]
    public void ExportWritesTheContainersWholeFilesystem()
    {
        using var s = new RealStore();
        var id = s.Creation.Import(File.OpenRead(BusyboxTar(s.Temp)), new ImportOptions());
        var container = s.Storage.Layers.CreateContainerLayer("e" + Guid.NewGuid().ToString("N"), s.Images.GetConfig(id).RootFs.ChainId().ToString());
        try
        {
            var root = container.Mount();
            try { File.WriteAllText(Path.Combine(root, "new-file"), "x"); }
            finally { container.Unmount(); }
            using var tar = new MemoryStream();
            ImageCreation.Export(container, tar);
            tar.Position = 0;
            var names = new HashSet<string>();
            using var reader = new TarReader(tar);
            while (reader.GetNextEntry() is { } e) names.Add(e.Name.TrimStart('.', '/').TrimEnd('/'));
            Assert.Contains("bin/busybox", names);
            Assert.Contains("new-file", names);
        }
        finally { s.Storage.Layers.DeleteContainerLayer(container.Id); }
    }

    [RootFact]
    public void ABadArchiveLeavesTheRealStoreAsItWas()
    {
        using var s = new RealStore();
        var good = Tars.Of(("a", "a"));
        var bad = Tars.Of(("../escape", "b"));
        var config = System.Text.Encoding.UTF8.GetBytes($$$"""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["{{{Tars.Sha(good)}}}","{{{Tars.Sha(bad)}}}"]}}""");
        var configName = Tars.Sha(config)[7..] + ".json";
        var manifest = System.Text.Encoding.UTF8.GetBytes($$$"""[{"Config":"{{{configName}}}","RepoTags":["bad:1"],"Layers":["l0/layer.tar","l1/layer.tar"]}]""");
        var archive = Tars.Archive(("l0/layer.tar", good, null), ("l1/layer.tar", bad, null), (configName, config, null), ("manifest.json", manifest, null));
        var e = Assert.Throws<InvalidArchiveException>(() => s.Archive.Load(new MemoryStream(archive)));
        Assert.Contains("l1/layer.tar", e.Message);
        Assert.Empty(s.Storage.Layers.List());
        Assert.Empty(s.Images.Ids);
        Assert.True(s.Storage.Layers.Check().IsClean, string.Join("; ", s.Storage.Layers.Check().Problems));
    }
}
