using Berth.Engine.Volumes;
using Berth.Testing;

namespace Berth.Engine.Tests.Volumes;

public sealed class VolumeStoreTests
{
    [Fact]
    public void Named_volumes_are_created_once_listed_and_survive_a_reload()
    {
        using var dir = new TempDir();
        var store = new VolumeStore(dir.Path);
        var v = store.Create("cache", null, null, new Dictionary<string, string> { ["a"] = "b" });
        Assert.Same(v, store.Create("cache", "local", null, null));
        Assert.True(Directory.Exists(store.DataPath("cache")));
        File.WriteAllText(Path.Combine(store.DataPath("cache"), "f"), "12345");
        var reloaded = new VolumeStore(dir.Path);
        Assert.Equal("b", reloaded.Get("cache").Labels["a"]);
        Assert.Equal(5, reloaded.Size("cache"));
        Assert.Equal("local", reloaded.ToModel(reloaded.Get("cache")).Driver);
    }

    [Fact]
    public void Volumes_in_use_are_not_removed_and_anonymous_ones_go_with_rm_v()
    {
        using var dir = new TempDir();
        var store = new VolumeStore(dir.Path);
        var (named, path) = store.Use("shared", "c1");
        var (anonymous, _) = store.Use(null, "c1");
        Assert.Equal(64, anonymous.Length);
        Assert.Equal(store.DataPath("shared"), path);
        Assert.Contains("volume is in use - [c1]", Assert.Throws<ConflictException>(() => store.Remove(named, force: false)).Message);
        store.Release("c1", removeAnonymous: true);
        Assert.Null(store.Find(anonymous));
        Assert.NotNull(store.Find(named));
        store.Remove(named, force: false);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, named)));
        store.Remove("gone", force: true);
        Assert.Throws<NotFoundException>(() => store.Remove("gone", force: false));
    }

    [Fact]
    public void Prune_takes_unused_anonymous_volumes_unless_all_and_drops_users_that_are_gone()
    {
        using var dir = new TempDir();
        var store = new VolumeStore(dir.Path) { ContainerExists = id => id == "alive" };
        store.Create("named", null, null, null);
        var (anon, _) = store.Use(null, "dead");
        var (kept, _) = store.Use(null, "alive");
        var (names, _) = store.Prune(all: false, _ => true);
        Assert.Equal([anon], names);
        Assert.NotNull(store.Find(kept));
        Assert.Equal(["named"], store.Prune(all: true, _ => true).Names);
    }

    [Fact]
    public void Bad_names_drivers_and_options_are_refused()
    {
        using var dir = new TempDir();
        var store = new VolumeStore(dir.Path);
        Assert.Contains("invalid characters", Assert.Throws<InvalidParameterException>(() => store.Create("a/b", null, null, null)).Message);
        Assert.Throws<NotFoundException>(() => store.Create("x1", "nfs-plugin", null, null));
        Assert.Contains("invalid option key", Assert.Throws<InvalidParameterException>(() => store.Create("x2", null, new Dictionary<string, string> { ["color"] = "red" }, null)).Message);
        Assert.Contains("missing required option", Assert.Throws<InvalidParameterException>(() => store.Create("x3", null, new Dictionary<string, string> { ["device"] = "/tmp" }, null)).Message);
        store.Create("x4", null, new Dictionary<string, string> { ["type"] = "tmpfs", ["device"] = "tmpfs" }, null);
        Assert.Throws<ConflictException>(() => store.Create("x4", null, new Dictionary<string, string> { ["type"] = "tmpfs", ["device"] = "tmpfs", ["o"] = "size=1m" }, null));
        Assert.DoesNotContain(Directory.EnumerateDirectories(dir.Path), d => !d.EndsWith("x4", StringComparison.Ordinal));
    }

    [RootFact]
    public void A_tmpfs_volume_is_mounted_on_first_use_and_unmounted_on_removal()
    {
        using var dir = new TempDir();
        var store = new VolumeStore(dir.Path);
        store.Create("scratch", null, new Dictionary<string, string> { ["type"] = "tmpfs", ["device"] = "tmpfs", ["o"] = "size=1m" }, null);
        var (_, path) = store.Use("scratch", "c1");
        try
        {
            Assert.Contains(File.ReadLines("/proc/self/mountinfo"), l => l.Split(' ')[4] == path && l.Contains(" - tmpfs "));
        }
        finally
        {
            store.Release("c1", removeAnonymous: false);
            store.Remove("scratch", force: false);
        }
        Assert.DoesNotContain(File.ReadLines("/proc/self/mountinfo"), l => l.Split(' ')[4] == path);
    }
}
