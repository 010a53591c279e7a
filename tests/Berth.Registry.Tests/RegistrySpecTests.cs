using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Berth.Oci.Content;
using static Berth.Registry.Tests.RegistryHarness;

namespace Berth.Registry.Tests;

/// <summary>The OCI Distribution Specification's endpoints over HTTP on loopback, one registry per test.</summary>
public sealed class RegistrySpecTests : IAsyncLifetime
{
    private RegistryHarness h = null!;
    private HttpClient Http => h.Http;

    public async Task InitializeAsync() => h = await StartAsync();
    public async Task DisposeAsync() => await h.DisposeAsync();

    [Fact]
    public async Task Base_endpoint_answers_with_the_api_version_header()
    {
        using var r = await Http.GetAsync("/v2/");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("registry/2.0", r.Headers.GetValues("Docker-Distribution-API-Version").Single());
        using var unknown = await Http.GetAsync("/v3/");
        await AssertErrorAsync(unknown, HttpStatusCode.NotFound, "NOT_FOUND");
    }

    [Fact]
    public async Task Monolithic_upload_then_head_get_and_ranges()
    {
        var (bytes, digest) = Blob("hello, registry");
        using (var r = await Http.PostAsync($"/v2/a/b/blobs/uploads/?digest={digest}", new ByteArrayContent(bytes)))
        {
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
            Assert.Equal($"/v2/a/b/blobs/{digest}", r.Headers.Location!.OriginalString);
            Assert.Equal(digest.ToString(), r.Headers.GetValues("Docker-Content-Digest").Single());
        }
        using (var head = await Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/a/b/blobs/{digest}")))
        {
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Equal(bytes.Length, head.Content.Headers.ContentLength);
        }
        Assert.Equal(bytes, await Http.GetByteArrayAsync($"/v2/a/b/blobs/{digest}"));

        var ranged = new HttpRequestMessage(HttpMethod.Get, $"/v2/a/b/blobs/{digest}");
        ranged.Headers.Range = new RangeHeaderValue(7, null);
        using (var r = await Http.SendAsync(ranged))
        {
            Assert.Equal(HttpStatusCode.PartialContent, r.StatusCode);
            Assert.Equal("registry", await r.Content.ReadAsStringAsync());
            Assert.Equal($"bytes 7-{bytes.Length - 1}/{bytes.Length}", r.Content.Headers.ContentRange!.ToString());
        }
        var bad = new HttpRequestMessage(HttpMethod.Get, $"/v2/a/b/blobs/{digest}");
        bad.Headers.Range = new RangeHeaderValue(1000, null);
        using (var r = await Http.SendAsync(bad)) Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, r.StatusCode);

        // Another repository cannot see the blob without a link.
        using var other = await Http.GetAsync($"/v2/other/blobs/{digest}");
        await AssertErrorAsync(other, HttpStatusCode.NotFound, "BLOB_UNKNOWN");
    }

    [Fact]
    public async Task Post_then_put_upload()
    {
        var (bytes, digest) = Blob("two step");
        using var start = await Http.PostAsync("/v2/repo/blobs/uploads/", null);
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        Assert.Equal("0-0", start.Headers.GetValues("Range").Single());
        Assert.NotEmpty(start.Headers.GetValues("Docker-Upload-UUID").Single());
        var location = start.Headers.Location!.OriginalString;
        using var put = await Http.PutAsync($"{location}?digest={digest}", new ByteArrayContent(bytes));
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(bytes, await Http.GetByteArrayAsync($"/v2/repo/blobs/{digest}"));
        // The upload is gone once finished.
        using var status = await Http.GetAsync(location);
        await AssertErrorAsync(status, HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
    }

    [Fact]
    public async Task Chunked_upload_with_content_range_status_and_out_of_order_chunk()
    {
        var (bytes, digest) = Blob("0123456789abcdefghij");
        using var start = await Http.PostAsync("/v2/repo/blobs/uploads/", null);
        var location = start.Headers.Location!.OriginalString;

        using (var first = await PatchAsync(location, bytes[..10], "0-9"))
        {
            Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
            Assert.Equal("0-9", first.Headers.GetValues("Range").Single());
        }
        // A chunk that does not start where the upload ends: 416, and the Range says where it is.
        using (var wrong = await PatchAsync(location, bytes[12..], "12-19"))
        {
            Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, wrong.StatusCode);
            Assert.Equal("0-9", wrong.Headers.GetValues("Range").Single());
        }
        using (var status = await Http.GetAsync(location))
        {
            Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
            Assert.Equal("0-9", status.Headers.GetValues("Range").Single());
        }
        using (var second = await PatchAsync(location, bytes[10..], "10-19"))
            Assert.Equal(HttpStatusCode.Accepted, second.StatusCode);
        using (var done = await Http.PutAsync($"{location}?digest={digest}", null))
            Assert.Equal(HttpStatusCode.Created, done.StatusCode);
        Assert.Equal(bytes, await Http.GetByteArrayAsync($"/v2/repo/blobs/{digest}"));
    }

