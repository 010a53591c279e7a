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
    /// <summary>The nftables table; "berth" unless several daemons share the host.</summary>
    public string TableName { get; init; } = "berth";
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

    private NetworkRoom(NetworkManager manager, ContainerNetworkAttacher attacher, VolumeStore volumes)
    {
        Manager = manager;
        Attacher = attacher;
        Networks = new NetworkService(manager) { Containers = attacher };
        Volumes = new VolumeService(volumes);
    }

    /// <summary>Opens the rooms and reconciles the kernel with the saved state: endpoints whose namespace is gone are removed.</summary>
    public static NetworkRoom Open(NetworkRoomOptions options)
    {
        var manager = new NetworkManager(new NetworkManagerOptions
        {
            StateDirectory = Path.Combine(options.DataRoot, "network"),
            TableName = options.TableName,
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
