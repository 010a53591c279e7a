using System.Net;
using System.Net.Sockets;
using Berth.Linux.Netlink;

namespace Berth.Network;

/// <summary>A range subnets are carved from, as Docker's default-address-pools: base network and subnet size.</summary>
public sealed record AddressPool(IPNetwork Base, int Size)
{
    /// <summary>Docker's defaults: 172.17–31.0.0/16 as /16s, then 192.168.0.0/16 as /20s.</summary>
    public static IReadOnlyList<AddressPool> Defaults { get; } =
    [
        // Docker's pools without 172.17.0.0/16: that one is docker0's, even while no docker0 exists yet.
        .. Enumerable.Range(18, 14).Select(i => new AddressPool(IPNetwork.Parse($"172.{i}.0.0/16"), 16)),
        new AddressPool(IPNetwork.Parse("192.168.0.0/16"), 20),
    ];

    /// <summary>Parses "base=CIDR,size=N" (dockerd's --default-address-pool) or plain "CIDR/size".</summary>
    public static AddressPool Parse(string text)
    {
        string? cidr = null;
        int? size = null;
        foreach (var part in text.Split(','))
        {
            var kv = part.Split('=', 2);
            if (kv.Length == 1) cidr = kv[0];
            else if (kv[0].Trim() == "base") cidr = kv[1].Trim();
            else if (kv[0].Trim() == "size" && int.TryParse(kv[1], out var s)) size = s;
            else throw new ArgumentException($"invalid address pool {text}: unknown field {kv[0]}");
        }
        var network = IpMath.ParseSubnet(cidr ?? throw new ArgumentException($"invalid address pool {text}: no base"));
        var bits = network.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var subnetSize = size ?? network.PrefixLength;
        if (subnetSize < network.PrefixLength || subnetSize > bits)
            throw new ArgumentException($"invalid address pool {text}: size {subnetSize} must be between {network.PrefixLength} and {bits}");
        return new AddressPool(network, subnetSize);
    }

    /// <summary>The pool's subnets in order.</summary>
    public IEnumerable<IPNetwork> Subnets()
    {
        var bits = IpMath.Bits(Base.BaseAddress);
        var step = UInt128.One << (bits - Size);
        var first = IpMath.ToNumber(Base.BaseAddress);
        var count = UInt128.One << Math.Min(Size - Base.PrefixLength, 24); // never enumerate more than 16M
        for (UInt128 i = 0; i < count; i++)
            yield return new IPNetwork(IpMath.FromNumber(first + i * step, bits == 128), Size);
    }
}

public static class IpMath
{
    public static int Bits(IPAddress a) => a.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;

    public static UInt128 ToNumber(IPAddress address)
    {
        Span<byte> b = stackalloc byte[16];
        address.TryWriteBytes(b, out var n);
        UInt128 v = 0;
        for (var i = 0; i < n; i++) v = (v << 8) | b[i];
        return v;
    }

    public static IPAddress FromNumber(UInt128 value, bool v6)
    {
        var n = v6 ? 16 : 4;
        Span<byte> b = stackalloc byte[n];
        for (var i = n - 1; i >= 0; i--) { b[i] = (byte)(value & 0xff); value >>= 8; }
        return new IPAddress(b);
    }

    public static UInt128 Size(IPNetwork n) => UInt128.One << (Bits(n.BaseAddress) - n.PrefixLength);
    public static UInt128 First(IPNetwork n) => ToNumber(n.BaseAddress);
    public static UInt128 Last(IPNetwork n) => First(n) + Size(n) - 1;

    public static bool Overlaps(IPNetwork a, IPNetwork b)
        => a.BaseAddress.AddressFamily == b.BaseAddress.AddressFamily && (a.Contains(b.BaseAddress) || b.Contains(a.BaseAddress));

    /// <summary>Parses a CIDR the user gave; host bits set are an error as in Docker ("invalid subnet").</summary>
    public static IPNetwork ParseSubnet(string text)
    {
        var slash = text.IndexOf('/');
        if (slash < 0 || !IPAddress.TryParse(text.AsSpan(0, slash), out var address) || !int.TryParse(text.AsSpan(slash + 1), out var prefix)
            || prefix < 0 || prefix > Bits(address))
            throw new ArgumentException($"invalid CIDR address: {text}");
        var network = IPNetworks.Containing(address, prefix);
        if (!network.BaseAddress.Equals(address)) throw new ArgumentException($"invalid subnet {text}: it should be {network}");
        return network;
    }
}