    private Task<HttpResponseMessage> PatchAsync(string location, byte[] chunk, string? range)
    {
        var request = new HttpRequestMessage(HttpMethod.Patch, location) { Content = new ByteArrayContent(chunk) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        if (range is not null) request.Content.Headers.TryAddWithoutValidation("Content-Range", range);
        return Http.SendAsync(request);
    }

    [Fact]
    public async Task Wrong_digest_stores_nothing_and_missing_digest_is_refused()
    {
        var (bytes, _) = Blob("some content");
        var (_, other) = Blob("other content");
        using (var r = await Http.PostAsync($"/v2/repo/blobs/uploads/?digest={other}", new ByteArrayContent(bytes)))
            await AssertErrorAsync(r, HttpStatusCode.BadRequest, "DIGEST_INVALID");
        using (var r = await Http.GetAsync($"/v2/repo/blobs/{other}")) await AssertErrorAsync(r, HttpStatusCode.NotFound, "BLOB_UNKNOWN");
        using (var r = await Http.PostAsync("/v2/repo/blobs/uploads/?digest=sha256:nothex", new ByteArrayContent(bytes)))
            await AssertErrorAsync(r, HttpStatusCode.BadRequest, "DIGEST_INVALID");

        using var start = await Http.PostAsync("/v2/repo/blobs/uploads/", null);
        using (var r = await Http.PutAsync(start.Headers.Location!.OriginalString, new ByteArrayContent(bytes)))
            await AssertErrorAsync(r, HttpStatusCode.BadRequest, "DIGEST_INVALID");
        Assert.DoesNotContain(Directory.EnumerateFiles(h.Dir.Combine("storage"), "data", SearchOption.AllDirectories), f => f.Contains("/blobs/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Cancel_upload_and_unknown_upload()
    {
        using var start = await Http.PostAsync("/v2/repo/blobs/uploads/", null);
        var location = start.Headers.Location!.OriginalString;
        using (var r = await Http.DeleteAsync(location)) Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
        using (var r = await Http.GetAsync(location)) await AssertErrorAsync(r, HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        using (var r = await Http.DeleteAsync(location)) await AssertErrorAsync(r, HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        using (var r = await Http.GetAsync("/v2/repo/blobs/uploads/..%2f..%2fetc")) await AssertErrorAsync(r, HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
    }

    [Fact]
    public async Task Truncated_chunk_leaves_the_upload_where_it_was()
    {
        using var start = await Http.PostAsync("/v2/repo/blobs/uploads/", null);
        var location = start.Headers.Location!.OriginalString;
        using (var client = new TcpClient())
        {
            await client.ConnectAsync(h.Server.Address.Host, h.Server.Address.Port);
            var stream = client.GetStream();
            var head = $"PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head + new string('x', 40)));
            await stream.FlushAsync();
            await Task.Delay(200);
        }
        await Task.Delay(300);
        using var status = await Http.GetAsync(location);
        Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
        Assert.Equal("0-0", status.Headers.GetValues("Range").Single());
        var (bytes, digest) = Blob("after the torn chunk");
        using (var r = await Http.PutAsync($"{location}?digest={digest}", new ByteArrayContent(bytes))) Assert.Equal(HttpStatusCode.Created, r.StatusCode);
    }

    [Fact]
    public async Task Cross_repository_mount()
    {
        var (bytes, digest) = Blob("shared layer");
        await h.PushBlobAsync("source", bytes);
        using (var r = await Http.PostAsync($"/v2/target/blobs/uploads/?mount={digest}&from=source", null))
        {
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
            Assert.Equal($"/v2/target/blobs/{digest}", r.Headers.Location!.OriginalString);
        }
        Assert.Equal(bytes, await Http.GetByteArrayAsync($"/v2/target/blobs/{digest}"));
        // Nothing to mount: an ordinary upload starts instead.
        var (_, missing) = Blob("not anywhere");
        using var fallback = await Http.PostAsync($"/v2/target/blobs/uploads/?mount={missing}&from=source", null);
        Assert.Equal(HttpStatusCode.Accepted, fallback.StatusCode);
        Assert.NotNull(fallback.Headers.Location);
    }

    [Fact]
    public async Task Manifests_by_tag_and_digest_with_accept_negotiation()
    {
        var (manifest, digest, _, _) = await h.PushImageAsync("img", "v1");
        foreach (var reference in new[] { "v1", digest.ToString() })
        {
            using var r = await Http.GetAsync($"/v2/img/manifests/{reference}");
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal("application/vnd.oci.image.manifest.v1+json", r.Content.Headers.ContentType!.MediaType);
            Assert.Equal(digest.ToString(), r.Headers.GetValues("Docker-Content-Digest").Single());
            Assert.Equal(manifest, await r.Content.ReadAsByteArrayAsync());
        }
        using (var head = await Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/v2/img/manifests/v1")))
        {
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Equal(manifest.Length, head.Content.Headers.ContentLength);
        }
        // A client that accepts only Docker schema 2 does not get an OCI manifest.
        var dockerOnly = new HttpRequestMessage(HttpMethod.Get, "/v2/img/manifests/v1");
        dockerOnly.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json");
        using (var r = await Http.SendAsync(dockerOnly)) await AssertErrorAsync(r, HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        using (var r = await Http.GetAsync("/v2/img/manifests/nope")) await AssertErrorAsync(r, HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        using (var r = await Http.GetAsync("/v2/nosuchrepo/manifests/v1")) await AssertErrorAsync(r, HttpStatusCode.NotFound, "NAME_UNKNOWN");
    }

    [Fact]
    public async Task Docker_manifest_list_and_fallback_for_clients_without_list_support()
    {
        var (amd, amdDigest, _, _) = await h.PushImageAsync("multi", "amd64", "application/vnd.docker.distribution.manifest.v2+json", "a");
        var (arm, armDigest, _, _) = await h.PushImageAsync("multi", "arm64", "application/vnd.docker.distribution.manifest.v2+json", "b");
        var list = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{{armDigest}}","size":{{arm.Length}},"platform":{"architecture":"arm64","os":"linux"} },{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{{amdDigest}}","size":{{amd.Length}},"platform":{"architecture":"amd64","os":"linux"} }]}""");
        var listDigest = await h.PutManifestAsync("multi", "latest", list, "application/vnd.docker.distribution.manifest.list.v2+json");
        var all = new HttpRequestMessage(HttpMethod.Get, "/v2/multi/manifests/latest");
        all.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.list.v2+json");
        all.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json");
        using (var r = await Http.SendAsync(all)) Assert.Equal(listDigest.ToString(), r.Headers.GetValues("Docker-Content-Digest").Single());
        var single = new HttpRequestMessage(HttpMethod.Get, "/v2/multi/manifests/latest");
        single.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json");
        using (var r = await Http.SendAsync(single)) Assert.Equal(amdDigest.ToString(), r.Headers.GetValues("Docker-Content-Digest").Single());

        // An index naming a manifest the repository lacks is refused.
        var (_, unknown) = Blob("no such manifest");
        var dangling = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{unknown}}","size":3 }]}""");
        using var content = new ByteArrayContent(dangling);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.oci.image.index.v1+json");
        using var put = await Http.PutAsync("/v2/multi/manifests/bad", content);
        await AssertErrorAsync(put, HttpStatusCode.BadRequest, "MANIFEST_BLOB_UNKNOWN");
    }

    [Theory]
    [InlineData("{not json", "application/vnd.oci.image.manifest.v1+json", "MANIFEST_INVALID")]
    [InlineData("""{"schemaVersion":2,"mediaType":"application/x-unknown","config":{},"layers":[]}""", "application/x-unknown", "MANIFEST_INVALID")]
    [InlineData("""{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}""", "application/vnd.docker.distribution.manifest.v1+json", "MANIFEST_INVALID")]
    [InlineData("""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}""", "application/vnd.oci.image.manifest.v1+json", "MANIFEST_INVALID")]
    [InlineData("""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}""", "application/vnd.oci.image.manifest.v1+json", "MANIFEST_BLOB_UNKNOWN")]
    public async Task Bad_manifests_are_refused_and_nothing_is_stored(string body, string contentType, string code)
    {
        using var content = new StringContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        using var r = await Http.PutAsync("/v2/repo/manifests/latest", content);
        await AssertErrorAsync(r, HttpStatusCode.BadRequest, code);
        using var get = await Http.GetAsync("/v2/repo/manifests/latest");
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
    }

    [Fact]
    public async Task Manifest_over_four_mebibytes_and_digest_mismatch()
    {
        var (_, _, config, layer) = await h.PushImageAsync("repo", "base");
        var padding = new string('x', 4 * 1024 * 1024);
        var big = HarnessManifest(config, layer, $",\"annotations\":{{\"pad\":\"{padding}\"}}");
        using (var content = new ByteArrayContent(big))
        {
            content.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.oci.image.manifest.v1+json");
            using var r = await Http.PutAsync("/v2/repo/manifests/big", content);
            await AssertErrorAsync(r, HttpStatusCode.RequestEntityTooLarge, "SIZE_INVALID");
        }
        var small = HarnessManifest(config, layer, null);
        var (_, wrong) = Blob("not this manifest");
        using (var content = new ByteArrayContent(small))
        {
            content.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.oci.image.manifest.v1+json");
            using var r = await Http.PutAsync($"/v2/repo/manifests/{wrong}", content);
            await AssertErrorAsync(r, HttpStatusCode.BadRequest, "DIGEST_INVALID");
        }
        // By its own digest it is accepted.
        Assert.Equal(Digest.Sha256(small), await h.PutManifestAsync("repo", Digest.Sha256(small).ToString(), small, "application/vnd.oci.image.manifest.v1+json"));
    }

    private static byte[] HarnessManifest(Digest config, Digest layer, string? extra)
        => Manifest("application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.config.v1+json", config, 0, "application/vnd.oci.image.layer.v1.tar+gzip", layer, 0, extra);

    [Fact]
    public async Task Invalid_names_and_tags_are_refused()
    {
        foreach (var name in new[] { "UPPER", "a..b", "-leading", "a/_layers" })
        {
            using var r = await Http.GetAsync($"/v2/{name}/tags/list");
            await AssertErrorAsync(r, HttpStatusCode.BadRequest, "NAME_INVALID");
        }
        using (var r = await Http.GetAsync("/v2/a%2F..%2F..%2Fetc/blobs/sha256:" + new string('0', 64))) await AssertErrorAsync(r, HttpStatusCode.BadRequest, "NAME_INVALID");
        using (var r = await Http.GetAsync("/v2/repo/manifests/-bad-tag")) await AssertErrorAsync(r, HttpStatusCode.BadRequest, "TAG_INVALID");
        using (var r = await Http.GetAsync("/v2/repo/blobs/sha256:short")) await AssertErrorAsync(r, HttpStatusCode.BadRequest, "DIGEST_INVALID");
        Assert.False(Directory.Exists(h.Dir.Combine("etc")));
    }

    [Fact]
    public async Task Tags_list_and_catalog_paginate_with_link_headers()
    {
        foreach (var tag in new[] { "c", "a", "e", "b", "d" }) await h.PushImageAsync("pages", tag);
        await h.PushImageAsync("another/repo", "x");
        using (var all = await Http.GetAsync("/v2/pages/tags/list"))
        {
            using var doc = JsonDocument.Parse(await all.Content.ReadAsStringAsync());
            Assert.Equal("pages", doc.RootElement.GetProperty("name").GetString());
            Assert.Equal(["a", "b", "c", "d", "e"], doc.RootElement.GetProperty("tags").EnumerateArray().Select(t => t.GetString()!));
            Assert.False(all.Headers.Contains("Link"));
        }
        using (var page = await Http.GetAsync("/v2/pages/tags/list?n=2"))
        {
            using var doc = JsonDocument.Parse(await page.Content.ReadAsStringAsync());
            Assert.Equal(["a", "b"], doc.RootElement.GetProperty("tags").EnumerateArray().Select(t => t.GetString()!));
            Assert.Equal("</v2/pages/tags/list?n=2&last=b>; rel=\"next\"", page.Headers.GetValues("Link").Single());
        }
        using (var page = await Http.GetAsync("/v2/pages/tags/list?n=2&last=d"))
        {
            using var doc = JsonDocument.Parse(await page.Content.ReadAsStringAsync());
            Assert.Equal(["e"], doc.RootElement.GetProperty("tags").EnumerateArray().Select(t => t.GetString()!));
            Assert.False(page.Headers.Contains("Link"));
        }
        using (var r = await Http.GetAsync("/v2/pages/tags/list?n=-1")) await AssertErrorAsync(r, HttpStatusCode.BadRequest, "PAGINATION_NUMBER_INVALID");
        using (var r = await Http.GetAsync("/v2/unknown/tags/list")) await AssertErrorAsync(r, HttpStatusCode.NotFound, "NAME_UNKNOWN");

        using (var catalog = await Http.GetAsync("/v2/_catalog?n=1"))
        {
            using var doc = JsonDocument.Parse(await catalog.Content.ReadAsStringAsync());
            Assert.Equal(["another/repo"], doc.RootElement.GetProperty("repositories").EnumerateArray().Select(t => t.GetString()!));
            Assert.Equal("</v2/_catalog?n=1&last=another%2Frepo>; rel=\"next\"", catalog.Headers.GetValues("Link").Single());
        }
        using (var catalog = await Http.GetAsync("/v2/_catalog?last=another%2Frepo"))
        {
            using var doc = JsonDocument.Parse(await catalog.Content.ReadAsStringAsync());
            Assert.Equal(["pages"], doc.RootElement.GetProperty("repositories").EnumerateArray().Select(t => t.GetString()!));
        }
    }

    [Fact]
    public async Task Deleting_tags_manifests_and_blobs()
    {
        var (_, digest, _, layer) = await h.PushImageAsync("del", "one");
        await h.PutManifestAsync("del", "two", (await Http.GetByteArrayAsync("/v2/del/manifests/one")), "application/vnd.oci.image.manifest.v1+json");
        using (var r = await Http.DeleteAsync("/v2/del/manifests/one")) Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
        using (var r = await Http.GetAsync("/v2/del/manifests/one")) await AssertErrorAsync(r, HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        using (var r = await Http.GetAsync("/v2/del/manifests/two")) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        // By digest: the revision and every tag pointing at it go.
        using (var r = await Http.DeleteAsync($"/v2/del/manifests/{digest}")) Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
        using (var r = await Http.GetAsync("/v2/del/manifests/two")) await AssertErrorAsync(r, HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        using (var r = await Http.GetAsync($"/v2/del/manifests/{digest}")) await AssertErrorAsync(r, HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        using (var r = await Http.DeleteAsync($"/v2/del/manifests/{digest}")) await AssertErrorAsync(r, HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        using (var r = await Http.DeleteAsync($"/v2/del/blobs/{layer}"))
        {
            Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
        }
        using (var r = await Http.GetAsync($"/v2/del/blobs/{layer}")) await AssertErrorAsync(r, HttpStatusCode.NotFound, "BLOB_UNKNOWN");
        using (var r = await Http.DeleteAsync($"/v2/del/blobs/{layer}")) await AssertErrorAsync(r, HttpStatusCode.NotFound, "BLOB_UNKNOWN");
    }

    [Fact]
    public async Task Referrers_api_with_subject_and_artifact_type_filter()
    {
        var (subjectBytes, subject, _, _) = await h.PushImageAsync("art", "v1");
        var empty = "{}"u8.ToArray();
        var emptyDigest = await h.PushBlobAsync("art", empty);
        async Task<Digest> PutArtifact(string artifactType, string tag)
        {
            var body = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"{{artifactType}}","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{{emptyDigest}}","size":2},"layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{{emptyDigest}}","size":2}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{subject}}","size":{{subjectBytes.Length}} },"annotations":{"org.example":"{{tag}}" } }""");
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.oci.image.manifest.v1+json");
            using var r = await Http.PutAsync($"/v2/art/manifests/{tag}", content);
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
            Assert.Equal(subject.ToString(), r.Headers.GetValues("OCI-Subject").Single());
            return Digest.Parse(r.Headers.GetValues("Docker-Content-Digest").Single());
        }
        var sbom = await PutArtifact("application/vnd.example.sbom", "sbom");
        var sig = await PutArtifact("application/vnd.example.signature", "sig");

        using (var r = await Http.GetAsync($"/v2/art/referrers/{subject}"))
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal("application/vnd.oci.image.index.v1+json", r.Content.Headers.ContentType!.MediaType);
            using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
            var manifests = doc.RootElement.GetProperty("manifests").EnumerateArray().ToList();
            Assert.Equal(2, manifests.Count);
            Assert.Contains(manifests, m => m.GetProperty("digest").GetString() == sbom.ToString() && m.GetProperty("artifactType").GetString() == "application/vnd.example.sbom"
                && m.GetProperty("annotations").GetProperty("org.example").GetString() == "sbom");
            Assert.False(r.Headers.Contains("OCI-Filters-Applied"));
        }
        using (var r = await Http.GetAsync($"/v2/art/referrers/{subject}?artifactType=application/vnd.example.signature"))
        {
            Assert.Equal("artifactType", r.Headers.GetValues("OCI-Filters-Applied").Single());
            using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
            Assert.Equal([sig.ToString()], doc.RootElement.GetProperty("manifests").EnumerateArray().Select(m => m.GetProperty("digest").GetString()!));
        }
        using (var r = await Http.DeleteAsync($"/v2/art/manifests/{sig}")) Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
        using (var r = await Http.GetAsync($"/v2/art/referrers/{subject}"))
        {
            using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
            Assert.Single(doc.RootElement.GetProperty("manifests").EnumerateArray());
        }
        var (_, nothing) = Blob("no referrers");
        using (var r = await Http.GetAsync($"/v2/art/referrers/{nothing}"))
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
            Assert.Empty(doc.RootElement.GetProperty("manifests").EnumerateArray());
        }
        using (var r = await Http.GetAsync("/v2/art/referrers/sha256:bad")) await AssertErrorAsync(r, HttpStatusCode.BadRequest, "DIGEST_INVALID");
    }

    [Fact]
    public async Task Unsupported_methods_answer_unsupported()
    {
        using var r = await Http.PostAsync("/v2/repo/tags/list", null);
        await AssertErrorAsync(r, HttpStatusCode.MethodNotAllowed, "UNSUPPORTED");
    }
}

/// <summary>Deletion is off unless storage.delete.enabled says so, as in distribution.</summary>
public sealed class RegistryDeleteDisabledTests
{
    [Fact]
    public async Task Delete_is_unsupported_when_disabled()
    {
        await using var h = await RegistryHarness.StartAsync((c, _) => c.DeleteEnabled = false);
        var (_, digest, _, layer) = await h.PushImageAsync("repo", "t");
        using (var r = await h.Http.DeleteAsync($"/v2/repo/manifests/{digest}")) await AssertErrorAsync(r, HttpStatusCode.MethodNotAllowed, "UNSUPPORTED");
        using (var r = await h.Http.DeleteAsync($"/v2/repo/blobs/{layer}")) await AssertErrorAsync(r, HttpStatusCode.MethodNotAllowed, "UNSUPPORTED");
        using var still = await h.Http.GetAsync("/v2/repo/manifests/t");
        Assert.Equal(HttpStatusCode.OK, still.StatusCode);
    }
}
