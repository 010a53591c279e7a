using System.Net;
using Berth.Engine.Containers;
using Berth.Engine.Models;
using Berth.Linux;
using Berth.Network;

namespace Berth.Engine.Networks;

/// <summary>
/// The network room at container start and stop (the container service's <see cref="INetworkAttacher"/>): a network
/// namespace pinned at EXEC-ROOT/netns/ID, an endpoint on the container's network (HostConfig.NetworkMode: default
/// bridge, or a user network by name or id) and on every further network of NetworkSettings.Networks, its published
/// ports, and NetworkSettings filled as Docker fills them. NetworkMode host, none and container:X get no namespace
/// here (the spec makes or joins one). On any failure nothing of the attachment remains.
/// </summary>
public sealed class ContainerNetworkAttacher(NetworkManager manager, string netnsDirectory, ISyscalls? sys = null) : INetworkAttacher, IContainerEndpoints
{
    private readonly ISyscalls _sys = sys ?? LinuxSyscalls.Instance;
    private LoopbackNamespaces? _loopbacks;
    private LoopbackNamespaces Loopbacks => LazyInitializer.EnsureInitialized(ref _loopbacks, () => new LoopbackNamespaces(_sys));

    /// <summary>BERTH_NET_TRACE=1: the time of each step of attach and detach on berthd's stderr.</summary>
    private static readonly bool Trace = Environment.GetEnvironmentVariable("BERTH_NET_TRACE") == "1";
    private static void Mark(System.Diagnostics.Stopwatch? w, string what) { if (w is not null) Console.Error.WriteLine($"{what}: {w.Elapsed.TotalMilliseconds:F2} ms"); }

    /// <summary>Finds containers for connect/disconnect (the container service).</summary>
    public IContainerDirectory? Containers { get; set; }

    /// <summary>The container records, so connect/disconnect show in NetworkSettings and a stopped container's networks
    /// are remembered for its next start (the container service's store).</summary>
    public ContainerStore? Store { get; set; }

    /// <summary>Whether the container runs in a namespace of its own with endpoints on Berth's networks (not host,
    /// none or container:X): then its /etc/hosts and /etc/resolv.conf are the network room's.</summary>
    public bool HasOwnEndpoints(ContainerRecord container) => PrimaryNetwork(container.HostConfig.NetworkMode) is not null;

    public string NamespacePath(string containerId) => Path.Combine(netnsDirectory, containerId);

    /// <summary>The network a NetworkMode names, or null for modes without an endpoint (host, none, container:X).</summary>
    public static string? PrimaryNetwork(string? mode) => mode switch
    {
        null or "" or "default" or "bridge" => "bridge",
        "host" or "none" => null,
        _ when mode.StartsWith("container:", StringComparison.Ordinal) => null,
        _ => mode,
    };

    public Task<NetworkAttachment> AttachAsync(ContainerRecord container, CancellationToken cancellationToken)
    {
        var mode = container.HostConfig.NetworkMode ?? "";
        var primary = PrimaryNetwork(mode);
        if (primary is null) return Task.FromResult(AttachWithoutEndpoints(container, mode));
        var w = Trace ? System.Diagnostics.Stopwatch.StartNew() : null;
        var path = NamespacePath(container.ID);
        NetworkNamespace.Delete(_sys, path); // a leftover of a crash
        NetworkNamespace.Create(_sys, path);
        Mark(w, "attach: namespace");
        var settings = container.NetworkSettings;
        settings.Networks ??= [];
        try
        {
            var requested = new List<(string Name, EndpointSettings? Config)> { (primary, Lookup(settings.Networks, primary)) };
            foreach (var (name, config) in settings.Networks)
                if (!SameNetwork(name, primary)) requested.Add((name, config));
            var attached = new Dictionary<string, EndpointSettings>();
            foreach (var (name, config) in requested)
            {
                var endpoint = NetworkService.Run(() => manager.Connect(name, Request(container, path, config)));
                attached[endpoint.NetworkName] = ToSettings(container, endpoint, config);
            }
            Mark(w, "attach: endpoints");
            var published = NetworkService.Run(() => manager.Publish(container.ID, PortRequests(container)));
            Mark(w, "attach: ports");
            settings.Networks = attached;
            settings.Ports = PortMap(container, published);
            settings.SandboxKey = path;
            settings.SandboxID = container.ID;
            settings.Bridge = "";
            // Docker fills the top-level fields from the default bridge's endpoint only.
            if (attached.TryGetValue("bridge", out var bridge))
            {
                settings.IPAddress = bridge.IPAddress;
                settings.IPPrefixLen = bridge.IPPrefixLen;
                settings.Gateway = bridge.Gateway;
                settings.MacAddress = bridge.MacAddress;
                settings.EndpointID = bridge.EndpointID;
                settings.GlobalIPv6Address = bridge.GlobalIPv6Address;
                settings.GlobalIPv6PrefixLen = (int)bridge.GlobalIPv6PrefixLen;
                settings.IPv6Gateway = bridge.IPv6Gateway;
            }
            return Task.FromResult(new NetworkAttachment(path));
        }
        catch
        {
            manager.DisconnectAll(container.ID);
            NetworkNamespace.Delete(_sys, path);
            throw;
        }
    }

