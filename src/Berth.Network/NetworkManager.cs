using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using Berth.Linux;
using Berth.Linux.Netlink;
using Berth.Network.Dns;

namespace Berth.Network;

public sealed class NetworkManagerOptions
{
    /// <summary>Where networks.json lives.</summary>
    public required string StateDirectory { get; init; }
    /// <summary>The nftables table (family inet) Berth owns, created and deleted whole.</summary>
    public string TableName { get; init; } = "berth";
    /// <summary>The default bridge's interface name (dockerd's --bridge); "none" for no default bridge network.</summary>
    public string DefaultBridge { get; init; } = "berth0";
    /// <summary>dockerd's --bip: the default bridge's gateway address and prefix, e.g. 10.66.0.1/24.</summary>
    public string? DefaultBridgeIp { get; init; }
    public IReadOnlyList<AddressPool> AddressPools { get; init; } = AddressPool.Defaults;
    /// <summary>Resolvers the embedded DNS forwards to; null for the host's /etc/resolv.conf.</summary>
    public IReadOnlyList<IPEndPoint>? UpstreamResolvers { get; init; }
    public int Mtu { get; init; }
    public ISyscalls Syscalls { get; init; } = LinuxSyscalls.Instance;
    public INftables? Nftables { get; init; }
}

public enum NetworkErrorKind { InvalidArgument, NotFound, Conflict, Forbidden }

/// <summary>A refused network operation, in Docker's words; nothing was left behind on the host.</summary>
public sealed class NetworkException(NetworkErrorKind kind, string message) : Exception(message)
{
    public NetworkErrorKind Kind { get; } = kind;
}

public sealed record IpamSubnet(string Subnet, string? Gateway = null, string? IPRange = null);

public sealed record NetworkCreateOptions(string Name)
{
    public string Driver { get; init; } = "bridge";
    public bool Internal { get; init; }
    public bool Attachable { get; init; }
    public bool EnableIPv6 { get; init; }
    public IReadOnlyList<IpamSubnet> Subnets { get; init; } = [];
    public IReadOnlyDictionary<string, string> Options { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
}

/// <summary>What the engine asks for when it attaches a container to a network.</summary>
public sealed record EndpointRequest(string ContainerId, string ContainerName, string NetnsPath)
{
    public IReadOnlyList<string> Aliases { get; init; } = [];
    public IPAddress? IPv4Address { get; init; }
    public IPAddress? IPv6Address { get; init; }
    public string? MacAddress { get; init; }
}

/// <summary>An attached container as NetworkSettings.Networks shows it.</summary>
public sealed record Endpoint(
    string NetworkId, string NetworkName, string EndpointId, string InterfaceName, string HostVeth, string MacAddress,
    IPAddress? IPv4Address, int IPv4PrefixLength, IPAddress? Gateway,
    IPAddress? IPv6Address, int IPv6PrefixLength, IPAddress? IPv6Gateway, IReadOnlyList<string> Aliases);

/// <summary>
/// Berth's networks: bridge networks (the default "bridge" and user-defined ones) with their Linux bridges, a veth
/// pair per attached container, IPAM, NAPT and published ports in Berth's nftables table, and the embedded DNS of
/// user-defined networks. State survives daemon restarts (networks.json); <see cref="Initialize"/> reconciles it with
/// what the kernel has, <see cref="Shutdown"/> removes what the kernel has. All methods are thread-safe.
/// </summary>
public sealed class NetworkManager : IDnsDirectory, IDisposable
{
    public const string BridgeNameOption = "com.docker.network.bridge.name";
    public const string MtuOption = "com.docker.network.driver.mtu";

    private readonly NetworkManagerOptions _options;
    private readonly ISyscalls _sys;
    private readonly INftables _nft;
    private readonly RouteNetlink _host;
    private readonly EmbeddedDnsServer _dns;
    private readonly Lock _lock = new();
    private readonly string _statePath;
    private readonly Dictionary<string, NetworkRecord> _networks = [];
    private readonly Dictionary<string, List<AddressSpace>> _spaces = [];
    /// <summary>Host ports held open so nothing else can take them ("proto/ip:port" → socket).</summary>
    private readonly Dictionary<string, Socket> _reservations = [];
    /// <summary>Veth deletions in the background, one after another on a socket of their own (<see cref="DeleteLinkInBackground"/>).</summary>
    private readonly Lock _reaperLock = new();
    private Task _reaping = Task.CompletedTask;
    private RouteNetlink? _reaper;

    public NetworkManager(NetworkManagerOptions options)
    {
        _options = options;
        _sys = options.Syscalls;
        _nft = options.Nftables ?? Nftables.Open();
        _host = new RouteNetlink(_sys);
        _dns = new EmbeddedDnsServer(this, options.UpstreamResolvers ?? EmbeddedDnsServer.ReadResolvConf());
        _statePath = Path.Combine(options.StateDirectory, "networks.json");
        ValidateTableName(options.TableName);
    }

    public string TableName => _options.TableName;

    // ------------------------------------------------------------------ start-up and shutdown

