using System.Text.Json;
using Berth.Engine.Containers;
using Berth.Engine.Models;
using Berth.Engine.RuntimeSpec;
using Berth.Engine.Volumes;
using ImageConfig = Berth.Oci.Image.ImageConfig;

namespace Berth.Engine.Networks;

/// <summary>
/// The spec room with the network and volume rooms around it: before the spec is built the volume resolver learns the
/// rootfs (for copy-up); after it, a container with its own endpoints gets /etc/hosts with its addresses and, on a
/// user-defined network, /etc/resolv.conf naming the embedded DNS (127.0.0.11) as Docker writes them, and
/// the container's Mounts are recorded as Docker's inspect shows them.
/// </summary>
public sealed class RoomSpecFactory(ContainerSpecFactory inner, VolumeResolver volumes, ContainerNetworkAttacher attacher) : IContainerSpecFactory
{
    public ContainerSpecFactory Inner => inner;

    public IReadOnlyList<string> Validate(ContainerCreateRequest request, ImageConfig? image) => inner.Validate(request, image);

    public Oci.Runtime.Resources Resources(Resources resources) => inner.Resources(resources);

    public Oci.Runtime.Spec Build(SpecContext context)
    {
        var record = context.Container;
        var effective = WithVolumesFrom(record);
        volumes.BeginBuild(record.ID, context.RootfsPath);
        Oci.Runtime.Spec spec;
        IReadOnlyDictionary<string, (string Name, string Path)> resolved;
        try { spec = inner.Build(context with { Container = effective }); }
        finally { resolved = volumes.EndBuild(record.ID); }
        if (attacher.HasOwnEndpoints(record)) RewriteNetworkFiles(context);
        record.Mounts = MountPoints(effective, resolved);
        return spec;
    }

    /// <summary>
    /// The record as the spec room should see it: with HostConfig.VolumesFrom, a copy whose HostConfig.Mounts also holds
    /// the other containers' volumes and binds (resolved at each start, so they are the sources' current ones); the
    /// record itself keeps VolumesFrom as the user gave it, as Docker's inspect shows it.
    /// </summary>
    private ContainerRecord WithVolumesFrom(ContainerRecord record)
    {
        if (record.HostConfig.VolumesFrom is not { Count: > 0 } || attacher.Store is not { } containers) return record;
        var inherited = VolumesFrom.Expand(record.ID, record.HostConfig, containers, volumes.Store);
        var copy = JsonSerializer.Deserialize(JsonSerializer.SerializeToUtf8Bytes(record, ContainerRecordJsonContext.Default.ContainerRecord),
            ContainerRecordJsonContext.Default.ContainerRecord)!;
        copy.HostConfig.Mounts = [.. copy.HostConfig.Mounts ?? [], .. inherited];
        copy.HostConfig.VolumesFrom = null;
        return copy;
    }

    /// <summary>hosts and resolv.conf for a container in a namespace of its own with endpoints on Berth's networks.</summary>
    private void RewriteNetworkFiles(SpecContext context)
    {
        var record = context.Container;
        var host = record.HostConfig;
        var daemon = inner.Daemon;
        var addresses = (record.NetworkSettings.Networks?.Values ?? Enumerable.Empty<EndpointSettings>())
            .SelectMany(n => (string?[])[n.IPAddress, n.GlobalIPv6Address])
            .Where(ip => !string.IsNullOrEmpty(ip)).Select(ip => ip!).Distinct().ToList();
        var hostname = string.IsNullOrEmpty(record.Config.Hostname) ? record.ID[..12] : record.Config.Hostname;
        File.WriteAllText(context.HostsPath, NetworkFiles.Hosts(null, host.ExtraHosts, addresses, hostname, record.Config.Domainname, daemon.HostGatewayIp));
        if (attacher.Nameservers(record) is { Count: > 0 } nameservers)
        {
            var hostResolv = File.Exists(daemon.HostResolvConfPath) ? File.ReadAllText(daemon.HostResolvConfPath) : "";
            // The embedded DNS answers container names and forwards the rest, so --dns names its upstreams instead.
            var options = host.DnsOptions is { Count: > 0 } o ? o : ["ndots:0"];
            File.WriteAllText(context.ResolvConfPath, NetworkFiles.ResolvConf(hostResolv, false, null, host.DnsSearch, options, nameservers));
        }
    }

    /// <summary>
    /// At create, as Docker registers them: binds, named volumes (where the local driver keeps them) and --mount tmpfs
    /// mounts. Anonymous volumes get their names at the first start here, and VolumesFrom is resolved then.
    /// </summary>
    public List<MountPoint>? MountPointsAtCreate(ContainerRecord record)
    {
        List<UserMount> mounts;
        try { mounts = UserMounts.Parse(record.HostConfig, record.Config.Volumes); }
        catch (InvalidParameterException) { return null; }
        var named = new Dictionary<string, (string Name, string Path)>(StringComparer.Ordinal);
        foreach (var m in mounts)
            if (m is { Type: "volume", VolumeName: { Length: > 0 } name }) named[m.Destination] = (name, volumes.Store.DataPath(name));
        return MountPoints(record, named);
    }

    /// <summary>Docker's MountPoint list: binds, volumes (with their names) and --mount tmpfs mounts, image VOLUMEs included;
    /// never HostConfig.Tmpfs (--tmpfs), which Docker's inspect shows only there.</summary>
    private static List<MountPoint> MountPoints(ContainerRecord record, IReadOnlyDictionary<string, (string Name, string Path)> resolved)
    {
        List<UserMount> mounts;
        try { mounts = UserMounts.Parse(record.HostConfig, record.Config.Volumes); }
        catch (InvalidParameterException) { return record.Mounts; }
        var tmpfs = new HashSet<string>((record.HostConfig.Tmpfs?.Keys ?? Enumerable.Empty<string>()).Select(Berth.Oci.SlashPath.Clean), StringComparer.Ordinal);
        var list = new List<MountPoint>();
        foreach (var m in mounts)
        {
            if (m.Type == "tmpfs" && tmpfs.Contains(m.Destination)) continue;
            var point = new MountPoint { Type = m.Type, Destination = m.Destination, RW = m.Writable, Mode = "", Propagation = m.Type == "bind" ? m.Propagation : "" };
            switch (m.Type)
            {
                case "volume":
                    if (!resolved.TryGetValue(m.Destination, out var v)) continue;
                    point.Name = v.Name; point.Source = v.Path; point.Driver = "local"; point.Mode = m.Writable ? "" : "ro";
                    break;
                case "bind": point.Source = m.Source; break;
                default: point.Source = ""; break;
            }
            list.Add(point);
        }
        return list;
    }
}