    /// <summary>
    /// host: the host's namespace (the spec's). none: a namespace of its own with only loopback, pinned like the
    /// others. container:X: nothing of the network room's.
    /// </summary>
    private NetworkAttachment AttachWithoutEndpoints(ContainerRecord container, string mode)
    {
        var settings = container.NetworkSettings;
        if (mode == "host")
        {
            settings.Networks = new() { ["host"] = new EndpointSettings { NetworkID = manager.Find("host")?.Id ?? "" } };
            return new NetworkAttachment(null);
        }
        if (mode == "none")
        {
            // Made on a thread of its own while the start does the rest; the start awaits Ready before the runtime runs.
            var path = NamespacePath(container.ID);
            var ready = Loopbacks.Create(path);
            settings.Networks = new() { ["none"] = new EndpointSettings { NetworkID = manager.Find("none")?.Id ?? "" } };
            settings.SandboxKey = path;
            settings.SandboxID = container.ID;
            return new NetworkAttachment(path) { Ready = ready };
        }
        // container:X: the container service joins X's namespace (by its init's /proc entry) and says when X is not running.
        settings.Networks = [];
        return new NetworkAttachment(null);
    }

    /// <summary>Unpins namespaces under the netns directory whose containers are not running (left by a crash).</summary>
    public void RemoveStaleNamespaces(Func<string, bool> running)
    {
        if (!Directory.Exists(netnsDirectory)) return;
        foreach (var file in Directory.EnumerateFiles(netnsDirectory))
            if (!running(Path.GetFileName(file))) NetworkNamespace.Delete(_sys, file);
    }

    public Task DetachAsync(ContainerRecord container, CancellationToken cancellationToken)
    {
        var w = Trace ? System.Diagnostics.Stopwatch.StartNew() : null;
        // The network state file is rewritten only when there was an endpoint to remove (none for host, none, container:X).
        if (manager.EndpointsOf(container.ID).Count > 0) manager.DisconnectAll(container.ID);
        Mark(w, "detach: endpoints");
        NetworkNamespace.Delete(_sys, NamespacePath(container.ID));
        Mark(w, "detach: namespace");
        var settings = container.NetworkSettings;
        // As Docker shows a stopped container: its networks stay listed, without addresses; no ports, no sandbox.
        foreach (var e in (settings.Networks ?? []).Values)
        {
            e.IPAddress = ""; e.IPPrefixLen = 0; e.Gateway = ""; e.MacAddress = ""; e.EndpointID = "";
            e.GlobalIPv6Address = ""; e.GlobalIPv6PrefixLen = 0; e.IPv6Gateway = "";
        }
        settings.Ports = [];
        settings.SandboxKey = "";
        settings.SandboxID = "";
        settings.IPAddress = ""; settings.IPPrefixLen = 0; settings.Gateway = ""; settings.MacAddress = ""; settings.EndpointID = "";
        settings.GlobalIPv6Address = ""; settings.GlobalIPv6PrefixLen = 0; settings.IPv6Gateway = "";
        return Task.CompletedTask;
    }

    /// <summary>The nameservers a container's resolv.conf should name: the embedded DNS on user-defined networks.</summary>
    public IReadOnlyList<string>? Nameservers(ContainerRecord container)
    {
        var primary = PrimaryNetwork(container.HostConfig.NetworkMode);
        if (primary is null) return null;
        var network = manager.Find(primary);
        return network is { HasDns: true } ? [Network.Dns.EmbeddedDnsServer.Address.ToString()] : null;
    }

