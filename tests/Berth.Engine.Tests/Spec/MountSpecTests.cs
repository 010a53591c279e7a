using Berth.Engine.Models;
using Berth.Engine.RuntimeSpec;
using static Berth.Engine.Tests.RuntimeSpec.SpecFixtures;

namespace Berth.Engine.Tests.RuntimeSpec;

public sealed class MountSpecTests
{
    [Fact]
    public void Bind_ReadWriteByDefault_Rbind_Rprivate()
    {
        var m = BuildSpec(Request(h => h.Binds = ["/srv/data:/data"])).Mounts!.Single(m => m.Destination == "/data");
        Assert.Equal("bind", m.Type);
        Assert.Equal("/srv/data", m.Source);
        Assert.Equal(["rbind", "rprivate"], m.Options!);
    }

    [Fact]
    public void Bind_Modes_ReadOnly_Propagation_Labels()
    {
        var spec = BuildSpec(Request(h => h.Binds = ["/srv/data:/ro:ro", "/srv:/shared:rshared,z"]));
        Assert.Equal(["rbind", "ro", "rprivate"], spec.Mounts!.Single(m => m.Destination == "/ro").Options!);
        Assert.Equal(["rbind", "rshared"], spec.Mounts!.Single(m => m.Destination == "/shared").Options!);
        Assert.Equal("shared", spec.Linux!.RootfsPropagation);
    }

    [Fact]
    public void Bind_MissingHostDirectory_IsCreatedAsDockerDoes()
    {
        var files = new FakeSpecFiles();
        BuildSpec(Request(h => h.Binds = ["/srv/new/dir:/x"]), files);
        Assert.Equal(["/srv/new/dir"], files.CreatedHostDirectories);
    }

