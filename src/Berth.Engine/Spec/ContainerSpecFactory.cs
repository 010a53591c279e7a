using Berth.Engine.Containers;
using Berth.Engine.Models;
using ImageConfig = Berth.Oci.Image.ImageConfig;

namespace Berth.Engine.RuntimeSpec;

/// <summary>
/// The spec room behind the container service's <see cref="IContainerSpecFactory"/> seam: Docker's create-time
/// validation, config.json for each run, and resources for updates. berthd makes one with its daemon defaults.
/// </summary>
public sealed class ContainerSpecFactory(DaemonDefaults daemon, string cgroupParent = "/berth", IVolumeResolver? volumes = null, ISpecFileSystem? files = null)
    : IContainerSpecFactory
{
    private readonly ISpecFileSystem files = files ?? HostSpecFileSystem.Instance;

    public DaemonDefaults Daemon { get; } = daemon;

    /// <summary>The volumes room, when berthd has one (named and anonymous volumes).</summary>
    public IVolumeResolver? Volumes { get; set; } = volumes;

    public IReadOnlyList<string> Validate(ContainerCreateRequest request, ImageConfig? image)
    {
        var warnings = CreateRequestValidator.Validate(request, Daemon, files);
        // Docker refuses a container with nothing to run at create, after merging the image's config.
        _ = ConfigMerge.Merged(request, image?.Config);
        // What dockerd's create fills in from its defaults, as inspect shows it: the IPC mode (default-ipc-mode
        // "private") and the /dev/shm size.
        if (request.HostConfig is { } host)
        {
            if (string.IsNullOrEmpty(host.IpcMode)) host.IpcMode = "private";
            if (host.ShmSize == 0) host.ShmSize = Daemon.ShmSize;
        }
        return warnings;
    }

    public Oci.Runtime.Spec Build(SpecContext context)
    {
        var record = context.Container;
        var host = record.HostConfig;
        var mode = host.NetworkMode ?? "";
        var network = context.NetworkNamespacePath is { Length: > 0 } path ? NetworkNamespace.Join(path)
            : mode == "host" ? NetworkNamespace.Host
            : mode.StartsWith("container:", StringComparison.Ordinal)
                ? context.JoinNamespaces?.GetValueOrDefault("network") is { } joined ? NetworkNamespace.Join(joined)
                    : throw new InvalidParameterException($"cannot join the network namespace of {mode[10..]}: the container is not running")
                : NetworkNamespace.New;
        var addresses = record.NetworkSettings.Networks?.Values
            .Select(n => n.IPAddress).Where(ip => !string.IsNullOrEmpty(ip)).Select(ip => ip!).ToList();
        return ContainerSpecBuilder.Build(new SpecInputs
        {
            ContainerId = record.ID,
            Config = record.Config,
            HostConfig = host,
            ImageConfig = context.Image?.Config,
            RootfsPath = context.RootfsPath,
            ContainerDirectory = Path.GetDirectoryName(context.HostsPath) ?? throw new InvalidOperationException("the hosts path has no directory"),
            CgroupParent = cgroupParent,
            Network = network,
            ContainerAddresses = addresses,
            Volumes = Volumes,
            JoinNamespaces = context.JoinNamespaces,
            Daemon = Daemon,
            Files = files,
        });
    }

    public Oci.Runtime.Resources Resources(Models.Resources resources)
    {
        CreateRequestValidator.ValidateResources(resources, Daemon.HostCpuCount, update: true);
        return ResourceSpecs.From(resources);
    }
}
