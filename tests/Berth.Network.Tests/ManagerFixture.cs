using System.Net;
using System.Net.Sockets;
using Berth.Testing;

namespace Berth.Network.Tests;

/// <summary>A NetworkManager with names of its own (table, default bridge, state directory) over a <see cref="TestNetwork"/>;
/// disposing shuts it down the non-live-restore way and then removes whatever the test made.</summary>
public sealed class ManagerFixture : IDisposable
{
    public TestNetwork Net { get; } = new();
    public TempDir State { get; } = new();
    public NetworkManager Manager { get; private set; }
    public NetworkManagerOptions Options { get; }
    public string Table { get; }

    public ManagerFixture(IReadOnlyList<IPEndPoint>? upstreams = null, bool defaultBridge = false)
    {
        Table = Net.TableName();
        var bip = Net.FreeSubnet();
        Options = new NetworkManagerOptions
        {
            StateDirectory = State.Path,
            TableName = Table,
            DefaultBridge = defaultBridge ? Net.LinkName("bd") : "none",
            DefaultBridgeIp = $"{IpMath.FromNumber(IpMath.ToNumber(bip.BaseAddress) + 1, false)}/24",
            AddressPools = [new AddressPool(Net.FreeSubnet(), 24), new AddressPool(Net.FreeSubnet(), 24)],
            UpstreamResolvers = upstreams ?? [],
        };
        Manager = new NetworkManager(Options);
        Manager.Initialize();
    }

    /// <summary>A user-defined network whose bridge name is registered for removal.</summary>
    public NetworkRecord CreateNetwork(string name, bool @internal = false, string? subnet = null)
        => Manager.Create(new NetworkCreateOptions($"{name}-{Net.Id}")
        {
            Internal = @internal,
            Subnets = [new IpamSubnet(subnet ?? Net.FreeSubnet().ToString())],
            Options = new Dictionary<string, string> { [NetworkManager.BridgeNameOption] = Net.LinkName(name[..Math.Min(name.Length, 3)]) },
        });

    /// <summary>A namespace standing for a container, attached to <paramref name="network"/>.</summary>
    public (string Netns, Endpoint Endpoint) Container(string name, string network, params string[] aliases)
    {
        var ns = Net.Namespace(name);
        var endpoint = Manager.Connect(network, new EndpointRequest("c" + name + Net.Id + new string('0', 40), name, ns) { Aliases = aliases });
        return (ns, endpoint);
    }

    public static string ContainerId(string name, string id) => "c" + name + id + new string('0', 40);

    /// <summary>Simulates a daemon restart: the manager is dropped without shutdown and a new one initialized.</summary>
    public void Restart()
    {
        Manager.Dispose();
        Manager = new NetworkManager(Options);
        Manager.Initialize();
    }

    /// <summary>The names of nftables tables on the host.</summary>
    public static string ListTables() => Nftables.Open().List("list tables");

    public void Dispose()
    {
        try { Manager.Shutdown(keepContainersRunning: false); } catch (Exception) { }
        Manager.Dispose();
        Net.Dispose();
        State.Dispose();
    }
}
