using System.Diagnostics;
using System.Formats.Tar;
using Berth.Linux;
using Berth.Oci.Content;
using Berth.Testing;

namespace Berth.Storage.Tests;

public sealed class SnapshotTests
{
    public static TheoryData<string> Drivers => ["overlay2", "vfs"];

    [RootFact]
    public void WhiteoutsHideAndRecreateAcrossLayers_overlay2() => WhiteoutsAcrossLayers("overlay2");

    [RootFact]
    public void WhiteoutsHideAndRecreateAcrossLayers_vfs() => WhiteoutsAcrossLayers("vfs");

    internal static void WhiteoutsAcrossLayers(string driver, string? dataRoot = null)
    {
        using var store = new TestStore(driver, path: dataRoot);
        var l1 = store.Register(new LayerTar().Dir("a").File("a/one", "1").File("a/two", "2").Dir("d").File("d/old", "o").File("top", "t").Bytes());
        var l2 = store.Register(new LayerTar().Dir("a").Whiteout("a/.wh.one").Dir("d").Whiteout("d/.wh..wh..opq").File("d/new", "n").Whiteout(".wh.top").Bytes(), l1.ChainId);
        var l3 = store.Register(new LayerTar().Dir("a").File("a/one", "again").Bytes(), l2.ChainId);

        var c2 = store.Layers.CreateContainerLayer("w2" + Guid.NewGuid().ToString("N"), l2.ChainId);
        var root2 = c2.Mount();
        try
        {
            Assert.False(File.Exists(Path.Combine(root2, "a/one")));
            Assert.Equal("2", File.ReadAllText(Path.Combine(root2, "a/two")));
            Assert.Equal(["new"], Directory.GetFileSystemEntries(Path.Combine(root2, "d")).Select(Path.GetFileName));
            Assert.False(File.Exists(Path.Combine(root2, "top")));
        }
        finally { c2.Unmount(); }
        var c3 = store.Layers.CreateContainerLayer("w3" + Guid.NewGuid().ToString("N"), l3.ChainId);
        var root3 = c3.Mount();
        try
        {
            Assert.Equal("again", File.ReadAllText(Path.Combine(root3, "a/one")));
            Assert.Equal("2", File.ReadAllText(Path.Combine(root3, "a/two")));
        }
        finally { c3.Unmount(); }
        // Whiteouts go back to OCI form when the layer is read: the same bytes, the same diffID.
        using var diff = store.Layers.OpenDiff(l2.ChainId);
        Assert.Equal(l2.DiffId, Digest.Sha256(diff));
    }

    [RootFact]
    public void A120LayerChainMountsThroughOverlay2()
    {
        using var store = new TestStore("overlay2");
        string? parent = null;
        for (var i = 0; i < 120; i++)
            parent = store.Register(new LayerTar().File($"layer-{i}", i.ToString()).Bytes(), parent).ChainId;
        var c = store.Layers.CreateContainerLayer("deep" + Guid.NewGuid().ToString("N"), parent);
        var spec = Assert.Single(c.Mounts());
        Assert.Equal("overlay", spec.Type);
        Assert.True(string.Join(",", spec.Options).Length < 4096, "120 lowerdirs fit one page of mount options");
        var rootfs = c.Mount();
        try
        {
            Assert.Equal("0", File.ReadAllText(Path.Combine(rootfs, "layer-0")));
            Assert.Equal("119", File.ReadAllText(Path.Combine(rootfs, "layer-119")));
            Assert.Equal(120, Directory.GetFiles(rootfs).Length);
            File.WriteAllText(Path.Combine(rootfs, "written"), "rw");
        }
        finally { c.Unmount(); }
        Assert.Contains(new Change(ChangeKind.Added, "/written"), c.Changes());
    }

    [RootFact]
    public void ContainerChangesDiffAndExport_overlay2() => ContainerChangesDiffAndExport("overlay2");

    [RootFact]
    public void ContainerChangesDiffAndExport_vfs() => ContainerChangesDiffAndExport("vfs");

