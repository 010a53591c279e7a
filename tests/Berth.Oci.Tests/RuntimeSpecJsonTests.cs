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
