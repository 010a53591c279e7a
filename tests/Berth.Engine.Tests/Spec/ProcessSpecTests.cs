using Berth.Engine.Models;
using Berth.Engine.RuntimeSpec;
using ImageContainerConfig = Berth.Oci.Image.ContainerConfig;
using static Berth.Engine.Tests.RuntimeSpec.SpecFixtures;

namespace Berth.Engine.Tests.RuntimeSpec;

public sealed class ProcessSpecTests
{
    private static ImageContainerConfig Image(string[]? entrypoint, string[]? cmd) => new() { Entrypoint = entrypoint?.ToList(), Cmd = cmd?.ToList() };

    private static List<string> Args(ContainerCreateRequest request, ImageContainerConfig image) => BuildSpec(request, image: image).Process!.Args!;

    [Fact]
    public void Args_ImageEntrypointAndCmd_WhenTheRequestHasNeither()
        => Assert.Equal(["/entry.sh", "serve"], Args(Request(), Image(["/entry.sh"], ["serve"])));

    [Fact]
    public void Args_RequestCmdReplacesTheImagesCmd_KeepsItsEntrypoint()
        => Assert.Equal(["/entry.sh", "echo", "hi"], Args(Request(cmd: ["echo", "hi"]), Image(["/entry.sh"], ["serve"])));

    [Fact]
    public void Args_RequestEntrypointDropsTheImagesCmd()
    {
        var request = Request();
        request.Entrypoint = ["/bin/date"];
        Assert.Equal(["/bin/date"], Args(request, Image(["/entry.sh"], ["serve"])));
    }

    [Fact]
    public void Args_EmptyEntrypointClearsTheImagesEntrypoint()
    {
        var request = Request(cmd: ["ls", "/"]);
        request.Entrypoint = [""];
        Assert.Equal(["ls", "/"], Args(request, Image(["/entry.sh"], ["serve"])));
    }

    [Fact]
    public void Args_NothingToRun_IsDockersNoCommandSpecified()
    {
        var e = Assert.Throws<InvalidParameterException>(() => Args(Request(), Image(null, null)));
        Assert.Equal("no command specified", e.Message);
        var cleared = Request();
        cleared.Entrypoint = [""];
        Assert.Equal("no command specified", Assert.Throws<InvalidParameterException>(() => Args(cleared, Image(["/entry.sh"], ["serve"]))).Message);
    }

    [Fact]
    public void Merge_IsIdempotent_SoAStoredMergedConfigBuildsTheSameArgs()
    {
        var request = Request(cmd: ["ls"]);
        request.Entrypoint = [""];
        var image = Image(["/entry.sh"], ["serve"]);
        ConfigMerge.Apply(request, image);
        ConfigMerge.Apply(request, image);
        Assert.Equal(["ls"], ConfigMerge.Args(request));
    }

    [Fact]
    public void Env_PathHostnameFirst_ImageThenRequest_RequestWins()
    {
        var request = Request(cmd: ["sh"]);
        request.Env = ["FOO=request", "EXTRA=1"];
        var image = new ImageContainerConfig { Env = ["PATH=/opt/bin:/bin", "FOO=image", "LANG=C.UTF-8"], Cmd = ["sh"] };
        var env = BuildSpec(request, image: image).Process!.Env!;
        Assert.Equal(["PATH=/opt/bin:/bin", $"HOSTNAME={Id[..12]}", "FOO=request", "EXTRA=1", "LANG=C.UTF-8"], env);
    }

