using Berth.Engine.Models;
using Berth.Engine.RuntimeSpec;
using Berth.Oci.Runtime;
using static Berth.Engine.Tests.RuntimeSpec.SpecFixtures;

namespace Berth.Engine.Tests.RuntimeSpec;

public sealed class ContainerSpecBuilderTests
{
    [Fact]
    public void Default_HasDockersFourteenCapabilities_InBoundingEffectivePermitted_NotInheritable()
    {
        var spec = BuildSpec(Request());
        var caps = spec.Process!.Capabilities!;
        Assert.Equal(14, caps.Bounding!.Count);
        Assert.Equal(Berth.Engine.RuntimeSpec.Capabilities.Default, caps.Bounding);
        Assert.Equal(caps.Bounding, caps.Effective);
        Assert.Equal(caps.Bounding, caps.Permitted);
        Assert.Null(caps.Inheritable);
        Assert.Null(caps.Ambient);
        Assert.DoesNotContain("CAP_SYS_ADMIN", caps.Bounding);
    }

    [Fact]
    public void Default_MasksAndProtectsDockersProcPaths()
    {
        var spec = BuildSpec(Request());
        Assert.Contains("/proc/kcore", spec.Linux!.MaskedPaths!);
        Assert.Contains("/proc/keys", spec.Linux.MaskedPaths!);
        Assert.Contains("/sys/firmware", spec.Linux.MaskedPaths!);
        Assert.Equal(["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"], spec.Linux.ReadonlyPaths!);
    }

    [Fact]
    public void Default_NamespacesAreMountNetworkUtsPidIpc()
    {
        var spec = BuildSpec(Request());
        Assert.Equal(["mount", "network", "uts", "pid", "ipc"], spec.Linux!.Namespaces!.Select(n => n.Type));
        Assert.All(spec.Linux.Namespaces!, n => Assert.Null(n.Path));
    }

    [Fact]
    public void HostNetwork_HasNoNetworkNamespace_AndTheHostsHostname_JoinedNetworkHasAPath()
    {
        var host = BuildSpec(Request(), network: NetworkNamespace.Host);
        Assert.DoesNotContain(host.Linux!.Namespaces!, n => n.Type == "network");
        Assert.Equal("buildhost", host.Hostname);
        Assert.Null(host.Linux.Sysctl);

        var joined = BuildSpec(Request(), network: NetworkNamespace.Join("/proc/42/ns/net"));
        Assert.Equal("/proc/42/ns/net", Assert.Single(joined.Linux!.Namespaces!, n => n.Type == "network").Path);
    }

    [Fact]
    public void PidAndIpcHost_DropThoseNamespaces_IpcHostBindsTheHostsShm()
    {
        var spec = BuildSpec(Request(h => { h.PidMode = "host"; h.IpcMode = "host"; h.UTSMode = "host"; }));
        Assert.Equal(["mount", "network"], spec.Linux!.Namespaces!.Select(n => n.Type));
        Assert.Null(spec.Hostname);
        var shm = Assert.Single(spec.Mounts!, m => m.Destination == "/dev/shm");
        Assert.Equal("bind", shm.Type);
        Assert.Equal("/dev/shm", shm.Source);
    }

    [Fact]
    public void ContainerPidMode_JoinsThePathTheEngineResolved_OrFailsWithoutOne()
    {
        var inputs = Inputs(Request(h => h.PidMode = "container:web"));
        var joined = ContainerSpecBuilder.Build(new SpecInputs
        {
            ContainerId = inputs.ContainerId, Config = inputs.Config, HostConfig = inputs.HostConfig, ImageConfig = inputs.ImageConfig, RootfsPath = inputs.RootfsPath,
            ContainerDirectory = inputs.ContainerDirectory, Files = inputs.Files, Daemon = inputs.Daemon,
            JoinNamespaces = new Dictionary<string, string> { ["pid"] = "/proc/77/ns/pid" },
        });
        Assert.Equal("/proc/77/ns/pid", Assert.Single(joined.Linux!.Namespaces!, n => n.Type == "pid").Path);
        Assert.Throws<InvalidParameterException>(() => ContainerSpecBuilder.Build(inputs));
    }

