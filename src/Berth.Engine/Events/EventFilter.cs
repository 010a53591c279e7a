using Berth.Engine.Models;

namespace Berth.Engine.Events;

/// <summary>
/// Docker's /events filters (daemon/events/filter.go): each given filter must match; within one filter any
/// value may. container/network/volume… match an ID prefix or the exact name; image matches the ID or the
/// name with or without its tag; label matches "key" or "key=value" against the actor's attributes.
/// </summary>
public sealed class EventFilter
{
    private static readonly HashSet<string> Known =
        ["container", "event", "image", "label", "type", "volume", "network", "daemon", "plugin", "node", "service", "secret", "config", "scope"];

    private readonly Filters filters;

    private EventFilter(Filters filters) => this.filters = filters;

    public static readonly EventFilter All = new(Filters.None);

    /// <summary>Throws Docker's "invalid filter 'x'" for an unknown key.</summary>
    public static EventFilter Parse(Filters filters)
    {
        foreach (var key in filters.Values.Keys)
            if (!Known.Contains(key)) throw new InvalidParameterException($"invalid filter '{key}'");
        return new EventFilter(filters);
    }

    public bool Matches(EventMessage m)
    {
        var attributes = m.Actor.Attributes;
        return Exact("event", m.Action, ActionStem(m.Action))
            && Exact("type", m.Type)
            && Exact("scope", m.Scope)
            && Labels(attributes)
            && ForType("daemon", "daemon", m)
            && ForType("container", "container", m)
            && ForType("plugin", "plugin", m)
            && ForType("volume", "volume", m)
            && ForType("network", "network", m)
            && ForType("node", "node", m)
            && ForType("service", "service", m)
            && ForType("secret", "secret", m)
            && ForType("config", "config", m)
            && Image(m);
    }

    /// <summary>"exec_start: sh -c …" and "health_status: healthy" match the filter value before the colon too.</summary>
    private static string ActionStem(string action)
    {
        var colon = action.IndexOf(':');
        return colon < 0 ? action : action[..colon];
    }

    private bool Exact(string key, params string?[] candidates)
    {
        if (!filters.Has(key)) return true;
        foreach (var value in filters.Get(key))
            foreach (var candidate in candidates)
                if (candidate is not null && value == candidate) return true;
        return false;
    }

    /// <summary>A filter on an actor kind: events of other types fail it; ours match by name or ID prefix.</summary>
    private bool ForType(string key, string type, EventMessage m)
    {
        if (!filters.Has(key)) return true;
        if (m.Type != type) return false;
        var name = m.Actor.Attributes.GetValueOrDefault("name");
        foreach (var value in filters.Get(key))
        {
            if (value.Length == 0) continue;
            if (value == name || m.Actor.ID.StartsWith(value, StringComparison.Ordinal)) return true;
        }
        return false;
    }

    private bool Labels(Dictionary<string, string> attributes)
    {
        if (!filters.Has("label")) return true;
        foreach (var value in filters.Get("label"))
        {
            var eq = value.IndexOf('=');
            var match = eq < 0
                ? attributes.ContainsKey(value)
                : attributes.TryGetValue(value[..eq], out var actual) && actual == value[(eq + 1)..];
            if (!match) return false; // Docker: every label filter must hold
        }
        return true;
    }

    private bool Image(EventMessage m)
    {
        if (!filters.Has("image")) return true;
        var name = m.Actor.Attributes.GetValueOrDefault(m.Type == "image" ? "name" : "image");
        return Exact("image", m.Actor.ID, name, StripTag(m.Actor.ID), StripTag(name));
    }

    /// <summary>"busybox:latest" → "busybox"; a digest reference or a registry port stays intact.</summary>
    private static string? StripTag(string? image)
    {
        if (image is null || image.Contains('@')) return image;
        var slash = image.LastIndexOf('/');
        var colon = image.LastIndexOf(':');
        return colon > slash ? image[..colon] : image;
    }
}
