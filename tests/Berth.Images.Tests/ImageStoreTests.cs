using Berth.Oci.Content;
using Berth.Oci.Image;
using Berth.Oci.Reference;

namespace Berth.Images.Tests;

public class ImageStoreTests
{
    private static readonly ImageUsage NoUsers = _ => null;

    [Fact]
    public void ImportedImageIsFoundByReferenceIdAndPrefix()
    {
        using var f = new FakeStore();
        var id = f.Import("busybox", ("bin/", ""), ("bin/sh", "#!"));
        Assert.Equal(id, Digest.Sha256(f.Store.GetConfigBytes(id)));
        Assert.Equal(id, f.Store.Resolve("busybox"));
        Assert.Equal(id, f.Store.Resolve("busybox:latest"));
        Assert.Equal(id, f.Store.Resolve("docker.io/library/busybox:latest"));
        Assert.Equal(id, f.Store.Resolve(id.ToString()));
        Assert.Equal(id, f.Store.Resolve(id.Hex));
        Assert.Equal(id, f.Store.Resolve(id.Hex[..12]));
        Assert.Equal(id, f.Store.Resolve("sha256:" + id.Hex[..5]));
        Assert.Equal(["busybox:latest"], f.Store.RepoTags(id));
        var e = Assert.Throws<ImageNotFoundException>(() => f.Store.Resolve("busybox:1"));
        Assert.Equal("No such image: busybox:1", e.Message);
        Assert.Equal("No such image: other:latest", Assert.Throws<ImageNotFoundException>(() => f.Store.Resolve("other")).Message);
        Assert.Equal("invalid reference format: repository name must be lowercase", Assert.Throws<InvalidReferenceException>(() => f.Store.Resolve("BusyBox")).Message);
        Assert.Equal("Imported from -", f.Store.History("busybox")[0].Comment);
    }

    [Fact]
    public void AmbiguousPrefixIsAnError()
    {
        using var f = new FakeStore();
        var ids = Enumerable.Range(0, 40).Select(i => f.Import(null, ($"f{i}", i.ToString()))).ToList();
        var clash = ids.GroupBy(i => i.Hex[0]).First(g => g.Count() > 1).Key;
        var e = Assert.Throws<ImageException>(() => f.Store.Resolve(clash.ToString()));
        Assert.Equal($"multiple IDs found with provided prefix: {clash}", e.Message);
    }

    [Fact]
    public void TagsMoveAndPersistAcrossReopen()
    {
        using var f = new FakeStore();
        var a = f.Import("app:1", ("a", "a"));
        var b = f.Import(null, ("b", "b"));
        Assert.Equal(a, f.Store.Tag(b, "app:1"));
        f.Store.TagMany(b, ["localhost:5000/app", "user/app:v2"]);
        var reopened = f.Reopen();
        Assert.Equal(b, reopened.Resolve("app:1"));
        Assert.Equal(["app:1", "user/app:v2", "localhost:5000/app:latest"], reopened.RepoTags(b)); // sorted by full name
        Assert.Empty(reopened.RepoTags(a));
        Assert.NotNull(reopened.Record(b)!.LastTagTime);
        var file = File.ReadAllText(Path.Combine(reopened.Root, "images.json"));
        Assert.Contains("\"app\":{\"app:1\":\"" + b + "\"}", file); // repositories.json's shape
        Assert.Throws<ImageException>(() => f.Store.Tag(b, "app@sha256:" + b.Hex));
        Assert.Throws<InvalidReferenceException>(() => f.Store.Tag(b, "App"));
    }

    [Fact]
    public void RemoveByReferenceUntagsUntilTheLastOne()
    {
        using var f = new FakeStore();
        var id = f.Import("one", ("a", "a"));
        f.Store.Tag(id, "two:x");
        var records = f.Store.Remove("one", force: false, prune: true, NoUsers);
        Assert.Equal(["Untagged: one:latest"], records.Select(r => r.ToString()));
        Assert.True(f.Store.Exists(id));
        var last = f.Store.Remove("two:x", force: false, prune: true, NoUsers);
        Assert.Equal(["Untagged: two:x", $"Deleted: {id}"], last.Select(r => r.ToString()).Take(2));
        Assert.Equal(3, last.Count); // and its layer
        Assert.False(f.Store.Exists(id));
        Assert.Empty(f.Layers.Layers); // its only layer went with it
    }

