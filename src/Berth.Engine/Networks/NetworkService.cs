using System.Net;
using Berth.Engine.Models;
using Berth.Network;

namespace Berth.Engine.Networks;

/// <summary>The /networks routes as the engine serves them.</summary>
public interface INetworkService
{
    Task<IReadOnlyList<NetworkResource>> ListAsync(Filters filters, CancellationToken cancellationToken);
    Task<NetworkResource> InspectAsync(string idOrName, CancellationToken cancellationToken);
    Task<NetworkCreateResponse> CreateAsync(NetworkCreateRequest request, CancellationToken cancellationToken);
    Task RemoveAsync(string idOrName, CancellationToken cancellationToken);
    Task ConnectAsync(string idOrName, NetworkConnectRequest request, CancellationToken cancellationToken);
    Task DisconnectAsync(string idOrName, NetworkDisconnectRequest request, CancellationToken cancellationToken);
    Task<NetworkPruneResponse> PruneAsync(Filters filters, CancellationToken cancellationToken);
}

/// <summary>How the network service reaches a container for connect/disconnect (the container attacher in berthd).</summary>
public interface IContainerEndpoints
{
    Task ConnectAsync(string containerIdOrName, string network, EndpointSettings? config, CancellationToken cancellationToken);
    Task DisconnectAsync(string containerIdOrName, string network, bool force, CancellationToken cancellationToken);
}

/// <summary>Docker's network API over a <see cref="NetworkManager"/>: shapes, filters and error classes.</summary>
public sealed class NetworkService(NetworkManager manager) : INetworkService
{
    /// <summary>Set once the container service exists; connect/disconnect answer 501 until then.</summary>
    public IContainerEndpoints? Containers { get; set; }

    public NetworkManager Manager => manager;

    public Task<IReadOnlyList<NetworkResource>> ListAsync(Filters filters, CancellationToken cancellationToken)
    {
        ValidateFilters(filters, "dangling", "driver", "id", "label", "name", "scope", "type");
        IReadOnlyList<NetworkResource> list = [.. manager.List().Where(n => Matches(n, filters)).Select(n => ToResource(n, withContainers: false))];
        return Task.FromResult(list);
    }

    public Task<NetworkResource> InspectAsync(string idOrName, CancellationToken cancellationToken)
        => Task.FromResult(ToResource(manager.Find(idOrName) ?? throw NotFound(idOrName), withContainers: true));