    [Fact]
    public void IpcShareable_BindsATmpfsInTheContainersDirectory_ContainerIpcBindsTheDonors_OrRefusesAPrivateDonor()
    {
        var shareable = BuildSpec(Request(h => { h.IpcMode = "shareable"; h.ShmSize = 2 << 20; }));
        var own = Assert.Single(shareable.Mounts!, m => m.Destination == "/dev/shm");
        Assert.Equal("bind", own.Type);
        Assert.EndsWith("/mounts/shm", own.Source);

        SpecInputs Joining(string donorShm)
        {
            var inputs = Inputs(Request(h => h.IpcMode = "container:db"));
            return new SpecInputs
            {
                ContainerId = inputs.ContainerId, Config = inputs.Config, HostConfig = inputs.HostConfig, ImageConfig = inputs.ImageConfig, RootfsPath = inputs.RootfsPath,
                ContainerDirectory = inputs.ContainerDirectory, Files = inputs.Files, Daemon = inputs.Daemon,
                JoinNamespaces = new Dictionary<string, string> { ["ipc"] = "/proc/77/ns/ipc", [SharedMemory.JoinKey] = donorShm },
            };
        }
        var ofHostDonor = ContainerSpecBuilder.Build(Joining("/dev/shm"));
        Assert.Equal("/proc/77/ns/ipc", Assert.Single(ofHostDonor.Linux!.Namespaces!, n => n.Type == "ipc").Path);
        Assert.Equal("/dev/shm", Assert.Single(ofHostDonor.Mounts!, m => m.Destination == "/dev/shm").Source);
        // The fake file system mounts nothing: a donor's mounts/shm that is no mount point is a private donor's.
        var refused = Assert.Throws<InvalidParameterException>(() => ContainerSpecBuilder.Build(Joining("/var/lib/berth/containers/db/mounts/shm")));
        Assert.Equal("can't join IPC of container db: non-shareable IPC (hint: use IpcMode:shareable for the donor container)", refused.Message);
    }

    [Fact]
    public void Default_MountsAreDockers_WithShmSizedTo64MB_AndTheNetworkFiles()
    {
        var spec = BuildSpec(Request());
        Assert.Equal(["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"],
            spec.Mounts!.Select(m => m.Destination));
        var shm = spec.Mounts!.Single(m => m.Destination == "/dev/shm");
        Assert.Equal(["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"], shm.Options!);
        Assert.Contains("ro", spec.Mounts!.Single(m => m.Destination == "/sys").Options!);
        var hosts = spec.Mounts!.Single(m => m.Destination == "/etc/hosts");
        Assert.Equal($"/var/lib/berth/containers/{Id}/hosts", hosts.Source);
        Assert.Equal(["rbind", "rprivate"], hosts.Options!);
    }

    [Fact]
    public void ShmSize_IsTakenFromTheHostConfig()
    {
        var spec = BuildSpec(Request(h => h.ShmSize = 1 << 20));
        Assert.Contains("size=1048576", spec.Mounts!.Single(m => m.Destination == "/dev/shm").Options!);
    }

    [Fact]
    public void Default_RootIsTheRootfsPath_CgroupsPathIsParentSlashId_HostnameIsTheShortId()
    {
        var spec = BuildSpec(Request());
        Assert.Equal($"/var/lib/berth/rootfs/{Id}", spec.Root!.Path);
        Assert.False(spec.Root.Readonly);
        Assert.Equal($"/berth/{Id}", spec.Linux!.CgroupsPath);
        Assert.Equal(Id[..12], spec.Hostname);
        Assert.Equal($"/custom/{Id}", BuildSpec(Request(h => h.CgroupParent = "custom")).Linux!.CgroupsPath);
        Assert.Equal($"system.slice:berth:{Id}", ContainerSpecBuilder.CgroupsPath("system.slice", Id));
    }

    [Fact]
    public void Default_SeccompIsDockersProfile_ForTheContainersCapabilities()
    {
        var spec = BuildSpec(Request());
        var seccomp = spec.Linux!.Seccomp!;
        Assert.Equal("SCMP_ACT_ERRNO", seccomp.DefaultAction);
        Assert.Equal(1u, seccomp.DefaultErrnoRet);
        Assert.DoesNotContain(seccomp.Syscalls!, s => s.Names.Contains("mount"));
        var withAdmin = BuildSpec(Request(h => h.CapAdd = ["SYS_ADMIN"])).Linux!.Seccomp!;
        Assert.Contains(withAdmin.Syscalls!, s => s.Names.Contains("mount"));
    }

    [Fact]
    public void Default_DeviceRulesAreDockers()
    {
        var rules = BuildSpec(Request()).Linux!.Resources!.Devices!;
        Assert.False(rules[0].Allow);
        Assert.Equal("rwm", rules[0].Access);
        Assert.Null(rules[0].Type);
        Assert.Equal([(1L, 5L), (1, 3), (1, 9), (1, 8), (5, 0), (5, 1), (10, 229)], rules.Skip(1).Select(r => (r.Major!.Value, r.Minor!.Value)));
        Assert.False(rules[^1].Allow);
    }