    internal static void ContainerChangesDiffAndExport(string driver, string? dataRoot = null)
    {
        using var store = new TestStore(driver, path: dataRoot);
        var image = store.Register(new LayerTar().Dir("etc").File("etc/passwd", "root").File("etc/hosts", "h").Dir("var").Dir("var/log").File("var/log/old", "x").Bytes());
        var c = store.Layers.CreateContainerLayer("cc" + Guid.NewGuid().ToString("N"), image.ChainId);
        var rootfs = c.Mount();
        try
        {
            File.AppendAllText(Path.Combine(rootfs, "etc/passwd"), "\nuser");
            File.Delete(Path.Combine(rootfs, "var/log/old"));
            Directory.CreateDirectory(Path.Combine(rootfs, "new"));
            File.WriteAllText(Path.Combine(rootfs, "new/file"), "n");
        }
        finally { c.Unmount(); }

        var changes = c.Changes().Select(x => x.ToString()).ToList();
        Assert.True(changes.Contains("C /var"), string.Join(" | ", changes));
        Assert.Contains("C /etc", changes);
        Assert.Contains("C /etc/passwd", changes);
        Assert.Contains("C /var/log", changes);
        Assert.Contains("D /var/log/old", changes);
        Assert.Contains("A /new", changes);
        Assert.Contains("A /new/file", changes);
        Assert.DoesNotContain(changes, x => x.Contains("hosts"));

        // Commit: the diff registered on top of the image gives the container's view.
        var diff = new MemoryStream();
        c.WriteDiff(diff);
        diff.Position = 0;
        var names = new List<string>();
        using (var reader = new TarReader(new MemoryStream(diff.ToArray())))
            while (reader.GetNextEntry() is { } e) names.Add(e.Name.TrimEnd('/'));
        Assert.Contains("var/log/.wh.old", names);
        Assert.Contains("new/file", names);
        Assert.DoesNotContain("etc/hosts", names);
        var committed = store.Layers.Register(diff, Compression.None, image.ChainId);
        var check = store.Layers.CreateContainerLayer("ck" + Guid.NewGuid().ToString("N"), committed.ChainId);
        var checkRoot = check.Mount();
        try
        {
            Assert.Equal("root\nuser", File.ReadAllText(Path.Combine(checkRoot, "etc/passwd")));
            Assert.False(File.Exists(Path.Combine(checkRoot, "var/log/old")));
            Assert.Equal("n", File.ReadAllText(Path.Combine(checkRoot, "new/file")));
            Assert.Equal("h", File.ReadAllText(Path.Combine(checkRoot, "etc/hosts")));
        }
        finally { check.Unmount(); }

        // Export: the whole merged filesystem.
        var export = new MemoryStream();
        c.Export(export);
        export.Position = 0;
        var exported = new Dictionary<string, string>();
        using (var reader = new TarReader(export))
            while (reader.GetNextEntry() is { } e)
                exported[e.Name.TrimEnd('/')] = e.DataStream is null ? "" : new StreamReader(e.DataStream).ReadToEnd();
        Assert.Equal("root\nuser", exported["etc/passwd"]);
        Assert.Equal("h", exported["etc/hosts"]);
        Assert.False(exported.ContainsKey("var/log/old"));
        Assert.True(exported.ContainsKey("var/log"));
        Assert.DoesNotContain(exported.Keys, k => k.Contains(".wh."));
    }

    [RootFact]
    public void SnapshotterFollowsContainerdsShape()
    {
        using var store = new TestStore("overlay2");
        var s = store.Root.Snapshots;
        var mounts = s.Prepare("base-active", null);
        Assert.Equal("bind", Assert.Single(mounts).Type);
        File.WriteAllText(Path.Combine(mounts[0].Source, "f"), "x");
        s.Commit("base", "base-active");
        Assert.Null(s.Stat("base-active"));
        Assert.Equal(SnapshotKind.Committed, s.Stat("base")!.Kind);
        var view = s.View("base-view", "base");
        Assert.Contains("ro", Assert.Single(view).Options);
        var child = s.Prepare("child", "base");
        Assert.Equal("overlay", Assert.Single(child).Type);
        Assert.Equal(3, s.Walk().Count());
        Assert.Equal(1, s.Usage("base").Size);
        Assert.Throws<LayerInUseException>(() => s.Remove("base"));
        s.Remove("child");
        s.Remove("base-view");
        s.Remove("base");
        Assert.Empty(s.Walk());
        Assert.Throws<StorageException>(() => s.Prepare("x", "missing"));
    }

