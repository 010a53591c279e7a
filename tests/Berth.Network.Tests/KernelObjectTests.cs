using System.Net;
using Berth.Linux;
using Berth.Linux.Netlink;
using Berth.Testing;

namespace Berth.Network.Tests;

public sealed class KernelObjectTests
{
    [RootFact]
    public void Two_namespaces_on_a_bridge_reach_each_other()
    {
        using var net = new TestNetwork();
        var subnet = net.FreeSubnet();
        var first = IpMath.ToNumber(subnet.BaseAddress);
        var bridge = net.LinkName("tb");
        net.Host.CreateBridge(bridge);
        var bridgeIndex = net.Host.IndexOf(bridge);
        net.Host.AddAddress(bridgeIndex, IpMath.FromNumber(first + 1, false), 24);
        net.Host.SetUp(bridgeIndex);

        var addresses = new List<IPAddress>();
        var namespaces = new List<string>();
        var hostEnds = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            var ns = net.Namespace($"n{i}");
            var hostEnd = net.LinkName($"v{i}");
            hostEnds.Add(hostEnd);
            var fd = LinuxSyscalls.Instance.OpenFile(ns, OpenFlags.O_RDONLY);
            try { net.Host.CreateVethPair(hostEnd, "eth0", fd, mtu: 1500); }
            finally { LinuxSyscalls.Instance.CloseFd(fd); }
            net.Host.SetLink(net.Host.IndexOf(hostEnd), new LinkChange { MasterIndex = bridgeIndex, Up = true });
            var address = IpMath.FromNumber(first + 2 + (uint)i, false);
            using var inside = TestNetwork.NetlinkIn(ns);
            var eth0 = inside.GetLink("eth0")!;
            Assert.Equal(1500, eth0.Mtu);
            inside.AddAddress(eth0.Index, address, 24);
            inside.SetUp(eth0.Index);
            inside.SetUp(inside.IndexOf("lo"));
            inside.AddRoute(null, IpMath.FromNumber(first + 1, false));
            Assert.Contains(inside.ListRoutes(System.Net.Sockets.AddressFamily.InterNetwork), r => r.Destination.PrefixLength == 0 && r.Gateway!.Equals(IpMath.FromNumber(first + 1, false)));
            Assert.Contains(inside.ListAddresses(), a => a.Address.Equals(address) && a.PrefixLength == 24);
            addresses.Add(address);
            namespaces.Add(ns);
        }
        Assert.Equal(bridgeIndex, net.Host.GetLink(hostEnds[0])!.MasterIndex);
        Assert.Equal("bridge", net.Host.GetLink(bridge)!.Kind);

        var (listener, port) = TestNetwork.EchoPeerServer(namespaces[0], addresses[0]);
        using (listener)
            Assert.Equal(addresses[1].ToString(), TestNetwork.Ask(namespaces[1], addresses[0], port));
    }

    [RootFact]
    public void Refusals_carry_errno_and_the_kernels_text()
    {
        using var net = new TestNetwork();
        var bridge = net.LinkName("tb");
        net.Host.CreateBridge(bridge);
        var e = Assert.Throws<NetlinkException>(() => net.Host.CreateBridge(bridge));
        Assert.Equal(Errno.EEXIST, e.ErrorNumber);
        Assert.Null(net.Host.GetLink("nosuch" + net.Id));
        Assert.False(net.Host.DeleteLink("nosuch" + net.Id));
        Assert.True(net.Host.DeleteLink(bridge));
        Assert.Null(net.Host.GetLink(bridge));
    }
}
