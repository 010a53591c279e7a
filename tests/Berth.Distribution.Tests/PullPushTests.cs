using System.Text;
using Berth.Oci.Image;
using Berth.Testing;

namespace Berth.Distribution.Tests;

/// <summary>Push and pull through Berth.Distribution against berth-registry on loopback (token auth, as Docker Hub's flow).</summary>
public sealed class PullPushTests
{
    private static Task<TestRegistry> TokenRegistryAsync() => TestRegistry.StartAsync((c, dir) =>
    {
        c.TokenAuth = true;
        c.TokenService = "berth-test";
        c.TokenHtpasswd = dir.Combine("htpasswd");
        TestRegistry.WriteHtpasswd(c.TokenHtpasswd, ("alice", "secret"));
    });

    private static DistributionOptions Options(string host, HttpMessageHandler? handler = null, int chunk = 0)
    {
        var options = new DistributionOptions { Handler = handler, UploadChunkSize = chunk };
        options.Credentials = CredentialProviders.FromDictionary(new Dictionary<string, RegistryCredential> { [host] = new("alice", "secret") });
        return options;
    }

    [RootFact]
    public async Task Push_then_pull_into_another_store_gives_the_same_image_with_docker_progress()
    {
        await using var registry = await TokenRegistryAsync();
        using var source = new TestStore();
        using var target = new TestStore();
        var id = source.ImportBusybox();
        var name = $"{registry.Host}/library/busybox:latest";
        source.Images.Tag(id, name);

        using var client = new DistributionClient(Options(registry.Host));
        var pushed = new List<ProgressMessage>();
        var result = (await new ImagePusher(client, source.Images, source.Metadata).PushAsync(name, pushed.Add)).Single();
        Assert.Equal($"The push refers to repository [{registry.Host}/library/busybox]", pushed[0].Status);
        Assert.Contains(pushed, m => m.Status == "Preparing");
        Assert.Contains(pushed, m => m.Status == "Pushing" && m.ProgressDetail!.Current > 0);
        Assert.Contains(pushed, m => m.Status == "Pushed");
        Assert.Contains(pushed, m => m.Status == $"latest: digest: {result.Digest} size: {result.Size}");
        Assert.Contains(pushed, m => m.Aux?.Digest == result.Digest.ToString());
        Assert.Contains($"{registry.Host}/library/busybox@{result.Digest}", source.Images.RepoDigests(id));

        var pulled = new List<ProgressMessage>();
        var pull = await new ImagePuller(client, target.Images, target.Metadata).PullAsync(name, null, pulled.Add);
        Assert.Equal(id, pull.ImageId);
        Assert.Equal(result.Digest, pull.ManifestDigest);
        Assert.True(pull.Downloaded);
        Assert.Equal("Pulling from library/busybox", pulled[0].Status);
        Assert.Equal("latest", pulled[0].Id);
        var layerId = pulled.First(m => m.Status == "Pulling fs layer").Id!;
        Assert.Equal(12, layerId.Length);
        Assert.Contains(pulled, m => m.Status == "Downloading" && m.Id == layerId && m.ProgressDetail!.Total > 0);
        Assert.Contains(pulled, m => m.Status == "Download complete" && m.Id == layerId);
        Assert.Contains(pulled, m => m.Status == "Pull complete" && m.Id == layerId);
        Assert.Equal($"Digest: {result.Digest}", pulled[^2].Status);
        Assert.Equal($"Status: Downloaded newer image for {registry.Host}/library/busybox:latest", pulled[^1].Status);
        Assert.Equal(id, target.Images.Resolve(name));
        Assert.Contains($"{registry.Host}/library/busybox@{result.Digest}", target.Images.RepoDigests(id));
        var chain = target.Images.GetConfig(id).RootFs.ChainId().ToString();
        Assert.NotNull(target.Storage.Layers.Get(chain));
        // The compressed blob is not kept after unpacking; the manifest is.
        Assert.True(target.Storage.Content.Exists(result.Digest));

        // Again: nothing to download.
        var again = new List<ProgressMessage>();
        var second = await new ImagePuller(client, target.Images, target.Metadata).PullAsync(name, null, again.Add);
        Assert.False(second.Downloaded);
        Assert.Equal($"Status: Image is up to date for {registry.Host}/library/busybox:latest", again[^1].Status);
    }

