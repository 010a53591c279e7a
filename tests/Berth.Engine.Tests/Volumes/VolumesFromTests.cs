using Berth.Engine.Containers;
using Berth.Engine.Models;
using Berth.Engine.Volumes;
using Berth.Testing;

namespace Berth.Engine.Tests.Volumes;

public sealed class VolumesFromTests
{
    private static Container Add(ContainerStore store, string dir, string id, string name, HostConfig host, Dictionary<string, EmptyObject>? imageVolumes = null)
    {
        var record = new ContainerRecord { ID = id, Created = "2026-01-01T00:00:00Z", Name = "/" + name, HostConfig = host, Config = new ContainerConfig { Volumes = imageVolumes } };
        store.ReserveName(name, id);
        var c = new Container(record, Path.Combine(dir, id));
        store.Add(c);
        return c;
    }

    [Fact]
    public void Entries_parse_with_docker_s_modes_and_errors()
    {
        Assert.Equal(("data", (string?)null), VolumesFrom.Parse("data"));
        Assert.Equal(("data", "ro"), VolumesFrom.Parse("data:ro"));
        Assert.Equal(("data", "rw"), VolumesFrom.Parse("data:rw"));
        Assert.Equal("invalid mode for volumes-from: rx", Assert.Throws<InvalidParameterException>(() => VolumesFrom.Parse("data:rx")).Message);
        Assert.Throws<InvalidParameterException>(() => VolumesFrom.Parse(":ro"));
    }

    [Fact]
    public void Volumes_and_binds_are_inherited_own_mounts_win_tmpfs_is_not_shared()
    {
        using var dir = new TempDir();
        var containers = new ContainerStore(dir.Combine("containers"));
        var volumes = new VolumeStore(dir.Combine("volumes"));
        Add(containers, dir.Path, new string('a', 64), "base", new HostConfig { Binds = ["/srv/base:/base"] });
        Add(containers, dir.Path, new string('b', 64), "source", new HostConfig
        {
            Binds = ["named:/named", "/srv/host:/host:ro", "/srv/mine:/mine"],
            Tmpfs = new() { ["/run"] = "" },
            VolumesFrom = ["base"],
        }, new() { ["/anon"] = EmptyObject.Instance });

        var mounts = VolumesFrom.Expand(new string('c', 64), new HostConfig { Binds = ["/srv/own:/mine"], VolumesFrom = ["source"] }, containers, volumes)
            .ToDictionary(m => m.Target!);
        Assert.Equal(["/named", "/host", "/anon", "/base"], mounts.Keys.ToArray());
        Assert.Equal(("volume", "named", false), (mounts["/named"].Type, mounts["/named"].Source, mounts["/named"].ReadOnly));
        Assert.Equal(("bind", "/srv/host", true), (mounts["/host"].Type, mounts["/host"].Source, mounts["/host"].ReadOnly));
        // The source's anonymous volume, made for it now and found again at its own start.
        Assert.Equal(volumes.UseAnonymous(new string('b', 64), "/anon").Name, mounts["/anon"].Source);
        Assert.Equal("/srv/base", mounts["/base"].Source);

        var readOnly = VolumesFrom.Expand(new string('c', 64), new HostConfig { VolumesFrom = ["source:ro"] }, containers, volumes);
        Assert.All(readOnly, m => Assert.True(m.ReadOnly));
        var readWrite = VolumesFrom.Expand(new string('c', 64), new HostConfig { VolumesFrom = ["source:rw"] }, containers, volumes);
        Assert.All(readWrite, m => Assert.False(m.ReadOnly));
    }

    [Fact]
    public void A_missing_container_or_the_container_itself_is_refused()
    {
        using var dir = new TempDir();
        var containers = new ContainerStore(dir.Combine("containers"));
        var self = Add(containers, dir.Path, new string('d', 64), "self", new HostConfig());
        Assert.Equal("No such container: nosuch", Assert.Throws<InvalidParameterException>(() => VolumesFrom.Validate(["nosuch"], containers)).Message);
        Assert.Throws<InvalidParameterException>(() => VolumesFrom.Validate(["self"], containers, self.Id));
        VolumesFrom.Validate(["self:ro"], containers);
    }
}
