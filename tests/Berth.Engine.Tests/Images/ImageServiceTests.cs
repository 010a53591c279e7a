using Berth.Engine.Images;
using Berth.Engine.Models;
using Berth.Oci.Content;
using Berth.Testing;

namespace Berth.Engine.Tests.Images;

/// <summary>The image service over a real storage root: the layer store unpacks as root, so these are [RootFact]s.</summary>
public sealed class ImageServiceTests
{
    private static readonly CancellationToken None = CancellationToken.None;
    private static Filters F(params (string Key, string Value)[] pairs)
        => new(pairs.GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.Select(p => p.Value).ToList()));

    [RootFact]
    public Task Busybox_round_trip_on_overlay2() => BusyboxRoundTrip("overlay2");

    [RootFact]
    public Task Busybox_round_trip_on_vfs() => BusyboxRoundTrip("vfs");

    /// <summary>import → list → inspect → tag → history → save → rmi → load, as the docker CLI would drive it.</summary>
    private static async Task BusyboxRoundTrip(string driver)
    {
        using var h = new ImageHarness(driver);
        var tar = TestTars.Busybox(h.Temp);
        var messages = await h.ImportAsync(tar, "busybox", null, ["CMD [\"sh\"]", "ENV A=1"], "from busybox-static");
        var id = Digest.Parse(Assert.Single(messages).Status!);

        var list = await h.Service.ListAsync(new ImageListOptions(false, Filters.None, false, false), None);
        var summary = Assert.Single(list);
        Assert.Equal(id.ToString(), summary.Id);
        Assert.Equal(["busybox:latest"], summary.RepoTags);
        Assert.True(summary.Size > 500_000, $"size {summary.Size}");
        Assert.Equal(0, summary.Containers);

        var inspect = await h.Service.InspectAsync("busybox", None);
        Assert.Equal(id.ToString(), inspect.Id);
        Assert.Equal(["sh"], inspect.Config!.Cmd!);
        Assert.Contains("A=1", inspect.Config.Env!);
        Assert.Equal("from busybox-static", inspect.Comment);
        Assert.Equal("layers", inspect.RootFS.Type);
        Assert.Single(inspect.RootFS.Layers);
        Assert.StartsWith("sha256:", inspect.RootFS.Layers[0]);
        Assert.Equal(driver, inspect.GraphDriver!.Name);
        Assert.Equal(summary.Size, inspect.Size);
        Assert.Equal("linux", inspect.Os);
        Assert.NotEqual(DockerTime.Zero, inspect.Metadata!.LastTagTime);

        await h.Service.TagAsync(id.Hex[..12], "example.com/tools/bb", "v1", None);
        Assert.Equal(["busybox:latest", "example.com/tools/bb:v1"], (await h.Service.InspectAsync(id.ToString(), None)).RepoTags);

        var history = await h.Service.HistoryAsync("example.com/tools/bb:v1", None);
        var top = Assert.Single(history);
        Assert.Equal(id.ToString(), top.Id);
        Assert.Equal(["busybox:latest", "example.com/tools/bb:v1"], top.Tags!);
        Assert.Equal("from busybox-static", top.Comment);
        Assert.Equal(summary.Size, top.Size);

        var saved = await h.SaveAsync("busybox", "example.com/tools/bb:v1");
        var names = TestTars.Names(saved);
        Assert.Contains("manifest.json", names);
        Assert.Contains("repositories", names);

        // The image is in two repositories: removing it by ID needs force, by name just untags.
        var conflict = await Assert.ThrowsAsync<ConflictException>(() => h.Service.RemoveAsync(id.Hex[..12], false, false, None));
        Assert.Equal($"conflict: unable to delete {id.Hex[..12]} (must be forced) - image is referenced in multiple repositories", conflict.Message);
        var untag = await h.Service.RemoveAsync("example.com/tools/bb:v1", false, false, None);
        Assert.Equal("example.com/tools/bb:v1", Assert.Single(untag).Untagged);
        var removed = await h.Service.RemoveAsync("busybox", false, false, None);
        Assert.Equal("busybox:latest", removed[0].Untagged);
        Assert.Equal(id.ToString(), removed[1].Deleted);
        Assert.Contains(removed.Skip(2), r => r.Deleted == inspect.RootFS.Layers[0]); // one layer: its chain ID is its diff ID
        Assert.Empty(await h.Service.ListAsync(new ImageListOptions(true, Filters.None, false, false), None));
        Assert.Empty(h.Storage.Layers.List());

        var loaded = await h.LoadAsync(saved);
        Assert.Equal(["Loaded image: busybox:latest\n", "Loaded image: example.com/tools/bb:v1\n"], loaded.Order(StringComparer.Ordinal).ToList());
        Assert.Equal(id.ToString(), (await h.Service.InspectAsync("example.com/tools/bb:v1", None)).Id);
        Assert.Equal(saved, await h.SaveAsync("busybox", "example.com/tools/bb:v1")); // save is deterministic

        var events = h.EventList();
        Assert.Equal(
            ["import", "tag", "tag", "save", "untag", "untag", "delete", "load", "save"],
            events.Select(e => e.Action).ToList());
        Assert.Equal(("tag", id.ToString(), "busybox:latest"), events[1]);
        Assert.Equal(("tag", id.ToString(), "example.com/tools/bb:v1"), events[2]);
        Assert.All(events, e => Assert.Equal(id.ToString(), e.Id));
    }

    [RootFact]
    public async Task Import_reports_the_ID_like_dockerd_and_refuses_bad_input_storing_nothing()
    {
        using var h = new ImageHarness();
        var tar = TestTars.Files(("etc/hostname", "x\n"));
        var bad = await Assert.ThrowsAsync<InvalidParameterException>(() => h.ImportAsync(tar, "busybox", null, ["FROB x"]));
        Assert.Equal("frob is not a valid change command", bad.Message);
        await Assert.ThrowsAsync<InvalidParameterException>(() => h.ImportAsync(tar, "Busybox"));
        var digestRef = await Assert.ThrowsAsync<InvalidParameterException>(() => h.ImportAsync(tar, "busybox@sha256:" + new string('a', 64)));
        Assert.Equal("cannot import digest reference", digestRef.Message);
        await Assert.ThrowsAsync<InvalidParameterException>(() => h.ImportAsync(tar, "busybox", "bad tag!"));
        var truncated = await Assert.ThrowsAsync<InvalidParameterException>(() => h.ImportAsync(tar[..700]));
        Assert.Contains("truncated", truncated.Message);
        Assert.Empty(h.Store.Ids);
        Assert.Empty(h.Storage.Layers.List());
        Assert.Empty(h.Events);

        var untagged = await h.ImportIdAsync(tar);
        var entry = Assert.Single(await h.Service.ListAsync(new ImageListOptions(false, Filters.None, false, false), None));
        Assert.Empty(entry.RepoTags);
        Assert.Equal("Imported from -", (await h.Service.InspectAsync(untagged.ToString(), None)).Comment);
    }

    [RootFact]
    public async Task Tag_validates_like_Docker()
    {
        using var h = new ImageHarness();
        var id = await h.ImportIdAsync(TestTars.Files(("a", "a")), "one");
        Assert.Equal("invalid reference format: repository name must be lowercase",
            (await Assert.ThrowsAsync<InvalidParameterException>(() => h.Service.TagAsync("one", "Upper", null, None))).Message);
        Assert.Equal("invalid tag format",
            (await Assert.ThrowsAsync<InvalidParameterException>(() => h.Service.TagAsync("one", "two", "-x", None))).Message);
        Assert.Equal("refusing to create an ambiguous tag using digest algorithm as name",
            (await Assert.ThrowsAsync<InvalidParameterException>(() => h.Service.TagAsync("one", "sha256", null, None))).Message);
        Assert.Equal("No such image: nothere:latest",
            (await Assert.ThrowsAsync<NotFoundException>(() => h.Service.TagAsync("nothere", "two", null, None))).Message);
        await h.Service.TagAsync("one", "two:three", null, None);
        await h.Service.TagAsync("one", "two", "four", None);
        Assert.Equal(["one:latest", "two:four", "two:three"], (await h.Service.InspectAsync(id.ToString(), None)).RepoTags);
    }

    [RootFact]
    public async Task Remove_refuses_images_containers_use_with_Dockers_messages()
    {
        using var h = new ImageHarness();
        var id = await h.ImportIdAsync(TestTars.Files(("a", "a")), "app");
        var container = new string('c', 64);
        h.Containers.Uses.Add(new ImageUse(container, id, Running: false));

        var byName = await Assert.ThrowsAsync<ConflictException>(() => h.Service.RemoveAsync("app", false, false, None));
        Assert.Equal($"conflict: unable to remove repository reference \"app\" (must force) - container cccccccccccc is using its referenced image {id.Hex[..12]}", byName.Message);
        var byId = await Assert.ThrowsAsync<ConflictException>(() => h.Service.RemoveAsync(id.Hex, false, false, None));
        Assert.Contains("(must be forced) - image is being used by stopped container cccccccccccc", byId.Message);

        h.Containers.Uses[0] = new ImageUse(container, id, Running: true);
        var running = await Assert.ThrowsAsync<ConflictException>(() => h.Service.RemoveAsync(id.Hex, true, false, None));
        Assert.Contains("(cannot be forced) - image is being used by running container cccccccccccc", running.Message);

        // Forced by name: the tag goes, the image a container uses stays.
        var forced = await h.Service.RemoveAsync("app", true, false, None);
        Assert.Equal("app:latest", Assert.Single(forced).Untagged);
        Assert.True(h.Store.Exists(id));
        Assert.Equal(1, Assert.Single(await h.Service.ListAsync(new ImageListOptions(true, Filters.None, false, false), None)).Containers);

        Assert.Equal("No such image: nothere:latest", (await Assert.ThrowsAsync<NotFoundException>(() => h.Service.RemoveAsync("nothere", false, false, None))).Message);
    }

    [RootFact]
    public async Task Prune_deletes_dangling_images_or_all_unused_ones_with_filters()
    {
        using var h = new ImageHarness();
        var dangling = await h.ImportIdAsync(TestTars.Files(("d", "dangling")));
        var labelled = await h.ImportIdAsync(TestTars.Files(("l", "labelled")), null, null, ["LABEL keep=yes"]);
        var tagged = await h.ImportIdAsync(TestTars.Files(("t", "tagged")), "tagged");
        var used = await h.ImportIdAsync(TestTars.Files(("u", "used")), "used");
        h.Containers.Uses.Add(new ImageUse("c1", used, false));

        await Assert.ThrowsAsync<InvalidParameterException>(() => h.Service.PruneAsync(F(("bogus", "1")), None));
        await Assert.ThrowsAsync<InvalidParameterException>(() => h.Service.PruneAsync(F(("dangling", "maybe")), None));
        await Assert.ThrowsAsync<InvalidParameterException>(() => h.Service.PruneAsync(F(("until", "yesterday")), None));

        // until in the past keeps everything
        var none = await h.Service.PruneAsync(F(("until", "1h")), None);
        Assert.Null(none.ImagesDeleted);
        Assert.Equal(0, none.SpaceReclaimed);

        var first = await h.Service.PruneAsync(F(("label!", "keep=yes")), None);
        Assert.Equal([dangling.ToString()], first.ImagesDeleted!.Where(d => d.Deleted is not null && h.Store.Exists(Digest.Parse(d.Deleted)) == false && d.Deleted == dangling.ToString()).Select(d => d.Deleted!).ToList());
        Assert.True(first.SpaceReclaimed > 0);
        Assert.True(h.Store.Exists(labelled));

        var all = await h.Service.PruneAsync(F(("dangling", "false")), None);
        var deleted = all.ImagesDeleted!.Where(d => d.Deleted is not null).Select(d => d.Deleted!).ToHashSet();
        Assert.Contains(labelled.ToString(), deleted);
        Assert.Contains(tagged.ToString(), deleted);
        Assert.Contains(all.ImagesDeleted!, d => d.Untagged == "tagged:latest");
        Assert.True(h.Store.Exists(used));
        Assert.Equal([used], h.Store.Ids);
    }

    [RootFact]
    public async Task List_filters_dangling_reference_label_before_since()
    {
        using var h = new ImageHarness();
        var old = await h.ImportIdAsync(TestTars.Files(("1", "1")), "alpha", "1", ["LABEL tier=base"]);
        await Task.Delay(1100); // Created has second resolution in the list
        var mid = await h.ImportIdAsync(TestTars.Files(("2", "2")), "beta", "2");
        await Task.Delay(1100);
        var dangling = await h.ImportIdAsync(TestTars.Files(("3", "3")));

        async Task<List<string>> Ids(Filters f, bool all = false)
            => [.. (await h.Service.ListAsync(new ImageListOptions(all, f, false, false), None)).Select(i => i.Id)];

        Assert.Equal([dangling.ToString(), mid.ToString(), old.ToString()], await Ids(Filters.None)); // newest first
        Assert.Equal([dangling.ToString()], await Ids(F(("dangling", "true"))));
        Assert.Equal([mid.ToString(), old.ToString()], await Ids(F(("dangling", "false"))));
        Assert.Equal([old.ToString()], await Ids(F(("reference", "alpha"))));
        Assert.Equal([old.ToString()], await Ids(F(("reference", "al*:1"))));
        Assert.Equal([mid.ToString(), old.ToString()], await Ids(F(("reference", "alpha"), ("reference", "b?ta:*"))));
        Assert.Equal([old.ToString()], await Ids(F(("label", "tier=base"))));
        Assert.Equal([old.ToString()], await Ids(F(("label", "tier"))));
        Assert.Empty(await Ids(F(("label", "tier=top"))));
        Assert.Equal([old.ToString()], await Ids(F(("before", "beta:2"))));
        Assert.Equal([dangling.ToString()], await Ids(F(("since", "beta:2"))));
        await Assert.ThrowsAsync<NotFoundException>(() => Ids(F(("since", "nothere"))));
        Assert.Equal("invalid filter 'colour'", (await Assert.ThrowsAsync<InvalidParameterException>(() => Ids(F(("colour", "red"))))).Message);

        var shared = await h.Service.ListAsync(new ImageListOptions(false, Filters.None, true, false), None);
        Assert.All(shared, i => Assert.Equal(0, i.SharedSize));
        var (layers, images) = h.Service.DiskUsage();
        Assert.Equal(3, images.Count);
        Assert.Equal(images.Sum(i => i.Size), layers);
    }

    [RootFact]
    public async Task Load_refuses_a_bad_archive_with_a_client_error_and_keeps_nothing()
    {
        using var h = new ImageHarness();
        var notAnArchive = TestTars.Files(("hello.txt", "hi"));
        var e = await Assert.ThrowsAsync<InvalidParameterException>(() => h.LoadAsync(notAnArchive));
        Assert.Contains("manifest.json", e.Message);
        Assert.Empty(h.Store.Ids);
        Assert.Empty(h.Events);
    }

    [RootFact]
    public async Task Save_of_an_unknown_image_fails_before_writing()
    {
        using var h = new ImageHarness();
        await h.ImportIdAsync(TestTars.Files(("a", "a")), "known");
        using var output = new MemoryStream();
        var e = await Assert.ThrowsAsync<NotFoundException>(() => h.Service.SaveAsync(["known", "unknown"], output, None));
        Assert.Equal("No such image: unknown:latest", e.Message);
        Assert.Equal(0, output.Length);
    }
}
