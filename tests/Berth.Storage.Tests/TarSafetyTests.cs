using Berth.Testing;

namespace Berth.Storage.Tests;

/// <summary>Bad input: extraction never writes outside the layer root. Each tar is handcrafted.</summary>
public sealed class TarSafetyTests : IDisposable
{
    private readonly TestStore store = new("vfs");
    private readonly string outside;

    public TarSafetyTests()
    {
        outside = store.Temp.Combine("outside");
        Directory.CreateDirectory(outside);
        File.WriteAllText(Path.Combine(outside, "secret"), "untouched");
    }

    public void Dispose() => store.Dispose();

    private void AssertOutsideUntouched()
    {
        Assert.Equal(["secret"], Directory.GetFileSystemEntries(outside).Select(Path.GetFileName));
        Assert.Equal("untouched", File.ReadAllText(Path.Combine(outside, "secret")));
    }

    private string Rootfs(Layer layer)
    {
        var c = store.Layers.CreateContainerLayer("t" + Guid.NewGuid().ToString("N"), layer.ChainId);
        return c.Mount();
    }

    [RootFact]
    public void DotDotNamesAreRefused()
    {
        var depth = string.Concat(Enumerable.Repeat("../", 12));
        var tar = new LayerTar().File("ok", "x").File(depth + outside.TrimStart('/') + "/evil", "pwned").Bytes();
        var e = Assert.Throws<InvalidLayerException>(() => store.Register(tar));
        Assert.Contains("outside the layer root", e.Message);
        AssertOutsideUntouched();
        LayerStoreTests.AssertNothingStored(store);
    }

    [RootFact]
    public void AbsoluteNamesAreConfinedToTheRoot()
    {
        var layer = store.Register(new LayerTar().File(outside + "/evil", "confined").Bytes());
        AssertOutsideUntouched();
        Assert.Equal("confined", File.ReadAllText(Path.Combine(Rootfs(layer), outside.TrimStart('/'), "evil")));
    }

    [RootFact]
    public void ASymlinkToAnOutsideDirectoryCannotBeWrittenThrough()
    {
        // escape -> /…/outside (absolute), then escape/evil: resolved inside the root, where /…/outside does not exist.
        var tar = new LayerTar().Symlink("escape", outside).File("escape/evil", "pwned").Bytes();
        var e = Assert.Throws<InvalidLayerException>(() => store.Register(tar));
        Assert.Contains("escape", e.Message);
        AssertOutsideUntouched();
        LayerStoreTests.AssertNothingStored(store);
        // When the target exists inside the layer, the write lands there: confined.
        var confined = new LayerTar().Dir(outside.TrimStart('/')).Symlink("escape", outside).File("escape/evil", "inside").Bytes();
        var layer = store.Register(confined);
        AssertOutsideUntouched();
        Assert.Equal("inside", File.ReadAllText(Path.Combine(Rootfs(layer), outside.TrimStart('/'), "evil")));
    }

    [RootFact]
    public void ARelativeSymlinkThatClimbsOutStaysInside()
    {
        var climb = string.Concat(Enumerable.Repeat("../", 12)) + outside.TrimStart('/');
        var tar = new LayerTar().Dir("a").Dir(outside.TrimStart('/')).Symlink("a/up", climb).File("a/up/evil", "inside").Bytes();
        var layer = store.Register(tar);
        AssertOutsideUntouched();
        // ../ beyond the root stops at the root (as the kernel does for a chroot), so the file lands in the layer's copy.
        Assert.Equal("inside", File.ReadAllText(Path.Combine(Rootfs(layer), outside.TrimStart('/'), "evil")));
    }

    [RootFact]
    public void AHardLinkToAFileOutsideIsRefused()
    {
        var e = Assert.Throws<InvalidLayerException>(() => store.Register(new LayerTar().HardLink("passwd", outside + "/secret").Bytes()));
        Assert.Contains("not in the layer", e.Message);
        var climbing = string.Concat(Enumerable.Repeat("../", 12)) + outside.TrimStart('/') + "/secret";
        e = Assert.Throws<InvalidLayerException>(() => store.Register(new LayerTar().HardLink("passwd", climbing).Bytes()));
        Assert.Contains("outside the layer root", e.Message);
        // through a symlinked directory: the link target is resolved inside the root too
        e = Assert.Throws<InvalidLayerException>(() => store.Register(new LayerTar().Symlink("out", outside).HardLink("passwd", "out/secret").Bytes()));
        Assert.Contains("not in the layer", e.Message);
        AssertOutsideUntouched();
    }

    [RootFact]
    public void ASymlinkReplacedByAFileOfTheSameNameReplacesTheLink()
    {
        var tar = new LayerTar().Symlink("target", outside + "/secret").File("target", "new content").Bytes();
        var layer = store.Register(tar);
        AssertOutsideUntouched();
        var path = Path.Combine(Rootfs(layer), "target");
        Assert.Null(new FileInfo(path).LinkTarget);
        Assert.Equal("new content", File.ReadAllText(path));
    }
}
