using Berth.Engine.RuntimeSpec;
using static Berth.Engine.Tests.RuntimeSpec.SpecFixtures;
using Caps = Berth.Engine.RuntimeSpec.Capabilities;

namespace Berth.Engine.Tests.RuntimeSpec;

public sealed class CapabilityTests
{
    [Fact]
    public void Add_WithOrWithoutPrefix_AnyCase()
    {
        var caps = Caps.Resolve(["net_admin", "CAP_SYS_PTRACE", "Sys_Time"], null, false, 40);
        Assert.Equal(17, caps.Count);
        Assert.Contains("CAP_NET_ADMIN", caps);
        Assert.Contains("CAP_SYS_PTRACE", caps);
        Assert.Contains("CAP_SYS_TIME", caps);
    }

    [Fact]
    public void Drop_RemovesFromTheDefault()
    {
        var caps = Caps.Resolve(null, ["chown", "CAP_NET_RAW"], false, 40);
        Assert.Equal(12, caps.Count);
        Assert.DoesNotContain("CAP_CHOWN", caps);
        Assert.DoesNotContain("CAP_NET_RAW", caps);
    }

    [Fact]
    public void DropAll_KeepsOnlyTheAdded() => Assert.Equal(["CAP_NET_BIND_SERVICE"], Caps.Resolve(["NET_BIND_SERVICE"], ["ALL"], false, 40));

    [Fact]
    public void AddAll_MinusTheDropped()
    {
        var caps = Caps.Resolve(["all"], ["SYS_ADMIN"], false, 40);
        Assert.Equal(40, caps.Count);
        Assert.DoesNotContain("CAP_SYS_ADMIN", caps);
    }

    [Fact]
    public void Unknown_IsDockersError()
    {
        var e = Assert.Throws<InvalidParameterException>(() => Caps.Resolve(["FLY"], null, false, 40));
        Assert.Equal("unknown capability: \"CAP_FLY\"", e.Message);
        Assert.Equal(400, e.StatusCode);
    }

    [Fact]
    public void BeyondTheKernel_IsDockersNotSupportedError()
    {
        var e = Assert.Throws<InvalidParameterException>(() => Caps.Resolve(["CHECKPOINT_RESTORE"], null, false, 39));
        Assert.Equal("capability not supported by your kernel or not available in the current environment: \"CAP_CHECKPOINT_RESTORE\"", e.Message);
    }

    [Fact]
    public void TheSpecCarriesTheResult()
    {
        var spec = BuildSpec(Request(h => { h.CapAdd = ["NET_ADMIN"]; h.CapDrop = ["MKNOD"]; }));
        Assert.Contains("CAP_NET_ADMIN", spec.Process!.Capabilities!.Bounding!);
        Assert.DoesNotContain("CAP_MKNOD", spec.Process.Capabilities.Effective!);
    }
}