    [Fact]
    public void DeviceCgroupRules_AreAppended_AndABadOneIsDockersError()
    {
        var rules = BuildSpec(Request(h => h.DeviceCgroupRules = ["c 13:* rwm", "b *:* r"])).Linux!.Resources!.Devices!;
        Assert.Equal(13, rules[^2].Major);
        Assert.Null(rules[^2].Minor);
        Assert.Equal("b", rules[^1].Type);
        var e = Assert.Throws<InvalidParameterException>(() => BuildSpec(Request(h => h.DeviceCgroupRules = ["x 1:1 rwm"])));
        Assert.Equal("invalid device cgroup rule format: 'x 1:1 rwm'", e.Message);
    }

    [Fact]
    public void Default_SysctlsAllowPingAndLowPorts_InANewNetworkNamespace_UserSysctlsWin()
    {
        var spec = BuildSpec(Request(h => h.Sysctls = new() { ["net.ipv4.ip_unprivileged_port_start"] = "80", ["kernel.msgmax"] = "65536" }));
        Assert.Equal("0 2147483647", spec.Linux!.Sysctl!["net.ipv4.ping_group_range"]);
        Assert.Equal("80", spec.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"]);
        Assert.Equal("65536", spec.Linux.Sysctl["kernel.msgmax"]);
    }

    [Fact]
    public void Privileged_HasAllCapabilities_NoSeccomp_NoMaskedPaths_WritableSys_AllDevices()
    {
        var spec = BuildSpec(Request(h => h.Privileged = true));
        Assert.Equal(41, spec.Process!.Capabilities!.Bounding!.Count);
        Assert.Null(spec.Linux!.Seccomp);
        Assert.Null(spec.Linux.MaskedPaths);
        Assert.Null(spec.Linux.ReadonlyPaths);
        Assert.DoesNotContain("ro", spec.Mounts!.Single(m => m.Destination == "/sys").Options!);
        Assert.DoesNotContain("ro", spec.Mounts!.Single(m => m.Destination == "/sys/fs/cgroup").Options!);
        var rule = Assert.Single(spec.Linux.Resources!.Devices!);
        Assert.True(rule.Allow);
        Assert.Equal("rwm", rule.Access);
    }

    [Fact]
    public void Privileged_LimitsCapabilitiesToTheKernels()
    {
        var spec = BuildSpec(Request(h => h.Privileged = true), daemon: new DaemonDefaults { LastCapability = 37 });
        Assert.Equal(38, spec.Process!.Capabilities!.Bounding!.Count);
        Assert.Equal("CAP_AUDIT_READ", spec.Process.Capabilities.Bounding[^1]);
    }

    [Fact]
    public void ReadonlyRootfs_MakesRootAndNonUserMountsReadOnly_ButNotProcDevShm()
    {
        var spec = BuildSpec(Request(h => { h.ReadonlyRootfs = true; h.Binds = ["/srv/data:/data"]; }));
        Assert.True(spec.Root!.Readonly);
        Assert.Contains("ro", spec.Mounts!.Single(m => m.Destination == "/etc/hosts").Options!);
        Assert.Contains("ro", spec.Mounts!.Single(m => m.Destination == "/sys/fs/cgroup").Options!);
        Assert.DoesNotContain("ro", spec.Mounts!.Single(m => m.Destination == "/proc").Options!);
        Assert.DoesNotContain("ro", spec.Mounts!.Single(m => m.Destination == "/dev/shm").Options!);
        Assert.DoesNotContain("ro", spec.Mounts!.Single(m => m.Destination == "/data").Options!);
    }

    [Fact]
    public void SecurityOpt_NoNewPrivileges_AllForms()
    {
        Assert.False(BuildSpec(Request()).Process!.NoNewPrivileges);
        Assert.True(BuildSpec(Request(h => h.SecurityOpt = ["no-new-privileges"])).Process!.NoNewPrivileges);
        Assert.True(BuildSpec(Request(h => h.SecurityOpt = ["no-new-privileges:true"])).Process!.NoNewPrivileges);
        Assert.True(BuildSpec(Request(h => h.SecurityOpt = ["no-new-privileges=true"])).Process!.NoNewPrivileges);
        Assert.False(BuildSpec(Request(h => h.SecurityOpt = ["no-new-privileges=false"]), daemon: new DaemonDefaults { NoNewPrivileges = true }).Process!.NoNewPrivileges);
        Assert.True(BuildSpec(Request(), daemon: new DaemonDefaults { NoNewPrivileges = true }).Process!.NoNewPrivileges);
        var e = Assert.Throws<InvalidParameterException>(() => BuildSpec(Request(h => h.SecurityOpt = ["no-new-privileges=maybe"])));
        Assert.Equal("invalid --security-opt 2: \"no-new-privileges=maybe\"", e.Message);
        e = Assert.Throws<InvalidParameterException>(() => BuildSpec(Request(h => h.SecurityOpt = ["bogus"])));
        Assert.Equal("invalid --security-opt 1: \"bogus\"", e.Message);
        e = Assert.Throws<InvalidParameterException>(() => BuildSpec(Request(h => h.SecurityOpt = ["bogus=1"])));
        Assert.Equal("invalid --security-opt 2: \"bogus=1\"", e.Message);
    }

    [Fact]
    public void SecurityOpt_SeccompUnconfined_HasNoFilter_AppArmorAndLabelAreIgnored()
    {
        var spec = BuildSpec(Request(h => h.SecurityOpt = ["seccomp=unconfined", "apparmor=docker-default", "label=disable"]));
        Assert.Null(spec.Linux!.Seccomp);
        Assert.Null(spec.Process!.ApparmorProfile);
    }

    [Fact]
    public void SecurityOpt_SeccompJson_IsConvertedFromDockersFormat()
    {
        const string profile = """
            {"defaultAction":"SCMP_ACT_ALLOW","archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}],
             "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}
            """;
        var seccomp = BuildSpec(Request(h => h.SecurityOpt = ["seccomp=" + profile])).Linux!.Seccomp!;
        Assert.Equal("SCMP_ACT_ALLOW", seccomp.DefaultAction);
        var rule = Assert.Single(seccomp.Syscalls!);
        Assert.Equal(["mkdir", "mkdirat"], rule.Names);
        Assert.Equal(13u, rule.ErrnoRet);
    }

    [Fact]
    public void SecurityOpt_SeccompPath_IsReadFromTheHost_AMissingFileIsOneError()
    {
        var files = new FakeSpecFiles();
        files.HostFiles["/etc/berth/profile.json"] = """{"defaultAction":"SCMP_ACT_LOG"}""";
        Assert.Equal("SCMP_ACT_LOG", BuildSpec(Request(h => h.SecurityOpt = ["seccomp=/etc/berth/profile.json"]), files).Linux!.Seccomp!.DefaultAction);
        var e = Assert.Throws<InvalidParameterException>(() => BuildSpec(Request(h => h.SecurityOpt = ["seccomp=/nope.json"])));
        Assert.Contains("/nope.json", e.Message);
    }

    [Fact]
    public void Privileged_WithANamedProfile_KeepsIt()
    {
        var spec = BuildSpec(Request(h => { h.Privileged = true; h.SecurityOpt = ["""seccomp={"defaultAction":"SCMP_ACT_LOG"}"""]; }));
        Assert.Equal("SCMP_ACT_LOG", spec.Linux!.Seccomp!.DefaultAction);
    }

    [Fact]
    public void OomScoreAdj_Annotations_ConsoleSize()
    {
        var request = Request(h => { h.OomScoreAdj = 500; h.Annotations = new() { ["a"] = "b" }; h.ConsoleSize = [30, 100]; });
        request.Tty = true;
        var spec = BuildSpec(request);
        Assert.Equal(500, spec.Process!.OomScoreAdj);
        Assert.Equal("b", spec.Annotations!["a"]);
        Assert.Equal(30u, spec.Process.ConsoleSize!.Height);
        Assert.Equal(100u, spec.Process.ConsoleSize.Width);
        Assert.True(spec.Process.Terminal);
    }

    [Fact]
    public void Ulimits_BecomeRlimits_DaemonDefaultsFillTheRest()
    {
        var spec = BuildSpec(Request(h => h.Ulimits = [new Ulimit { Name = "nofile", Soft = 1024, Hard = 2048 }]),
            daemon: new DaemonDefaults { Ulimits = [new Ulimit { Name = "nofile", Soft = 1, Hard = 1 }, new Ulimit { Name = "nproc", Soft = 100, Hard = 200 }] });
        Assert.Equal([("RLIMIT_NOFILE", 1024UL, 2048UL), ("RLIMIT_NPROC", 100UL, 200UL)], spec.Process!.Rlimits!.Select(r => (r.Type, r.Soft, r.Hard)));
        Assert.Null(BuildSpec(Request()).Process!.Rlimits);
    }

    [Fact]
    public void Spec_SerialisesWithTheRuntimesJsonContext()
    {
        var json = System.Text.Json.JsonSerializer.Serialize(BuildSpec(Request()), RuntimeJsonContext.Default.Spec);
        Assert.Contains("\"ociVersion\"", json);
        Assert.Contains("\"CAP_KILL\"", json);
        Assert.Contains("\"SCMP_ACT_ERRNO\"", json);
    }
}
