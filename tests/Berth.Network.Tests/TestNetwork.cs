using System.Net;
using System.Net.Sockets;
using Berth.Linux;
using Berth.Linux.Netlink;

namespace Berth.Network.Tests;

/// <summary>
/// Unique names for one test: a run id, bridge/veth names of at most 15 characters, a /24 in 10.200–254.x.0 that
/// the host neither routes nor holds, and namespaces under a temp directory. Disposing removes every link, namespace
/// and nftables table it handed out, also when the test failed.
/// </summary>
public sealed class TestNetwork : IDisposable
{
    private static readonly Lock PickLock = new();
    private static readonly HashSet<string> PickedSubnets = [];
    private readonly List<string> _links = [];
    private readonly List<string> _namespaces = [];
    private readonly List<string> _tables = [];

    public string Id { get; } = Guid.NewGuid().ToString("N")[..6];
    public string Directory { get; }
    public RouteNetlink Host { get; } = new();

    public TestNetwork()
    {
        Directory = System.IO.Path.Combine("/run/berth-test", Id);
        System.IO.Directory.CreateDirectory(Directory);
    }

    /// <summary>A link name made of a prefix and this test's id, registered for removal.</summary>
    public string LinkName(string prefix)
    {
        var name = $"{prefix}{Id}";
        if (_links.Contains(name)) name = $"{prefix[..1]}{_links.Count}{Id}";
        if (name.Length > 15) throw new ArgumentException(name);
        _links.Add(name);
        return name;
    }

    public string TableName(string suffix = "")
    {
        var name = $"berth-t{Id}{suffix}";
        _tables.Add(name);
        return name;
    }

    /// <summary>A free /24 (or other prefix) in 10.200.0.0–10.254.255.0, unused by the host and by other tests of this run.</summary>
    public IPNetwork FreeSubnet()
    {
        var taken = SubnetPicker.HostNetworks(Host.ListRoutes(), Host.ListAddresses());
        lock (PickLock)
        {
            for (var attempt = 0; attempt < 1000; attempt++)
            {
                var candidate = IPNetwork.Parse($"10.{Random.Shared.Next(200, 255)}.{Random.Shared.Next(0, 256)}.0/24");
                if (taken.Any(t => IpMath.Overlaps(t, candidate)) || !PickedSubnets.Add(candidate.ToString())) continue;
                return candidate;
            }
        }
        throw new InvalidOperationException("no free test subnet");
    }

    public string Namespace(string name)
    {
        var path = System.IO.Path.Combine(Directory, name);
        NetworkNamespace.Create(LinuxSyscalls.Instance, path);
        _namespaces.Add(path);
        return path;
    }

    public static T Inside<T>(string netns, Func<T> action) => NetworkNamespace.Run(LinuxSyscalls.Instance, netns, action);

    public static RouteNetlink NetlinkIn(string netns) => Inside(netns, () => new RouteNetlink());

    /// <summary>A namespace joined to the host by a veth pair with a /30 of its own; returns (namespace, host address, namespace address).</summary>
    public (string Netns, IPAddress HostAddress, IPAddress Address) Outside(string name)
    {
        var subnet = FreeSubnet();
        var baseNumber = IpMath.ToNumber(subnet.BaseAddress);
        var hostAddress = IpMath.FromNumber(baseNumber + 1, false);
        var address = IpMath.FromNumber(baseNumber + 2, false);
        var ns = Namespace(name);
        var hostEnd = LinkName("to");
        var nsFd = LinuxSyscalls.Instance.OpenFile(ns, OpenFlags.O_RDONLY);
        try { Host.CreateVethPair(hostEnd, "eth0", nsFd); }
        finally { LinuxSyscalls.Instance.CloseFd(nsFd); }
        var index = Host.IndexOf(hostEnd);
        Host.AddAddress(index, hostAddress, 30);
        Host.SetUp(index);
        using var inside = NetlinkIn(ns);
        var eth0 = inside.IndexOf("eth0");
        inside.AddAddress(eth0, address, 30);
        inside.SetUp(eth0);
        inside.SetUp(inside.IndexOf("lo"));
        inside.AddRoute(null, hostAddress);
        return (ns, hostAddress, address);
    }

    /// <summary>A TCP listener inside <paramref name="netns"/> that answers each connection with its peer's address and closes.</summary>
    public static (Socket Listener, int Port) EchoPeerServer(string? netns, IPAddress address, int port = 0)
    {
        var listener = netns is null ? MakeListener(address, port) : Inside(netns, () => MakeListener(address, port));
        _ = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    using var client = await listener.AcceptAsync();
                    var peer = ((IPEndPoint)client.RemoteEndPoint!).Address.ToString();
                    await client.SendAsync(System.Text.Encoding.ASCII.GetBytes(peer));
                    client.Shutdown(SocketShutdown.Both);
                }
            }
            catch (ObjectDisposedException) { }
            catch (SocketException) { }
        });
        return (listener, ((IPEndPoint)listener.LocalEndPoint!).Port);
    }

    private static Socket MakeListener(IPAddress address, int port)
    {
        var s = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(address, port));
        s.Listen();
        return s;
    }

    /// <summary>Connects from <paramref name="netns"/> (the host when null) and returns what the server said, or null when
    /// the connection was refused or timed out.</summary>
    public static string? Ask(string? netns, IPAddress address, int port, int timeoutMs = 2000)
    {
        var socket = netns is null ? new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
            : Inside(netns, () => new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp));
        using (socket)
        {
            try
            {
                using var cts = new CancellationTokenSource(timeoutMs);
                socket.ConnectAsync(new IPEndPoint(address, port), cts.Token).AsTask().GetAwaiter().GetResult();
                var buffer = new byte[256];
                var total = 0;
                while (true)
                {
                    var n = socket.ReceiveAsync(buffer.AsMemory(total), SocketFlags.None, cts.Token).AsTask().GetAwaiter().GetResult();
                    if (n == 0) break;
                    total += n;
                }
                return System.Text.Encoding.ASCII.GetString(buffer, 0, total);
            }
            catch (SocketException) { return null; }
            catch (OperationCanceledException) { return null; }
        }
    }

    public void Dispose()
    {
        var nft = Nftables.Open();
        foreach (var t in _tables)
        {
            try { nft.Run(NftRuleset.Delete(t)); } catch (NftablesException) { }
        }
        foreach (var l in _links)
        {
            try { Host.DeleteLink(l); } catch (NetlinkException) { }
        }
        foreach (var n in _namespaces)
        {
            try { NetworkNamespace.Delete(LinuxSyscalls.Instance, n); } catch (Exception) { }
        }
        try { System.IO.Directory.Delete(Directory, true); } catch (IOException) { }
        Host.Dispose();
        (nft as IDisposable)?.Dispose();
    }
}
