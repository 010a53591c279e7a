using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Berth.Linux.Netlink;
using Berth.Network.Dns;
using Berth.Testing;

namespace Berth.Network.Tests;

public sealed class NetworkManagerTests
{
    [RootFact]
    public void Containers_on_one_network_reach_each_other_and_not_across_networks()
    {
        using var f = new ManagerFixture();
        var a = f.CreateNetwork("neta");
        var b = f.CreateNetwork("netb");
        var (ns1, e1) = f.Container("one", a.Name);
        var (ns2, e2) = f.Container("two", a.Name);
        var (ns3, e3) = f.Container("three", b.Name);
        Assert.Equal("eth0", e1.InterfaceName);
        Assert.Equal(IPAddress.Parse(a.Subnets[0].Gateway), e1.Gateway);
        Assert.Equal(NetworkManager.MacFromAddress(e1.IPv4Address), e1.MacAddress);

        var (listener, port) = TestNetwork.EchoPeerServer(ns1, e1.IPv4Address!);
        using (listener)
        {
            Assert.Equal(e2.IPv4Address!.ToString(), TestNetwork.Ask(ns2, e1.IPv4Address!, port));
            Assert.Null(TestNetwork.Ask(ns3, e1.IPv4Address!, port, timeoutMs: 500));
        }
        // The host end of each veth is on its network's bridge, the inner end is eth0 with the address.
        var bridgeIndex = f.Net.Host.IndexOf(a.Bridge);
        Assert.Equal(bridgeIndex, f.Net.Host.GetLink(e1.HostVeth)!.MasterIndex);
        using var inside = TestNetwork.NetlinkIn(ns3);
        Assert.Contains(inside.ListAddresses(), x => x.Address.Equals(e3.IPv4Address));
    }

    [RootFact]
    public void Internal_network_has_no_way_out()
    {
        using var f = new ManagerFixture();
        var net = f.CreateNetwork("int", @internal: true);
        var (ns, e) = f.Container("inner", net.Name);
        var outside = f.Net.Outside("out");
        var (listener, port) = TestNetwork.EchoPeerServer(outside.Netns, outside.Address);
        using (listener) Assert.Null(TestNetwork.Ask(ns, outside.Address, port, timeoutMs: 500));
        using var inside = TestNetwork.NetlinkIn(ns);
        Assert.DoesNotContain(inside.ListRoutes(AddressFamily.InterNetwork), r => r.Destination.PrefixLength == 0);
    }

    [RootFact]
    public void Masquerade_shows_the_hosts_address_to_the_outside()
    {
        using var f = new ManagerFixture();
        var net = f.CreateNetwork("masq");
        var (ns, _) = f.Container("client", net.Name);
        var outside = f.Net.Outside("out");
        var (listener, port) = TestNetwork.EchoPeerServer(outside.Netns, outside.Address);
        using (listener) Assert.Equal(outside.HostAddress.ToString(), TestNetwork.Ask(ns, outside.Address, port));
    }

    [RootFact]
    public void Published_port_answers_outside_on_loopback_and_by_hairpin()
    {
        using var f = new ManagerFixture();
        var net = f.CreateNetwork("pub");
        var (ns, e) = f.Container("web", net.Name);
        var (ns2, e2) = f.Container("peer", net.Name);
        var outside = f.Net.Outside("out");
        var (listener, port) = TestNetwork.EchoPeerServer(ns, IPAddress.Any, 80);
        using (listener)
        {
            var published = f.Manager.Publish(e.ContainerIdOf(f), [new PortRequest("tcp", 80)]);
            var hostPort = Assert.Single(published).HostPort;
            Assert.True(hostPort > 0);
            // From a namespace standing for another host: DNAT in prerouting, the client's own address seen.
            Assert.Equal(outside.Address.ToString(), TestNetwork.Ask(outside.Netns, outside.HostAddress, hostPort));
            // From the host itself on loopback: DNAT in output, route_localnet and masquerade to the gateway.
            Assert.Equal(e.Gateway!.ToString(), TestNetwork.Ask(null, IPAddress.Loopback, hostPort));
            // Hairpin: the container itself, and a neighbour, through a host address.
            Assert.Equal(e.Gateway!.ToString(), TestNetwork.Ask(ns, outside.HostAddress, hostPort));
            Assert.Equal(e.Gateway!.ToString(), TestNetwork.Ask(ns2, outside.HostAddress, hostPort));
            // The host port is held: nobody else can listen on it.
            using var squatter = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            Assert.Throws<SocketException>(() => squatter.Bind(new IPEndPoint(IPAddress.Any, hostPort)));
        }
    }