    public Task<NetworkCreateResponse> CreateAsync(NetworkCreateRequest request, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request.Name)) throw new InvalidParameterException("network name must not be empty");
        if (request.IPAM?.Driver is { Length: > 0 } ipamDriver && ipamDriver != "default")
            throw new NotFoundException($"plugin \"{ipamDriver}\" not found");
        if (request.Scope is { Length: > 0 } scope && scope != "local") throw new InvalidParameterException($"scope {scope} is not supported");
        var options = new NetworkCreateOptions(request.Name)
        {
            Driver = string.IsNullOrEmpty(request.Driver) ? "bridge" : request.Driver,
            Internal = request.Internal,
            Attachable = request.Attachable,
            EnableIPv6 = request.EnableIPv6 ?? false,
            Subnets = [.. (request.IPAM?.Config ?? []).Where(c => !string.IsNullOrEmpty(c.Subnet))
                .Select(c => new IpamSubnet(c.Subnet!, NullIfEmpty(c.Gateway), NullIfEmpty(c.IPRange)))],
            Options = request.Options ?? [],
            Labels = request.Labels ?? [],
        };
        if (request.IPAM?.Config?.Any(c => string.IsNullOrEmpty(c.Subnet) && (!string.IsNullOrEmpty(c.Gateway) || !string.IsNullOrEmpty(c.IPRange))) == true)
            throw new InvalidParameterException("a gateway or ip-range needs a subnet");
        var created = Run(() => manager.Create(options));
        return Task.FromResult(new NetworkCreateResponse { Id = created.Id });
    }

    public Task RemoveAsync(string idOrName, CancellationToken cancellationToken)
    {
        Run(() => { manager.Remove(idOrName); return 0; });
        return Task.CompletedTask;
    }

    public async Task ConnectAsync(string idOrName, NetworkConnectRequest request, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(request.Container)) throw new InvalidParameterException("container must not be empty");
        var network = manager.Find(idOrName) ?? throw NotFound(idOrName);
        var containers = Containers ?? throw new NotImplementedYetException("connecting containers to networks");
        await containers.ConnectAsync(request.Container, network.Name, request.EndpointConfig, cancellationToken);
    }

    public async Task DisconnectAsync(string idOrName, NetworkDisconnectRequest request, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(request.Container)) throw new InvalidParameterException("container must not be empty");
        var network = manager.Find(idOrName) ?? throw NotFound(idOrName);
        var containers = Containers ?? throw new NotImplementedYetException("disconnecting containers from networks");
        await containers.DisconnectAsync(request.Container, network.Name, request.Force, cancellationToken);
    }

    public Task<NetworkPruneResponse> PruneAsync(Filters filters, CancellationToken cancellationToken)
    {
        ValidateFilters(filters, "label", "label!", "until");
        var until = filters.Get("until").Select(ParseUntil).DefaultIfEmpty(DateTimeOffset.MaxValue).Min();
        var deleted = manager.Prune(n => n.Created < until && LabelsMatch(n.Labels, filters.Get("label")) && !LabelsMatch(n.Labels, filters.Get("label!"), anyIfEmpty: false));
        return Task.FromResult(new NetworkPruneResponse { NetworksDeleted = [.. deleted] });
    }

    /// <summary>Docker's NetworkResource for one network; containers only for inspect (as `docker network ls` gets none).</summary>
    public static NetworkResource ToResource(NetworkRecord n, bool withContainers)
    {
        var options = new Dictionary<string, string>(n.Options);
        if (n.IsDefault)
        {
            options[NetworkManager.BridgeNameOption] = n.Bridge;
            options.TryAdd("com.docker.network.bridge.enable_icc", "true");
            options.TryAdd("com.docker.network.bridge.enable_ip_masquerade", "true");
            options.TryAdd("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0");
            options.TryAdd("com.docker.network.driver.mtu", n.Mtu > 0 ? n.Mtu.ToString(System.Globalization.CultureInfo.InvariantCulture) : "1500");
        }
        var resource = new NetworkResource
        {
            Name = n.Name, Id = n.Id, Created = DockerTime.Format(n.Created), Driver = n.Driver, EnableIPv6 = n.EnableIPv6, Internal = n.Internal,
            Attachable = n.Attachable, Options = options, Labels = new(n.Labels),
            IPAM = new IPAM
            {
                Options = [],
                Config = [.. n.Subnets.Select(s => new IPAMConfig { Subnet = s.Subnet, Gateway = s.Gateway, IPRange = s.IPRange })],
            },
        };
        if (withContainers)
            foreach (var e in n.Endpoints.Values)
                resource.Containers[e.ContainerId] = new NetworkContainer
                {
                    Name = e.ContainerName, EndpointID = e.EndpointId, MacAddress = e.MacAddress,
                    IPv4Address = e.IPv4 is null ? "" : $"{e.IPv4}/{e.IPv4PrefixLength}",
                    IPv6Address = e.IPv6 is null ? "" : $"{e.IPv6}/{e.IPv6PrefixLength}",
                };
        return resource;
    }

    private static bool Matches(NetworkRecord n, Filters f)
    {
        if (f.Has("name") && !f.Get("name").Any(v => n.Name.Contains(v, StringComparison.Ordinal))) return false;
        if (f.Has("id") && !f.Get("id").Any(v => n.Id.StartsWith(v, StringComparison.Ordinal))) return false;
        if (f.Has("driver") && !f.Get("driver").Contains(n.Driver)) return false;
        if (f.Has("scope") && !f.Get("scope").Contains("local")) return false;
        var builtin = n.IsDefault || !n.HasBridge;
        if (f.Has("type") && !f.Get("type").Any(t => t == (builtin ? "builtin" : "custom")))
        {
            if (f.Get("type").Any(t => t is not ("builtin" or "custom"))) throw new InvalidParameterException($"invalid filter: 'type'='{f.Get("type")[0]}'");
            return false;
        }
        if (f.Has("dangling"))
        {
            var value = f.Get("dangling")[0];
            if (value is not ("true" or "false" or "1" or "0")) throw new InvalidParameterException($"invalid filter 'dangling={value}'");
            var dangling = !builtin && n.Endpoints.Count == 0;
            if (dangling != (value is "true" or "1")) return false;
        }
        return LabelsMatch(n.Labels, f.Get("label"));
    }

    private static bool LabelsMatch(Dictionary<string, string> labels, IReadOnlyList<string> wanted, bool anyIfEmpty = true)
    {
        if (wanted.Count == 0) return anyIfEmpty;
        foreach (var w in wanted)
        {
            var eq = w.IndexOf('=');
            var ok = eq < 0 ? labels.ContainsKey(w) : labels.TryGetValue(w[..eq], out var v) && v == w[(eq + 1)..];
            if (!ok) return false;
        }
        return true;
    }

    private static void ValidateFilters(Filters filters, params string[] allowed)
    {
        foreach (var key in filters.Values.Keys)
            if (!allowed.Contains(key)) throw new InvalidParameterException($"invalid filter '{key}'");
    }

    private static DateTimeOffset ParseUntil(string value)
    {
        if (long.TryParse(value, out var unix)) return DateTimeOffset.FromUnixTimeSeconds(unix);
        if (DateTimeOffset.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var t)) return t;
        if (TimeSpan.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out var ago)) return DateTimeOffset.UtcNow - ago;
        throw new InvalidParameterException($"invalid filter 'until={value}'");
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private static NotFoundException NotFound(string idOrName) => new($"network {idOrName} not found");

    /// <summary>Runs a manager call, turning its refusals into the engine's error classes.</summary>
    public static T Run<T>(Func<T> action)
    {
        try { return action(); }
        catch (NetworkException e) { throw Translate(e); }
    }

    public static EngineException Translate(NetworkException e) => e.Kind switch
    {
        NetworkErrorKind.NotFound => new NotFoundException(e.Message),
        NetworkErrorKind.Conflict => new ConflictException(e.Message),
        NetworkErrorKind.Forbidden => new ForbiddenException(e.Message),
        _ => new InvalidParameterException(e.Message),
    };

    internal static IPAddress? ParseAddress(string? text, string what)
    {
        if (string.IsNullOrEmpty(text)) return null;
        return IPAddress.TryParse(text, out var a) ? a : throw new InvalidParameterException($"invalid {what} address: {text}");
    }
}

/// <summary>Every network operation answers 501 (an engine built without the network room).</summary>
public sealed class UnavailableNetworks : INetworkService
{
    public static readonly UnavailableNetworks Instance = new();
    private static NotImplementedYetException Missing => new("networks");
    public Task<IReadOnlyList<NetworkResource>> ListAsync(Filters filters, CancellationToken cancellationToken) => throw Missing;
    public Task<NetworkResource> InspectAsync(string idOrName, CancellationToken cancellationToken) => throw Missing;
    public Task<NetworkCreateResponse> CreateAsync(NetworkCreateRequest request, CancellationToken cancellationToken) => throw Missing;
    public Task RemoveAsync(string idOrName, CancellationToken cancellationToken) => throw Missing;
    public Task ConnectAsync(string idOrName, NetworkConnectRequest request, CancellationToken cancellationToken) => throw Missing;
    public Task DisconnectAsync(string idOrName, NetworkDisconnectRequest request, CancellationToken cancellationToken) => throw Missing;
    public Task<NetworkPruneResponse> PruneAsync(Filters filters, CancellationToken cancellationToken) => throw Missing;
}