    [Fact]
    public void RemoveByIdWithReferencesInSeveralRepositoriesNeedsForce()
    {
        using var f = new FakeStore();
        var id = f.Import("one", ("a", "a"));
        f.Store.Tag(id, "two");
        var e = Assert.Throws<ImageConflictException>(() => f.Store.Remove(id.Hex[..12], force: false, prune: true, NoUsers));
        Assert.Equal($"conflict: unable to delete {id.Hex[..12]} (must be forced) - image is referenced in multiple repositories", e.Message);
        Assert.True(f.Store.Exists(id));
        var records = f.Store.Remove(id.Hex[..12], force: true, prune: true, NoUsers).Select(r => r.ToString()).ToList();
        Assert.Contains("Untagged: one:latest", records);
        Assert.Contains("Untagged: two:latest", records);
        Assert.Contains($"Deleted: {id}", records);
        Assert.False(f.Store.Exists(id));
    }

    [Fact]
    public void RemoveByIdWithOneRepositoryUntagsAndDeletes()
    {
        using var f = new FakeStore();
        var id = f.Import("one:a", ("a", "a"));
        var records = f.Store.Remove(id.ToString(), force: false, prune: true, NoUsers).Select(r => r.ToString()).ToList();
        Assert.Equal("Untagged: one:a", records[0]);
        Assert.Equal($"Deleted: {id}", records[1]);
    }

    [Fact]
    public void ContainersBlockRemovalUnlessForcedAndRunningOnesAlways()
    {
        using var f = new FakeStore();
        var id = f.Import("used", ("a", "a"));
        ImageUsage stopped = i => i == id ? new ImageUser("0123456789abcdef0123", Running: false) : null;
        ImageUsage running = i => i == id ? new ImageUser("0123456789abcdef0123", Running: true) : null;

        var e = Assert.Throws<ImageConflictException>(() => f.Store.Remove("used", force: false, prune: true, stopped));
        Assert.Equal($"conflict: unable to remove repository reference \"used\" (must force) - container 0123456789ab is using its referenced image {id.Hex[..12]}", e.Message);
        var byId = Assert.Throws<ImageConflictException>(() => f.Store.Remove(id.Hex, force: false, prune: true, stopped));
        Assert.Equal($"conflict: unable to delete {id.Hex[..12]} (must be forced) - image is being used by stopped container 0123456789ab", byId.Message);
        var hard = Assert.Throws<ImageConflictException>(() => f.Store.Remove(id.Hex, force: true, prune: true, running));
        Assert.Equal($"conflict: unable to delete {id.Hex[..12]} (cannot be forced) - image is being used by running container 0123456789ab", hard.Message);
        Assert.True(f.Store.Exists(id));
        Assert.Equal(["used:latest"], f.Store.RepoTags(id));

        // Forcing the reference untags and deletes the image, as Docker does; the container's layer store
        // hold keeps the layer.
        f.Layers.HeldByContainers.Add(f.Store.GetConfig(id).RootFs.ChainId().ToString());
        var records = f.Store.Remove("used", force: true, prune: true, stopped);
        Assert.Equal(["Untagged: used:latest", $"Deleted: {id}"], records.Select(r => r.ToString()));
        Assert.False(f.Store.Exists(id));
        Assert.Single(f.Layers.Layers);
    }

    [Fact]
    public void ChildImagesBlockRemovalAndPruneTakesDanglingParents()
    {
        using var f = new FakeStore();
        var parent = f.Import("base", ("a", "a"));
        var parentChain = f.Store.GetConfig(parent).RootFs.ChainId().ToString();
        var child = f.Creation.Commit(new FakeContainerLayer("c1", parentChain, Tars.Of(("b", "b"))),
            new ImageCommitOptions { ParentImage = parent, Reference = "child" });
        var e = Assert.Throws<ImageConflictException>(() => f.Store.Remove(parent.Hex, force: true, prune: true, NoUsers));
        Assert.Contains("(cannot be forced) - image has dependent child images", e.Message);
        Assert.Equal([child], f.Store.Children(parent));

        // Untagging the parent leaves it (a child needs it); removing the child then prunes the parent too.
        Assert.Equal(["Untagged: base:latest"], f.Store.Remove("base", false, true, NoUsers).Select(r => r.ToString()));
        Assert.True(f.Store.Exists(parent));
        var records = f.Store.Remove("child", false, true, NoUsers).Select(r => r.ToString()).ToList();
        Assert.Contains($"Deleted: {child}", records);
        Assert.Contains($"Deleted: {parent}", records);
        Assert.Empty(f.Store.Ids);
        Assert.Empty(f.Layers.Layers);
    }

    [Fact]
    public void SharedLayersStayWhileAnotherImageUsesThem()
    {
        using var f = new FakeStore();
        var tar = Tars.Of(("a", "a"));
        var one = f.Creation.Import(new MemoryStream(tar), new ImportOptions { Reference = "one", Message = "1" });
        var two = f.Creation.Import(new MemoryStream(tar), new ImportOptions { Reference = "two", Message = "2" });
        Assert.NotEqual(one, two);
        Assert.Single(f.Layers.Layers);
        f.Store.Remove("one", false, true, NoUsers);
        Assert.Single(f.Layers.Layers);
        f.Store.Remove("two", false, true, NoUsers);
        Assert.Empty(f.Layers.Layers);
    }

