using System.Text.RegularExpressions;
using Berth.Engine.Models;

namespace Berth.Engine.Containers;

/// <summary>
/// `docker ps --filter` as dockerd applies it (daemon/list.go): id and name are regular expressions, label
/// key[=value], status/exited/health exact, ancestor an image (by reference or ID), before/since a container.
/// </summary>
internal sealed class ContainerFilter
{
    private static readonly HashSet<string> Known =
        ["id", "name", "label", "status", "ancestor", "exited", "before", "since", "health", "network", "volume", "publish", "expose", "isolation", "is-task"];
    private static readonly HashSet<string> Statuses = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];
    private static readonly HashSet<string> HealthStates = ["starting", "healthy", "unhealthy", "none"];

    private readonly Filters filters;
    private readonly List<Regex> ids = [], names = [];
    private readonly List<int> exited = [];
    private readonly HashSet<string> ancestorIds = new(StringComparer.Ordinal);
    private DateTimeOffset? beforeCreated, sinceCreated;

    private ContainerFilter(Filters filters) => this.filters = filters;

    /// <summary>status and exited filters list stopped containers too (Docker sets All for them).</summary>
    public bool ImpliesAll { get; private set; }

    public static ContainerFilter Parse(Filters filters, ContainerStore store, IContainerImages images)
    {
        var f = new ContainerFilter(filters);
        foreach (var key in filters.Values.Keys)
            if (!Known.Contains(key)) throw new InvalidParameterException($"invalid filter '{key}'");
        foreach (var v in filters.Get("id")) f.ids.Add(Pattern(v));
        foreach (var v in filters.Get("name")) f.names.Add(Pattern(v));
        foreach (var v in filters.Get("status"))
        {
            if (!Statuses.Contains(v)) throw new InvalidParameterException($"invalid filter 'status={v}'");
            f.ImpliesAll = true;
        }
        foreach (var v in filters.Get("health"))
            if (!HealthStates.Contains(v)) throw new InvalidParameterException($"Unrecognised filter value for health: {v}");
        foreach (var v in filters.Get("exited"))
        {
            if (!int.TryParse(v, out var code)) throw new InvalidParameterException($"invalid filter 'exited={v}'");
            f.exited.Add(code);
            f.ImpliesAll = true;
        }
        foreach (var v in filters.Get("ancestor"))
        {
            try { f.ancestorIds.Add(images.Resolve(v).Id); }
            catch (NotFoundException) { f.ancestorIds.Add(v); } // Docker: an unknown ancestor matches nothing (but the text)
        }
        if (filters.Get("before") is [var before, ..]) f.beforeCreated = DockerTime.Parse(store.Get(before).Record.Created);
        if (filters.Get("since") is [var since, ..]) f.sinceCreated = DockerTime.Parse(store.Get(since).Record.Created);
        return f;
    }

    private static Regex Pattern(string value)
    {
        try { return new Regex(value, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100)); }
        catch (ArgumentException) { return new Regex(Regex.Escape(value), RegexOptions.CultureInvariant); }
    }

    /// <summary>Call under the container's Gate.</summary>
    public bool Matches(Container c)
    {
        var r = c.Record;
        var s = r.State;
        if (ids.Count > 0 && !ids.Any(x => x.IsMatch(r.ID))) return false;
        if (names.Count > 0 && !names.Any(x => x.IsMatch(r.Name))) return false;
        if (filters.Has("label") && !ContainerService.LabelsMatch(r.Config.Labels, filters.Get("label"), [])) return false;
        if (filters.Has("status") && !filters.Get("status").Contains(s.Status)) return false;
        if (exited.Count > 0 && (s.Running || s.StartedAt == DockerTime.Zero || !exited.Contains(s.ExitCode))) return false;
        if (filters.Has("health"))
        {
            var health = s.Health?.Status ?? "none";
            if (!filters.Get("health").Contains(health)) return false;
        }
        if (ancestorIds.Count > 0 && !ancestorIds.Contains(r.Image) && !(r.Config.Image is { } img && filters.Get("ancestor").Contains(img))) return false;
        if (beforeCreated is not null && DockerTime.Parse(r.Created) >= beforeCreated) return false;
        if (sinceCreated is not null && DockerTime.Parse(r.Created) <= sinceCreated) return false;
        if (filters.Has("network"))
        {
            var networks = r.NetworkSettings.Networks?.Keys ?? (IEnumerable<string>)[];
            var mode = r.HostConfig.NetworkMode;
            if (!filters.Get("network").Any(n => networks.Contains(n) || n == mode)) return false;
        }
        return true;
    }
}
