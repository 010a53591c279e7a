using System.Text.Json;
using Berth.Oci.Runtime;

namespace Berth.Oci.Tests;

public class RuntimeSpecJsonTests
{
    [Fact]
    public void ReadsTheSpecsFieldNames()
    {
        const string json = """
        { "ociVersion": "1.1.0", "root": {"path": "rootfs", "readonly": true},
          "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 1, "gid": 2, "additionalGids": [3]}},
          "linux": {"namespaces": [{"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"}],
                    "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
                    "resources": {"memory": {"limit": 1048576, "disableOOMKiller": true}, "pids": {"limit": 10}}} }
        """;
        var spec = JsonSerializer.Deserialize(json, RuntimeJsonContext.Default.Spec)!;
        Assert.True(spec.Root!.Readonly);
        Assert.Equal(["sh"], spec.Process!.Args!);
        Assert.Equal(3u, spec.Process.User.AdditionalGids![0]);
        Assert.Equal("/proc/1/ns/net", spec.Linux!.Namespaces![1].Path);
        Assert.Equal(1000u, spec.Linux.UidMappings![0].HostId);
        Assert.Equal(1048576, spec.Linux.Resources!.Memory!.Limit);
        Assert.True(spec.Linux.Resources.Memory.DisableOomKiller);
        Assert.Equal(10, spec.Linux.Resources.Pids!.Limit);
    }
}

public class DigestTests
{
    [Theory]
    [InlineData("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", true)]
    [InlineData("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", false)]
    [InlineData("sha256:../../etc/passwd", false)]
    [InlineData("md5:d41d8cd98f00b204e9800998ecf8427e", false)]
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", false)]
    public void ParsesOnlyWellFormedDigests(string text, bool valid)
        => Assert.Equal(valid, Berth.Oci.Content.Digest.TryParse(text, out _));

    [Fact]
    public void HashesTheEmptyBlob()
        => Assert.Equal("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            Berth.Oci.Content.Digest.Sha256([]).ToString());
}
