using System.Net;
using Berth.Oci.Content;
using Berth.Registry.Storage;
using static Berth.Registry.Tests.RegistryHarness;

namespace Berth.Registry.Tests;

public sealed class GarbageCollectionTests
{
    private static void Age(RegistryHarness h, Digest blob)
    {
        var path = Path.Combine(h.Config.RootDirectory, RegistryPaths.Blob(blob));
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddHours(-1));
        foreach (var link in Directory.EnumerateFiles(Path.Combine(h.Config.RootDirectory, "repositories"), "link", SearchOption.AllDirectories))
            File.SetLastWriteTimeUtc(link, DateTime.UtcNow.AddHours(-1));
    }

    [Fact]
    public async Task Collects_unreferenced_blobs_and_keeps_manifests_index_children_and_referrers()
    {
        await using var h = await StartAsync();
        var (manifest, digest, config, layer) = await h.PushImageAsync("app", "v1");
        var orphan = await h.PushBlobAsync("app", "orphan"u8.ToArray());
        // An index whose child is only reachable through it (untagged child), and a referrer to the image.
        var (childBytes, child, childConfig, childLayer) = await h.PushImageAsync("app", "child", seed: "c");
        using (var r = await h.Http.DeleteAsync("/v2/app/manifests/child")) Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
        var index = System.Text.Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{child}}","size":{{childBytes.Length}} }]}""");
        await h.PutManifestAsync("app", "index", index, "application/vnd.oci.image.index.v1+json");
        var empty = await h.PushBlobAsync("app", "{}"u8.ToArray());
        var referrer = System.Text.Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/x-sig","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{{empty}}","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{digest}}","size":{{manifest.Length}} } }""");
        await h.PutManifestAsync("app", Digest.Sha256(referrer).ToString(), referrer, "application/vnd.oci.image.manifest.v1+json");
        foreach (var d in new[] { config, layer, orphan, child, childConfig, childLayer, empty, digest }) Age(h, d);

        var gc = new GarbageCollector(new FilesystemDriver(h.Config.RootDirectory));
        var dry = gc.Collect(dryRun: true);
        Assert.Equal([orphan], dry.Deleted);
        Assert.Equal(200, (int)(await h.Http.GetAsync($"/v2/app/blobs/{orphan}")).StatusCode);

        var report = gc.Collect(dryRun: false);
        Assert.Equal([orphan], report.Deleted);
        using (var r = await h.Http.GetAsync($"/v2/app/blobs/{orphan}")) Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        foreach (var kept in new[] { config, layer, childConfig, childLayer, empty })
            using (var r = await h.Http.GetAsync($"/v2/app/blobs/{kept}")) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using (var r = await h.Http.GetAsync($"/v2/app/manifests/{child}")) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using (var r = await h.Http.GetAsync($"/v2/app/manifests/{Digest.Sha256(referrer)}")) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    [Fact]
    public async Task Never_touches_an_upload_in_progress_nor_what_was_written_after_the_mark_began()
    {
        await using var h = await StartAsync();
        await h.PushImageAsync("app", "v1");
        // An upload in progress: half its data sent.
        var (bytes, digest) = Blob("a blob uploaded across a garbage collection");
        using var start = await h.Http.PostAsync("/v2/app/blobs/uploads/", null);
        var location = start.Headers.Location!.OriginalString;
        using (var patch = await h.Http.PatchAsync(location, new ByteArrayContent(bytes[..10]))) Assert.Equal(HttpStatusCode.Accepted, patch.StatusCode);
        // A blob that was just uploaded and is not referenced yet (its manifest is on its way).
        var fresh = await h.PushBlobAsync("app", "pushed just now"u8.ToArray());

        var report = new GarbageCollector(new FilesystemDriver(h.Config.RootDirectory)).Collect(dryRun: false);
        Assert.Empty(report.Deleted);

        using (var patch = await h.Http.PatchAsync(location, new ByteArrayContent(bytes[10..]))) Assert.Equal(HttpStatusCode.Accepted, patch.StatusCode);
        using (var done = await h.Http.PutAsync($"{location}?digest={digest}", null)) Assert.Equal(HttpStatusCode.Created, done.StatusCode);
        Assert.Equal(bytes, await h.Http.GetByteArrayAsync($"/v2/app/blobs/{digest}"));
        using (var r = await h.Http.GetAsync($"/v2/app/blobs/{fresh}")) Assert.Equal(HttpStatusCode.OK, r.StatusCode);

        // Once old and still unreferenced, both go.
        Age(h, digest);
        Age(h, fresh);
        var later = new GarbageCollector(new FilesystemDriver(h.Config.RootDirectory)).Collect(dryRun: false);
        Assert.Equal(new[] { digest, fresh }.OrderBy(d => d.ToString()), later.Deleted.OrderBy(d => d.ToString()));
    }
}
