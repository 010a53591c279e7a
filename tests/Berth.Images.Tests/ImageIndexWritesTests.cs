using Berth.Oci.Content;
using Berth.Oci.Reference;

namespace Berth.Images.Tests;

/// <summary>
/// The image index (images.json) is written once per operation: an import, a commit or a pull adds the image and
/// its names in one atomic write (temp file, fsync, rename), and an operation that changes nothing writes nothing.
/// </summary>
public sealed class ImageIndexWritesTests
{
    [Fact]
    public void An_import_with_a_tag_writes_the_index_once()
    {
        using var f = new FakeStore();
        var before = f.Store.IndexWrites;
        var id = f.Import("app:1", ("a", "a"));
        Assert.Equal(before + 1, f.Store.IndexWrites);
        var reopened = f.Reopen();
        Assert.Equal(["app:1"], reopened.RepoTags(id));
        Assert.NotNull(reopened.Record(id)!.LastTagTime);
        Assert.Empty(Directory.EnumerateFiles(reopened.Root, "images.json.tmp*"));
    }

    [Fact]
    public void A_commit_with_a_tag_writes_the_index_once()
    {
        using var f = new FakeStore();
        var parent = f.Import("base", ("a", "a"));
        var chain = f.Store.GetConfig(parent).RootFs.ChainId().ToString();
        var before = f.Store.IndexWrites;
        var child = f.Creation.Commit(new FakeContainerLayer("c", chain, Tars.Of(("b", "b"))), new ImageCommitOptions { ParentImage = parent, Reference = "app:2" });
        Assert.Equal(before + 1, f.Store.IndexWrites);
        Assert.Equal(child, f.Reopen().Resolve("app:2"));
    }

    [Fact]
    public void Create_names_the_image_as_a_pull_does_in_one_write_and_again_writes_nothing()
    {
        using var f = new FakeStore();
        var other = f.Import("registry.local/app:1", ("o", "o"));
        var config = f.Store.GetConfigBytes(f.Import(null, ("a", "a")));
        var manifest = Digest.Sha256("a manifest"u8.ToArray());
        var tag = ImageReference.ParseNormalized("registry.local/app:1");
        var byDigest = ImageReference.ParseNormalized("registry.local/app@" + manifest);

        var before = f.Store.IndexWrites;
        var id = f.Store.Create(config, manifest: manifest, names: [byDigest, tag]);
        Assert.Equal(before + 1, f.Store.IndexWrites);
        Assert.Equal(["registry.local/app:1"], f.Store.RepoTags(id));
        Assert.Equal(["registry.local/app@" + manifest], f.Store.RepoDigests(id));
        Assert.Empty(f.Store.RepoTags(other)); // the tag moved

        // The same image with the same names (a pull of an image that is up to date): no write.
        f.Store.Create(config, manifest: manifest, names: [byDigest, tag]);
        Assert.Equal(before + 1, f.Store.IndexWrites);

        // What was written is what a fresh open reads (the write was complete).
        var reopened = f.Reopen();
        Assert.Equal(id, reopened.Resolve("registry.local/app:1"));
        Assert.Equal(id, reopened.Resolve("registry.local/app@" + manifest));
        Assert.Equal([manifest], reopened.Record(id)!.Manifests!);
    }

    [Fact]
    public void A_tag_without_a_name_gets_latest()
    {
        using var f = new FakeStore();
        var config = f.Store.GetConfigBytes(f.Import(null, ("a", "a")));
        var id = f.Store.Create(config, names: [ImageReference.ParseNormalized("app")]);
        Assert.Equal(["app:latest"], f.Store.RepoTags(id));
    }
}
