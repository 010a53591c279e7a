using System.Text.Json.Nodes;
using Berth.Oci.Runtime;
using Berth.Runtime.Cli;
using Berth.Runtime.Credentials;
using Berth.Runtime.Rootfs;
using Berth.Runtime.Seccomp;

namespace Berth.Runtime.Tests;

/// <summary>`features` says what the code accepts: every entry it lists is accepted, and runc's shape is kept.</summary>
public class FeaturesTests
{
    private static readonly JsonNode Doc = JsonNode.Parse(Features.Json)!;

    private static List<string> List(JsonNode? node) => node!.AsArray().Select(n => n!.GetValue<string>()).ToList();

    [Fact]
    public void HasRuncsShape()
    {
        Assert.Equal("1.1.0", Doc["ociVersionMax"]!.GetValue<string>());
        Assert.Equal(6, List(Doc["hooks"]).Count);
        Assert.Equal(["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"], List(Doc["linux"]!["namespaces"]));
        Assert.True(Doc["linux"]!["cgroup"]!["v1"]!.GetValue<bool>());
        Assert.True(Doc["linux"]!["seccomp"]!["enabled"]!.GetValue<bool>());
        Assert.Contains("SECCOMP_FILTER_FLAG_LOG", List(Doc["linux"]!["seccomp"]!["knownFlags"]));
        Assert.False(Doc["linux"]!["mountExtensions"]!["idmap"]!["enabled"]!.GetValue<bool>());
    }

    [Fact]
    public void EveryListedMountOptionIsUnderstoodNotPassedAsData()
    {
        var options = List(Doc["mountOptions"]);
        Assert.Contains("rro", options);
        Assert.Contains("tmpcopyup", options);
        Assert.Contains("rshared", options);
        foreach (var option in options) Assert.Null(MountOptions.Parse([option]).Data);
    }

    [Fact]
    public void EveryListedCapabilityActionOperatorAndArchitectureIsAccepted()
    {
        foreach (var cap in List(Doc["linux"]!["capabilities"])) Assert.True(CapabilityNames.TryGetNumber(cap, out _), cap);
        var seccomp = Doc["linux"]!["seccomp"]!;
        foreach (var action in List(seccomp["actions"]))
        {
            var spec = new Oci.Runtime.Seccomp
            {
                DefaultAction = "SCMP_ACT_ALLOW", ListenerPath = "/run/listener.sock", Architectures = ["SCMP_ARCH_X86_64"],
                Syscalls = [new SeccompSyscall { Names = ["personality"], Action = action }],
            };
            Assert.NotEmpty(SeccompFilter.Compile(spec, "SCMP_ARCH_X86_64"));
        }
        foreach (var op in List(seccomp["operators"]))
        {
            var spec = new Oci.Runtime.Seccomp
            {
                DefaultAction = "SCMP_ACT_ALLOW", Architectures = ["SCMP_ARCH_X86_64"],
                Syscalls = [new SeccompSyscall { Names = ["personality"], Action = "SCMP_ACT_ERRNO", Args = [new SeccompArg { Index = 0, Value = 1, ValueTwo = 1, Op = op }] }],
            };
            Assert.NotEmpty(SeccompFilter.Compile(spec, "SCMP_ARCH_X86_64"));
        }
        foreach (var arch in List(seccomp["archs"])) Assert.NotNull(SeccompArchitecture.Find(arch));
        Assert.NotEqual(0u, SeccompFilter.ParseFlags(List(seccomp["knownFlags"])));
    }
}
