using Berth.Engine.Models;
using ImageContainerConfig = Berth.Oci.Image.ContainerConfig;

namespace Berth.Engine.RuntimeSpec;

/// <summary>Everything <see cref="ContainerSpecBuilder.Build"/> needs to write a container's config.json.</summary>
public sealed class SpecInputs
{
    /// <summary>The container's full 64-hex ID (its first 12 characters are the default hostname).</summary>
    public required string ContainerId { get; init; }

    /// <summary>The container's config: the create request's fields, as sent or already merged with the image's.</summary>
    public ContainerConfig Config { get; init; } = new();

    /// <summary>The container's HostConfig.</summary>
    public HostConfig HostConfig { get; init; } = new();

    /// <summary>The body of POST /containers/create: sets <see cref="Config"/> and <see cref="HostConfig"/>.</summary>
    public ContainerCreateRequest Request
    {
        init
        {
            Config = value;
            HostConfig = value.HostConfig ?? new HostConfig();
        }
    }

    /// <summary>The image's config (Env, Cmd, Entrypoint, WorkingDir, User…); null for an image without one.</summary>
    public ImageContainerConfig? ImageConfig { get; init; }

    /// <summary>The absolute path of the container's root filesystem, already mounted by the engine.</summary>
    public required string RootfsPath { get; init; }

    /// <summary>The container's own directory: hostname, hosts and resolv.conf are written here and bind-mounted.</summary>
    public required string ContainerDirectory { get; init; }

    /// <summary>The daemon's cgroup parent (HostConfig.CgroupParent overrides it); cgroupsPath is PARENT/ID.</summary>
    public string CgroupParent { get; init; } = "/berth";

    /// <summary>The container's network namespace: a new one (bridge, none, user networks), the host's, or a path to join.</summary>
    public NetworkNamespace Network { get; init; } = NetworkNamespace.New;

    /// <summary>
    /// Namespaces joined by path for <c>container:X</c> modes other than the network's, keyed by OCI type
    /// ("pid", "ipc", "uts"), e.g. "/proc/1234/ns/pid"; the engine resolves X to its running container.
    /// </summary>
    public IReadOnlyDictionary<string, string>? JoinNamespaces { get; init; }

    /// <summary>The container's own addresses on its networks: /etc/hosts maps its hostname to them.</summary>
    public IReadOnlyList<string>? ContainerAddresses { get; init; }

    /// <summary>
    /// Nameservers the network room wants in resolv.conf (e.g. an embedded DNS server on a user-defined
    /// network); null to derive them from HostConfig.Dns or the host's resolv.conf as Docker's default bridge does.
    /// </summary>
    public IReadOnlyList<string>? NetworkNameservers { get; init; }

    /// <summary>Turns a named or anonymous volume into a host path (the volumes room); null refuses type=volume mounts.</summary>
    public IVolumeResolver? Volumes { get; init; }

    public DaemonDefaults Daemon { get; init; } = DaemonDefaults.Standard;

    /// <summary>Reads the rootfs's /etc/passwd and /etc/group, writes the container's files; tests pass a double.</summary>
    public ISpecFileSystem Files { get; init; } = HostSpecFileSystem.Instance;
}

public enum NetworkNamespaceKind { New, Host, Join }

/// <summary>Which network namespace a container gets (HostConfig.NetworkMode resolved by the engine).</summary>
public sealed record NetworkNamespace(NetworkNamespaceKind Kind, string? Path = null)
{
    public static readonly NetworkNamespace New = new(NetworkNamespaceKind.New);
    public static readonly NetworkNamespace Host = new(NetworkNamespaceKind.Host);
    public static NetworkNamespace Join(string path) => new(NetworkNamespaceKind.Join, path);
}

/// <summary>The daemon-wide settings that shape every container (dockerd's flags and daemon.json keys).</summary>
public sealed record DaemonDefaults
{
    public static readonly DaemonDefaults Standard = new();

    /// <summary>Docker's default /dev/shm size: 64 MB.</summary>
    public const long DefaultShmSize = 64L * 1024 * 1024;

    public long ShmSize { get; init; } = DefaultShmSize;

    /// <summary>dockerd --no-new-privileges.</summary>
    public bool NoNewPrivileges { get; init; }

    /// <summary>dockerd --init: run an init as pid 1 when HostConfig.Init is unset.</summary>
    public bool Init { get; init; }

    /// <summary>berth-init and the host libraries it runs with (see <see cref="InitBundle.Find"/>); null when the daemon has none.</summary>
    public InitBundle? InitBinary { get; init; }

    /// <summary>dockerd --seccomp-profile: a Docker-format profile (JSON) replacing the built-in default.</summary>
    public string? SeccompProfileJson { get; init; }

    /// <summary>dockerd --default-ulimit, by name ("nofile").</summary>
    public IReadOnlyList<Ulimit>? Ulimits { get; init; }

    /// <summary>dockerd --host-gateway-ip: what "host-gateway" in ExtraHosts stands for.</summary>
    public string? HostGatewayIp { get; init; }

    /// <summary>Every capability the kernel has (cap_last_cap); a privileged container gets them all.</summary>
    public int LastCapability { get; init; } = Capabilities.HostLastCapability();

    /// <summary>The host's CPU count (NanoCpus are checked against it).</summary>
    public int HostCpuCount { get; init; } = Environment.ProcessorCount;

    /// <summary>The host's hostname: a container on the host network takes it.</summary>
    public string HostHostname { get; init; } = System.Net.Dns.GetHostName();

    /// <summary>The host's resolver configuration, filtered into containers' resolv.conf.</summary>
    public string HostResolvConfPath { get; init; } = "/etc/resolv.conf";

    /// <summary>The host's hosts file, copied for containers on the host network.</summary>
    public string HostHostsPath { get; init; } = "/etc/hosts";
}

/// <summary>Where the volumes room keeps a volume's data.</summary>
public interface IVolumeResolver
{
    /// <summary>
    /// The host directory of volume <paramref name="name"/> (created if missing, with <paramref name="options"/>);
    /// a null name asks for a new anonymous volume. Returns the volume's name and path.
    /// </summary>
    (string Name, string HostPath) Resolve(string? name, string containerId, string destination, VolumeOptions? options);
}
