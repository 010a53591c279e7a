using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Berth.Linux.Netlink;

public sealed record LinkInfo(int Index, string Name, uint Flags, int Mtu, byte[]? Mac, int MasterIndex, string? Kind)
{
    public bool IsUp => (Flags & RouteNetlink.IffUp) != 0;
}

public sealed record AddressInfo(int LinkIndex, IPAddress Address, int PrefixLength)
{
    public IPNetwork Network => IPNetworks.Containing(Address, PrefixLength);
}

public static class IPNetworks
{
    /// <summary>The network of <paramref name="prefixLength"/> bits that holds <paramref name="address"/> (host bits cleared).</summary>
    public static IPNetwork Containing(IPAddress address, int prefixLength)
    {
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out var n);
        bytes = bytes[..n];
        for (var i = 0; i < n; i++)
        {
            var keep = Math.Clamp(prefixLength - i * 8, 0, 8);
            bytes[i] &= (byte)(0xff << (8 - keep));
        }
        return new IPNetwork(new IPAddress(bytes), prefixLength);
    }
}

public sealed record RouteInfo(IPNetwork Destination, IPAddress? Gateway, int OutputLinkIndex, int Table);

/// <summary>What to change on a link with RTM_NEWLINK/SETLINK; null leaves a property as it is.</summary>
public sealed record LinkChange
{
    public bool? Up { get; init; }
    public int? MasterIndex { get; init; }
    public int? Mtu { get; init; }
    public byte[]? Mac { get; init; }
    public string? NewName { get; init; }
    /// <summary>Moves the link into the network namespace this descriptor refers to.</summary>
    public int? NamespaceFd { get; init; }
}

/// <summary>
/// rtnetlink over one NETLINK_ROUTE socket: links (bridge, veth), addresses and routes of the network namespace
/// the socket was opened in. Requests are acknowledged by sequence number; a refusal throws
/// <see cref="NetlinkException"/> with the kernel's errno and extended-ack text. Thread-safe (one request at a time).
/// </summary>
public sealed class RouteNetlink : IDisposable
{
    public const uint IffUp = 0x1;
    private const ushort IflaAddress = 1, IflaIfname = 3, IflaMtu = 4, IflaMaster = 10, IflaLinkinfo = 18, IflaNetNsFd = 28;
    private const ushort IflaInfoKind = 1, IflaInfoData = 2, VethInfoPeer = 1;
    private const ushort IfaAddress = 1, IfaLocal = 2, IfaFlags = 8;
    private const ushort RtaDst = 1, RtaOif = 4, RtaGateway = 5, RtaTable = 15;
    private const byte RtTableMain = 254, RtProtBoot = 3, RtScopeUniverse = 0, RtScopeLink = 253, RtnUnicast = 1;
    private const uint IfaFNodad = 0x02;
    private const byte AfInet = 2, AfInet6 = 10;

    private readonly INetlinkCalls _sys;
    private readonly int _fd;
    private readonly NetlinkWriter _writer = new();
    private readonly byte[] _receive = new byte[64 * 1024];
    private readonly Lock _lock = new();
    private uint _sequence = (uint)Environment.TickCount;
    private bool _disposed;

    /// <summary>Opens a socket in the calling thread's network namespace.</summary>
    public RouteNetlink(INetlinkCalls sys)
    {
        _sys = sys;
        _fd = sys.OpenNetlink(Nl.NetlinkRoute);
    }

    public RouteNetlink() : this(LinuxSyscalls.Instance) { }

    // ---- links ----

    public void CreateBridge(string name, int mtu = 0, byte[]? mac = null)
    {
        lock (_lock)
        {
            var m = Begin(Nl.NewLink, Nl.FCreate | Nl.FExcl);
            _writer.Struct(new IfInfoMsg());
            _writer.AttributeString(IflaIfname, name);
            if (mtu > 0) _writer.AttributeU32(IflaMtu, (uint)mtu);
            if (mac is not null) _writer.Attribute(IflaAddress, mac);
            var info = _writer.BeginNested(IflaLinkinfo);
            _writer.AttributeString(IflaInfoKind, "bridge");
            _writer.EndNested(info);
            Run(m, $"create bridge {name}");
        }
    }

