using Berth.Engine.Containers;
using Berth.Engine.Filesystem;
using Berth.Engine.Images;
using Berth.Engine.Models;
using Berth.Storage;

namespace Berth.Engine.Tests.Images;

/// <summary>The pure parts: Go's path rules, Go's FileMode, filters, config merge, diff filtering, the seam's mapping.</summary>
public sealed class ImageUnitTests
{
    [Theory]
    [InlineData("/etc/passwd", "/etc/passwd", "passwd")]
    [InlineData("etc/", "/etc/", "etc")]
    [InlineData("/etc/.", "/etc/.", ".")]
    [InlineData("../../etc", "/etc", "etc")]
    [InlineData("/", "/", "/")]
    [InlineData(".", "/.", ".")]
    [InlineData("/a/b/../c//d/", "/a/c/d/", "d")]
    public void Container_paths_follow_Gos_rules(string given, string absolute, string name)
    {
        Assert.Equal(absolute, ContainerPaths.Absolute(given));
        Assert.Equal(name, ContainerPaths.Base(ContainerPaths.Absolute(given)));
    }

    [Theory]
    [InlineData("a/b", "a/b")]
    [InlineData("./a/./b/", "a/b")]
    [InlineData("a/../b", "b")]
    [InlineData(".", "")]
    [InlineData("../x", null)]
    [InlineData("a/../../x", null)]
    [InlineData("/abs/path", "abs/path")]
    public void Tar_entry_names_that_climb_out_are_refused(string name, string? expected)
        => Assert.Equal(expected, ContainerPaths.RelativeInside(name));

    [Fact]
    public void File_modes_are_Gos()
    {
        Assert.Equal((1u << 31) | 0x1EDu, GoFileMode.FromUnix(0x4000 | 0x1ED));          // drwxr-xr-x
        Assert.Equal((1u << 27) | 0x1FFu, GoFileMode.FromUnix(0xA000 | 0x1FF));          // symlink
        Assert.Equal((1u << 23) | 0x1EDu, GoFileMode.FromUnix(0x8000 | 0x800 | 0x1ED));  // setuid file
        Assert.Equal((1u << 26) | (1u << 21) | 0x1B6u, GoFileMode.FromUnix(0x2000 | 0x1B6)); // char device
    }

    [Fact]
    public void Diff_hides_what_the_engine_made_but_keeps_the_users_changes_beside_it()
    {
        var service = new ContainerFilesystemService();
        var changes = service.HideEngineMountPoints([
            new Change(ChangeKind.Modified, "/dev"), new Change(ChangeKind.Added, "/dev/pts"),
            new Change(ChangeKind.Modified, "/etc"), new Change(ChangeKind.Added, "/etc/hosts"), new Change(ChangeKind.Added, "/etc/app.conf"),
            new Change(ChangeKind.Added, "/proc"), new Change(ChangeKind.Added, "/.dockerenv"),
        ]);
        Assert.Equal(["/etc 0", "/etc/app.conf 1"], changes.Select(c => $"{c.Path} {c.Kind}").ToList());
    }

    [Theory]
    [InlineData("busybox", "busybox:latest", true)]
    [InlineData("busybox:latest", "busybox:latest", true)]
    [InlineData("busy*", "busybox:latest", true)]
    [InlineData("*", "example.com/a/b:1", false)] // * does not cross '/'
    [InlineData("example.com/*/*", "example.com/a/b:1", true)]
    [InlineData("b?sybox:[a-m]*", "busybox:latest", true)]
    [InlineData("alpine", "busybox:latest", false)]
    public void Reference_filters_are_Gos_path_Match(string pattern, string reference, bool matches)
        => Assert.Equal(matches, ReferenceFilter.Matches(pattern, reference));

    [Fact]
    public void Filter_times_take_durations_RFC3339_and_Unix_seconds()
    {
        var now = new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
        Assert.Equal(now.AddHours(-1.5), FilterTime.Parse("until", "1h30m", now));
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000), FilterTime.Parse("until", "1700000000", now));
        Assert.Equal(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), FilterTime.Parse("until", "2026-01-02T03:04:05Z", now));
        Assert.Throws<InvalidParameterException>(() => FilterTime.Parse("until", "yesterday", now));
    }

    [Fact]
    public void Commit_merges_the_request_over_the_containers_config_as_Docker()
    {
        var container = new ContainerConfig
        {
            User = "app", Env = ["PATH=/bin", "A=container"], Cmd = ["run"], Entrypoint = ["/init"], WorkingDir = "/srv",
            Labels = new() { ["x"] = "container", ["y"] = "container" }, ExposedPorts = new() { ["80/tcp"] = new() },
        };
        var request = new ContainerConfig { Env = ["A=request"], Labels = new() { ["x"] = "request" }, ExposedPorts = new() { ["443/tcp"] = new() } };
        var merged = ImageConfigMapping.Merge(request, container);
        Assert.Equal(["A=request", "PATH=/bin"], merged.Env!);
        Assert.Equal(("app", "/srv"), (merged.User, merged.WorkingDir));
        Assert.Equal(["run"], merged.Cmd!);
        Assert.Equal(["/init"], merged.Entrypoint!);
        Assert.Equal("request", merged.Labels!["x"]);
        Assert.Equal("container", merged.Labels["y"]);
        Assert.Equal(["443/tcp", "80/tcp"], merged.ExposedPorts!.Keys.Order(StringComparer.Ordinal).ToList());

        // A request entrypoint keeps the request's (possibly empty) Cmd.
        var withEntrypoint = ImageConfigMapping.Merge(new ContainerConfig { Entrypoint = ["/other"] }, container);
        Assert.Null(withEntrypoint.Cmd);

        var image = ImageConfigMapping.ToImage(merged);
        Assert.Equal(merged.Env, image.Env);
        Assert.Equal(merged.Cmd, ImageConfigMapping.ToApi(image).Cmd);
    }

    [Fact]
    public void The_container_services_description_becomes_a_target()
    {
        var layer = new NoLayer();
        var record = new ContainerFilesystem("abc", "/web", layer, "/run/berth/abc/rootfs", true, false, "sha256:x",
            new ContainerConfig { User = "nobody" }, new HostConfig { ReadonlyRootfs = true });
        var target = ContainerFilesystemService.Target(record);
        // Mounts is a list (compared by reference in the record's equality): the rest field by field, then its content.
        Assert.Equal(new ContainerFilesystemTarget("web", layer, "/run/berth/abc/rootfs", true, "nobody"), target with { Mounts = null });
        Assert.Empty(target.Mounts ?? []);
    }

    private sealed class NoLayer : ContainerLayer
    {
        public override string Id => "abc";
        public override string? ParentChainId => null;
        public override IReadOnlyList<MountSpec> Mounts() => [];
        public override string Mount() => throw new NotSupportedException();
        public override void Unmount() { }
        public override IReadOnlyList<Change> Changes() => [];
        public override void WriteDiff(Stream tarOut) { }
        public override void Export(Stream tarOut) { }
    }
}