    [RootFact]
    public async Task Second_push_skips_existing_layers_and_another_repository_mounts_them()
    {
        await using var registry = await TokenRegistryAsync();
        using var store = new TestStore();
        var id = store.ImportFiles("app:1", ("hello.txt", "hello"), ("data.bin", new string('x', 100_000)));
        store.Images.Tag(id, $"{registry.Host}/team/app:1");
        store.Images.Tag(id, $"{registry.Host}/team/app:2");
        store.Images.Tag(id, $"{registry.Host}/other/copy:1");
        using var client = new DistributionClient(Options(registry.Host));
        var pusher = new ImagePusher(client, store.Images, store.Metadata);

        var first = new List<ProgressMessage>();
        await pusher.PushAsync($"{registry.Host}/team/app:1", first.Add);
        Assert.Contains(first, m => m.Status == "Pushed");

        // No tag: every tag of the repository is pushed; the layer is already there.
        var second = new List<ProgressMessage>();
        var results = await pusher.PushAsync($"{registry.Host}/team/app", second.Add);
        Assert.Equal(["1", "2"], results.Select(r => r.Reference.Tag!));
        Assert.Contains(second, m => m.Status == "Layer already exists");
        Assert.DoesNotContain(second, m => m.Status == "Pushed");

        var third = new List<ProgressMessage>();
        await pusher.PushAsync($"{registry.Host}/other/copy:1", third.Add);
        Assert.Contains(third, m => m.Status == "Mounted from team/app");
    }

    [RootFact]
    public async Task Chunked_upload_and_pull_by_digest()
    {
        await using var registry = await TokenRegistryAsync();
        using var source = new TestStore();
        using var target = new TestStore();
        var id = source.ImportFiles($"{registry.Host}/chunks:v1", ("big.bin", RandomText(300_000)));
        using var client = new DistributionClient(Options(registry.Host, chunk: 64 * 1024));
        var pushed = (await new ImagePusher(client, source.Images).PushAsync($"{registry.Host}/chunks:v1")).Single();
        var pull = await new ImagePuller(client, target.Images).PullAsync($"{registry.Host}/chunks@{pushed.Digest}");
        Assert.Equal(id, pull.ImageId);
        Assert.Contains($"{registry.Host}/chunks@{pushed.Digest}", target.Images.RepoDigests(id));
        Assert.Empty(target.Images.RepoTags(id));
    }

    private static string RandomText(int length)
    {
        var random = new Random(42);
        var chars = new char[length];
        for (var i = 0; i < length; i++) chars[i] = (char)random.Next('a', 'z' + 1);
        return new string(chars);
    }

    [RootFact]
    public async Task Interrupted_download_resumes_with_a_range_request()
    {
        await using var registry = await TokenRegistryAsync();
        using var source = new TestStore();
        using var target = new TestStore();
        var id = source.ImportFiles($"{registry.Host}/resume:v1", ("big.bin", RandomText(200_000)));
        using (var pushClient = new DistributionClient(Options(registry.Host)))
            await new ImagePusher(pushClient, source.Images).PushAsync($"{registry.Host}/resume:v1");

        var handler = new RecordingHandler { CutFirstBlobAfter = 50_000 };
        using var client = new DistributionClient(Options(registry.Host, handler));
        var progress = new List<ProgressMessage>();
        var pull = await new ImagePuller(client, target.Images).PullAsync($"{registry.Host}/resume:v1", null, progress.Add);
        Assert.Equal(id, pull.ImageId);
        Assert.Contains(handler.Requests, r => r.Contains("/blobs/sha256:", StringComparison.Ordinal) && r.EndsWith("Range:bytes=50000-", StringComparison.Ordinal));
        Assert.Contains(progress, m => m.Status?.StartsWith("Retrying", StringComparison.Ordinal) == true);
    }

    [RootFact]
    public async Task A_layer_unpacked_while_downloading_leaves_no_compressed_copy_or_ingest_behind()
    {
        await using var registry = await TokenRegistryAsync();
        using var source = new TestStore();
        using var target = new TestStore();
        var id = source.ImportFiles($"{registry.Host}/streamed:v1", ("big.bin", RandomText(200_000)));
        using var client = new DistributionClient(Options(registry.Host));
        await new ImagePusher(client, source.Images).PushAsync($"{registry.Host}/streamed:v1");
        var manifest = await client.Registry(registry.Host).GetManifestAsync("streamed", "v1", CancellationToken.None);
        var layer = ImageJson.ParseManifest(manifest.Bytes).Layers.Single().Digest;

        var pull = await new ImagePuller(client, target.Images).PullAsync($"{registry.Host}/streamed:v1");
        Assert.Equal(id, pull.ImageId);
        Assert.NotNull(target.Storage.Layers.Get(target.Images.GetConfig(id).RootFs.ChainId().ToString()));
        Assert.False(target.Storage.Content.Exists(layer));
        Assert.Empty(Directory.EnumerateFileSystemEntries(target.Temp.Combine("data", "content", "ingest")));

        // A corrupt body is refused by its digest, and its ingest goes with it.
        using var corrupt = new TestStore();
        using var corrupting = new DistributionClient(Options(registry.Host, new RecordingHandler { CorruptBlobs = true }));
        await Assert.ThrowsAnyAsync<Exception>(() => new ImagePuller(corrupting, corrupt.Images).PullAsync($"{registry.Host}/streamed:v1"));
        Assert.False(corrupt.Images.Exists(id));
        Assert.Empty(Directory.EnumerateFileSystemEntries(corrupt.Temp.Combine("data", "content", "ingest")));
    }