    /// <summary>Creates a veth pair in one request: <paramref name="hostName"/> here and <paramref name="peerName"/>
    /// in the namespace of <paramref name="peerNamespaceFd"/> (here when null), already named, with its MAC.</summary>
    public void CreateVethPair(string hostName, string peerName, int? peerNamespaceFd = null, int mtu = 0, byte[]? peerMac = null)
    {
        lock (_lock)
        {
            var m = Begin(Nl.NewLink, Nl.FCreate | Nl.FExcl);
            _writer.Struct(new IfInfoMsg());
            _writer.AttributeString(IflaIfname, hostName);
            if (mtu > 0) _writer.AttributeU32(IflaMtu, (uint)mtu);
            var info = _writer.BeginNested(IflaLinkinfo);
            _writer.AttributeString(IflaInfoKind, "veth");
            var data = _writer.BeginNested(IflaInfoData);
            var peer = _writer.BeginNested(VethInfoPeer);
            _writer.Struct(new IfInfoMsg());
            _writer.AttributeString(IflaIfname, peerName);
            if (mtu > 0) _writer.AttributeU32(IflaMtu, (uint)mtu);
            if (peerMac is not null) _writer.Attribute(IflaAddress, peerMac);
            if (peerNamespaceFd is { } fd) _writer.AttributeU32(IflaNetNsFd, (uint)fd);
            _writer.EndNested(peer);
            _writer.EndNested(data);
            _writer.EndNested(info);
            Run(m, $"create veth {hostName}/{peerName}");
        }
    }

    public void DeleteLink(int index)
    {
        lock (_lock)
        {
            var m = Begin(Nl.DelLink, 0);
            _writer.Struct(new IfInfoMsg { Index = index });
            Run(m, $"delete link {index}");
        }
    }

    /// <summary>Deletes the named link; false when there is none.</summary>
    public bool DeleteLink(string name)
    {
        lock (_lock)
        {
            var m = Begin(Nl.DelLink, 0);
            _writer.Struct(new IfInfoMsg());
            _writer.AttributeString(IflaIfname, name);
            try { Run(m, $"delete link {name}"); return true; }
            catch (NetlinkException e) when (e.ErrorNumber == Errno.ENODEV) { return false; }
        }
    }

    public void SetLink(int index, LinkChange change)
    {
        lock (_lock)
        {
            var m = Begin(Nl.NewLink, 0);
            _writer.Struct(new IfInfoMsg { Index = index, Flags = change.Up == true ? IffUp : 0, Change = change.Up is null ? 0 : IffUp });
            if (change.NewName is { } name) _writer.AttributeString(IflaIfname, name);
            if (change.Mtu is { } mtu) _writer.AttributeU32(IflaMtu, (uint)mtu);
            if (change.Mac is { } mac) _writer.Attribute(IflaAddress, mac);
            if (change.MasterIndex is { } master) _writer.AttributeU32(IflaMaster, (uint)master);
            if (change.NamespaceFd is { } fd) _writer.AttributeU32(IflaNetNsFd, (uint)fd);
            Run(m, $"set link {index}");
        }
    }

    public void SetUp(int index) => SetLink(index, new LinkChange { Up = true });

    /// <summary>Bridge port hairpin mode (IFLA_BRPORT_MODE): frames may leave through the port they came in on, so a
    /// container reaches its own published port through a host address.</summary>
    public void SetBridgePortHairpin(int index, bool on)
    {
        const ushort IflaProtinfo = 12, IflaBrportMode = 4;
        const byte AfBridge = 7;
        lock (_lock)
        {
            var m = Begin(Nl.SetLink, 0);
            _writer.Struct(new IfInfoMsg { Family = AfBridge, Index = index });
            var info = _writer.BeginNested(IflaProtinfo);
            _writer.AttributeU8(IflaBrportMode, on ? (byte)1 : (byte)0);
            _writer.EndNested(info);
            Run(m, $"set hairpin on bridge port {index}");
        }
    }

    /// <summary>The named link, or null when there is none.</summary>
    public LinkInfo? GetLink(string name)
    {
        lock (_lock)
        {
            var m = Begin(Nl.GetLink, 0);
            _writer.Struct(new IfInfoMsg());
            _writer.AttributeString(IflaIfname, name);
            LinkInfo? found = null;
            try { Run(m, $"get link {name}", reply => found = ParseLink(reply)); }
            catch (NetlinkException e) when (e.ErrorNumber == Errno.ENODEV) { return null; }
            return found;
        }
    }