    [RootFact]
    public void Udp_port_published_on_a_fixed_host_port()
    {
        using var f = new ManagerFixture();
        var net = f.CreateNetwork("udp");
        var (ns, e) = f.Container("echo", net.Name);
        using var server = TestNetwork.Inside(ns, () =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Any, 53));
            return s;
        });
        _ = Task.Run(async () =>
        {
            var buffer = new byte[64];
            try
            {
                var r = await server.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0));
                await server.SendToAsync(buffer.AsMemory(0, r.ReceivedBytes), r.RemoteEndPoint);
            }
            catch (ObjectDisposedException) { }
        });
        var hostPort = FreeUdpPort();
        f.Manager.Publish(e.ContainerIdOf(f), [new PortRequest("udp", 53, null, hostPort, hostPort)]);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Connect(new IPEndPoint(IPAddress.Loopback, hostPort));
        client.Send("ping"u8);
        var reply = new byte[16];
        client.ReceiveTimeout = 2000;
        var n = client.Receive(reply);
        Assert.Equal("ping", System.Text.Encoding.ASCII.GetString(reply, 0, n));
    }

    [RootFact]
    public void Host_port_in_use_is_refused_and_leaves_nothing()
    {
        using var f = new ManagerFixture();
        var net = f.CreateNetwork("busy");
        var (_, e) = f.Container("web", net.Name);
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(IPAddress.Any, 0));
        holder.Listen();
        var taken = ((IPEndPoint)holder.LocalEndPoint!).Port;
        var free = FreeTcpPort();
        var error = Assert.Throws<NetworkException>(() => f.Manager.Publish(e.ContainerIdOf(f),
            [new PortRequest("tcp", 81, null, free, free), new PortRequest("tcp", 80, null, taken, taken)]));
        Assert.Contains("port is already allocated", error.Message);
        // The first, successful reservation of the call was rolled back too.
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Any, free));
        Assert.DoesNotContain($"dport {free}", Nftables.Open().List($"list table inet {f.Table}"));
    }

    [RootFact]
    public void Embedded_dns_resolves_names_and_aliases_and_forwards_the_rest()
    {
        using var upstream = new FakeUpstream();
        using var f = new ManagerFixture(upstreams: [upstream.EndPoint]);
        var net = f.CreateNetwork("dns");
        var other = f.CreateNetwork("oth");
        var (ns1, e1) = f.Container("alpha", net.Name, "db", "primary");
        var (_, e2) = f.Container("beta", net.Name);
        var (_, e3) = f.Container("gamma", other.Name);

        Assert.Equal([e2.IPv4Address!], Query(ns1, "beta").Addresses);
        Assert.Equal([e1.IPv4Address!], Query(ns1, "db").Addresses);
        Assert.Equal([e1.IPv4Address!], Query(ns1, "PRIMARY.").Addresses);
        Assert.Equal([e2.IPv4Address!], Query(ns1, "beta", tcp: true).Addresses);
        // A container on another network is not in sight: the query goes upstream, which knows nothing of it.
        Assert.Equal(DnsRcode.NxDomain, Query(ns1, "gamma").Rcode);
        Assert.Equal([IPAddress.Parse("192.0.2.99")], Query(ns1, "example.test").Addresses);
        Assert.Contains("example.test", upstream.Seen);
        Assert.DoesNotContain("beta", upstream.Seen);
        _ = e3;
    }

    [RootFact]
    public void Default_bridge_gives_addresses_but_no_dns()
    {
        using var f = new ManagerFixture(defaultBridge: true);
        var bridge = Assert.Single(f.Manager.List(), n => n.IsDefault);
        Assert.Equal("bridge", bridge.Name);
        Assert.Contains(f.Manager.List(), n => n.Name == "host" && n.Driver == "host");
        Assert.Contains(f.Manager.List(), n => n.Name == "none" && n.Driver == "null");
        var (ns, e) = f.Container("plain", "bridge");
        Assert.Equal(f.Options.DefaultBridgeIp, $"{e.Gateway}/{e.IPv4PrefixLength}");
        Assert.Throws<SocketException>(() => TestNetwork.Inside(ns, () =>
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Connect(new IPEndPoint(EmbeddedDnsServer.Address, 53));
            s.Send(new DnsMessage { Id = 1, RecursionDesired = true, Questions = { new DnsQuestion("x", DnsType.A) } }.ToBytes());
            s.ReceiveTimeout = 300;
            return s.Receive(new byte[512]);
        }));
    }

    [RootFact]
    public void Bad_networks_are_refused_with_dockers_errors()
    {
        using var f = new ManagerFixture();
        var subnet = f.Net.FreeSubnet();
        var a = f.CreateNetwork("ok", subnet: subnet.ToString());
        Assert.Contains("Pool overlaps", Assert.Throws<NetworkException>(() => f.CreateNetwork("dup", subnet: subnet.ToString())).Message);
        Assert.Contains("already exists", Assert.Throws<NetworkException>(() => f.Manager.Create(new NetworkCreateOptions(a.Name))).Message);
        var other = f.Net.FreeSubnet();
        Assert.Contains("gateway", Assert.Throws<NetworkException>(() => f.Manager.Create(new NetworkCreateOptions("gw" + f.Net.Id)
        {
            Subnets = [new IpamSubnet(other.ToString(), "192.0.2.200")],
        })).Message);
        Assert.Contains("invalid subnet", Assert.Throws<NetworkException>(() => f.Manager.Create(new NetworkCreateOptions("hb" + f.Net.Id)
        {
            Subnets = [new IpamSubnet(IpMath.FromNumber(IpMath.ToNumber(other.BaseAddress) + 5, false) + "/24")],
        })).Message);
        Assert.Contains("pre-defined", Assert.Throws<NetworkException>(() => f.Manager.Create(new NetworkCreateOptions("host"))).Message);
        Assert.Equal(NetworkErrorKind.NotFound, Assert.Throws<NetworkException>(() => f.Manager.Remove("nosuch" + f.Net.Id)).Kind);
        f.Container("busy", a.Name);
        Assert.Contains("active endpoints", Assert.Throws<NetworkException>(() => f.Manager.Remove(a.Name)).Message);
        // Only the one good network's bridge exists.
        Assert.Single(f.Net.Host.ListLinks(), l => l.Kind == "bridge" && l.Name.EndsWith(f.Net.Id, StringComparison.Ordinal));
    }

    [RootFact]
    public void Published_port_survives_a_daemon_restart_and_crash_leftovers_are_reconciled()
    {
        using var f = new ManagerFixture();
        var net = f.CreateNetwork("live");
        var (ns, e) = f.Container("kept", net.Name);
        var (nsGone, eGone) = f.Container("gone", net.Name);
        var keptId = e.ContainerIdOf(f);
        var goneId = eGone.ContainerIdOf(f);
        var (listener, _) = TestNetwork.EchoPeerServer(ns, IPAddress.Any, 80);
        using (listener)
        {
            var hostPort = f.Manager.Publish(keptId, [new PortRequest("tcp", 80)])[0].HostPort;
            // The "gone" container dies while the daemon is down; its namespace goes but nothing else cleans up.
            f.Manager.Dispose();
            Berth.Linux.NetworkNamespace.Delete(Berth.Linux.LinuxSyscalls.Instance, nsGone);
            f.Restart();
            Assert.Equal(e.Gateway!.ToString(), TestNetwork.Ask(null, IPAddress.Loopback, hostPort));
            var endpoints = f.Manager.Find(net.Name)!.Endpoints;
            Assert.True(endpoints.ContainsKey(keptId));
            Assert.False(endpoints.ContainsKey(goneId));
            // The address of the gone container is free again.
            var (_, reused) = f.Container("new", net.Name);
            Assert.Equal(eGone.IPv4Address, reused.IPv4Address);
        }
    }

    [RootFact]
    public void Shutdown_removes_bridges_veths_and_the_table()
    {
        using var f = new ManagerFixture(defaultBridge: true);
        var net = f.CreateNetwork("gone");
        var (_, e) = f.Container("c", net.Name);
        f.Manager.Publish(e.ContainerIdOf(f), [new PortRequest("tcp", 80)]);
        Assert.Contains(f.Table, ManagerFixture.ListTables());
        f.Manager.Shutdown(keepContainersRunning: false);
        Assert.DoesNotContain(f.Table, ManagerFixture.ListTables());
        Assert.Null(f.Net.Host.GetLink(net.Bridge));
        Assert.Null(f.Net.Host.GetLink(e.HostVeth));
        Assert.Null(f.Net.Host.GetLink(f.Options.DefaultBridge));
        // The definitions stay for the next start.
        f.Restart();
        Assert.Contains(f.Manager.List(), n => n.Name == net.Name && n.Endpoints.Count == 0);
        Assert.NotNull(f.Net.Host.GetLink(net.Bridge));
    }

    [RootFact]
    public void Veth_setup_time_per_container()
    {
        using var f = new ManagerFixture();
        var net = f.CreateNetwork("perf");
        var namespaces = Enumerable.Range(0, 20).Select(i => f.Net.Namespace($"p{i}")).ToList();
        f.Manager.Connect(net.Name, new EndpointRequest("warm" + f.Net.Id, "warm", namespaces[0]));
        var clock = Stopwatch.StartNew();
        for (var i = 1; i < namespaces.Count; i++)
            f.Manager.Connect(net.Name, new EndpointRequest($"perf{i}{f.Net.Id}", $"perf{i}", namespaces[i]));
        var perContainer = clock.Elapsed.TotalMilliseconds / (namespaces.Count - 1);
        Console.WriteLine($"veth+address+route+dns per container: {perContainer:F2} ms");
        Assert.Equal(namespaces.Count, f.Manager.Find(net.Name)!.Endpoints.Count);
    }

    private static (int Rcode, List<IPAddress> Addresses) Query(string netns, string name, bool tcp = false)
    {
        var query = new DnsMessage { Id = (ushort)Random.Shared.Next(1, 65535), RecursionDesired = true, Questions = { new DnsQuestion(name, DnsType.A) } }.ToBytes();
        var socket = TestNetwork.Inside(netns, () => new Socket(AddressFamily.InterNetwork, tcp ? SocketType.Stream : SocketType.Dgram, tcp ? ProtocolType.Tcp : ProtocolType.Udp));
        using (socket)
        {
            socket.ReceiveTimeout = 3000;
            socket.Connect(new IPEndPoint(EmbeddedDnsServer.Address, 53));
            byte[] reply;
            if (tcp)
            {
                socket.Send([(byte)(query.Length >> 8), (byte)query.Length, .. query]);
                var length = new byte[2];
                socket.Receive(length);
                reply = new byte[length[0] << 8 | length[1]];
                var got = 0;
                while (got < reply.Length) got += socket.Receive(reply, got, reply.Length - got, SocketFlags.None);
            }
            else
            {
                socket.Send(query);
                var buffer = new byte[1500];
                reply = buffer[..socket.Receive(buffer)];
            }
            var message = DnsMessage.Parse(reply);
            return (message.Rcode, message.Answers.Where(a => a.Type == DnsType.A).Select(a => new IPAddress(a.Data)).ToList());
        }
    }

    private static int FreeTcpPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Any, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    private static int FreeUdpPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Any, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }
}

