using System.Text;
using System.Text.Json;
using Berth.Oci.Runtime;
using Berth.Runtime.Cli;
using Berth.Runtime.Config;
using Berth.Runtime.Init;
using Berth.Runtime.State;

namespace Berth.Runtime.Tests;

/// <summary>The hand-written config.json reader must read exactly what the source-generated context reads.</summary>
public class SpecReaderTests
{
    private static string Canonical(Spec spec) => JsonSerializer.Serialize(spec, RuntimeJsonContext.Default.Spec);

    /// <summary>A spec with every field of the model set, so a field the reader forgets shows as a difference.</summary>
    private static Spec Everything()
    {
        var spec = SpecVerb.Default();
        spec.Domainname = "example.org";
        spec.Annotations = new() { ["a"] = "1", ["b/c"] = "\"quoted\" ünïcode" };
        var p = spec.Process!;
        p.ConsoleSize = new Box { Height = 24, Width = 80 };
        p.User = new User { Uid = 1000, Gid = 1001, Umask = 18, AdditionalGids = [5, 6], Username = "u" };
        p.CommandLine = "sh -c x";
        p.Capabilities!.Inheritable = ["CAP_KILL"];
        p.Capabilities.Ambient = ["CAP_CHOWN"];
        p.ApparmorProfile = "aa"; p.OomScoreAdj = -17; p.SelinuxLabel = "sl";
        p.IoPriority = new IoPriority { Class = "IOPRIO_CLASS_RT", Priority = 3 };
        p.Scheduler = JsonDocument.Parse("{\"policy\":\"SCHED_OTHER\",\"nice\":-2}").RootElement;
        spec.Mounts!.Add(new Mount
        {
            Destination = "/data", Source = "/srv", Type = "bind", Options = ["rbind", "ro"],
            UidMappings = [new IdMapping { ContainerId = 0, HostId = 100000, Size = 65536 }], GidMappings = [new IdMapping { ContainerId = 1, HostId = 2, Size = 3 }],
        });
        var hook = new Hook { Path = "/bin/hook", Args = ["hook", "x"], Env = ["A=1"], Timeout = 5 };
        spec.Hooks = new Oci.Runtime.Hooks { Prestart = [hook], CreateRuntime = [hook], CreateContainer = [hook], StartContainer = [hook], Poststart = [hook], Poststop = [hook] };
        var l = spec.Linux!;
        l.Namespaces!.Add(new LinuxNamespace { Type = "time" });
        l.Namespaces.Add(new LinuxNamespace { Type = "user", Path = "/proc/1/ns/user" });
        l.UidMappings = [new IdMapping { ContainerId = 0, HostId = 1000, Size = 1 }];
        l.GidMappings = [new IdMapping { ContainerId = 0, HostId = 1000, Size = 1 }];
        l.TimeOffsets = new() { ["monotonic"] = new TimeOffset { Secs = -5, Nanosecs = 7 } };
        l.Devices = [new Device { Type = "c", Path = "/dev/fuse", Major = 10, Minor = 229, FileMode = 438, Uid = 0, Gid = 0 }];
        l.CgroupsPath = "/berth/x";
        l.RootfsPropagation = "rslave";
        l.Sysctl = new() { ["net.ipv4.ip_forward"] = "1" };
        l.MountLabel = "ml";
        l.Personality = JsonDocument.Parse("{\"domain\":\"LINUX\"}").RootElement;
        l.Resources = new Resources
        {
            Devices = [new DeviceCgroup { Allow = false, Access = "rwm" }, new DeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 3, Access = "rw" }],
            Memory = new Memory { Limit = 1 << 20, Reservation = 1, Swap = 2, Kernel = 3, KernelTcp = 4, Swappiness = 5, DisableOomKiller = true, UseHierarchy = false, CheckBeforeUpdate = true },
            Cpu = new Cpu { Shares = 512, Quota = 1000, Burst = 10, Period = 100000, RealtimeRuntime = 1, RealtimePeriod = 2, Cpus = "0-1", Mems = "0", Idle = 1 },
            Pids = new Pids { Limit = 64 },
            BlockIo = new BlockIo
            {
                Weight = 500, LeafWeight = 300, WeightDevice = [new WeightDevice { Major = 8, Minor = 0, Weight = 100, LeafWeight = 50 }],
                ThrottleReadBpsDevice = [new ThrottleDevice { Major = 8, Minor = 0, Rate = 1 }], ThrottleWriteBpsDevice = [new ThrottleDevice { Major = 8, Minor = 1, Rate = 2 }],
                ThrottleReadIopsDevice = [new ThrottleDevice { Major = 8, Minor = 2, Rate = 3 }], ThrottleWriteIopsDevice = [new ThrottleDevice { Major = 8, Minor = 3, Rate = 4 }],
            },
            HugepageLimits = [new HugepageLimit { PageSize = "2MB", Limit = 1 << 21 }],
            Network = new NetworkResources { ClassId = 0x100001, Priorities = [new InterfacePriority { Name = "eth0", Priority = 5 }] },
            Rdma = new() { ["mlx"] = JsonDocument.Parse("{\"hcaHandles\":3}").RootElement },
            Unified = new() { ["memory.high"] = "max" },
        };
        l.Seccomp = DefaultSeccompProfile.Create(p.Capabilities.Bounding!);
        l.Seccomp.DefaultErrnoRet = 38;
        l.Seccomp.Flags = ["SECCOMP_FILTER_FLAG_LOG"];
        l.Seccomp.ListenerPath = "/run/l.sock";
        l.Seccomp.ListenerMetadata = "m";
        l.Seccomp.Syscalls!.Add(new SeccompSyscall { Names = ["personality"], Action = "SCMP_ACT_ERRNO", ErrnoRet = 1, Args = [new SeccompArg { Index = 0, Value = 8, ValueTwo = 9, Op = "SCMP_CMP_MASKED_EQ" }] });
        return spec;
    }

    [Fact]
    public void ReadsEveryFieldAsTheGeneratedContextDoes()
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(Everything(), RuntimeJsonContext.Default.Spec);
        var expected = Canonical(JsonSerializer.Deserialize(json, RuntimeJsonContext.Default.Spec)!);
        Assert.Equal(expected, Canonical(SpecReader.Read(json)!));
        Assert.Contains("\"hcaHandles\"", expected); // the fixture really has the rarely used fields
    }

    [Fact]
    public void IgnoresUnknownFieldsAndAcceptsCommentsAndTrailingCommas()
    {
        var json = """
            // a comment
            { "ociVersion": "1.0.2", "vendorThing": { "deep": [1, {"x": null}] }, "root": { "path": "r", "readonly": true, },
              "process": { "args": ["sh",], "cwd": "/", "user": {"uid": 0, "gid": 0}, "future": 1 }, }
            """;
        var spec = SpecReader.Read(Encoding.UTF8.GetBytes(json))!;
        Assert.Equal("1.0.2", spec.OciVersion);
        Assert.True(spec.Root!.Readonly);
        Assert.Equal(["sh"], spec.Process!.Args!);
    }

    [Theory]
    [InlineData("""{"process": {"args": "sh"}}""", "process.args")]
    [InlineData("""{"process": {"args": ["sh", 3]}}""", "process.args[1]")]
    [InlineData("""{"process": {"user": {"uid": -1}}}""", "process.user.uid")]
    [InlineData("""{"linux": {"resources": {"memory": {"limit": "1g"}}}}""", "linux.resources.memory.limit")]
    [InlineData("""{"root": {"readonly": null}}""", "root.readonly")]
    [InlineData("""{"mounts": [{"destination": "/a"}, {"destination": {}}]}""", "mounts[1].destination")]
    public void AWrongTypeNamesTheField(string json, string field)
    {
        var e = Assert.Throws<RuntimeException>(() => SpecLoader.Parse(Encoding.UTF8.GetBytes(json)));
        Assert.Contains("malformed at " + field + " ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("{\"ociVersion\": \"1.1.0\", \"process\": {")]
    [InlineData("{} trailing")]
    [InlineData("")]
    public void BrokenJsonIsMalformed(string json)
    {
        var e = Assert.Throws<RuntimeException>(() => SpecLoader.Parse(Encoding.UTF8.GetBytes(json)));
        Assert.StartsWith("config.json: malformed", e.Message);
    }

    [Fact]
    public void StateRecordRoundTrips()
    {
        var record = new ContainerRecord
        {
            Id = "c1", Pid = 42, PidStartTime = ulong.MaxValue, Bundle = "/b \"q\"", Rootfs = "/b/rootfs", Created = "2026-01-01T00:00:00Z",
            Owner = "root", Annotations = new() { ["k"] = "v", ["ünï \"c\\de\""] = "tab\there, nl\n, é, 😀, \u0001 <&>" }, CgroupsPath = "/berth/c1",
            CgroupDirectories = ["/sys/fs/cgroup/cpu/berth/c1", "/sys/fs/cgroup/pids/berth/c1"], NewUserNamespace = true, HasPoststart = false, HasPoststop = true,
        };
        using var buffer = new MemoryStream();
        record.WriteJson(buffer);
        // The runtime's own escaping: plain ASCII out, whatever the annotations hold.
        Assert.All(buffer.ToArray(), b => Assert.InRange(b, (byte)0x09, (byte)0x7E));
        Assert.Contains("\\uD83D\\uDE00", System.Text.Encoding.ASCII.GetString(buffer.ToArray()));
        var back = ContainerRecord.ReadJson(buffer.ToArray());
        Assert.Equal(
            JsonSerializer.Serialize(record, RuntimeStateJsonContext.Default.ContainerRecord),
            JsonSerializer.Serialize(back, RuntimeStateJsonContext.Default.ContainerRecord));
        // A record written before the hook flags existed reads them as unknown.
        var old = ContainerRecord.ReadJson("""{"id": "c2", "pid": 1, "pidStartTime": 5, "bundle": "/b", "extra": [1]}"""u8);
        Assert.Null(old.HasPoststart);
        Assert.Equal(5UL, old.PidStartTime);
        Assert.ThrowsAny<JsonException>(() => ContainerRecord.ReadJson("""{"id": "c2", "pid": """u8));
    }

    [Fact]
    public void InitMessagesRoundTrip()
    {
        var request = new InitRequest
        {
            Kind = "exec", Id = "c", Bundle = "/b", Rootfs = "/b/r", Spec = "{\"x\":1}"u8.ToArray(), NoPivot = true, FifoFd = 7,
            ConsoleSocket = 8, RootFd = 9, NewUserNamespace = true, NewCgroupNamespace = true, RuntimeHooks = true, HookState = "{}",
        };
        var back = InitRequest.Decode(request.Encode());
        Assert.Equal((request.Kind, request.Id, request.Bundle, request.Rootfs, request.NoPivot, request.FifoFd, request.ConsoleSocket, request.RootFd),
            (back.Kind, back.Id, back.Bundle, back.Rootfs, back.NoPivot, back.FifoFd, back.ConsoleSocket, back.RootFd));
        Assert.Equal((true, true, true, "{}"), (back.NewUserNamespace, back.NewCgroupNamespace, back.RuntimeHooks, back.HookState));
        Assert.Equal(request.Spec, back.Spec);
        Assert.Null(InitRequest.Decode(new InitRequest().Encode()).HookState);
        var report = InitReport.Decode(new InitReport { Type = "error", Message = "boom" }.Encode());
        Assert.Equal(("error", "boom"), (report.Type, report.Message));
    }
}