    [Fact]
    public void Env_DefaultPath_WhenNobodySetsIt_TermWithATty_AndANameAloneRemoves()
    {
        var request = Request(cmd: ["sh"]);
        request.Tty = true;
        request.Env = ["HOSTNAME"];
        request.Hostname = "web";
        var env = BuildSpec(request, image: new ImageContainerConfig { Cmd = ["sh"] }).Process!.Env!;
        Assert.Equal(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"], env);
    }

    [Fact]
    public void Hostname_AndDomainname_FromTheRequest()
    {
        var request = Request();
        request.Hostname = "web";
        request.Domainname = "example.org";
        var spec = BuildSpec(request);
        Assert.Equal("web", spec.Hostname);
        Assert.Equal("example.org", spec.Domainname);
    }

    [Fact]
    public void Cwd_IsTheWorkingDirectory_CreatedInTheRootfsWhenMissing()
    {
        var files = new FakeSpecFiles();
        var request = Request();
        request.WorkingDir = "/app/src/";
        Assert.Equal("/app/src", BuildSpec(request, files).Process!.Cwd);
        Assert.Equal(["/app/src"], files.CreatedRootDirectories);
        Assert.Equal("/", BuildSpec(Request()).Process!.Cwd);
    }

    [Fact]
    public void Cwd_ThatIsAFile_IsDockersCannotMkdir()
    {
        var request = Request();
        request.WorkingDir = "/bin/sh";
        var e = Assert.Throws<EngineFailureException>(() => BuildSpec(request));
        Assert.Equal("Cannot mkdir: /bin/sh is not a directory", e.Message);
    }

    [Fact]
    public void Cwd_FromTheImage()
    {
        var image = Busybox();
        image.WorkingDir = "/srv";
        Assert.Equal("/srv", BuildSpec(Request(), image: image).Process!.Cwd);
    }

    [Fact]
    public void Init_RunsBerthInitAsPidOne_WithTheLoaderAndLibrariesMountedReadOnly()
    {
        var bundle = new InitBundle("/opt/berth/berth-init", [("/lib64/ld-linux-x86-64.so.2", InitBundle.LoaderPath), ("/lib/libc.so.6", InitBundle.Directory + "/libc.so.6")]);
        var spec = BuildSpec(Request(h => h.Init = true, ["sleep", "1"]), daemon: new DaemonDefaults { InitBinary = bundle });
        Assert.Equal(["/sbin/docker-init", "--", "sleep", "1"], spec.Process!.Args!);
        var init = spec.Mounts!.Single(m => m.Destination == "/sbin/docker-init");
        Assert.Equal("/opt/berth/berth-init", init.Source);
        Assert.Contains("ro", init.Options!);
        var loader = spec.Mounts!.Single(m => m.Destination == InitBundle.LoaderPath);
        Assert.Contains("ro", loader.Options!);
        Assert.True(spec.Mounts!.FindIndex(m => m.Destination == "/dev") < spec.Mounts!.FindIndex(m => m.Destination == InitBundle.LoaderPath));
    }

    [Fact]
    public void Init_FromTheDaemonDefault_NotWithTheHostsPidNamespace()
    {
        var bundle = new InitBundle("/opt/berth/berth-init", []);
        Assert.Equal("/sbin/docker-init", BuildSpec(Request(), daemon: new DaemonDefaults { Init = true, InitBinary = bundle }).Process!.Args![0]);
        Assert.Equal("sh", BuildSpec(Request(h => h.Init = false), daemon: new DaemonDefaults { Init = true, InitBinary = bundle }).Process!.Args![0]);
        Assert.Equal("sh", BuildSpec(Request(h => { h.Init = true; h.PidMode = "host"; }), daemon: new DaemonDefaults { InitBinary = bundle }).Process!.Args![0]);
    }
}

public sealed class UserResolverTests
{
    private static readonly FakeSpecFiles Files = new();
    private static ResolvedUser Resolve(string spec, IEnumerable<string>? groupAdd = null)
        => UserResolver.Resolve(spec, Files.RootFiles["/etc/passwd"], Files.RootFiles["/etc/group"], groupAdd);

    [Fact]
    public void Empty_IsRoot() => Assert.Equal("0:0:[0]", Tuple(Resolve("")));

    [Fact]
    public void Name_TakesUidGidAndSupplementaryGroupsListingTheUser()
        => Assert.Equal("1000:1000:[1000,50,29]", Tuple(Resolve("alice")));

    [Fact]
    public void Uid_FoundInPasswd_TakesItsGroup() => Assert.Equal("33:33:[33]", Tuple(Resolve("33")));

    [Fact]
    public void Uid_NotInPasswd_RunsWithGidZero() => Assert.Equal("4242:0:[0]", Tuple(Resolve("4242")));

    [Fact]
    public void UidGid_Numeric() => Assert.Equal("4242:4343:[4343]", Tuple(Resolve("4242:4343")));

    [Fact]
    public void NameGroup_ByName_HasNoSupplementaryGroups() => Assert.Equal("1000:50:[50]", Tuple(Resolve("alice:staff")));

    [Fact]
    public void GroupAdd_ByNameAndId()
        => Assert.Equal("33:33:[33,5,777]", Tuple(Resolve("www-data", ["tty", "777"])));

    [Fact]
    public void UnknownUser_IsDockersError()
    {
        var e = Assert.Throws<EngineFailureException>(() => Resolve("nobody"));
        Assert.Equal("unable to find user nobody: no matching entries in passwd file", e.Message);
    }

    [Fact]
    public void UnknownGroup_IsDockersError()
    {
        var e = Assert.Throws<EngineFailureException>(() => Resolve("alice:wheel"));
        Assert.Equal("unable to find group wheel: no matching entries in group file", e.Message);
        e = Assert.Throws<EngineFailureException>(() => Resolve("alice", ["wheel"]));
        Assert.Equal("Unable to find group wheel: no matching entries in group file", e.Message);
    }

    [Fact]
    public void NoPasswdFile_NumericWorks_NamesFail()
    {
        Assert.Equal(1000u, UserResolver.Resolve("1000:1000", null, null).Uid);
        Assert.Throws<EngineFailureException>(() => UserResolver.Resolve("alice", null, null));
    }

