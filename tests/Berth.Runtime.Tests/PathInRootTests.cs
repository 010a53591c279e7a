using Berth.Linux;
using Berth.Testing;

namespace Berth.Runtime.Tests;

public class PathInRootTests : IDisposable
{
    private readonly TempDir temp = new();
    private string Root => temp.Path;

    public void Dispose() => temp.Dispose();

    private void Link(string path, string target)
    {
        var full = Root + path;
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.CreateSymbolicLink(full, target);
    }

    [Theory]
    [InlineData("/", "")]
    [InlineData("", "")]
    [InlineData("/a/b", "/a/b")]
    [InlineData("a/b", "/a/b")]
    [InlineData("/a/./b/", "/a/b")]
    [InlineData("//a//b", "/a/b")]
    [InlineData("/../../etc", "/etc")]
    [InlineData("/a/../../../b", "/b")]
    [InlineData("/a/b/..", "/a")]
    public void Plain_paths_are_cleaned_and_clamped_at_the_root(string path, string expected)
        => Assert.Equal(Root + expected, PathInRoot.Resolve(Root, path));

    [Fact]
    public void Absolute_symlink_is_taken_relative_to_the_root()
    {
        Link("/evil", "/etc");
        Assert.Equal(Root + "/etc/passwd", PathInRoot.Resolve(Root, "/evil/passwd"));
    }

    [Fact]
    public void Relative_symlink_climbing_out_is_clamped()
    {
        Link("/a/b/escape", "../../../../../../../tmp");
        Assert.Equal(Root + "/tmp/x", PathInRoot.Resolve(Root, "/a/b/escape/x"));
    }

    [Fact]
    public void Relative_symlink_resolves_against_its_directory()
    {
        Directory.CreateDirectory(Root + "/usr/lib");
        Link("/lib", "usr/lib");
        Link("/usr/lib/current", "../share");
        Assert.Equal(Root + "/usr/share/f", PathInRoot.Resolve(Root, "/lib/current/f"));
    }

    [Fact]
    public void Final_symlink_is_followed()
    {
        Link("/run/link", "/var/run/real");
        Assert.Equal(Root + "/var/run/real", PathInRoot.Resolve(Root, "/run/link"));
    }

    [Fact]
    public void Dotdot_after_symlink_applies_to_the_target()
    {
        Directory.CreateDirectory(Root + "/x/y");
        Link("/s", "/x/y");
        Assert.Equal(Root + "/x/z", PathInRoot.Resolve(Root, "/s/../z"));
    }

    [Fact]
    public void Symlink_loop_is_ELOOP()
    {
        Link("/a", "/b");
        Link("/b", "/a");
        var e = Assert.Throws<SyscallException>(() => PathInRoot.Resolve(Root, "/a/x"));
        Assert.Equal(Errno.ELOOP, e.ErrorNumber);
    }

    [Fact]
    public void A_chain_of_255_links_resolves_and_256_do_not()
    {
        Directory.CreateDirectory(Root + "/end");
        for (var i = 0; i < 256; i++) Link($"/l{i}", i == 255 ? "/end" : $"/l{i + 1}");
        Assert.Equal(Root + "/end", PathInRoot.Resolve(Root, "/l1"));  // 255 links
        Assert.Throws<SyscallException>(() => PathInRoot.Resolve(Root, "/l0"));  // 256 links
    }

    [Fact]
    public void Missing_components_are_kept_for_creation()
        => Assert.Equal(Root + "/not/there/yet", PathInRoot.Resolve(Root, "/not/there/yet"));

    [Fact]
    public void Root_with_trailing_slash_works()
        => Assert.Equal(Root + "/a", PathInRoot.Resolve(Root + "/", "/a"));

    [Fact]
    public void Pinned_mount_target_is_opened_inside_the_root_even_if_a_component_became_a_symlink_to_the_host()
    {
        Directory.CreateDirectory(Root + "/etc");
        // The race: PathInRoot resolved /vol/etc to <root>/vol/etc, then /vol was swapped for a link to "/".
        Link("/vol", "/");
        using var pin = LinuxSyscalls.Instance.OpenMountTarget(Root, Root + "/vol/etc");
        Assert.False(pin.IsInvalid);
        Assert.Equal(Root + "/etc", new FileInfo("/proc/self/fd/" + pin.DangerousGetHandle()).LinkTarget);
    }

    [Theory]
    [InlineData("/a/../..", true)]
    [InlineData("/..", true)]
    [InlineData("../x", true)]
    [InlineData("/a/../b", false)]
    [InlineData("/a/b/../..", false)]
    [InlineData("/", false)]
    public void Lexical_climb_above_root_is_detected(string path, bool climbs)
        => Assert.Equal(climbs, PathInRoot.ClimbsAboveRoot(path));
}
