using Berth.Testing;

namespace Berth.Distribution.Tests;

/// <summary>A pull writes the image index once: the image, its digest reference and its tag together.</summary>
public sealed class PullIndexWritesTests
{
    [RootFact]
    public async Task A_pull_writes_the_image_index_once_and_an_up_to_date_pull_not_at_all()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var source = new TestStore();
        using var target = new TestStore();
        var name = $"{registry.Host}/team/app:1";
        var id = source.ImportFiles(name, ("hello.txt", "hello"));
        using var client = new DistributionClient(new DistributionOptions());
        var pushed = (await new ImagePusher(client, source.Images, source.Metadata).PushAsync(name, _ => { })).Single();

        var before = target.Images.IndexWrites;
        var pull = await new ImagePuller(client, target.Images, target.Metadata).PullAsync(name, null, _ => { });
        Assert.Equal(id, pull.ImageId);
        Assert.Equal(before + 1, target.Images.IndexWrites);
        Assert.Equal([name], target.Images.RepoTags(id));
        Assert.Equal([$"{registry.Host}/team/app@{pushed.Digest}"], target.Images.RepoDigests(id));

        await new ImagePuller(client, target.Images, target.Metadata).PullAsync(name, null, _ => { });
        Assert.Equal(before + 1, target.Images.IndexWrites);
    }
}