    [Fact]
    public void PruneDeletesOnlyDanglingUnusedImages()
    {
        using var f = new FakeStore();
        var tagged = f.Import("keep", ("a", "a"));
        var dangling = f.Import(null, ("b", "b"));
        var used = f.Import(null, ("c", "c"));
        var report = f.Store.Prune(i => i == used ? new ImageUser("x", false) : null);
        Assert.Equal($"Deleted: {dangling}", report.Deleted[0].ToString());
        Assert.Equal(2, report.Deleted.Count); // the image and its layer
        Assert.True(report.SpaceReclaimed > 0);
        Assert.True(f.Store.Exists(tagged));
        Assert.True(f.Store.Exists(used));
        Assert.False(f.Store.Exists(dangling));
        var labelled = f.Store.Prune(NoUsers, all: true, filter: (_, c) => c.Config?.Labels?.ContainsKey("prune-me") == true);
        Assert.Empty(labelled.Deleted);
        Assert.True(f.Store.Exists(tagged));
        var all = f.Store.Prune(NoUsers, all: true);
        Assert.Contains($"Deleted: {tagged}", all.Deleted.Select(r => r.ToString()));
        Assert.Empty(f.Store.Ids);
    }

    [Fact]
    public void HistoryAndInspectDescribeAnImportedAndCommittedImage()
    {
        using var f = new FakeStore();
        var baseId = f.Creation.Import(new MemoryStream(Tars.Of(("a", "aaaa"))),
            new ImportOptions { Reference = "base:1", Message = "imported", Changes = ["CMD [\"sh\"]", "ENV A=1"], Platform = Platforms.Parse("linux/arm64") });
        var inspect = f.Store.Inspect("base:1");
        Assert.Equal(baseId, inspect.Id);
        Assert.Equal(["base:1"], inspect.RepoTags);
        Assert.Equal("arm64", inspect.Architecture);
        Assert.Equal("linux", inspect.Os);
        Assert.Equal("imported", inspect.Comment);
        Assert.Equal(["sh"], inspect.Config!.Cmd!);
        Assert.Single(inspect.RootFs.DiffIds);
        Assert.Equal(f.Layers.Layers.Values.Single().Tar.Length, inspect.Size);

        var chain = inspect.RootFs.ChainId().ToString();
        var child = f.Creation.Commit(new FakeContainerLayer("c", chain, Tars.Of(("b", "bb"))), new ImageCommitOptions
        {
            ParentImage = baseId, Author = "me", Message = "msg", CreatedBy = "/bin/sh -c touch b", Changes = ["USER nobody"], Reference = "child:2",
        });
        var history = f.Store.History("child:2");
        Assert.Equal(2, history.Count);
        Assert.Equal(child.ToString(), history[0].Id);
        Assert.Equal(["child:2"], history[0].Tags);
        Assert.Equal("/bin/sh -c touch b", history[0].CreatedBy);
        Assert.Equal("msg", history[0].Comment);
        Assert.Equal(baseId.ToString(), history[1].Id);
        Assert.Equal("imported", history[1].Comment);
        Assert.True(history[0].Size > 0 && history[1].Size > 0);
        var config = f.Store.GetConfig(child);
        Assert.Equal("nobody", config.Config!.User);
        Assert.Equal(["sh"], config.Config.Cmd!);
        Assert.Equal("me", config.Author);
        Assert.Equal("arm64", config.Architecture);
        Assert.Equal(2, config.RootFs.DiffIds.Count);
        Assert.Equal(baseId.ToString(), f.Store.Record(child)!.Parent);
    }

    [Fact]
    public void CommitWithoutChangesAddsAnEmptyLayerHistoryEntry()
    {
        using var f = new FakeStore();
        var baseId = f.Import("base", ("a", "a"));
        var chain = f.Store.GetConfig(baseId).RootFs.ChainId().ToString();
        var empty = new byte[1024];
        var id = f.Creation.Commit(new FakeContainerLayer("c", chain, empty), new ImageCommitOptions { ParentImage = baseId, Changes = ["CMD [\"x\"]"] });
        var config = f.Store.GetConfig(id);
        Assert.Single(config.RootFs.DiffIds);
        Assert.True(config.History![^1].EmptyLayer);
        Assert.Single(f.Layers.Layers); // the empty layer was not kept
        Assert.Equal(2, f.Store.History(id.Hex).Count);
    }