    [Theory]
    [InlineData(":/data", "invalid volume specification: ':/data'")]
    [InlineData("/a:/b:/c:/d", "invalid volume specification: '/a:/b:/c:/d'")]
    [InlineData("/srv:rw", "invalid volume specification: '/srv:rw'")]
    [InlineData("/srv:/data:bogus", "invalid mode: bogus")]
    [InlineData("/srv:/data:ro,rw", "invalid mode: ro,rw")]
    [InlineData("/srv:data", "invalid volume specification: '/srv:data': invalid mount config for type \"bind\": invalid mount path: 'data' mount path must be absolute")]
    [InlineData("/srv:/", "invalid volume specification: '/srv:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'")]
    [InlineData("./rel:/data", "create ./rel: \"./rel\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path")]
    public void Bind_BadSpecs_AreDockersErrors(string bind, string message)
    {
        var e = Assert.Throws<InvalidParameterException>(() => BuildSpec(Request(h => h.Binds = [bind])));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void DuplicateDestination_IsDockersError()
    {
        var e = Assert.Throws<InvalidParameterException>(() => BuildSpec(Request(h => { h.Binds = ["/srv:/data"]; h.Tmpfs = new() { ["/data"] = "" }; })));
        Assert.Equal("Duplicate mount point: /data", e.Message);
    }

    [Fact]
    public void NamedVolume_GoesToTheResolver_AnonymousToo_WithoutOneItIsAClearError()
    {
        var resolver = new RecordingVolumes();
        var inputs = Inputs(Request(h => h.Binds = ["cache:/cache:ro", "/anon"]));
        var spec = ContainerSpecBuilder.Build(new SpecInputs
        {
            ContainerId = inputs.ContainerId, Config = inputs.Config, HostConfig = inputs.HostConfig, ImageConfig = inputs.ImageConfig, RootfsPath = inputs.RootfsPath,
            ContainerDirectory = inputs.ContainerDirectory, Files = inputs.Files, Daemon = inputs.Daemon, Volumes = resolver,
        });
        Assert.Equal(["cache", null], resolver.Asked);
        var cache = spec.Mounts!.Single(m => m.Destination == "/cache");
        Assert.Equal("/var/lib/berth/volumes/cache/_data", cache.Source);
        Assert.Equal(["rbind", "ro", "rprivate"], cache.Options!);
        Assert.Throws<InvalidParameterException>(() => BuildSpec(Request(h => h.Binds = ["cache:/cache"])));
    }

    [Fact]
    public void ImageVolumes_BecomeAnonymousVolumes_UnlessTheUserMountsThere()
    {
        var resolver = new RecordingVolumes();
        var image = Busybox();
        image.Volumes = new() { ["/var/lib/db"] = Berth.Oci.Image.EmptyObject.Instance, ["/data"] = Berth.Oci.Image.EmptyObject.Instance };
        var inputs = Inputs(Request(h => h.Binds = ["/srv:/data"]), image: image);
        ContainerSpecBuilder.Build(new SpecInputs
        {
            ContainerId = inputs.ContainerId, Config = inputs.Config, HostConfig = inputs.HostConfig, ImageConfig = image, RootfsPath = inputs.RootfsPath,
            ContainerDirectory = inputs.ContainerDirectory, Files = inputs.Files, Daemon = inputs.Daemon, Volumes = resolver,
        });
        Assert.Equal(["/var/lib/db"], resolver.Destinations);
    }

    [Fact]
    public void MountsBind_MissingSource_IsDockersError_CreateMountpointCreatesIt()
    {
        var e = Assert.Throws<InvalidParameterException>(() => BuildSpec(Request(h => h.Mounts = [new Mount { Type = "bind", Source = "/nope", Target = "/x" }])));
        Assert.Equal("invalid mount config for type \"bind\": bind source path does not exist: /nope", e.Message);
        var files = new FakeSpecFiles();
        BuildSpec(Request(h => h.Mounts = [new Mount { Type = "bind", Source = "/nope", Target = "/x", BindOptions = new BindOptions { CreateMountpoint = true } }]), files);
        Assert.Equal(["/nope"], files.CreatedHostDirectories);
    }

    [Fact]
    public void MountsBind_ReadOnly_NonRecursive_Propagation()
    {
        var spec = BuildSpec(Request(h => h.Mounts = [new Mount
        {
            Type = "bind", Source = "/srv/data", Target = "/d", ReadOnly = true, BindOptions = new BindOptions { NonRecursive = true, Propagation = "rslave" },
        }]));
        Assert.Equal(["bind", "ro", "rslave"], spec.Mounts!.Single(m => m.Destination == "/d").Options!);
        Assert.Equal("rslave", spec.Linux!.RootfsPropagation);
    }

    [Theory]
    [InlineData("bind", null, "/x", "invalid mount config for type \"bind\": field Source must not be empty")]
    [InlineData("bind", "rel", "/x", "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute")]
    [InlineData("bind", "/srv", null, "invalid mount config for type \"bind\": field Target must not be empty")]
    [InlineData("tmpfs", "/srv", "/x", "invalid mount config for type \"tmpfs\": field Source must not be specified")]
    [InlineData("weird", "/srv", "/x", "invalid mount config for type \"weird\": mount type unknown")]
    public void Mounts_BadEntries_AreDockersErrors(string type, string? source, string? target, string message)
    {
        var e = Assert.Throws<InvalidParameterException>(() => BuildSpec(Request(h => h.Mounts = [new Mount { Type = type, Source = source, Target = target }])));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void MountsTmpfs_SizeAndMode_AsDockerWritesThem()
    {
        var spec = BuildSpec(Request(h => h.Mounts = [new Mount { Type = "tmpfs", Target = "/run", TmpfsOptions = new TmpfsOptions { SizeBytes = 64 << 20, Mode = Convert.ToInt32("1770", 8) } }]));
        Assert.Equal(["noexec", "nosuid", "nodev", "rprivate", "mode=1770", "size=64m"], spec.Mounts!.Single(m => m.Destination == "/run").Options!);
    }

    [Fact]
    public void Tmpfs_UserOptionsOverrideTheDefaults()
    {
        var spec = BuildSpec(Request(h => h.Tmpfs = new() { ["/scratch"] = "exec,size=10m,size=20m" }));
        var m = spec.Mounts!.Single(m => m.Destination == "/scratch");
        Assert.Equal("tmpfs", m.Type);
        Assert.Equal(["nosuid", "nodev", "rprivate", "exec", "size=20m"], m.Options!);
    }

    [Fact]
    public void UserMountOverDev_DropsTheDefaultDevMounts_UserShmReplacesDefaultShm()
    {
        var spec = BuildSpec(Request(h => h.Binds = ["/srv:/dev", "/srv/data:/dev/shm"]));
        Assert.DoesNotContain(spec.Mounts!, m => m.Destination == "/dev/pts");
        Assert.Equal("bind", spec.Mounts!.Single(m => m.Destination == "/dev").Type);
    }

    [Fact]
    public void UserMounts_AreSortedParentsFirst()
    {
        var spec = BuildSpec(Request(h => h.Binds = ["/srv:/a/b/c", "/srv:/a"]));
        var destinations = spec.Mounts!.Select(m => m.Destination).ToList();
        Assert.True(destinations.IndexOf("/a") < destinations.IndexOf("/a/b/c"));
    }

    [Fact]
    public void UserMountOnEtcHosts_ReplacesTheGeneratedOne()
    {
        var files = new FakeSpecFiles();
        var spec = BuildSpec(Request(h => h.Binds = ["/srv/data:/etc/hosts:ro"]), files);
        Assert.Equal("/srv/data", spec.Mounts!.Single(m => m.Destination == "/etc/hosts").Source);
        Assert.DoesNotContain(files.Written.Keys, k => k.EndsWith("/hosts", StringComparison.Ordinal));
    }

    [Fact]
    public void MergeTmpfsOptions_LaterWins_OrderKept()
        => Assert.Equal(["nodev", "rw", "exec", "mode=700"], UserMounts.MergeTmpfsOptions(["noexec", "nodev", "ro", "rw", "mode=755", "exec", "mode=700"]));

    private sealed class RecordingVolumes : IVolumeResolver
    {
        public List<string?> Asked { get; } = [];
        public List<string> Destinations { get; } = [];
        public (string Name, string HostPath) Resolve(string? name, string containerId, string destination, VolumeOptions? options)
        {
            Asked.Add(name);
            Destinations.Add(destination);
            var n = name ?? "anon" + Asked.Count;
            return (n, $"/var/lib/berth/volumes/{n}/_data");
        }
    }
}

public sealed class NetworkFilesTests
{
    [Fact]
    public void Hosts_DockersLocalhostLines_ExtraHosts_AndTheContainersOwnAddress()
    {
        var text = NetworkFiles.Hosts(null, ["db:10.0.0.5", "v6:fe80::1", "gw:host-gateway"], ["172.30.0.2"], "web", null, "172.30.0.1");
        Assert.Equal(NetworkFiles.DefaultHosts + "10.0.0.5\tdb\nfe80::1\tv6\n172.30.0.1\tgw\n172.30.0.2\tweb\n", text);
    }

    [Fact]
    public void Hosts_WithADomain_NamesBoth()
        => Assert.EndsWith("10.0.0.2\tweb.example.org web\n", NetworkFiles.Hosts(null, null, ["10.0.0.2"], "web", "example.org", null));

    [Fact]
    public void Hosts_BadAddress_IsDockersError()
    {
        var e = Assert.Throws<InvalidParameterException>(() => NetworkFiles.Hosts(null, ["db:notanip"], null, "web", null, null));
        Assert.Equal("invalid IP address in add-host: \"notanip\"", e.Message);
    }

    [Fact]
    public void ResolvConf_HostsFileWithoutLoopbackNameservers()
    {
        var text = NetworkFiles.ResolvConf("# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\nsearch lan\n", false, null, null, null);
        Assert.Equal("# comment\nnameserver 10.0.0.2\nsearch lan\n", text);
    }

    [Fact]
    public void ResolvConf_OnlyLoopback_FallsBackToGooglesResolvers()
        => Assert.Equal("nameserver 8.8.8.8\nnameserver 8.8.4.4\n", NetworkFiles.ResolvConf("nameserver 127.0.0.53\n", false, null, null, null));

    [Fact]
    public void ResolvConf_Overrides_SearchNameserversOptions()
    {
        var text = NetworkFiles.ResolvConf("nameserver 10.0.0.2\nsearch lan\noptions edns0\n", false, ["1.1.1.1"], ["a.example", "b.example"], ["ndots:2"]);
        Assert.Equal("search a.example b.example\nnameserver 1.1.1.1\noptions ndots:2\n", text);
        Assert.Equal("search lan\nnameserver 10.0.0.2\noptions ndots:1\n", NetworkFiles.ResolvConf("nameserver 10.0.0.2\nsearch lan\n", false, null, null, ["ndots:1"]));
    }

    [Fact]
    public void ResolvConf_HostNetwork_IsTheHostsFile()
        => Assert.Equal("nameserver 127.0.0.53\n", NetworkFiles.ResolvConf("nameserver 127.0.0.53\n", true, null, null, null));

    [Fact]
    public void Build_WritesTheThreeFilesIntoTheContainerDirectory()
    {
        var files = new FakeSpecFiles();
        var request = Request(h => { h.ExtraHosts = ["db:10.0.0.5"]; h.Dns = ["9.9.9.9"]; });
        request.Hostname = "web";
        BuildSpec(request, files);
        var dir = "/var/lib/berth/containers/" + SpecFixtures.Id;
        Assert.Equal("web\n", files.Written[dir + "/hostname"]);
        Assert.Contains("10.0.0.5\tdb\n", files.Written[dir + "/hosts"]);
        Assert.Equal("search example.org\nnameserver 9.9.9.9\n", files.Written[dir + "/resolv.conf"]);
    }

    [Fact]
    public void Build_OnTheHostNetwork_CopiesTheHostsHostsFile()
    {
        var files = new FakeSpecFiles();
        BuildSpec(Request(), files, network: NetworkNamespace.Host);
        Assert.StartsWith("127.0.0.1\tlocalhost\n10.1.1.1\tbuildhost\n", files.Written["/var/lib/berth/containers/" + SpecFixtures.Id + "/hosts"]);
    }
}

public sealed class ResourceSpecTests
{
    [Fact]
    public void Memory_SwapDefaultsToTwiceTheLimit_MinusOneIsUnlimited()
    {
        var r = ResourceSpecs.From(new HostConfig { Memory = 64 << 20, MemoryReservation = 32 << 20 });
        Assert.Equal(64L << 20, r.Memory!.Limit);
        Assert.Equal(32L << 20, r.Memory.Reservation);
        Assert.Equal(128L << 20, r.Memory.Swap);
        Assert.Null(ResourceSpecs.From(new HostConfig { Memory = 64 << 20, MemorySwap = -1 }).Memory!.Swap);
        Assert.Equal(100L << 20, ResourceSpecs.From(new HostConfig { Memory = 64 << 20, MemorySwap = 100 << 20 }).Memory!.Swap);
        Assert.Null(ResourceSpecs.From(new HostConfig()).Memory);
    }

    [Fact]
    public void NanoCpus_BecomeQuotaOverAHundredMillisecondPeriod()
    {
        var cpu = ResourceSpecs.From(new HostConfig { NanoCpus = 1_500_000_000 }).Cpu!;
        Assert.Equal(100_000UL, cpu.Period);
        Assert.Equal(150_000L, cpu.Quota);
    }

    [Fact]
    public void Cpu_SharesQuotaPeriodCpuset()
    {
        var cpu = ResourceSpecs.From(new HostConfig { CpuShares = 512, CpuQuota = 50_000, CpuPeriod = 200_000, CpusetCpus = "0-1", CpusetMems = "0" }).Cpu!;
        Assert.Equal((512UL, 50_000L, 200_000UL, "0-1", "0"), (cpu.Shares!.Value, cpu.Quota!.Value, cpu.Period!.Value, cpu.Cpus, cpu.Mems));
    }

    [Fact]
    public void Pids_ZeroAndNegativeAreUnlimited()
    {
        Assert.Equal(100, ResourceSpecs.From(new HostConfig { PidsLimit = 100 }).Pids!.Limit);
        Assert.Equal(-1, ResourceSpecs.From(new HostConfig { PidsLimit = 0 }).Pids!.Limit);
        Assert.Equal(-1, ResourceSpecs.From(new HostConfig { PidsLimit = -5 }).Pids!.Limit);
        Assert.Null(ResourceSpecs.From(new HostConfig()).Pids);
    }

    [Fact]
    public void BlkioWeight_AndOomKillDisable()
    {
        var r = ResourceSpecs.From(new HostConfig { BlkioWeight = 300, OomKillDisable = true });
        Assert.Equal((ushort)300, r.BlockIo!.Weight);
        Assert.True(r.Memory!.DisableOomKiller);
    }
}