/// <summary>Picks subnets from pools that overlap nothing already in use (host routes and addresses, other networks).</summary>
public static class SubnetPicker
{
    public static IPNetwork? Pick(IEnumerable<AddressPool> pools, IReadOnlyCollection<IPNetwork> taken)
    {
        foreach (var pool in pools)
            foreach (var candidate in pool.Subnets())
                if (!taken.Any(t => IpMath.Overlaps(t, candidate))) return candidate;
        return null;
    }

    /// <summary>What the host already routes or holds: every route (but default routes) and address network.</summary>
    public static List<IPNetwork> HostNetworks(IEnumerable<RouteInfo> routes, IEnumerable<AddressInfo> addresses)
    {
        var list = new List<IPNetwork>();
        foreach (var r in routes)
            if (r.Destination.PrefixLength > 0 && !IPAddress.IsLoopback(r.Destination.BaseAddress) && !r.Destination.BaseAddress.IsIPv6LinkLocal
                && !r.Destination.BaseAddress.IsIPv6Multicast && r.Table != 255 /* local table: one per address */)
                list.Add(r.Destination);
        foreach (var a in addresses)
            if (!IPAddress.IsLoopback(a.Address) && !a.Address.IsIPv6LinkLocal) list.Add(a.Network);
        return list;
    }
}

/// <summary>The container addresses of one subnet: gateway, optional allocation range, what is in use.</summary>
public sealed class AddressSpace
{
    private readonly HashSet<UInt128> _used = [];
    private readonly bool _v6;
    private readonly UInt128 _first, _last;

    public IPNetwork Subnet { get; }
    public IPAddress Gateway { get; }
    public IPNetwork? Range { get; }

    public AddressSpace(IPNetwork subnet, IPAddress? gateway, IPNetwork? range)
    {
        Subnet = subnet;
        _v6 = subnet.BaseAddress.AddressFamily == AddressFamily.InterNetworkV6;
        if (range is { } r && (!subnet.Contains(r.BaseAddress) || r.PrefixLength < subnet.PrefixLength))
            throw new ArgumentException($"invalid ip-range {r}: it is not within subnet {subnet}");
        Range = range;
        var hostBits = IpMath.Bits(subnet.BaseAddress) - subnet.PrefixLength;
        if (!_v6 && hostBits < 2) throw new ArgumentException($"invalid subnet {subnet}: too small for a gateway and a container");
        Gateway = gateway ?? IpMath.FromNumber(IpMath.First(subnet) + 1, _v6);
        if (!subnet.Contains(Gateway)) throw new ArgumentException($"no matching subnet for gateway {Gateway}");
        var within = range ?? subnet;
        _first = IpMath.First(within);
        _last = IpMath.Last(within);
        // Network address and, for IPv4, broadcast are never given out.
        if (_first == IpMath.First(subnet)) _first++;
        if (!_v6 && _last == IpMath.Last(subnet)) _last--;
        _used.Add(IpMath.ToNumber(Gateway));
    }

    public bool IsUsed(IPAddress a) => _used.Contains(IpMath.ToNumber(a));

    /// <summary>The requested address (which must be free and in the subnet) or the lowest free one.</summary>
    public IPAddress Allocate(IPAddress? requested = null)
    {
        if (requested is not null)
        {
            if (!Subnet.Contains(requested)) throw new ArgumentException($"invalid address {requested}: it does not belong to subnet {Subnet}");
            var n = IpMath.ToNumber(requested);
            if (!_used.Add(n)) throw new InvalidOperationException($"Address already in use: {requested}");
            return requested;
        }
        for (var n = _first; n <= _last; n++)
            if (_used.Add(n)) return IpMath.FromNumber(n, _v6);
        throw new InvalidOperationException($"no available addresses on network {Subnet}");
    }

    /// <summary>Marks an address as in use (restoring state after a restart).</summary>
    public void Reserve(IPAddress a) => _used.Add(IpMath.ToNumber(a));

    public void Release(IPAddress a)
    {
        if (!a.Equals(Gateway)) _used.Remove(IpMath.ToNumber(a));
    }
}
