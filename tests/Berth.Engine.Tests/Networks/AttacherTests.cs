using System.Net;
using System.Net.Sockets;
using Berth.Engine.Containers;
using Berth.Engine.Models;
using Berth.Engine.Networks;
using Berth.Linux;
using Berth.Linux.Netlink;
using Berth.Network;
using Berth.Testing;

namespace Berth.Engine.Tests.Networks;

/// <summary>The container attacher on the real kernel: namespace, endpoints, ports and NetworkSettings, and their removal.</summary>
public sealed class AttacherTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _id = Guid.NewGuid().ToString("N")[..6];
    private readonly NetworkManager? _manager;
    private readonly ContainerNetworkAttacher? _attacher;

    public AttacherTests()
    {
        if (!Berth.Linux.Host.IsRoot) return;
        _manager = new NetworkManager(new NetworkManagerOptions
        {
            StateDirectory = _dir.Combine("network"), TableName = "berth-a" + _id, DefaultBridge = "ba" + _id,
            DefaultBridgeIp = Gateway(FreeSubnet()), AddressPools = [new AddressPool(FreeSubnet(), 24)], UpstreamResolvers = [],
        });
        _manager.Initialize();
        _attacher = new ContainerNetworkAttacher(_manager, _dir.Combine("netns"));
    }

    public void Dispose()
    {
        _manager?.Shutdown(keepContainersRunning: false);
        _manager?.Dispose();
        _dir.Dispose();
    }

    [RootFact]
    public async Task Start_attaches_to_the_default_bridge_with_ports_and_stop_removes_everything()
    {
        var record = Record("web", "default");
        record.Config.ExposedPorts = new() { ["80/tcp"] = EmptyObject.Instance, ["53/udp"] = EmptyObject.Instance };
        record.HostConfig.PortBindings = new() { ["80/tcp"] = [new PortBinding { HostIp = "127.0.0.1", HostPort = "" }] };
        var attachment = await _attacher!.AttachAsync(record, default);
        var settings = record.NetworkSettings;
        try
        {
            Assert.Equal(_attacher.NamespacePath(record.ID), attachment.NamespacePath);
            Assert.Equal(settings.SandboxKey, attachment.NamespacePath);
            var bridge = settings.Networks!["bridge"];
            Assert.Equal(settings.IPAddress, bridge.IPAddress);
            Assert.False(string.IsNullOrEmpty(bridge.IPAddress));
            Assert.Equal(bridge.Gateway, _manager!.Find("bridge")!.Subnets[0].Gateway);
            Assert.Null(settings.Ports!["53/udp"]);
            var binding = Assert.Single(settings.Ports!["80/tcp"]!);
            Assert.Equal("127.0.0.1", binding.HostIp);
            Assert.True(int.Parse(binding.HostPort!) > 0);
            // Something listening in the container's namespace answers on the published port.
            using var listener = NetworkNamespace.Run(LinuxSyscalls.Instance, attachment.NamespacePath!, () =>
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                s.Bind(new IPEndPoint(IPAddress.Any, 80));
                s.Listen();
                return s;
            });
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await client.ConnectAsync(IPAddress.Loopback, int.Parse(binding.HostPort!));
            using var accepted = await listener.AcceptAsync();
            Assert.Equal(IPAddress.Parse(bridge.Gateway!), ((IPEndPoint)accepted.RemoteEndPoint!).Address);
            Assert.Null(_attacher.Nameservers(record)); // the default bridge: no embedded DNS
        }
        finally { await _attacher.DetachAsync(record, default); }
        Assert.False(File.Exists(attachment.NamespacePath));
        Assert.Equal("", settings.Networks["bridge"].IPAddress);
        Assert.Empty(settings.Ports!);
        Assert.Empty(_manager!.Find("bridge")!.Endpoints);
    }

    [RootFact]
    public async Task A_user_network_with_aliases_gets_dns_names_and_a_bad_second_network_undoes_the_first()
    {
        var net = _manager!.Create(new NetworkCreateOptions("app" + _id)
        {
            Subnets = [new IpamSubnet(FreeSubnet().ToString())],
            Options = new Dictionary<string, string> { [NetworkManager.BridgeNameOption] = "bu" + _id },
        });
        var record = Record("db", net.Name);
        record.NetworkSettings.Networks = new() { [net.Name] = new EndpointSettings { Aliases = ["database"] } };
        await _attacher!.AttachAsync(record, default);
        try
        {
            Assert.Equal(["db", "database", record.ID[..12]], record.NetworkSettings.Networks[net.Name].DNSNames!);
            Assert.Equal(["127.0.0.11"], _attacher.Nameservers(record)!);
        }
        finally { await _attacher.DetachAsync(record, default); }

        var broken = Record("broken", net.Name);
        broken.NetworkSettings.Networks = new() { [net.Name] = new EndpointSettings(), ["nosuch" + _id] = new EndpointSettings() };
        var e = await Assert.ThrowsAsync<NotFoundException>(() => _attacher.AttachAsync(broken, default));
        Assert.Contains("not found", e.Message);
        Assert.Empty(_manager.Find(net.Name)!.Endpoints);
        Assert.False(File.Exists(_attacher.NamespacePath(broken.ID)));
        _manager.Remove(net.Name);
    }

    [RootFact]
    public async Task Network_none_gets_a_pinned_namespace_with_loopback_up_made_while_the_caller_goes_on()
    {
        var record = Record("lonely", "none");
        var attachment = await _attacher!.AttachAsync(record, default);
        try
        {
            // The settings are there at once; the namespace is ready once Ready completes.
            Assert.Equal(_attacher.NamespacePath(record.ID), record.NetworkSettings.SandboxKey);
            Assert.Equal(record.NetworkSettings.SandboxKey, attachment.NamespacePath);
            Assert.True(record.NetworkSettings.Networks!.ContainsKey("none"));
            await Assert.IsAssignableFrom<Task>(attachment.Ready).WaitAsync(TimeSpan.FromSeconds(10));
            var (loUp, links) = NetworkNamespace.Run(LinuxSyscalls.Instance, attachment.NamespacePath!, () =>
            {
                using var inside = new RouteNetlink(LinuxSyscalls.Instance);
                return (inside.GetLink("lo")?.IsUp, inside.ListLinks().Count);
            });
            Assert.True(loUp);
            Assert.Equal(1, links);
        }
        finally { await _attacher.DetachAsync(record, default); }
        Assert.False(File.Exists(attachment.NamespacePath));
        Assert.Equal("", record.NetworkSettings.SandboxKey);
    }

    [RootFact]
    public async Task Network_none_namespaces_made_ahead_are_each_new_with_loopback_up_and_leave_the_daemon_in_its_own()
    {
        static string Identity() => new FileInfo("/proc/thread-self/ns/net").LinkTarget!;
        var daemonNamespace = Identity();
        var records = Enumerable.Range(0, 4).Select(i => Record("spare" + i, "none")).ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal) { daemonNamespace };
        try
        {
            foreach (var record in records)
            {
                // The first is made for the start that asks; each later one was made ahead (a spare) and is only pinned.
                var attachment = await _attacher!.AttachAsync(record, default);
                await Assert.IsAssignableFrom<Task>(attachment.Ready).WaitAsync(TimeSpan.FromSeconds(10));
                var (identity, loUp, links) = NetworkNamespace.Run(LinuxSyscalls.Instance, attachment.NamespacePath!, () =>
                {
                    using var inside = new RouteNetlink(LinuxSyscalls.Instance);
                    return (Identity(), inside.GetLink("lo")?.IsUp, inside.ListLinks().Count);
                });
                Assert.True(seen.Add(identity), $"namespace {identity} was handed out twice (or is the daemon's)");
                Assert.True(loUp);
                Assert.Equal(1, links);
                await Task.Delay(50); // lets the next spare be made, as between two runs
            }
            Assert.Equal(daemonNamespace, Identity());
        }
        finally
        {
            foreach (var record in records) await _attacher!.DetachAsync(record, default);
        }
        Assert.All(records, r => Assert.False(File.Exists(_attacher!.NamespacePath(r.ID))));
    }

    [Fact]
    public void Port_requests_come_from_bindings_and_publish_all()
    {
        var record = Record("p", "default");
        record.Config.ExposedPorts = new() { ["80/tcp"] = EmptyObject.Instance, ["9000/udp"] = EmptyObject.Instance };
        record.HostConfig.PortBindings = new() { ["80/tcp"] = [new PortBinding { HostPort = "8000-8010" }] };
        record.HostConfig.PublishAllPorts = true;
        var requests = ContainerNetworkAttacher.PortRequests(record);
        Assert.Equal([new PortRequest("tcp", 80, null, 8000, 8010), new PortRequest("udp", 9000)], requests);
        record.HostConfig.PortBindings = new() { ["80/icmp"] = null };
        Assert.Throws<InvalidParameterException>(() => ContainerNetworkAttacher.PortRequests(record));
        Assert.Null(ContainerNetworkAttacher.PrimaryNetwork("host"));
        Assert.Null(ContainerNetworkAttacher.PrimaryNetwork("container:abc"));
        Assert.Equal("bridge", ContainerNetworkAttacher.PrimaryNetwork("default"));
        Assert.Equal("mynet", ContainerNetworkAttacher.PrimaryNetwork("mynet"));
    }

    private static ContainerRecord Record(string name, string mode) => new()
    {
        ID = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
        Created = "2026-01-01T00:00:00Z", Name = "/" + name,
        HostConfig = new HostConfig { NetworkMode = mode },
        NetworkSettings = new NetworkSettings { Networks = [], Ports = [] },
    };

    private static string Gateway(IPNetwork n) => $"{IpMath.FromNumber(IpMath.ToNumber(n.BaseAddress) + 1, false)}/{n.PrefixLength}";

    private static readonly HashSet<string> Picked = [];

    private static IPNetwork FreeSubnet()
    {
        using var host = new RouteNetlink();
        var taken = SubnetPicker.HostNetworks(host.ListRoutes(), host.ListAddresses());
        lock (Picked)
            while (true)
            {
                var candidate = IPNetwork.Parse($"10.{Random.Shared.Next(200, 255)}.{Random.Shared.Next(0, 256)}.0/24");
                if (!taken.Any(t => IpMath.Overlaps(t, candidate)) && Picked.Add(candidate.ToString())) return candidate;
            }
    }
}