    [RootFact]
    public void UnknownDriverIsAClearError()
    {
        using var temp = new TempDir();
        var e = Assert.Throws<StorageException>(() => StorageRoot.Open(temp.Path, "aufs"));
        Assert.Contains("aufs", e.Message);
    }

    [RootFact]
    public void SnapshotsDirectoryIsMarkedAsTopOfHierarchies()
    {
        // chattr +T spreads each snapshot over its own ext4 block group (see Snapshotter.MarkTopDirectory).
        using var temp = new TempDir();
        foreach (var driver in new[] { "overlay2", "vfs" })
        {
            StorageRoot.Open(temp.Combine(driver), driver);
            using var dir = LinuxSyscalls.Instance.OpenAt(null, Path.Combine(temp.Combine(driver), driver, "snapshots"), OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY);
            int flags;
            try { flags = LinuxSyscalls.Instance.GetInodeFlags(dir); }
            catch (SyscallException e) when (e.ErrorNumber is 25 /* ENOTTY */ or Errno.EOPNOTSUPP) { return; } // a filesystem without inode flags
            Assert.NotEqual(0, flags & InodeFlags.FS_TOPDIR_FL);
        }
    }
}

/// <summary>overlay2 makes the storage of the next container snapshot ahead (snapshots/spare-*) and a create takes it.</summary>
public sealed class SpareStorageTests
{
    private static string[] Spares(TestStore store) =>
        [.. Directory.EnumerateDirectories(Path.Combine(store.Temp.Combine("data"), "overlay2", "snapshots"), "spare-*").Select(Path.GetFileName)!];

    private static string[] WaitForSpare(TestStore store)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Spares(store) is var spares && (spares.Length == 0 || !spares.All(s => Directory.Exists(Path.Combine(store.Temp.Combine("data"), "overlay2", "snapshots", s!, "work")))))
        {
            Assert.True(DateTime.UtcNow < deadline, "no spare storage was made");
            Thread.Sleep(10);
        }
        return Spares(store);
    }

    [RootFact]
    public void A_container_layer_takes_the_spare_storage_and_works_as_one_made_for_it()
    {
        using var store = new TestStore("overlay2");
        var image = store.Register(new LayerTar().File("base", "b").Bytes());
        var first = store.Layers.CreateContainerLayer("first" + Guid.NewGuid().ToString("N"), image.ChainId, Durability.Volatile);
        var spare = Assert.Single(WaitForSpare(store));

        var second = store.Layers.CreateContainerLayer("second" + Guid.NewGuid().ToString("N"), image.ChainId, Durability.Volatile);
        Assert.DoesNotContain(spare, Spares(store)); // taken: renamed to the new snapshot's id
        var root = second.Mount();
        try
        {
            Assert.Equal("b", File.ReadAllText(Path.Combine(root, "base")));
            File.WriteAllText(Path.Combine(root, "new"), "n");
            Assert.Equal(["/new"], second.Changes().Select(c => c.Path));
        }
        finally { second.Unmount(); }
        Assert.Single(WaitForSpare(store)); // the next one is made
        store.Layers.DeleteContainerLayer(second.Id);
        store.Layers.DeleteContainerLayer(first.Id);
    }

    [RootFact]
    public void The_repair_pass_keeps_the_spare_it_holds_and_quietly_removes_one_left_by_an_earlier_daemon()
    {
        using var store = new TestStore("overlay2");
        var image = store.Register(new LayerTar().File("base", "b").Bytes());
        store.Layers.CreateContainerLayer("c" + Guid.NewGuid().ToString("N"), image.ChainId);
        var held = Assert.Single(WaitForSpare(store));
        var left = Path.Combine(store.Temp.Combine("data"), "overlay2", "snapshots", "spare-0123456789abcdef");
        Directory.CreateDirectory(Path.Combine(left, "diff"));

        var report = store.Layers.Repair();
        Assert.Empty(report.Problems);
        Assert.Equal([held], Spares(store));
    }
}