    public int IndexOf(string name) => GetLink(name)?.Index ?? throw new NetlinkException($"link {name}", Errno.ENODEV, null);

    public List<LinkInfo> ListLinks()
    {
        lock (_lock)
        {
            var links = new List<LinkInfo>();
            var m = Begin(Nl.GetLink, Nl.FDump);
            _writer.Struct(new IfInfoMsg());
            Run(m, "list links", reply => { if (reply.Type == Nl.NewLink) links.Add(ParseLink(reply)); });
            return links;
        }
    }

    internal static LinkInfo ParseLink(NetlinkMessage reply)
    {
        var header = reply.Struct<IfInfoMsg>();
        string name = "";
        int mtu = 0, master = 0;
        byte[]? mac = null;
        string? kind = null;
        foreach (var a in reply.Attributes<IfInfoMsg>())
        {
            switch (a.Type)
            {
                case IflaIfname: name = a.String; break;
                case IflaMtu: mtu = (int)a.U32; break;
                case IflaAddress: mac = a.Value.ToArray(); break;
                case IflaMaster: master = (int)a.U32; break;
                case IflaLinkinfo:
                    foreach (var i in a.Nested) if (i.Type == IflaInfoKind) kind = i.String;
                    break;
            }
        }
        return new LinkInfo(header.Index, name, header.Flags, mtu, mac, master, kind);
    }

    // ---- addresses ----

    public void AddAddress(int index, IPAddress address, int prefixLength)
    {
        lock (_lock)
        {
            var v6 = address.AddressFamily == AddressFamily.InterNetworkV6;
            var m = Begin(Nl.NewAddr, Nl.FCreate | Nl.FExcl);
            _writer.Struct(new IfAddrMsg { Family = v6 ? AfInet6 : AfInet, PrefixLength = (byte)prefixLength, Index = index });
            Span<byte> bytes = stackalloc byte[16];
            address.TryWriteBytes(bytes, out var n);
            _writer.Attribute(IfaLocal, bytes[..n]);
            _writer.Attribute(IfaAddress, bytes[..n]);
            // Duplicate address detection would hold a v6 address "tentative" for a second or more; IPAM already made it unique.
            if (v6) _writer.AttributeU32(IfaFlags, IfaFNodad);
            Run(m, $"add address {address}/{prefixLength} to link {index}");
        }
    }

    /// <summary>Addresses of every link (or of one family: AddressFamily.InterNetwork / InterNetworkV6).</summary>
    public List<AddressInfo> ListAddresses(AddressFamily family = AddressFamily.Unspecified)
    {
        lock (_lock)
        {
            var list = new List<AddressInfo>();
            var m = Begin(Nl.GetAddr, Nl.FDump);
            _writer.Struct(new IfAddrMsg { Family = FamilyByte(family) });
            Run(m, "list addresses", reply =>
            {
                if (reply.Type != Nl.NewAddr) return;
                var h = reply.Struct<IfAddrMsg>();
                IPAddress? local = null, address = null;
                foreach (var a in reply.Attributes<IfAddrMsg>())
                {
                    if (a.Type == IfaLocal) local = new IPAddress(a.Value);
                    else if (a.Type == IfaAddress) address = new IPAddress(a.Value);
                }
                if ((local ?? address) is { } ip) list.Add(new AddressInfo(h.Index, ip, h.PrefixLength));
            });
            return list;
        }
    }

    // ---- routes ----

    /// <summary>Adds a route to <paramref name="destination"/> (the default route when null) via <paramref name="gateway"/>
    /// or directly on <paramref name="outputIndex"/>.</summary>
    public void AddRoute(IPNetwork? destination, IPAddress? gateway, int outputIndex = 0, AddressFamily family = AddressFamily.InterNetwork)
    {
        lock (_lock)
        {
            var fam = destination?.BaseAddress.AddressFamily ?? gateway?.AddressFamily ?? family;
            var m = Begin(Nl.NewRoute, Nl.FCreate | Nl.FExcl);
            _writer.Struct(new RtMsg
            {
                Family = FamilyByte(fam), DstLength = (byte)(destination?.PrefixLength ?? 0), Table = RtTableMain, Protocol = RtProtBoot,
                Scope = gateway is null ? RtScopeLink : RtScopeUniverse, Type = RtnUnicast,
            });
            Span<byte> bytes = stackalloc byte[16];
            if (destination is { } d && d.PrefixLength > 0)
            {
                d.BaseAddress.TryWriteBytes(bytes, out var n);
                _writer.Attribute(RtaDst, bytes[..n]);
            }
            if (gateway is not null)
            {
                gateway.TryWriteBytes(bytes, out var n);
                _writer.Attribute(RtaGateway, bytes[..n]);
            }
            if (outputIndex > 0) _writer.AttributeU32(RtaOif, (uint)outputIndex);
            Run(m, $"add route {(destination?.ToString() ?? "default")}{(gateway is null ? "" : " via " + gateway)}");
        }
    }