    /// <summary>
    /// Loads the state, makes sure forwarding is on, re-creates missing bridges, creates the predefined networks,
    /// removes endpoints whose containers are gone (<paramref name="containerIsAlive"/>; by default: their namespace
    /// path still exists) and veths on Berth's bridges that no endpoint owns, re-reserves published ports, restarts the
    /// DNS of surviving containers and writes the nftables table.
    /// </summary>
    public void Initialize(Func<string, bool>? containerIsAlive = null)
    {
        lock (_lock)
        {
            Load();
            Sysctl.Write("/proc/sys/net/ipv4/ip_forward", "1");
            EnsurePredefined();
            foreach (var n in _networks.Values.Where(n => n.HasBridge)) EnsureBridge(n);
            ReconcileLocked(containerIsAlive);
            foreach (var n in _networks.Values)
                foreach (var e in n.Endpoints.Values)
                    foreach (var p in e.Ports)
                    {
                        try { _reservations[Key(p.Protocol, IPAddress.Parse(p.HostIp), p.HostPort)] = Reserve(p.Protocol, IPAddress.Parse(p.HostIp), p.HostPort); }
                        catch (NetworkException) { } // taken meanwhile: the DNAT rule still wins for traffic to it
                    }
            foreach (var n in _networks.Values.Where(n => n.HasDns))
                foreach (var e in n.Endpoints.Values) StartDns(e);
            ApplyFirewall();
            Save();
        }
    }

    /// <summary>Removes endpoints whose containers are gone and veths on Berth's bridges no endpoint owns.</summary>
    public void Reconcile(Func<string, bool>? containerIsAlive = null)
    {
        lock (_lock)
        {
            ReconcileLocked(containerIsAlive);
            ApplyFirewall();
            Save();
        }
    }

    private void ReconcileLocked(Func<string, bool>? containerIsAlive)
    {
        foreach (var n in _networks.Values)
            foreach (var e in n.Endpoints.Values.ToList())
            {
                var alive = containerIsAlive is null ? File.Exists(e.NetnsPath) : containerIsAlive(e.ContainerId);
                if (!alive) TearDown(n, e);
            }
        var bridges = new Dictionary<int, NetworkRecord>();
        foreach (var n in _networks.Values.Where(n => n.HasBridge))
            if (_host.GetLink(n.Bridge) is { } link) bridges[link.Index] = n;
        var owned = _networks.Values.SelectMany(n => n.Endpoints.Values).Select(e => e.HostVeth).ToHashSet();
        foreach (var link in _host.ListLinks())
            if (link.Kind == "veth" && bridges.ContainsKey(link.MasterIndex) && !owned.Contains(link.Name)) _host.DeleteLink(link.Name);
    }

    /// <summary>
    /// At daemon stop. Without live-restore (<paramref name="keepContainersRunning"/> false) every veth, bridge and the
    /// nftables table go, the network definitions stay; with it the kernel objects stay so running containers keep their
    /// network, and only the daemon's sockets (DNS, port reservations) close.
    /// </summary>
    public void Shutdown(bool keepContainersRunning)
    {
        WaitForLinkDeletions();
        lock (_lock)
        {
            _dns.Dispose();
            foreach (var s in _reservations.Values) s.Dispose();
            _reservations.Clear();
            if (keepContainersRunning) return;
            foreach (var n in _networks.Values)
            {
                foreach (var e in n.Endpoints.Values.ToList()) TearDown(n, e);
                if (n.HasBridge) _host.DeleteLink(n.Bridge);
            }
            _nft.Run(NftRuleset.Delete(_options.TableName));
            Save();
        }
    }

    public void Dispose()
    {
        WaitForLinkDeletions();
        _reaper?.Dispose();
        _dns.Dispose();
        foreach (var s in _reservations.Values) s.Dispose();
        _host.Dispose();
        (_nft as IDisposable)?.Dispose();
    }

    // ------------------------------------------------------------------ networks

    public IReadOnlyList<NetworkRecord> List()
    {
        lock (_lock) return _networks.Values.OrderBy(n => n.Created).Select(NetworkStateJson.Clone).ToList();
    }

    /// <summary>Docker's lookup order: full id, exact name, unique id prefix. Null when none.</summary>
    public NetworkRecord? Find(string idOrName)
    {
        lock (_lock) return FindLocked(idOrName) is { } n ? NetworkStateJson.Clone(n) : null;
    }

    private NetworkRecord? FindLocked(string idOrName)
    {
        if (_networks.TryGetValue(idOrName, out var byId)) return byId;
        var byName = _networks.Values.FirstOrDefault(n => n.Name == idOrName);
        if (byName is not null) return byName;
        var prefixed = _networks.Values.Where(n => n.Id.StartsWith(idOrName, StringComparison.Ordinal)).ToList();
        return prefixed.Count == 1 && idOrName.Length > 0 ? prefixed[0] : null;
    }

    private NetworkRecord Resolve(string idOrName)
        => FindLocked(idOrName) ?? throw new NetworkException(NetworkErrorKind.NotFound, $"network {idOrName} not found");

    public NetworkRecord Create(NetworkCreateOptions request)
    {
        lock (_lock)
        {
            var record = CreateLocked(request, isDefault: false, defaultBridgeIp: null);
            ApplyFirewallOrUndo(record);
            Save();
            return NetworkStateJson.Clone(record);
        }
    }

