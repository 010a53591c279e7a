using Berth.Engine.Models;
using Berth.Engine.Spec;
using ImageContainerConfig = Berth.Oci.Image.ContainerConfig;
using static Berth.Engine.Tests.Spec.SpecFixtures;

namespace Berth.Engine.Tests.Spec;

public sealed class ProcessSpecTests
{
    private static ImageContainerConfig Image(string[]? entrypoint, string[]? cmd) => new() { Entrypoint = entrypoint?.ToList(), Cmd = cmd?.ToList() };

    private static List<string> Args(ContainerCreateRequest request, ImageContainerConfig image) => Build(request, image: image).Process!.Args!;

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
        var env = Build(request, image: image).Process!.Env!;
        Assert.Equal(["PATH=/opt/bin:/bin", $"HOSTNAME={Id[..12]}", "FOO=request", "EXTRA=1", "LANG=C.UTF-8"], env);
    }

    [Fact]
    public void Env_DefaultPath_WhenNobodySetsIt_TermWithATty_AndANameAloneRemoves()
    {
        var request = Request(cmd: ["sh"]);
        request.Tty = true;
        request.Env = ["HOSTNAME"];
        request.Hostname = "web";
        var env = Build(request, image: new ImageContainerConfig { Cmd = ["sh"] }).Process!.Env!;
        Assert.Equal(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"], env);
    }

    [Fact]
    public void Hostname_AndDomainname_FromTheRequest()
    {
        var request = Request();
        request.Hostname = "web";
        request.Domainname = "example.org";
        var spec = Build(request);
        Assert.Equal("web", spec.Hostname);
        Assert.Equal("example.org", spec.Domainname);
    }

    [Fact]
    public void Cwd_IsTheWorkingDirectory_CreatedInTheRootfsWhenMissing()
    {
        var files = new FakeSpecFiles();
        var request = Request();
        request.WorkingDir = "/app/src/";
        Assert.Equal("/app/src", Build(request, files).Process!.Cwd);
        Assert.Equal(["/app/src"], files.CreatedRootDirectories);
        Assert.Equal("/", Build(Request()).Process!.Cwd);
    }

    [Fact]
    public void Cwd_ThatIsAFile_IsDockersCannotMkdir()
    {
        var request = Request();
        request.WorkingDir = "/bin/sh";
        var e = Assert.Throws<EngineFailureException>(() => Build(request));
        Assert.Equal("Cannot mkdir: /bin/sh is not a directory", e.Message);
    }

    [Fact]
    public void Cwd_FromTheImage()
    {
        var image = Busybox();
        image.WorkingDir = "/srv";
        Assert.Equal("/srv", Build(Request(), image: image).Process!.Cwd);
    }

    [Fact]
    public void Init_RunsBerthInitAsPidOne_WithTheLoaderAndLibrariesMountedReadOnly()
    {
        var bundle = new InitBundle("/opt/berth/berth-init", [("/lib64/ld-linux-x86-64.so.2", InitBundle.LoaderPath), ("/lib/libc.so.6", InitBundle.Directory + "/libc.so.6")]);
        var spec = Build(Request(h => h.Init = true, ["sleep", "1"]), daemon: new DaemonDefaults { InitBinary = bundle });
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
        Assert.Equal("/sbin/docker-init", Build(Request(), daemon: new DaemonDefaults { Init = true, InitBinary = bundle }).Process!.Args![0]);
        Assert.Equal("sh", Build(Request(h => h.Init = false), daemon: new DaemonDefaults { Init = true, InitBinary = bundle }).Process!.Args![0]);
        Assert.Equal("sh", Build(Request(h => { h.Init = true; h.PidMode = "host"; }), daemon: new DaemonDefaults { InitBinary = bundle }).Process!.Args![0]);
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
        var user = Build(request).Process!.User;
        Assert.Equal(1000u, user.Uid);
        Assert.Equal(1000u, user.Gid);
        Assert.Equal([1000u, 50, 29, 29], user.AdditionalGids!);
    }

    private static string Tuple(ResolvedUser u) => $"{u.Uid}:{u.Gid}:[{string.Join(',', u.AdditionalGids)}]";
}