    [RootFact]
    public async Task Corrupt_blob_fails_the_pull_and_stores_no_image()
    {
        await using var registry = await TokenRegistryAsync();
        using var source = new TestStore();
        using var target = new TestStore();
        var id = source.ImportFiles($"{registry.Host}/corrupt:v1", ("big.bin", RandomText(100_000)));
        using (var pushClient = new DistributionClient(Options(registry.Host)))
            await new ImagePusher(pushClient, source.Images).PushAsync($"{registry.Host}/corrupt:v1");
        using var client = new DistributionClient(Options(registry.Host, new RecordingHandler { CorruptBlobs = true }));
        var error = await Assert.ThrowsAnyAsync<Exception>(() => new ImagePuller(client, target.Images).PullAsync($"{registry.Host}/corrupt:v1"));
        Assert.True(error is DistributionException or Berth.Storage.StorageException, error.ToString());
        Assert.False(target.Images.Exists(id));
        Assert.False(target.Images.TryResolve($"{registry.Host}/corrupt:v1", out _));
    }

    [RootFact]
    public async Task Index_pull_selects_the_platform_and_wrong_credentials_are_refused()
    {
        await using var registry = await TokenRegistryAsync();
        using var source = new TestStore();
        using var target = new TestStore();
        var id = source.ImportFiles($"{registry.Host}/multi:amd64", ("f", "amd64 content"));
        using var client = new DistributionClient(Options(registry.Host));
        var pushed = (await new ImagePusher(client, source.Images).PushAsync($"{registry.Host}/multi:amd64")).Single();
        // An index with an arm64 decoy (same manifest, other platform listed first) and the host's platform.
        var index = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{{pushed.Digest}}","size":{{pushed.Size}},"platform":{"architecture":"s390x","os":"linux"} },{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{{pushed.Digest}}","size":{{pushed.Size}},"platform":{"architecture":"{{Platforms.Host.Architecture}}","os":"linux"} }]}""");
        var indexDigest = await client.Registry(registry.Host).PutManifestAsync("multi", "latest", MediaTypes.OciIndex, index, CancellationToken.None);
        var pull = await new ImagePuller(client, target.Images).PullAsync($"{registry.Host}/multi:latest");
        Assert.Equal(id, pull.ImageId);
        Assert.Equal(indexDigest, pull.ManifestDigest);
        var none = await Assert.ThrowsAsync<DistributionException>(() => new ImagePuller(client, target.Images).PullAsync(
            Berth.Oci.Reference.ImageReference.ParseDockerRef($"{registry.Host}/multi:latest"), Platforms.Parse("linux/riscv64"), null, CancellationToken.None));
        Assert.Contains("no matching manifest for linux/riscv64", none.Message);

        var wrong = new DistributionOptions();
        wrong.Credentials = CredentialProviders.FromDictionary(new Dictionary<string, RegistryCredential> { [registry.Host] = new("alice", "wrong") });
        using var badClient = new DistributionClient(wrong);
        var denied = await Assert.ThrowsAsync<DistributionException>(() => new ImagePuller(badClient, target.Images).PullAsync($"{registry.Host}/multi:latest"));
        Assert.Contains("incorrect username or password", denied.Message);
        var login = await Assert.ThrowsAsync<DistributionException>(() => badClient.LoginAsync(registry.Host, new RegistryCredential("alice", "nope")));
        Assert.Contains("incorrect username or password", login.Message);
        await client.LoginAsync(registry.Host, new RegistryCredential("alice", "secret"));
    }

    [RootFact]
    public async Task Search_asks_the_registry_named_in_the_term()
    {
        await using var registry = await TokenRegistryAsync();
        using var store = new TestStore();
        store.ImportFiles($"{registry.Host}/tools/finder:1", ("f", "x"));
        store.ImportFiles($"{registry.Host}/other:1", ("g", "y"));
        using var client = new DistributionClient(Options(registry.Host));
        await new ImagePusher(client, store.Images).PushAsync($"{registry.Host}/tools/finder:1");
        await new ImagePusher(client, store.Images).PushAsync($"{registry.Host}/other:1");
        var results = await client.SearchAsync($"{registry.Host}/find", 10);
        Assert.Equal([$"{registry.Host}/tools/finder"], results.Select(r => r.Name));
    }

    [RootFact]
    public async Task Unknown_tag_and_repository_are_named()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var target = new TestStore();
        using var client = new DistributionClient();
        var e = await Assert.ThrowsAsync<DistributionException>(() => new ImagePuller(client, target.Images).PullAsync($"{registry.Host}/nothing:here"));
        Assert.Equal($"manifest for {registry.Host}/nothing:here not found: manifest unknown: manifest unknown", e.Message);
    }
}