internal static class EndpointTestExtensions
{
    /// <summary>The container id a fixture gave the endpoint's container (found through the network's records).</summary>
    public static string ContainerIdOf(this Endpoint e, ManagerFixture f)
        => f.Manager.Find(e.NetworkId)!.Endpoints.Values.First(x => x.EndpointId == e.EndpointId).ContainerId;
}

/// <summary>A resolver on loopback that answers every A query with 192.0.2.99 except names starting with "gamma" (NXDOMAIN).</summary>
public sealed class FakeUpstream : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    public IPEndPoint EndPoint { get; }
    public System.Collections.Concurrent.ConcurrentBag<string> Seen { get; } = [];

    public FakeUpstream()
    {
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        EndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        _ = Task.Run(async () =>
        {
            var buffer = new byte[1500];
            try
            {
                while (true)
                {
                    var r = await _socket.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0));
                    var q = DnsMessage.Parse(buffer.AsSpan(0, r.ReceivedBytes));
                    var name = q.Questions[0].Name;
                    Seen.Add(name);
                    var reply = q.CreateResponse(name.StartsWith("gamma", StringComparison.Ordinal) ? DnsRcode.NxDomain : DnsRcode.NoError);
                    if (reply.Rcode == 0) reply.Answers.Add(DnsRecord.Address(name, IPAddress.Parse("192.0.2.99"), 60));
                    await _socket.SendToAsync(reply.ToBytes(), r.RemoteEndPoint);
                }
            }
            catch (ObjectDisposedException) { }
            catch (SocketException) { }
        });
    }

    public void Dispose() => _socket.Dispose();
}