    private NetworkRecord CreateLocked(NetworkCreateOptions request, bool isDefault, string? defaultBridgeIp)
    {
        if (string.IsNullOrWhiteSpace(request.Name)) throw new NetworkException(NetworkErrorKind.InvalidArgument, "network name must not be empty");
        if (!isDefault && request.Name is "bridge" or "host" or "none")
            throw new NetworkException(NetworkErrorKind.Forbidden, $"{request.Name} is a pre-defined network and cannot be created");
        if (_networks.Values.Any(n => n.Name == request.Name))
            throw new NetworkException(NetworkErrorKind.Conflict, $"network with name {request.Name} already exists");
        if (request.Driver != "bridge") throw new NetworkException(NetworkErrorKind.NotFound, $"plugin \"{request.Driver}\" not found");

        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var bridge = isDefault ? _options.DefaultBridge
            : request.Options.TryGetValue(BridgeNameOption, out var named) && named.Length > 0 ? named : "br-" + id[..12];
        ValidateInterfaceName(bridge);
        if (_networks.Values.Any(n => n.Bridge == bridge))
            throw new NetworkException(NetworkErrorKind.Conflict, $"bridge name {bridge} is already used by another network");
        if (!isDefault && _host.GetLink(bridge) is not null)
            throw new NetworkException(NetworkErrorKind.Conflict, $"bridge name {bridge} is already in use by another interface");
        var mtu = _options.Mtu;
        if (request.Options.TryGetValue(MtuOption, out var mtuText) && (!int.TryParse(mtuText, out mtu) || mtu < 68))
            throw new NetworkException(NetworkErrorKind.InvalidArgument, $"invalid MTU value {mtuText}");

        var record = new NetworkRecord
        {
            Id = id, Name = request.Name, Driver = "bridge", Created = DateTimeOffset.UtcNow, Internal = request.Internal,
            Attachable = request.Attachable, EnableIPv6 = request.EnableIPv6, IsDefault = isDefault, Bridge = bridge, Mtu = mtu,
            Options = new(request.Options), Labels = new(request.Labels),
        };
        var spaces = PlanSubnets(request, defaultBridgeIp, record);
        _networks[id] = record;
        _spaces[id] = spaces;
        try { EnsureBridge(record); }
        catch
        {
            _networks.Remove(id);
            _spaces.Remove(id);
            _host.DeleteLink(bridge);
            throw;
        }
        return record;
    }

