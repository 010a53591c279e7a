using Berth.Engine.Models;
using Berth.Engine.RuntimeSpec;
using ImageContainerConfig = Berth.Oci.Image.ContainerConfig;

namespace Berth.Engine.Tests.RuntimeSpec;

/// <summary>An in-memory ISpecFileSystem: rootfs files by in-root path, host files by path, and a record of writes.</summary>
public sealed class FakeSpecFiles : ISpecFileSystem
{
    public Dictionary<string, string> RootFiles { get; } = new()
    {
        ["/etc/passwd"] = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nwww-data:x:33:33:www-data:/var/www:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n",
        ["/etc/group"] = "root:x:0:\ndaemon:x:1:\ntty:x:5:\nwww-data:x:33:\nstaff:x:50:alice,bob\nalice:x:1000:\naudio:x:29:alice\n",
    };
    public HashSet<string> RootDirectories { get; } = ["/", "/etc", "/tmp"];
    public HashSet<string> RootRegularFiles { get; } = ["/bin/sh"];
    public Dictionary<string, string> HostFiles { get; } = new()
    {
        ["/etc/resolv.conf"] = "nameserver 10.0.0.2\nsearch example.org\n",
        ["/etc/hosts"] = "127.0.0.1\tlocalhost\n10.1.1.1\tbuildhost\n",
        ["/proc/sys/net/ipv4/ping_group_range"] = "1\t0\n",
        ["/proc/sys/net/ipv4/ip_unprivileged_port_start"] = "1024\n",
    };
    public HashSet<string> HostDirectories { get; } = ["/", "/srv", "/srv/data"];
    public Dictionary<string, string> Written { get; } = [];
    public List<string> CreatedHostDirectories { get; } = [];
    public List<string> CreatedRootDirectories { get; } = [];

    public string? ReadInRoot(string root, string pathInRoot) => RootFiles.GetValueOrDefault(pathInRoot);

    public bool CreateDirectoryInRoot(string root, string pathInRoot)
    {
        if (RootRegularFiles.Contains(pathInRoot)) return false;
        if (RootDirectories.Add(pathInRoot)) CreatedRootDirectories.Add(pathInRoot);
        return true;
    }

    public string? ReadHostFile(string path) => HostFiles.GetValueOrDefault(path);

    public HostPathKind Stat(string path)
        => HostDirectories.Contains(path) ? HostPathKind.Directory : HostFiles.ContainsKey(path) || Written.ContainsKey(path) ? HostPathKind.File : HostPathKind.Missing;

    public void CreateHostDirectory(string path)
    {
        HostDirectories.Add(path);
        CreatedHostDirectories.Add(path);
    }

    public void WriteHostFile(string path, string text) => Written[path] = text;
}

public static class SpecFixtures
{
    public const string Id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    public static ImageContainerConfig Busybox() => new()
    {
        Env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        Cmd = ["sh"],
    };

    public static SpecInputs Inputs(ContainerCreateRequest request, FakeSpecFiles? files = null, ImageContainerConfig? image = null,
        DaemonDefaults? daemon = null, NetworkNamespace? network = null) => new()
    {
        ContainerId = Id,
        Request = request,
        ImageConfig = image ?? Busybox(),
        RootfsPath = "/var/lib/berth/rootfs/" + Id,
        ContainerDirectory = "/var/lib/berth/containers/" + Id,
        Files = files ?? new FakeSpecFiles(),
        Daemon = daemon ?? new DaemonDefaults { LastCapability = 40, HostCpuCount = 2, HostHostname = "buildhost" },
        Network = network ?? NetworkNamespace.New,
    };

    public static Berth.Oci.Runtime.Spec BuildSpec(ContainerCreateRequest request, FakeSpecFiles? files = null, ImageContainerConfig? image = null,
        DaemonDefaults? daemon = null, NetworkNamespace? network = null)
        => ContainerSpecBuilder.Build(Inputs(request, files, image, daemon, network));

    public static ContainerCreateRequest Request(Action<HostConfig>? host = null, string[]? cmd = null)
    {
        var request = new ContainerCreateRequest { Cmd = cmd is null ? null : [.. cmd], HostConfig = new HostConfig() };
        host?.Invoke(request.HostConfig);
        return request;
    }
}