    [Fact]
    public void CommitRefusesAContainerOfAnotherImage()
    {
        using var f = new FakeStore();
        var baseId = f.Import("base", ("a", "a"));
        var e = Assert.Throws<ImageException>(() => f.Creation.Commit(new FakeContainerLayer("c", null, Tars.Of(("b", "b"))), new ImageCommitOptions { ParentImage = baseId }));
        Assert.Contains("is not on image", e.Message);
        Assert.Single(f.Store.Ids);
    }

    [Fact]
    public void ImportAcceptsGzipAndRefusesBadChangesBeforeStoringAnything()
    {
        using var f = new FakeStore();
        var tar = Tars.Of(("etc/", ""), ("etc/hostname", "x"));
        var gz = f.Creation.Import(new MemoryStream(Tars.Gzip(tar)), new ImportOptions { Reference = "gz" });
        Assert.Equal(Tars.Sha(tar), f.Store.GetConfig(gz).RootFs.DiffIds[0].ToString());
        Assert.Throws<ChangeException>(() => f.Creation.Import(new MemoryStream(Tars.Of(("other", "o"))), new ImportOptions { Changes = ["RUN x"] }));
        Assert.Throws<InvalidReferenceException>(() => f.Creation.Import(new MemoryStream(Tars.Of(("other", "o"))), new ImportOptions { Reference = "Bad" }));
        Assert.Single(f.Layers.Layers);
        Assert.Single(f.Store.Ids);
    }

    [Fact]
    public void ContentRootsCoverEveryConfig()
    {
        using var f = new FakeStore();
        var a = f.Import("a", ("a", "a"));
        var b = f.Import(null, ("b", "b"));
        Assert.Equal(new HashSet<Digest> { a, b }, f.Store.ContentRoots());
        Assert.Equal(2, f.Store.LayerRoots().Count);
        f.Content.Delete(b);
        Assert.Equal([b], f.Store.Repair());
        Assert.Equal([a], f.Store.Ids);
    }

    [Fact]
    public void UnusedLayersAreRemovedTopmostFirstAndHeldOnesStay()
    {
        using var f = new FakeStore();
        var kept = f.Import("kept", ("a", "a"));
        var keptChain = f.Store.GetConfig(kept).RootFs.ChainId().ToString();
        var orphanBase = f.Layers.Register(new MemoryStream(Tars.Of(("o", "1"))), Berth.Storage.Compression.None, null);
        var orphanTop = f.Layers.Register(new MemoryStream(Tars.Of(("o", "2"))), Berth.Storage.Compression.None, orphanBase.ChainId);
        var held = f.Layers.Register(new MemoryStream(Tars.Of(("h", "1"))), Berth.Storage.Compression.None, null);
        f.Layers.HeldByContainers.Add(held.ChainId);
        var removed = f.Store.RemoveUnusedLayers();
        Assert.Equal([orphanTop.ChainId, orphanBase.ChainId], removed);
        Assert.Equal(new[] { keptChain, held.ChainId }.Order(), f.Layers.Layers.Keys.Order());
    }

    [Fact]
    public void ReopenRemovesLeftoversOfAKilledLoadAndReportsADamagedIndex()
    {
        using var f = new FakeStore();
        f.Import("x", ("a", "a"));
        var leftover = Path.Combine(f.Store.Root, "tmp", "0123");
        Directory.CreateDirectory(leftover);
        File.WriteAllText(Path.Combine(f.Store.Root, "images.json.tmp99.1"), "{");
        var reopened = f.Reopen();
        Assert.False(Directory.Exists(leftover));
        Assert.False(File.Exists(Path.Combine(f.Store.Root, "images.json.tmp99.1")));
        Assert.Single(reopened.Ids);
        File.WriteAllText(Path.Combine(f.Store.Root, "images.json"), "{\"Images\":");
        var e = Assert.Throws<ImageException>(() => f.Reopen());
        Assert.Contains("is damaged", e.Message);
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("zstd")]
    [InlineData("xz")]
    [InlineData("bzip2")]
    public void ImportReadsEveryCompressionDockerDoes(string tool)
    {
        using var f = new FakeStore();
        var tar = Tars.Of(("etc/", ""), ("etc/os-release", "ID=test"));
        var plain = f.Dir.Combine("rootfs.tar");
        File.WriteAllBytes(plain, tar);
        Berth.Testing.BusyboxRootfs.Run(tool, "-k", "-q", plain);
        var compressed = plain + tool switch { "gzip" => ".gz", "zstd" => ".zst", "xz" => ".xz", _ => ".bz2" };
        using var input = File.OpenRead(compressed);
        var id = f.Creation.Import(input, new ImportOptions { Reference = "c:" + tool });
        Assert.Equal(Tars.Sha(tar), f.Store.GetConfig(id).RootFs.DiffIds[0].ToString());
    }
}