    private List<AddressSpace> PlanSubnets(NetworkCreateOptions request, string? defaultBridgeIp, NetworkRecord record)
    {
        var taken = new List<IPNetwork>();
        try { taken.AddRange(SubnetPicker.HostNetworks(_host.ListRoutes(), _host.ListAddresses())); }
        catch (NetlinkException) { }
        var ours = _spaces.Values.SelectMany(s => s).Select(s => s.Subnet).ToList();
        var spaces = new List<AddressSpace>();
        try
        {
            var configs = request.Subnets.ToList();
            if (defaultBridgeIp is not null)
            {
                var slash = defaultBridgeIp.IndexOf('/');
                if (slash < 0 || !IPAddress.TryParse(defaultBridgeIp.AsSpan(0, slash), out var gw) || !int.TryParse(defaultBridgeIp.AsSpan(slash + 1), out var prefix))
                    throw new ArgumentException($"invalid bip {defaultBridgeIp}");
                configs = [new IpamSubnet(IPNetworks.Containing(gw, prefix).ToString(), gw.ToString())];
            }
            foreach (var c in configs)
            {
                var subnet = IpMath.ParseSubnet(c.Subnet);
                if (subnet.BaseAddress.AddressFamily == AddressFamily.InterNetworkV6 && !request.EnableIPv6)
                    throw new ArgumentException("IPv6 subnet requires --ipv6 (EnableIPv6)");
                if (ours.Concat(spaces.Select(s => s.Subnet)).Any(o => IpMath.Overlaps(o, subnet)))
                    throw new NetworkException(NetworkErrorKind.Forbidden, "invalid pool request: Pool overlaps with other one on this address space");
                IPAddress? gateway = null;
                if (c.Gateway is { Length: > 0 } g && !IPAddress.TryParse(g, out gateway)) throw new ArgumentException($"invalid gateway address {g}");
                var range = c.IPRange is { Length: > 0 } r ? IpMath.ParseSubnet(r) : (IPNetwork?)null;
                spaces.Add(new AddressSpace(subnet, gateway, range));
            }
            if (!spaces.Any(s => s.Subnet.BaseAddress.AddressFamily == AddressFamily.InterNetwork))
            {
                var picked = SubnetPicker.Pick(_options.AddressPools.Where(p => p.Base.BaseAddress.AddressFamily == AddressFamily.InterNetwork),
                    [.. taken, .. ours, .. spaces.Select(s => s.Subnet)])
                    ?? throw new NetworkException(NetworkErrorKind.Forbidden,
                        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network");
                spaces.Insert(0, new AddressSpace(picked, null, null));
            }
            if (request.EnableIPv6 && !spaces.Any(s => s.Subnet.BaseAddress.AddressFamily == AddressFamily.InterNetworkV6))
                throw new ArgumentException("--ipv6 needs an IPv6 --subnet");
        }
        catch (ArgumentException e) { throw new NetworkException(NetworkErrorKind.InvalidArgument, e.Message); }
        catch (InvalidOperationException e) { throw new NetworkException(NetworkErrorKind.InvalidArgument, e.Message); }
        spaces.Sort((a, b) => a.Subnet.BaseAddress.AddressFamily.CompareTo(b.Subnet.BaseAddress.AddressFamily));
        record.Subnets = spaces.Select(s => new SubnetRecord { Subnet = s.Subnet.ToString(), Gateway = s.Gateway.ToString(), IPRange = s.Range?.ToString() }).ToList();
        return spaces;
    }

    public void Remove(string idOrName)
    {
        lock (_lock)
        {
            var n = Resolve(idOrName);
            if (!n.HasBridge || n.IsDefault) throw new NetworkException(NetworkErrorKind.Forbidden, $"{n.Name} is a pre-defined network and cannot be removed");
            if (n.Endpoints.Count > 0)
                throw new NetworkException(NetworkErrorKind.Forbidden, $"error while removing network: network {n.Name} id {n.Id} has active endpoints");
            _networks.Remove(n.Id);
            _spaces.Remove(n.Id);
            ApplyFirewall();
            _host.DeleteLink(n.Bridge);
            Save();
        }
    }

    /// <summary>Removes user-defined networks without endpoints that <paramref name="match"/> accepts; returns their names.</summary>
    public IReadOnlyList<string> Prune(Func<NetworkRecord, bool>? match = null)
    {
        lock (_lock)
        {
            var victims = _networks.Values.Where(n => n.HasBridge && !n.IsDefault && n.Endpoints.Count == 0 && (match?.Invoke(n) ?? true)).ToList();
            foreach (var n in victims)
            {
                _networks.Remove(n.Id);
                _spaces.Remove(n.Id);
            }
            if (victims.Count > 0)
            {
                ApplyFirewall();
                foreach (var n in victims) _host.DeleteLink(n.Bridge);
                Save();
            }
            return victims.Select(n => n.Name).ToList();
        }
    }

    private void EnsurePredefined()
    {
        if (!_networks.Values.Any(n => n.Name == "host"))
            Add(new NetworkRecord { Id = NewId(), Name = "host", Driver = "host", Created = DateTimeOffset.UtcNow });
        if (!_networks.Values.Any(n => n.Name == "none"))
            Add(new NetworkRecord { Id = NewId(), Name = "none", Driver = "null", Created = DateTimeOffset.UtcNow });
        var existing = _networks.Values.FirstOrDefault(n => n.IsDefault);
        if (_options.DefaultBridge == "none")
        {
            if (existing is not null) RemoveDefault(existing);
            return;
        }
        if (existing is not null && (existing.Bridge != _options.DefaultBridge
            || (_options.DefaultBridgeIp is { } bip && existing.Subnets[0].Gateway + "/" + existing.Subnets[0].Subnet.Split('/')[1] != bip)))
            RemoveDefault(existing); // --bridge or --bip changed: Docker re-creates the default network
        if (!_networks.Values.Any(n => n.IsDefault))
            CreateLocked(new NetworkCreateOptions("bridge") { Options = new Dictionary<string, string> { ["com.docker.network.bridge.default_bridge"] = "true" } },
                isDefault: true, _options.DefaultBridgeIp);

        void Add(NetworkRecord r) { _networks[r.Id] = r; _spaces[r.Id] = []; }
    }

    private void RemoveDefault(NetworkRecord n)
    {
        foreach (var e in n.Endpoints.Values.ToList()) TearDown(n, e);
        _host.DeleteLink(n.Bridge);
        _networks.Remove(n.Id);
        _spaces.Remove(n.Id);
    }

    /// <summary>Creates the network's bridge when missing, gives it its gateway addresses, lets loopback-sourced
    /// DNAT traffic leave through it (route_localnet) and brings it up.</summary>
    private void EnsureBridge(NetworkRecord n)
    {
        var link = _host.GetLink(n.Bridge);
        if (link is null)
        {
            _host.CreateBridge(n.Bridge, n.Mtu);
            link = _host.GetLink(n.Bridge) ?? throw new NetworkException(NetworkErrorKind.Conflict, $"bridge {n.Bridge} vanished");
        }
        var present = _host.ListAddresses().Where(a => a.LinkIndex == link.Index).Select(a => a.Address).ToHashSet();
        foreach (var s in n.Subnets)
        {
            var gateway = IPAddress.Parse(s.Gateway);
            if (gateway.AddressFamily == AddressFamily.InterNetworkV6) Sysctl.Write($"/proc/sys/net/ipv6/conf/{n.Bridge}/disable_ipv6", "0");
            if (!present.Contains(gateway)) _host.AddAddress(link.Index, gateway, IPNetwork.Parse(s.Subnet).PrefixLength);
        }
        Sysctl.Write($"/proc/sys/net/ipv4/conf/{n.Bridge}/route_localnet", "1");
        if (!link.IsUp) _host.SetUp(link.Index);
    }

    // ------------------------------------------------------------------ endpoints

    /// <summary>Attaches a container (its network namespace at <see cref="EndpointRequest.NetnsPath"/>) to a network:
    /// a veth pair whose inner end is ethN with the endpoint's addresses and, on its first non-internal network, the
    /// default route; the embedded DNS on user-defined networks.</summary>
    public Endpoint Connect(string network, EndpointRequest request)
    {
        lock (_lock)
        {
            var n = Resolve(network);
            if (!n.HasBridge) throw new NetworkException(NetworkErrorKind.Forbidden, $"container cannot be disconnected from or connected to network {n.Name} ({n.Driver})");
            if (n.Endpoints.ContainsKey(request.ContainerId))
                throw new NetworkException(NetworkErrorKind.Forbidden, $"endpoint with name {request.ContainerName} already exists in network {n.Name}");
            if (request.Aliases.Count > 0 && n.IsDefault)
                throw new NetworkException(NetworkErrorKind.InvalidArgument, "network-scoped alias is supported only for containers in user defined networks");
            var spaces = _spaces[n.Id];
            var v4Space = spaces.FirstOrDefault(s => s.Subnet.BaseAddress.AddressFamily == AddressFamily.InterNetwork);
            var v6Space = spaces.FirstOrDefault(s => s.Subnet.BaseAddress.AddressFamily == AddressFamily.InterNetworkV6);
            IPAddress? v4 = null, v6 = null;
            try
            {
                if (request.IPv4Address is not null && (n.IsDefault || request.IPv4Address.AddressFamily != AddressFamily.InterNetwork))
                    throw new NetworkException(NetworkErrorKind.InvalidArgument, "user specified IP address is supported on user defined networks only");
                v4 = v4Space?.Allocate(request.IPv4Address);
                if (request.IPv6Address is not null && v6Space is null)
                    throw new NetworkException(NetworkErrorKind.InvalidArgument, $"invalid address {request.IPv6Address}: network {n.Name} has no IPv6 subnet");
                v6 = v6Space?.Allocate(request.IPv6Address);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                if (v4 is not null) v4Space!.Release(v4);
                throw new NetworkException(e is InvalidOperationException ? NetworkErrorKind.Forbidden : NetworkErrorKind.InvalidArgument, e.Message);
            }
            catch
            {
                if (v4 is not null) v4Space!.Release(v4);
                throw;
            }

            var mac = request.MacAddress is { Length: > 0 } m ? NormalizeMac(m) : MacFromAddress(v4);
            var mine = _networks.Values.Select(x => x.Endpoints.GetValueOrDefault(request.ContainerId)).Where(e => e is not null).ToList();
            var ifname = Enumerable.Range(0, 64).Select(i => $"eth{i}").First(name => mine.All(e => e!.InterfaceName != name));
            var wantsDefaultRoute = !n.Internal && !_networks.Values.Any(x => !x.Internal && x.Endpoints.ContainsKey(request.ContainerId));
            var endpoint = new EndpointRecord
            {
                ContainerId = request.ContainerId, ContainerName = request.ContainerName.TrimStart('/'),
                EndpointId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)),
                HostVeth = "veth" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))[..7],
                InterfaceName = ifname, NetnsPath = request.NetnsPath, MacAddress = mac,
                IPv4 = v4?.ToString(), IPv4PrefixLength = v4Space?.Subnet.PrefixLength ?? 0,
                IPv6 = v6?.ToString(), IPv6PrefixLength = v6Space?.Subnet.PrefixLength ?? 0,
                Aliases = [.. request.Aliases.Distinct()],
            };
            try
            {
                Plumb(n, endpoint, v4Space, v6Space, wantsDefaultRoute);
            }
            catch (Exception e)
            {
                _host.DeleteLink(endpoint.HostVeth);
                if (v4 is not null) v4Space!.Release(v4);
                if (v6 is not null) v6Space!.Release(v6);
                if (e is NetlinkException or SyscallException or SocketException or IOException)
                    throw new NetworkException(NetworkErrorKind.InvalidArgument, $"failed to set up container networking on {n.Name}: {e.Message}");
                throw;
            }
            n.Endpoints[request.ContainerId] = endpoint;
            Save();
            return ToEndpoint(n, endpoint);
        }
    }

    private static readonly bool Trace = Environment.GetEnvironmentVariable("BERTH_NET_TRACE") == "1";
    private static void Mark(System.Diagnostics.Stopwatch? w, string what) { if (w is not null) Console.Error.WriteLine($"{what}: {w.Elapsed.TotalMilliseconds:F2} ms"); }

    private void Plumb(NetworkRecord n, EndpointRecord e, AddressSpace? v4Space, AddressSpace? v6Space, bool defaultRoute)
    {
        var w = Trace ? System.Diagnostics.Stopwatch.StartNew() : null;
        var bridgeIndex = _host.IndexOf(n.Bridge);
        var nsFd = _sys.OpenFile(e.NetnsPath, OpenFlags.O_RDONLY);
        try
        {
            Mark(w, "open");
            _host.CreateVethPair(e.HostVeth, e.InterfaceName, nsFd, n.Mtu, ParseMac(e.MacAddress));
            Mark(w, "veth");
            var hostIndex = _host.IndexOf(e.HostVeth);
            _host.SetLink(hostIndex, new LinkChange { MasterIndex = bridgeIndex, Up = true });
            // Hairpin: a container reaching its own published port through a host address comes back through its port.
            _host.SetBridgePortHairpin(hostIndex, true);
            Mark(w, "master");
            var wantsDns = n.HasDns && !_dns.IsServing(e.ContainerId);
            // The container's first endpoint: its namespace was just made, it has no DNS table to replace.
            var fresh = !_networks.Values.Any(x => x.Endpoints.ContainsKey(e.ContainerId));
            var sockets = NetworkNamespace.Run(_sys, nsFd, e.NetnsPath, () =>
            {
                var inside = new RouteNetlink(_sys);
                try
                {
                    var index = inside.IndexOf(e.InterfaceName);
                    if (e.IPv4 is not null) inside.AddAddress(index, IPAddress.Parse(e.IPv4), e.IPv4PrefixLength);
                    if (e.IPv6 is not null) inside.AddAddress(index, IPAddress.Parse(e.IPv6), e.IPv6PrefixLength);
                    inside.SetUp(index);
                    if (inside.GetLink("lo") is { IsUp: false } lo) inside.SetUp(lo.Index);
                    if (defaultRoute)
                    {
                        if (v4Space is not null) inside.AddRoute(null, v4Space.Gateway, index);
                        if (v6Space is not null) inside.AddRoute(null, v6Space.Gateway, index);
                    }
                    Mark(w, "inside");
                    return wantsDns ? EmbeddedDnsServer.BindInside(freshNamespace: fresh) : default((Socket, Socket)?);
                }
                finally { Background.Dispose(inside); }
            });
            Mark(w, "dns");
            if (sockets is var (udp, tcp)) _dns.Serve(e.ContainerId, udp, tcp);
        }
        finally { _sys.CloseFd(nsFd); }
    }

    /// <summary>Detaches a container from a network: its veth, addresses and published ports go.</summary>
    public void Disconnect(string network, string containerId)
    {
        lock (_lock)
        {
            var n = Resolve(network);
            if (!n.Endpoints.TryGetValue(containerId, out var e))
                throw new NetworkException(NetworkErrorKind.Forbidden, $"container {containerId} is not connected to network {n.Name}");
            var hadPorts = e.Ports.Count > 0;
            TearDown(n, e);
            if (hadPorts) ApplyFirewall();
            Save();
        }
    }

    /// <summary>Detaches a container from every network (at container stop or removal). Its veths are deleted in the
    /// background: the kernel takes an RCU grace period per deletion, and the container's namespace is going away.</summary>
    public void DisconnectAll(string containerId)
    {
        lock (_lock)
        {
            var hadPorts = false;
            foreach (var n in _networks.Values)
                if (n.Endpoints.TryGetValue(containerId, out var e))
                {
                    hadPorts |= e.Ports.Count > 0;
                    TearDown(n, e, deferLinkDeletion: true);
                }
            if (hadPorts) ApplyFirewall();
            Save();
        }
    }

    public IReadOnlyList<Endpoint> EndpointsOf(string containerId)
    {
        lock (_lock)
            return _networks.Values.Where(n => n.Endpoints.ContainsKey(containerId)).Select(n => ToEndpoint(n, n.Endpoints[containerId])).ToList();
    }

    private void TearDown(NetworkRecord n, EndpointRecord e, bool deferLinkDeletion = false)
    {
        if (deferLinkDeletion) DeleteLinkInBackground(e.HostVeth);
        else _host.DeleteLink(e.HostVeth); // gone already when the namespace went
        foreach (var p in e.Ports) ReleaseReservation(p.Protocol, IPAddress.Parse(p.HostIp), p.HostPort);
        var spaces = _spaces[n.Id];
        foreach (var a in (string?[])[e.IPv4, e.IPv6])
            if (a is not null && IPAddress.TryParse(a, out var ip))
                spaces.FirstOrDefault(s => s.Subnet.Contains(ip))?.Release(ip);
        n.Endpoints.Remove(e.ContainerId);
        if (!_networks.Values.Any(x => x.HasDns && x.Endpoints.ContainsKey(e.ContainerId))) _dns.Stop(e.ContainerId);
    }

    /// <summary>Deletes a link on a socket of its own, after the deletions queued before it; <see cref="Shutdown"/> waits for them.</summary>
    private void DeleteLinkInBackground(string name)
    {
        lock (_reaperLock)
            _reaping = _reaping.ContinueWith(_ =>
            {
                try
                {
                    _reaper ??= new RouteNetlink(_sys);
                    _reaper.DeleteLink(name);
                }
                catch (Exception x) when (x is NetlinkException or SyscallException) { } // gone with its namespace meanwhile
            }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
    }

    /// <summary>Waits until the veths queued for deletion are gone.</summary>
    public void WaitForLinkDeletions()
    {
        Task pending;
        lock (_reaperLock) pending = _reaping;
        pending.Wait();
    }

    private void StartDns(EndpointRecord e)
    {
        if (_dns.IsServing(e.ContainerId)) return;
        try
        {
            var (udp, tcp) = NetworkNamespace.Run(_sys, e.NetnsPath, EmbeddedDnsServer.BindInside);
            _dns.Serve(e.ContainerId, udp, tcp);
        }
        catch (Exception x) when (x is SyscallException or SocketException) { } // the container went meanwhile
    }

    private Endpoint ToEndpoint(NetworkRecord n, EndpointRecord e)
    {
        var spaces = _spaces[n.Id];
        IPAddress? v4 = e.IPv4 is null ? null : IPAddress.Parse(e.IPv4), v6 = e.IPv6 is null ? null : IPAddress.Parse(e.IPv6);
        return new Endpoint(n.Id, n.Name, e.EndpointId, e.InterfaceName, e.HostVeth, e.MacAddress,
            v4, e.IPv4PrefixLength, v4 is null ? null : spaces.FirstOrDefault(s => s.Subnet.Contains(v4))?.Gateway,
            v6, e.IPv6PrefixLength, v6 is null ? null : spaces.FirstOrDefault(s => s.Subnet.Contains(v6))?.Gateway, e.Aliases);
    }

    // ------------------------------------------------------------------ published ports

    /// <summary>
    /// Publishes ports of a container on its first non-internal network with an IPv4 address: each host port is
    /// reserved (held open, so a port in use is "already allocated" and nothing else takes it later), then DNAT rules
    /// are written. All or nothing: on any failure nothing of this call remains.
    /// </summary>
    public IReadOnlyList<PublishedPort> Publish(string containerId, IReadOnlyList<PortRequest> requests)
    {
        if (requests.Count == 0) return [];
        lock (_lock)
        {
            var (n, e) = _networks.Values.Where(x => !x.Internal && x.Endpoints.TryGetValue(containerId, out var ep) && ep.IPv4 is not null)
                .Select(x => (x, x.Endpoints[containerId])).FirstOrDefault();
            if (n is null) return []; // no network to publish on (none, host, internal only): Docker ignores the bindings
            var added = new List<PortRecord>();
            try
            {
                foreach (var r in requests)
                {
                    if (r.Protocol is not ("tcp" or "udp" or "sctp")) throw new NetworkException(NetworkErrorKind.InvalidArgument, $"invalid proto: {r.Protocol}");
                    var hostIp = r.HostIp ?? IPAddress.Any;
                    if (hostIp.AddressFamily != AddressFamily.InterNetwork) continue; // v6 host addresses need a v6 endpoint: not published
                    var port = ReservePort(r, hostIp, e, n);
                    added.Add(new PortRecord { Protocol = r.Protocol, ContainerPort = r.ContainerPort, HostIp = hostIp.ToString(), HostPort = port });
                    e.Ports.Add(added[^1]);
                }
                ApplyFirewall();
            }
            catch
            {
                foreach (var p in added)
                {
                    e.Ports.Remove(p);
                    ReleaseReservation(p.Protocol, IPAddress.Parse(p.HostIp), p.HostPort);
                }
                throw;
            }
            Save();
            return added.Select(p => new PublishedPort(p.Protocol, p.ContainerPort, IPAddress.Parse(p.HostIp), p.HostPort)).ToList();
        }
    }

    private int ReservePort(PortRequest r, IPAddress hostIp, EndpointRecord e, NetworkRecord n)
    {
        if (r.Ephemeral)
        {
            var socket = Reserve(r.Protocol, hostIp, 0);
            var port = ((IPEndPoint)socket.LocalEndPoint!).Port;
            _reservations[Key(r.Protocol, hostIp, port)] = socket;
            return port;
        }
        NetworkException? last = null;
        for (var port = r.HostPortStart; port <= Math.Max(r.HostPortStart, r.HostPortEnd); port++)
        {
            try
            {
                _reservations[Key(r.Protocol, hostIp, port)] = Reserve(r.Protocol, hostIp, port);
                return port;
            }
            catch (NetworkException x) { last = x; }
        }
        throw new NetworkException(NetworkErrorKind.Forbidden,
            $"driver failed programming external connectivity on endpoint {e.ContainerName} ({e.EndpointId}): {last!.Message}");
    }

    private Socket Reserve(string protocol, IPAddress hostIp, int port)
    {
        if (port != 0 && _reservations.ContainsKey(Key(protocol, hostIp, port)))
            throw new NetworkException(NetworkErrorKind.Forbidden, $"Bind for {hostIp}:{port} failed: port is already allocated");
        if (port != 0 && !hostIp.Equals(IPAddress.Any) && _reservations.ContainsKey(Key(protocol, IPAddress.Any, port)))
            throw new NetworkException(NetworkErrorKind.Forbidden, $"Bind for {hostIp}:{port} failed: port is already allocated");
        if (port != 0 && hostIp.Equals(IPAddress.Any) && _reservations.Keys.Any(k => k.StartsWith(protocol + "/", StringComparison.Ordinal) && k.EndsWith(":" + port, StringComparison.Ordinal)))
            throw new NetworkException(NetworkErrorKind.Forbidden, $"Bind for {hostIp}:{port} failed: port is already allocated");
        var socket = protocol switch
        {
            "udp" => new Socket(hostIp.AddressFamily, SocketType.Dgram, ProtocolType.Udp),
            "sctp" => null,
            _ => new Socket(hostIp.AddressFamily, SocketType.Stream, ProtocolType.Tcp),
        };
        if (socket is null) return new Socket(hostIp.AddressFamily, SocketType.Dgram, ProtocolType.Udp); // sctp: nothing to hold
        try
        {
            socket.Bind(new IPEndPoint(hostIp, port));
            // A listening socket conflicts with every later bind, SO_REUSEADDR or not; DNAT takes all traffic before it.
            if (socket.SocketType == SocketType.Stream) socket.Listen(1);
            return socket;
        }
        catch (SocketException x)
        {
            socket.Dispose();
            throw new NetworkException(NetworkErrorKind.Forbidden,
                x.SocketErrorCode == SocketError.AddressAlreadyInUse ? $"Bind for {hostIp}:{port} failed: port is already allocated"
                : $"Bind for {hostIp}:{port} failed: {x.Message}");
        }
    }

    private void ReleaseReservation(string protocol, IPAddress hostIp, int port)
    {
        if (_reservations.Remove(Key(protocol, hostIp, port), out var s)) s.Dispose();
    }

    private static string Key(string protocol, IPAddress ip, int port) => $"{protocol}/{ip}:{port}";

    // ------------------------------------------------------------------ firewall

    private void ApplyFirewall()
    {
        var bridges = _networks.Values.Where(n => n.HasBridge)
            .Select(n => new BridgeRules(n.Bridge, n.Subnets.Select(s => IPNetwork.Parse(s.Subnet)).ToList(), n.Internal)).ToList();
        var ports = new List<PortRule>();
        foreach (var n in _networks.Values)
            foreach (var e in n.Endpoints.Values)
                foreach (var p in e.Ports)
                {
                    if (e.IPv4 is null) continue;
                    var host = IPAddress.Parse(p.HostIp);
                    ports.Add(new PortRule(p.Protocol, host.Equals(IPAddress.Any) ? null : host, p.HostPort, IPAddress.Parse(e.IPv4), p.ContainerPort));
                }
        _nft.Run(NftRuleset.Render(_options.TableName, bridges, ports));
    }

    private void ApplyFirewallOrUndo(NetworkRecord created)
    {
        try { ApplyFirewall(); }
        catch
        {
            _networks.Remove(created.Id);
            _spaces.Remove(created.Id);
            _host.DeleteLink(created.Bridge);
            throw;
        }
    }

    // ------------------------------------------------------------------ DNS directory

    IReadOnlyList<IPAddress>? IDnsDirectory.Resolve(string containerId, string name)
    {
        lock (_lock)
        {
            List<IPAddress>? found = null;
            foreach (var n in _networks.Values)
            {
                if (!n.HasDns || !n.Endpoints.ContainsKey(containerId)) continue;
                foreach (var e in n.Endpoints.Values)
                {
                    if (!Answers(e, name)) continue;
                    found ??= [];
                    if (e.IPv4 is not null) found.Add(IPAddress.Parse(e.IPv4));
                    if (e.IPv6 is not null) found.Add(IPAddress.Parse(e.IPv6));
                }
            }
            return found;
        }
    }

    private static bool Answers(EndpointRecord e, string name)
        => string.Equals(e.ContainerName, name, StringComparison.OrdinalIgnoreCase)
           || e.Aliases.Any(a => string.Equals(a, name, StringComparison.OrdinalIgnoreCase))
           || (name.Length == 12 && e.ContainerId.StartsWith(name, StringComparison.OrdinalIgnoreCase));

    string? IDnsDirectory.ReverseLookup(string containerId, IPAddress address)
    {
        lock (_lock)
        {
            var text = address.ToString();
            foreach (var n in _networks.Values)
            {
                if (!n.HasDns || !n.Endpoints.ContainsKey(containerId)) continue;
                foreach (var e in n.Endpoints.Values)
                    if (e.IPv4 == text || e.IPv6 == text) return $"{e.ContainerName}.{n.Name}";
            }
            return null;
        }
    }

    bool IDnsDirectory.MayForward(string containerId)
    {
        lock (_lock) return _networks.Values.Any(n => n.HasDns && !n.Internal && n.Endpoints.ContainsKey(containerId));
    }

    // ------------------------------------------------------------------ persistence and helpers

    private void Load()
    {
        _networks.Clear();
        _spaces.Clear();
        if (!File.Exists(_statePath)) return;
        var state = JsonSerializer.Deserialize(File.ReadAllBytes(_statePath), NetworkStateJson.Default.NetworkStateFile) ?? new();
        foreach (var n in state.Networks)
        {
            var spaces = n.Subnets.Select(s => new AddressSpace(IPNetwork.Parse(s.Subnet), IPAddress.Parse(s.Gateway),
                s.IPRange is null ? null : IPNetwork.Parse(s.IPRange))).ToList();
            foreach (var e in n.Endpoints.Values)
                foreach (var a in (string?[])[e.IPv4, e.IPv6])
                    if (a is not null && IPAddress.TryParse(a, out var ip)) spaces.FirstOrDefault(s => s.Subnet.Contains(ip))?.Reserve(ip);
            _networks[n.Id] = n;
            _spaces[n.Id] = spaces;
        }
    }

    private void Save()
    {
        Directory.CreateDirectory(_options.StateDirectory);
        var tmp = _statePath + ".tmp";
        File.WriteAllBytes(tmp, JsonSerializer.SerializeToUtf8Bytes(new NetworkStateFile { Networks = [.. _networks.Values.OrderBy(n => n.Created)] },
            NetworkStateJson.Default.NetworkStateFile));
        File.Move(tmp, _statePath, overwrite: true);
    }

    private static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    /// <summary>Docker's scheme: 02:42 followed by the IPv4 address, so a MAC is stable for an address.</summary>
    internal static string MacFromAddress(IPAddress? v4)
    {
        var bytes = v4?.GetAddressBytes() ?? RandomNumberGenerator.GetBytes(4);
        return $"02:42:{bytes[0]:x2}:{bytes[1]:x2}:{bytes[2]:x2}:{bytes[3]:x2}";
    }

    internal static string NormalizeMac(string mac)
    {
        var parts = mac.Split(':', '-');
        if (parts.Length != 6 || parts.Any(p => p.Length != 2 || !byte.TryParse(p, System.Globalization.NumberStyles.HexNumber, null, out _)))
            throw new NetworkException(NetworkErrorKind.InvalidArgument, $"invalid MAC address: {mac}");
        var normalized = string.Join(':', parts).ToLowerInvariant();
        if ((Convert.ToByte(parts[0], 16) & 1) != 0) throw new NetworkException(NetworkErrorKind.InvalidArgument, $"invalid MAC address: {mac} is a multicast address");
        return normalized;
    }

    private static byte[] ParseMac(string mac) => mac.Split(':').Select(p => Convert.ToByte(p, 16)).ToArray();

    /// <summary>Interface names: 1–15 characters that are safe in nftables text and the kernel's rules.</summary>
    internal static void ValidateInterfaceName(string name)
    {
        if (name.Length is 0 or > 15 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') || name is "." or "..")
            throw new NetworkException(NetworkErrorKind.InvalidArgument, $"invalid bridge name {name}: 1 to 15 letters, digits, '-', '_' or '.'");
    }

    private static void ValidateTableName(string name)
    {
        if (name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            throw new ArgumentException($"invalid nftables table name {name}");
    }
}

/// <summary>Writes /proc/sys values (forwarding, route_localnet) only when they differ.</summary>
public static class Sysctl
{
    public static void Write(string path, string value)
    {
        try
        {
            if (File.Exists(path) && File.ReadAllText(path).Trim() == value) return;
            File.WriteAllText(path, value);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