    [Fact]
    public void BuildsTheSpecsUser()
    {
        var request = Request(h => h.GroupAdd = ["audio"]);
        request.User = "alice";
        var user = BuildSpec(request).Process!.User;
        Assert.Equal(1000u, user.Uid);
        Assert.Equal(1000u, user.Gid);
        Assert.Equal([1000u, 50, 29, 29], user.AdditionalGids!);
    }

    private static string Tuple(ResolvedUser u) => $"{u.Uid}:{u.Gid}:[{string.Join(',', u.AdditionalGids)}]";
}

public sealed class CreateRequestValidatorTests
{
    private static readonly DaemonDefaults Daemon = new() { LastCapability = 40, HostCpuCount = 2 };

    private static string Refusal(Action<ContainerCreateRequest> configure)
    {
        var request = new ContainerCreateRequest { Cmd = ["sh"], HostConfig = new HostConfig() };
        configure(request);
        var e = Assert.Throws<InvalidParameterException>(() => CreateRequestValidator.Validate(request, Daemon, new FakeSpecFiles()));
        Assert.Equal(400, e.StatusCode);
        return e.Message;
    }

    [Theory]
    [InlineData(1L << 20, 0L, "Minimum memory limit allowed is 6MB")]
    [InlineData(-5L, 0L, "Minimum memory limit allowed is 6MB")]
    [InlineData(64L << 20, 32L << 20, "Minimum memoryswap limit should be larger than memory limit, see usage")]
    [InlineData(0L, 32L << 20, "You should always set the Memory limit when using Memoryswap limit, see usage")]
    public void Memory(long memory, long swap, string message)
        => Assert.Equal(message, Refusal(r => { r.HostConfig!.Memory = memory; r.HostConfig.MemorySwap = swap; }));

    [Fact]
    public void MemoryReservation()
    {
        Assert.Equal("Minimum memory reservation allowed is 6MB", Refusal(r => r.HostConfig!.MemoryReservation = 1024));
        Assert.Equal("Minimum memory limit can not be less than memory reservation limit, see usage",
            Refusal(r => { r.HostConfig!.Memory = 10 << 20; r.HostConfig.MemoryReservation = 20 << 20; }));
    }

    [Fact]
    public void Cpus()
    {
        Assert.Equal("Conflicting options: Nano CPUs and CPU Quota cannot both be set", Refusal(r => { r.HostConfig!.NanoCpus = 500_000_000; r.HostConfig.CpuQuota = 50_000; }));
        Assert.Equal("Conflicting options: Nano CPUs and CPU Period cannot both be set", Refusal(r => { r.HostConfig!.NanoCpus = 500_000_000; r.HostConfig.CpuPeriod = 50_000; }));
        Assert.Equal("Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available", Refusal(r => r.HostConfig!.NanoCpus = 3_000_000_000));
        Assert.Equal("Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available", Refusal(r => r.HostConfig!.NanoCpus = -1));
        Assert.Equal("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)", Refusal(r => r.HostConfig!.CpuPeriod = 10));
        Assert.Equal("CPU cfs quota can not be less than 1ms (i.e. 1000)", Refusal(r => r.HostConfig!.CpuQuota = 10));
        Assert.Equal("invalid CPU shares (-2): value must be a positive integer", Refusal(r => r.HostConfig!.CpuShares = -2));
    }

    [Fact]
    public void Cpuset()
    {
        Assert.Equal("Invalid value 0-x for cpuset cpus", Refusal(r => r.HostConfig!.CpusetCpus = "0-x"));
        Assert.Equal("Requested CPUs are not available - requested 0,3, available: 0-1", Refusal(r => r.HostConfig!.CpusetCpus = "0,3"));
        Assert.Equal([0, 1, 2, 5], CreateRequestValidator.ParseCpuset("0-2,5")!);
    }

    [Fact]
    public void RestartPolicy_AndAutoRemove()
    {
        Assert.Equal("invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'",
            Refusal(r => r.HostConfig!.RestartPolicy = new RestartPolicy { Name = "sometimes" }));
        Assert.Equal("invalid restart policy: maximum retry count can only be used with 'on-failure'",
            Refusal(r => r.HostConfig!.RestartPolicy = new RestartPolicy { Name = "always", MaximumRetryCount = 3 }));
        Assert.Equal("can't create 'AutoRemove' container with restart policy",
            Refusal(r => { r.HostConfig!.AutoRemove = true; r.HostConfig.RestartPolicy = new RestartPolicy { Name = "always" }; }));
    }