    public Task ConnectAsync(string containerIdOrName, string network, EndpointSettings? config, CancellationToken cancellationToken)
    {
        var store = Store ?? throw new NotImplementedYetException("connecting containers to networks");
        var c = store.Get(containerIdOrName);
        var record = c.Record;
        if (PrimaryNetwork(record.HostConfig.NetworkMode) is null)
            throw new ForbiddenException("container sharing network namespace with another container or host cannot be connected to any other network");
        var target = manager.Find(network) ?? throw new NotFoundException($"network {network} not found");
        if (!target.HasBridge) throw new ForbiddenException($"container cannot be disconnected from host network or connected to host network");
        bool running;
        lock (c.Gate)
        {
            running = record.State.Running && !record.State.Restarting;
            if (!running)
            {
                // Remembered for the next start, as Docker does for a stopped container.
                record.NetworkSettings.Networks ??= [];
                if (record.NetworkSettings.Networks.Keys.Any(k => SameNetwork(k, target.Name)))
                    throw new ForbiddenException($"endpoint with name {c.Name.TrimStart('/')} already exists in network {target.Name}");
                if (config?.IPAMConfig is { } ipam)
                {
                    NetworkService.ParseAddress(ipam.IPv4Address, "IPv4");
                    NetworkService.ParseAddress(ipam.IPv6Address, "IPv6");
                }
                record.NetworkSettings.Networks[target.Name] = config ?? new EndpointSettings();
            }
        }
        if (running)
        {
            var endpoint = NetworkService.Run(() => manager.Connect(target.Name, Request(record, NamespacePath(c.Id), config)));
            lock (c.Gate)
            {
                record.NetworkSettings.Networks ??= [];
                record.NetworkSettings.Networks[endpoint.NetworkName] = ToSettings(record, endpoint, config);
            }
        }
        store.Save(c);
        return Task.CompletedTask;
    }

    public Task DisconnectAsync(string containerIdOrName, string network, bool force, CancellationToken cancellationToken)
    {
        var store = Store ?? throw new NotImplementedYetException("disconnecting containers from networks");
        var c = store.TryGet(containerIdOrName);
        if (c is null)
        {
            // A container that is gone may still hold an endpoint (a crash): force removes it by ID.
            if (!force) throw new NotFoundException($"No such container: {containerIdOrName}");
            NetworkService.Run(() => { manager.Disconnect(network, containerIdOrName); return 0; });
            return Task.CompletedTask;
        }
        var record = c.Record;
        var target = manager.Find(network) ?? throw new NotFoundException($"network {network} not found");
        if (!target.HasBridge) throw new ForbiddenException($"container cannot be disconnected from host network or connected to host network");
        bool running;
        lock (c.Gate) running = record.State.Running && !record.State.Restarting;
        if (running && target.Endpoints.ContainsKey(c.Id)) NetworkService.Run(() => { manager.Disconnect(target.Name, c.Id); return 0; });
        lock (c.Gate)
        {
            var key = record.NetworkSettings.Networks?.Keys.FirstOrDefault(k => SameNetwork(k, target.Name));
            if (key is null && !target.Endpoints.ContainsKey(c.Id))
                throw new ForbiddenException($"container {c.Id} is not connected to network {target.Name}");
            if (key is not null) record.NetworkSettings.Networks!.Remove(key);
        }
        store.Save(c);
        return Task.CompletedTask;
    }

    private static EndpointSettings? Lookup(Dictionary<string, EndpointSettings> networks, string name)
        => networks.FirstOrDefault(kv => SameNetwork(kv.Key, name)).Value;

    private static bool SameNetwork(string a, string b)
        => a == b || (a is "default" or "bridge" && b is "default" or "bridge");

    private static EndpointRequest Request(ContainerRecord c, string path, EndpointSettings? config) => new(c.ID, c.Name.TrimStart('/'), path)
    {
        Aliases = [.. (config?.Aliases ?? []).Where(a => a != c.ID[..Math.Min(12, c.ID.Length)])],
        IPv4Address = NetworkService.ParseAddress(config?.IPAMConfig?.IPv4Address, "IPv4"),
        IPv6Address = NetworkService.ParseAddress(config?.IPAMConfig?.IPv6Address, "IPv6"),
        MacAddress = string.IsNullOrEmpty(config?.MacAddress) ? c.Config.MacAddress : config.MacAddress,
    };

