using Berth.Engine.Containers;
using Berth.Engine.Models;
using Berth.Engine.Volumes;
using Berth.Network;

namespace Berth.Engine.Networks;

/// <summary>
/// The container service with the network and volume rooms' parts of create and remove: at create the networks a
/// container names must exist, and NetworkSettings.Networks starts from HostConfig.NetworkMode and
/// NetworkingConfig.EndpointsConfig (so inspect shows them before the first start, and the attacher reads them at
/// start); at remove the container's volumes are released, its anonymous ones removed with `rm -v`.
/// Everything else is the inner service's.
/// </summary>
public sealed class NetworkedContainers(ContainerService inner, ContainerStore store, NetworkManager networks, VolumeStore volumes) : IContainerService
{
    public async Task<ContainerCreateResponse> CreateAsync(string? name, string? platform, ContainerCreateRequest request, CancellationToken cancellationToken)
    {
        var initial = InitialNetworks(request);
        VolumesFrom.Validate(request.HostConfig?.VolumesFrom, store);
        // The networks go into the record the inner create writes: one write of config.v2.json per create.
        var created = await inner.CreateAsync(name, platform, request, initial, cancellationToken);
        if (request.HostConfig?.AutoRemove == true)
        {
            // --rm: the engine removes the container itself when it ends; its anonymous volumes go with it, as in Docker.
            var id = created.Id;
            var removed = await inner.WaitAsync(id, WaitCondition.Removed, CancellationToken.None);
            _ = removed.ContinueWith(_ =>
            {
                try { volumes.Release(id, removeAnonymous: true); }
                catch (EngineException) { } // left for volume prune
            }, CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        return created;
    }

    /// <summary>The endpoints a new container asks for, keyed by network name; Docker's errors for a network that does not exist.</summary>
    private Dictionary<string, EndpointSettings> InitialNetworks(ContainerCreateRequest request)
    {
        var mode = request.HostConfig?.NetworkMode;
        var configs = request.NetworkingConfig?.EndpointsConfig ?? [];
        var result = new Dictionary<string, EndpointSettings>();
        var primary = ContainerNetworkAttacher.PrimaryNetwork(mode);
        if (mode is "host" or "none")
        {
            result[mode] = configs.GetValueOrDefault(mode) ?? new EndpointSettings();
            return result;
        }
        if (primary is null)
        {
            if (configs.Count > 0) throw new InvalidParameterException("conflicting options: container type network can't be used with other networks");
            return result;
        }
        var primaryNetwork = networks.Find(primary) ?? throw new NotFoundException($"network {primary} not found");
        result[primaryNetwork.Name] = Lookup(configs, primary, primaryNetwork) ?? new EndpointSettings();
        foreach (var (key, config) in configs)
        {
            if (Names(key, primary, primaryNetwork)) continue;
            var n = networks.Find(key) ?? throw new NotFoundException($"network {key} not found");
            if (!n.HasBridge) throw new InvalidParameterException($"container cannot be connected to network {n.Name} and {primaryNetwork.Name}");
            result.TryAdd(n.Name, config ?? new EndpointSettings());
        }
        foreach (var config in result.Values)
        {
            if (config.IPAMConfig is { } ipam)
            {
                NetworkService.ParseAddress(ipam.IPv4Address, "IPv4");
                NetworkService.ParseAddress(ipam.IPv6Address, "IPv6");
            }
        }
        if (primaryNetwork.IsDefault && result[primaryNetwork.Name] is { } onBridge)
        {
            if (onBridge.Aliases is { Count: > 0 })
                throw new InvalidParameterException("network-scoped alias is supported only for containers in user defined networks");
            if (!string.IsNullOrEmpty(onBridge.IPAMConfig?.IPv4Address) || !string.IsNullOrEmpty(onBridge.IPAMConfig?.IPv6Address))
                throw new InvalidParameterException("user specified IP address is supported on user defined networks only");
        }
        return result;
    }

    private static EndpointSettings? Lookup(Dictionary<string, EndpointSettings> configs, string name, NetworkRecord network)
    {
        foreach (var (key, value) in configs)
            if (Names(key, name, network)) return value;
        return null;
    }

    /// <summary>Whether an EndpointsConfig key means the network (the CLI says "default" for the default bridge).</summary>
    private static bool Names(string key, string name, NetworkRecord network)
        => key == name || key == network.Name || key == network.Id || (key is "default" or "bridge" && network.IsDefault);

    public async Task RemoveAsync(string idOrName, bool force, bool removeVolumes, bool removeLink, CancellationToken cancellationToken)
    {
        var id = store.TryGet(idOrName)?.Id;
        await inner.RemoveAsync(idOrName, force, removeVolumes, removeLink, cancellationToken);
        if (id is not null) volumes.Release(id, removeAnonymous: removeVolumes);
    }

    public Task<IReadOnlyList<ContainerSummary>> ListAsync(ContainerListOptions options, CancellationToken cancellationToken) => inner.ListAsync(options, cancellationToken);
    public Task<ContainerInspect> InspectAsync(string idOrName, bool size, CancellationToken cancellationToken) => inner.InspectAsync(idOrName, size, cancellationToken);
    public Task StartAsync(string idOrName, CancellationToken cancellationToken) => inner.StartAsync(idOrName, cancellationToken);
    public Task StopAsync(string idOrName, int? timeoutSeconds, string? signal, CancellationToken cancellationToken) => inner.StopAsync(idOrName, timeoutSeconds, signal, cancellationToken);
    public Task RestartAsync(string idOrName, int? timeoutSeconds, string? signal, CancellationToken cancellationToken) => inner.RestartAsync(idOrName, timeoutSeconds, signal, cancellationToken);
    public Task KillAsync(string idOrName, string? signal, CancellationToken cancellationToken) => inner.KillAsync(idOrName, signal, cancellationToken);
    public Task PauseAsync(string idOrName, CancellationToken cancellationToken) => inner.PauseAsync(idOrName, cancellationToken);
    public Task UnpauseAsync(string idOrName, CancellationToken cancellationToken) => inner.UnpauseAsync(idOrName, cancellationToken);
    public Task<Task<ContainerWaitResponse>> WaitAsync(string idOrName, WaitCondition condition, CancellationToken cancellationToken) => inner.WaitAsync(idOrName, condition, cancellationToken);
    public Task<LogReader> LogsAsync(string idOrName, LogsOptions options, CancellationToken cancellationToken) => inner.LogsAsync(idOrName, options, cancellationToken);
    public Task<IStdioSession> AttachAsync(string idOrName, AttachOptions options, CancellationToken cancellationToken) => inner.AttachAsync(idOrName, options, cancellationToken);
    public Task ResizeAsync(string idOrName, int height, int width, CancellationToken cancellationToken) => inner.ResizeAsync(idOrName, height, width, cancellationToken);
    public Task<ContainerTopResponse> TopAsync(string idOrName, string? psArgs, CancellationToken cancellationToken) => inner.TopAsync(idOrName, psArgs, cancellationToken);
    public IAsyncEnumerable<ContainerStats> StatsAsync(string idOrName, bool stream, bool oneShot, CancellationToken cancellationToken) => inner.StatsAsync(idOrName, stream, oneShot, cancellationToken);
    public Task<IReadOnlyList<FilesystemChange>> ChangesAsync(string idOrName, CancellationToken cancellationToken) => inner.ChangesAsync(idOrName, cancellationToken);
    public Task ExportAsync(string idOrName, Stream destination, CancellationToken cancellationToken) => inner.ExportAsync(idOrName, destination, cancellationToken);
    public Task<ContainerPathStat> StatPathAsync(string idOrName, string path, CancellationToken cancellationToken) => inner.StatPathAsync(idOrName, path, cancellationToken);
    public Task GetArchiveAsync(string idOrName, string path, Stream destination, CancellationToken cancellationToken) => inner.GetArchiveAsync(idOrName, path, destination, cancellationToken);
    public Task PutArchiveAsync(string idOrName, ArchiveUpload upload, Stream tar, CancellationToken cancellationToken) => inner.PutArchiveAsync(idOrName, upload, tar, cancellationToken);
    public Task RenameAsync(string idOrName, string newName, CancellationToken cancellationToken) => inner.RenameAsync(idOrName, newName, cancellationToken);
    public Task<ContainerUpdateResponse> UpdateAsync(string idOrName, ContainerUpdateRequest update, CancellationToken cancellationToken) => inner.UpdateAsync(idOrName, update, cancellationToken);
    public Task<ContainerPruneResponse> PruneAsync(Filters filters, CancellationToken cancellationToken) => inner.PruneAsync(filters, cancellationToken);
}