    [Theory]
    [InlineData("80/tcpx", null)]
    [InlineData("0/tcp", null)]
    [InlineData("99999/tcp", null)]
    [InlineData("80/tcp", "99999")]
    [InlineData("80/tcp", "abc")]
    public void PortBindings(string port, string? hostPort)
    {
        var message = Refusal(r => r.HostConfig!.PortBindings = new() { [port] = [new PortBinding { HostPort = hostPort }] });
        Assert.Equal($"invalid port specification: \"{hostPort ?? port}\"", message);
    }

    [Fact]
    public void ExposedPorts_AndEnv_AndWorkingDir_AndStopSignal()
    {
        Assert.Equal("invalid port specification: \"http\"", Refusal(r => r.ExposedPorts = new() { ["http"] = EmptyObject.Instance }));
        Assert.Equal("invalid environment variable: =foo", Refusal(r => r.Env = ["=foo"]));
        Assert.Equal("the working directory 'app' is invalid, it needs to be an absolute path", Refusal(r => r.WorkingDir = "app"));
        Assert.Equal("Invalid signal: SIGFOO", Refusal(r => r.StopSignal = "SIGFOO"));
    }

    [Fact]
    public void Capabilities_Modes_Ranges()
    {
        Assert.Equal("invalid CapAdd: unknown capability: \"CAP_FLY\"", Refusal(r => r.HostConfig!.CapAdd = ["fly"]));
        Assert.Equal("invalid CapDrop: unknown capability: \"CAP_FLY\"", Refusal(r => r.HostConfig!.CapDrop = ["fly"]));
        Assert.Equal("invalid IPC mode: weird", Refusal(r => r.HostConfig!.IpcMode = "weird"));
        Assert.Equal("invalid PID mode: container:", Refusal(r => r.HostConfig!.PidMode = "container:"));
        Assert.Equal("invalid UTS mode: private", Refusal(r => r.HostConfig!.UTSMode = "private"));
        Assert.Equal("SHM size can not be less than 0", Refusal(r => r.HostConfig!.ShmSize = -1));
        Assert.Equal("Invalid value 2000, range for oom score adj is [-1000, 1000]", Refusal(r => r.HostConfig!.OomScoreAdj = 2000));
        Assert.Equal("Range of blkio weight is from 10 to 1000", Refusal(r => r.HostConfig!.BlkioWeight = 5));
        Assert.Equal("invalid ulimit type: bogus", Refusal(r => r.HostConfig!.Ulimits = [new Ulimit { Name = "bogus", Soft = 1, Hard = 1 }]));
        Assert.Equal("invalid volume specification: '/srv:rw'", Refusal(r => r.HostConfig!.Binds = ["/srv:rw"]));
        Assert.Equal("invalid mount config for type \"bind\": bind source path does not exist: /nope",
            Refusal(r => r.HostConfig!.Mounts = [new Mount { Type = "bind", Source = "/nope", Target = "/x" }]));
    }

    [Fact]
    public void AcceptsAnOrdinaryRequest_WarnsLikeDocker()
    {
        var request = new ContainerCreateRequest
        {
            Cmd = ["sh"],
            HostConfig = new HostConfig
            {
                Memory = 64 << 20, NanoCpus = 1_500_000_000, PidsLimit = 100, CapAdd = ["NET_ADMIN"], Binds = ["/srv/data:/data:ro"],
                PortBindings = new() { ["80/tcp"] = [new PortBinding { HostPort = "8080" }] }, OomKillDisable = true, NetworkMode = "host",
            },
        };
        var warnings = CreateRequestValidator.Validate(request, Daemon, new FakeSpecFiles());
        Assert.Equal(["Published ports are discarded when using host network mode"], warnings);
    }

    [Fact]
    public void Factory_RefusesNothingToRun()
    {
        var factory = new ContainerSpecFactory(Daemon, files: new FakeSpecFiles());
        var e = Assert.Throws<InvalidParameterException>(() => factory.Validate(new ContainerCreateRequest { HostConfig = new HostConfig() }, null));
        Assert.Equal("no command specified", e.Message);
    }

    [Fact]
    public void Factory_FillsDockersIpcAndShmDefaults_KeepingTheRequests()
    {
        var factory = new ContainerSpecFactory(Daemon, files: new FakeSpecFiles());
        var request = new ContainerCreateRequest { Cmd = ["true"], HostConfig = new HostConfig() };
        factory.Validate(request, null);
        Assert.Equal("private", request.HostConfig!.IpcMode);
        Assert.Equal(64L << 20, request.HostConfig.ShmSize);
        var shareable = new ContainerCreateRequest { Cmd = ["true"], HostConfig = new HostConfig { IpcMode = "shareable", ShmSize = 1 << 20 } };
        factory.Validate(shareable, null);
        Assert.Equal("shareable", shareable.HostConfig!.IpcMode);
        Assert.Equal(1L << 20, shareable.HostConfig.ShmSize);
    }
}
