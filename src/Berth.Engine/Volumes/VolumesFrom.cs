using Berth.Engine.Containers;
using Berth.Engine.Models;
using Berth.Engine.RuntimeSpec;

namespace Berth.Engine.Volumes;

/// <summary>
/// Docker's HostConfig.VolumesFrom ("CONTAINER[:ro|:rw]"): the volumes and bind mounts of other containers, mounted at
/// the same destinations; ":ro"/":rw" overrides their writability, without it each keeps its own. A container's anonymous
/// volumes are shared by name (made now when it never ran, as Docker makes them at create). tmpfs mounts are not
/// shared. The container's own mounts win over inherited ones at the same destination.
/// </summary>
public static class VolumesFrom
{
    /// <summary>Splits an entry into container and mode (null when none); Docker's error for a bad mode.</summary>
    public static (string Container, string? Mode) Parse(string entry)
    {
        var colon = entry.LastIndexOf(':');
        var (name, mode) = colon < 0 ? (entry, null) : (entry[..colon], entry[(colon + 1)..]);
        if (name.Length == 0) throw new InvalidParameterException($"invalid volumes-from specification: '{entry}'");
        if (mode is not (null or "ro" or "rw")) throw new InvalidParameterException($"invalid mode for volumes-from: {mode}");
        return (name, mode);
    }

    /// <summary>Create-time check: every entry parses and names an existing container other than <paramref name="selfId"/>.</summary>
    public static void Validate(IReadOnlyList<string>? entries, ContainerStore containers, string? selfId = null)
    {
        foreach (var entry in entries ?? [])
        {
            var (name, _) = Parse(entry);
            // 400, not 404: clients take a 404 from create for a missing image and would try to pull it.
            var source = containers.TryGet(name) ?? throw new InvalidParameterException($"No such container: {name}");
            if (source.Id == selfId) throw new InvalidParameterException($"container {name} cannot mount volumes from itself");
        }
    }

    /// <summary>The mounts <paramref name="host"/>'s VolumesFrom brings to container <paramref name="selfId"/>, as
    /// HostConfig.Mounts entries, without destinations the container mounts itself.</summary>
    public static List<Mount> Expand(string selfId, HostConfig host, ContainerStore containers, VolumeStore volumes)
    {
        var own = UserMounts.Parse(host).Select(m => m.Destination).ToHashSet(StringComparer.Ordinal);
        var result = new List<Mount>();
        foreach (var m in Inherited(host, containers, volumes, [selfId]))
            if (own.Add(m.Target!)) result.Add(m);
        return result;
    }

    private static IEnumerable<Mount> Inherited(HostConfig host, ContainerStore containers, VolumeStore volumes, HashSet<string> visiting)
    {
        foreach (var entry in host.VolumesFrom ?? [])
        {
            var (name, mode) = Parse(entry);
            var source = containers.TryGet(name) ?? throw new NotFoundException($"No such container: {name}");
            if (!visiting.Add(source.Id)) continue; // a cycle or a container named twice: its mounts are there already
            HostConfig sourceHost;
            IReadOnlyDictionary<string, EmptyObject>? imageVolumes;
            lock (source.Gate)
            {
                sourceHost = source.Record.HostConfig;
                imageVolumes = source.Record.Config.Volumes;
            }
            var mounts = new List<Mount>();
            foreach (var m in UserMounts.Parse(sourceHost, imageVolumes))
            {
                var readOnly = mode is null ? !m.Writable : mode == "ro";
                switch (m.Type)
                {
                    case "bind":
                        mounts.Add(new Mount
                        {
                            Type = "bind", Source = m.Source, Target = m.Destination, ReadOnly = readOnly,
                            BindOptions = new BindOptions { Propagation = m.Propagation, NonRecursive = m.NonRecursive, CreateMountpoint = true },
                        });
                        break;
                    case "volume":
                        var volume = m.VolumeName ?? volumes.UseAnonymous(source.Id, m.Destination).Name;
                        // The volume has its content already (or is meant empty): no copy-up from this container's image.
                        mounts.Add(new Mount { Type = "volume", Source = volume, Target = m.Destination, ReadOnly = readOnly, VolumeOptions = new VolumeOptions { NoCopy = true } });
                        break;
                }
            }
            // What the source itself has from others, with this entry's mode.
            foreach (var m in Inherited(sourceHost, containers, volumes, visiting))
            {
                if (mode is not null) m.ReadOnly = mode == "ro";
                mounts.Add(m);
            }
            foreach (var m in mounts) yield return m;
        }
    }
}