    public List<RouteInfo> ListRoutes(AddressFamily family = AddressFamily.Unspecified)
    {
        lock (_lock)
        {
            var list = new List<RouteInfo>();
            var m = Begin(Nl.GetRoute, Nl.FDump);
            _writer.Struct(new RtMsg { Family = FamilyByte(family) });
            Run(m, "list routes", reply =>
            {
                if (reply.Type != Nl.NewRoute) return;
                var h = reply.Struct<RtMsg>();
                if (h.Family is not (AfInet or AfInet6)) return;
                IPAddress? dst = null, gateway = null;
                int oif = 0, table = h.Table;
                foreach (var a in reply.Attributes<RtMsg>())
                {
                    switch (a.Type)
                    {
                        case RtaDst: dst = new IPAddress(a.Value); break;
                        case RtaGateway: gateway = new IPAddress(a.Value); break;
                        case RtaOif: oif = (int)a.U32; break;
                        case RtaTable: table = (int)a.U32; break;
                    }
                }
                dst ??= h.Family == AfInet6 ? IPAddress.IPv6Any : IPAddress.Any;
                list.Add(new RouteInfo(new IPNetwork(dst, h.DstLength), gateway, oif, table));
            });
            return list;
        }
    }

    // ---- request/ack ----

    private delegate void ReplyHandler(NetlinkMessage reply);

    private int Begin(ushort type, ushort flags)
    {
        _writer.Clear();
        return _writer.BeginMessage(type, (ushort)(Nl.FRequest | Nl.FAck | flags), ++_sequence);
    }

    /// <summary>Sends the message begun at <paramref name="start"/> and reads replies until its ack, error or end of dump.</summary>
    private void Run(int start, string operation, ReplyHandler? onReply = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _writer.EndMessage(start);
        _sys.NetlinkSend(_fd, _writer.Written);
        var sequence = _sequence;
        while (true)
        {
            var n = _sys.NetlinkReceive(_fd, _receive);
            foreach (var message in new MessageReader(_receive.AsSpan(0, n)))
            {
                if (message.Sequence != sequence) continue; // a late reply to an earlier, abandoned request
                if (message.Type == Nl.Done) return;
                if (message.Type == Nl.Error)
                {
                    var error = -BinaryPrimitives.ReadInt32LittleEndian(message.Payload);
                    if (error == 0) return;
                    throw new NetlinkException(operation, error, ExtendedAckMessage(message));
                }
                onReply?.Invoke(message);
            }
        }
    }

    /// <summary>The NLMSGERR_ATTR_MSG text of an error reply (after the error code and the echoed request header).</summary>
    internal static string? ExtendedAckMessage(NetlinkMessage error)
    {
        const ushort AckTlvs = 0x200;
        if ((error.Flags & AckTlvs) == 0 || error.Payload.Length < 4 + Nl.HeaderSize) return null;
        var requestLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(error.Payload[4..]);
        // With NETLINK_CAP_ACK the kernel echoes only the header, unless the request was shorter.
        var tlvStart = 4 + ((error.Flags & 0x100 /* NLM_F_CAPPED */) != 0 ? Nl.HeaderSize : Nl.Align(requestLength));
        if (tlvStart > error.Payload.Length) return null;
        foreach (var a in new AttributeReader(error.Payload[tlvStart..]))
            if (a.Type == Nl.ExtAckMessage) return a.String;
        return null;
    }

    private static byte FamilyByte(AddressFamily family) => family switch
    {
        AddressFamily.InterNetwork => AfInet,
        AddressFamily.InterNetworkV6 => AfInet6,
        _ => 0,
    };

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            _sys.CloseNetlink(_fd);
        }
    }
}
