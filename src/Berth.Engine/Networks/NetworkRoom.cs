using Berth.Engine.Volumes;
using Berth.Network;

namespace Berth.Engine.Networks;

/// <summary>What berthd sets for the network and volume rooms (dockerd's --bridge, --bip; the data and exec roots).</summary>
public sealed class NetworkRoomOptions
{
    public required string DataRoot { get; init; }
    public required string ExecRoot { get; init; }
    /// <summary>dockerd's --bridge: the default bridge's interface name, or "none".</summary>
    public string? Bridge { get; init; }
    /// <summary>dockerd's --bip.</summary>
    public string? Bip { get; init; }
    /// <summary>The nftables table; null for <see cref="NetworkRoom.TableFor"/> the bridge, so daemons with their own bridges keep apart.</summary>
    public string? TableName { get; init; }
    public IReadOnlyList<AddressPool>? AddressPools { get; init; }
}

/// <summary>
/// The network and volume rooms wired together for berthd: the network manager (state in DATA-ROOT/network), the
/// container attacher (namespaces in EXEC-ROOT/netns), the /networks and /volumes services (volumes in
/// DATA-ROOT/volumes). Plug in with BerthEngineOptions.Networks = _ => room.Attacher and
/// <c>new NetworkedEngine(engine, room.Networks, room.Volumes)</c>; call <see cref="Shutdown"/> at daemon stop.
/// </summary>
public sealed class NetworkRoom : IDisposable
{
    public NetworkManager Manager { get; }
    public ContainerNetworkAttacher Attacher { get; }
    public NetworkService Networks { get; }
    public VolumeService Volumes { get; }
    public VolumeResolver Resolver { get; }

    private NetworkRoom(NetworkManager manager, ContainerNetworkAttacher attacher, VolumeStore volumes)
    {
        Manager = manager;
        Attacher = attacher;
        Networks = new NetworkService(manager) { Containers = attacher };
        Volumes = new VolumeService(volumes);
        Resolver = new VolumeResolver(volumes);
    }

    /// <summary>"berth" for the default bridge berth0, else "berth_" and the bridge's name.</summary>
    public static string TableFor(string? bridge)
        => string.IsNullOrEmpty(bridge) || bridge == "berth0" ? "berth" : "berth_" + bridge.Replace('.', '_');

    /// <summary>The default bridge's gateway (what --add-host NAME:host-gateway stands for), or null without one.</summary>
    public string? DefaultGateway => Manager.List().FirstOrDefault(n => n.IsDefault)?.Subnets.FirstOrDefault()?.Gateway;

    /// <summary>The spec room with this room's network files, copy-up and Mounts around it.</summary>
    public RoomSpecFactory Specs(RuntimeSpec.ContainerSpecFactory inner)
    {
        inner.Volumes = Resolver;
        return new RoomSpecFactory(inner, Resolver, Attacher);
    }

    /// <summary>
    /// For BerthEngineOptions.Networks: the attacher, told where the engine's containers are (container:X, connect and
    /// disconnect of stopped containers, volumes in use).
    /// </summary>
    public Containers.INetworkAttacher AttacherFor(BerthEngine engine)
    {
        var service = engine.ContainerService;
        Attacher.Containers = service;
        Attacher.Store = service.Store;
        Volumes.Store.ContainerExists = id => service.Store.TryGet(id) is not null;
        return Attacher;
    }

    /// <summary>
    /// After the engine restored its containers: endpoints and pinned namespaces of containers that are not running
    /// (a crash left them) go, and the API sees the engine with networks, volumes and their create/remove parts.
    /// </summary>
    public IEngine Plug(BerthEngine engine)
    {
        var store = engine.ContainerService.Store;
        bool Running(string id) => store.TryGet(id) is { } c && c.State.Running;
        Manager.Reconcile(Running);
        Attacher.RemoveStaleNamespaces(Running);
        return new NetworkedEngine(engine, Networks, Volumes, new NetworkedContainers(engine.ContainerService, store, Manager, Volumes.Store));
    }

    /// <summary>Opens the rooms and reconciles the kernel with the saved state: endpoints whose namespace is gone are removed.</summary>
    public static NetworkRoom Open(NetworkRoomOptions options)
    {
        var manager = new NetworkManager(new NetworkManagerOptions
        {
            StateDirectory = Path.Combine(options.DataRoot, "network"),
            TableName = options.TableName ?? TableFor(options.Bridge),
            DefaultBridge = string.IsNullOrEmpty(options.Bridge) ? "berth0" : options.Bridge,
            DefaultBridgeIp = string.IsNullOrEmpty(options.Bip) ? null : options.Bip,
            AddressPools = options.AddressPools ?? AddressPool.Defaults,
        });
        try
        {
            manager.Initialize();
        }
        catch (Exception e) when (e is NetworkException or NftablesException or Linux.Netlink.NetlinkException or Linux.SyscallException)
        {
            manager.Dispose();
            throw new EngineFailureException($"failed to start the network controller: {e.Message}", e);
        }
        var attacher = new ContainerNetworkAttacher(manager, Path.Combine(options.ExecRoot, "netns"));
        return new NetworkRoom(manager, attacher, new VolumeStore(Path.Combine(options.DataRoot, "volumes")));
    }

    /// <summary>At daemon stop: with live-restore the kernel objects stay for the running containers, else all go.</summary>
    public void Shutdown(bool liveRestore) => Manager.Shutdown(keepContainersRunning: liveRestore);

    public void Dispose() => Manager.Dispose();
}
