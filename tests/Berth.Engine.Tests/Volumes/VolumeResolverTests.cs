using Berth.Engine.Models;
using Berth.Engine.Volumes;
using Berth.Testing;

namespace Berth.Engine.Tests.Volumes;

/// <summary>The spec room's volume resolver over a real directory store: anonymous volumes per destination, copy-up.</summary>
public sealed class VolumeResolverTests
{
    [Fact]
    public void An_anonymous_volume_is_found_again_at_the_next_start_and_is_per_destination()
    {
        using var dir = new TempDir();
        var resolver = new VolumeResolver(new VolumeStore(dir.Combine("volumes")));
        var (first, path) = resolver.Resolve(null, "c1", "/data", null);
        Assert.Equal((first, path), resolver.Resolve(null, "c1", "/data", null));
        Assert.NotEqual(first, resolver.Resolve(null, "c1", "/cache", null).Name);
        Assert.NotEqual(first, resolver.Resolve(null, "c2", "/data", null).Name);
        // Reopened (a daemon restart): still the same one.
        Assert.Equal(first, new VolumeResolver(new VolumeStore(dir.Combine("volumes"))).Resolve(null, "c1", "/data", null).Name);
    }

    [RootFact]
    public void A_new_volume_is_filled_from_the_rootfs_once_and_never_through_a_symlink_out_of_it()
    {
        using var dir = new TempDir();
        var rootfs = dir.Combine("rootfs");
        Directory.CreateDirectory(Path.Combine(rootfs, "app", "sub"));
        File.WriteAllText(Path.Combine(rootfs, "app", "sub", "f"), "image");
        File.CreateSymbolicLink(Path.Combine(rootfs, "app", "link"), "/etc");
        Directory.CreateDirectory(dir.Combine("outside"));
        File.WriteAllText(dir.Combine("outside/secret"), "host");
        File.CreateSymbolicLink(Path.Combine(rootfs, "escape"), dir.Combine("outside"));
        var resolver = new VolumeResolver(new VolumeStore(dir.Combine("volumes")));

        resolver.BeginBuild("c1", rootfs);
        var (_, path) = resolver.Resolve("v1", "c1", "/app", null);
        var (_, nocopy) = resolver.Resolve("v2", "c1", "/app2", new VolumeOptions { NoCopy = true });
        var (_, escaped) = resolver.Resolve("v3", "c1", "/escape", null);
        var resolved = resolver.EndBuild("c1");

        Assert.Equal("image", File.ReadAllText(Path.Combine(path, "sub", "f")));
        Assert.Equal("/etc", new FileInfo(Path.Combine(path, "link")).LinkTarget); // copied as a link, not followed
        Assert.Empty(Directory.GetFileSystemEntries(nocopy));
        // "/escape" resolves inside the rootfs to a path that does not exist there: nothing is copied from the host.
        Assert.Empty(Directory.GetFileSystemEntries(escaped));
        Assert.Equal(["/app", "/app2", "/escape"], resolved.Keys.Order().ToArray());

        // Not again once the volume has content of its own.
        File.WriteAllText(Path.Combine(path, "sub", "f"), "mine");
        resolver.BeginBuild("c2", rootfs);
        resolver.Resolve("v1", "c2", "/app", null);
        resolver.EndBuild("c2");
        Assert.Equal("mine", File.ReadAllText(Path.Combine(path, "sub", "f")));
    }
}