    private static EndpointSettings ToSettings(ContainerRecord c, Endpoint e, EndpointSettings? config) => new()
    {
        IPAMConfig = config?.IPAMConfig,
        Links = config?.Links,
        Aliases = config?.Aliases,
        DriverOpts = config?.DriverOpts,
        NetworkID = e.NetworkId,
        EndpointID = e.EndpointId,
        Gateway = e.Gateway?.ToString() ?? "",
        IPAddress = e.IPv4Address?.ToString() ?? "",
        IPPrefixLen = e.IPv4PrefixLength,
        IPv6Gateway = e.IPv6Gateway?.ToString() ?? "",
        GlobalIPv6Address = e.IPv6Address?.ToString() ?? "",
        GlobalIPv6PrefixLen = e.IPv6PrefixLength,
        MacAddress = e.MacAddress,
        // The names the embedded DNS answers for this container on a user-defined network (none on the default bridge).
        DNSNames = e.NetworkName == "bridge" ? null : [c.Name.TrimStart('/'), .. e.Aliases, c.ID[..Math.Min(12, c.ID.Length)]],
    };

    /// <summary>HostConfig.PortBindings, plus every exposed port on an ephemeral host port with PublishAllPorts (-P).</summary>
    public static List<PortRequest> PortRequests(ContainerRecord c)
    {
        var list = new List<PortRequest>();
        var bound = new HashSet<string>();
        foreach (var (key, bindings) in c.HostConfig.PortBindings ?? [])
        {
            var (port, protocol) = ParsePortKey(key);
            bound.Add($"{port}/{protocol}");
            foreach (var b in bindings is { Count: > 0 } ? bindings : [new PortBinding()])
            {
                IPAddress? hostIp = null;
                if (!string.IsNullOrEmpty(b.HostIp) && !IPAddress.TryParse(b.HostIp, out hostIp))
                    throw new InvalidParameterException($"invalid IP address: {b.HostIp}");
                var (start, end) = string.IsNullOrEmpty(b.HostPort) ? (0, 0) : ParseHostPorts(b.HostPort);
                list.Add(new PortRequest(protocol, port, hostIp, start, end));
            }
        }
        if (c.HostConfig.PublishAllPorts)
            foreach (var key in (c.Config.ExposedPorts ?? []).Keys)
            {
                var (port, protocol) = ParsePortKey(key);
                if (bound.Add($"{port}/{protocol}")) list.Add(new PortRequest(protocol, port));
            }
        return list;
    }

    private static (int Port, string Protocol) ParsePortKey(string key)
    {
        var slash = key.IndexOf('/');
        var protocol = slash < 0 ? "tcp" : key[(slash + 1)..].ToLowerInvariant();
        if (!int.TryParse(slash < 0 ? key : key[..slash], out var port) || port is < 1 or > 65535 || protocol is not ("tcp" or "udp" or "sctp"))
            throw new InvalidParameterException($"invalid port specification: \"{key}\"");
        return (port, protocol);
    }

    private static (int Start, int End) ParseHostPorts(string text)
    {
        try { return PortSpec.ParseRange(text, text, allowZero: true); }
        catch (ArgumentException e) { throw new InvalidParameterException(e.Message); }
    }

    /// <summary>NetworkSettings.Ports: each exposed or published port, with its host bindings or null.</summary>
    private static Dictionary<string, List<PortBinding>?> PortMap(ContainerRecord c, IReadOnlyList<PublishedPort> published)
    {
        var map = new Dictionary<string, List<PortBinding>?>();
        foreach (var key in (c.Config.ExposedPorts ?? []).Keys)
        {
            var (port, protocol) = ParsePortKey(key);
            map.TryAdd($"{port}/{protocol}", null);
        }
        foreach (var p in published)
        {
            var key = $"{p.ContainerPort}/{p.Protocol}";
            if (!map.TryGetValue(key, out var list) || list is null) map[key] = list = [];
            list.Add(new PortBinding { HostIp = p.HostIp.ToString(), HostPort = p.HostPort.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }
        return map;
    }
}