/// <summary>The scan that lets `create` begin a network namespace before the config is parsed.</summary>
public class NetworkNamespaceScanTests
{
    private static bool Scan(string json) => SpecLoader.WantsNetworkNamespaceInClone(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void The_default_spec_and_a_runc_like_config_want_one()
    {
        Assert.True(SpecLoader.WantsNetworkNamespaceInClone(JsonSerializer.SerializeToUtf8Bytes(SpecVerb.Default(), RuntimeJsonContext.Default.Spec)));
        Assert.True(Scan("""
            { "ociVersion": "1.0.2", "process": { "args": ["sh"], "env": [], "cwd": "/" }, "mounts": [ { "destination": "/proc" } ],
              // comments and trailing commas, as the parser accepts them
              "linux": { "resources": { "devices": [ { "allow": false } ] },
                         "namespaces": [ { "type": "pid" }, { "path": "", "type": "network" }, { "type": "mount" }, ] } }
            """));
    }

    [Fact]
    public void A_joined_or_absent_network_namespace_wants_none()
    {
        Assert.False(Scan("""{ "linux": { "namespaces": [ { "type": "network", "path": "/proc/1/ns/net" }, { "type": "mount" } ] } }"""));
        Assert.False(Scan("""{ "linux": { "namespaces": [ { "type": "mount" } ] } }"""));
        Assert.False(Scan("""{ "linux": { "cgroupsPath": "/x" } }"""));
        Assert.False(Scan("""{ "ociVersion": "1.0.2" }"""));
    }

    [Theory]
    [InlineData("""{ "type": "user" }""")]
    [InlineData("""{ "type": "time" }""")]
    [InlineData("""{ "type": "pid", "path": "/proc/1/ns/pid" }""")]
    public void An_init_that_is_exec_d_wants_none(string other)
    {
        Assert.False(Scan($$"""{ "linux": { "namespaces": [ { "type": "network" }, {{other}} ] } }"""));
        Assert.False(Scan($$"""{ "linux": { "namespaces": [ {{other}}, { "type": "network" } ] } }"""));
    }

    [Theory]
    [InlineData("""{ "linux": { "namespaces": [ { "type": "network" } """)]
    [InlineData("""{ "linux": [ { "namespaces": [ { "type": "network" } ] } ] }""")]
    [InlineData("""{ "linux": { "namespaces": { "type": "network" } } }""")]
    [InlineData("""not json""")]
    [InlineData("")]
    public void Text_that_is_not_such_a_config_wants_none(string text) => Assert.False(Scan(text));
}
