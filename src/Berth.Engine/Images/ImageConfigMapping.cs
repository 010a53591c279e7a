using Berth.Engine.Models;
using OciConfig = Berth.Oci.Image.ContainerConfig;
using OciEmpty = Berth.Oci.Image.EmptyObject;
using OciHealth = Berth.Oci.Image.HealthcheckConfig;

namespace Berth.Engine.Images;

/// <summary>
/// The image config's execution parameters (OCI/Docker image JSON) and the API's ContainerConfig, both ways.
/// An image keeps only what a container inherits; the container-only fields (Hostname, Tty…) are dropped on
/// the way in and left at their defaults on the way out, as Docker's inspect shows them.
/// </summary>
public static class ImageConfigMapping
{
    public static ContainerConfig ToApi(OciConfig? config)
    {
        if (config is null) return new ContainerConfig();
        return new ContainerConfig
        {
            User = config.User ?? "",
            ExposedPorts = config.ExposedPorts?.ToDictionary(p => p.Key, _ => new EmptyObject(), StringComparer.Ordinal),
            Env = config.Env is null ? null : [.. config.Env],
            Cmd = config.Cmd is null ? null : [.. config.Cmd],
            Entrypoint = config.Entrypoint is null ? null : [.. config.Entrypoint],
            Volumes = config.Volumes?.ToDictionary(p => p.Key, _ => new EmptyObject(), StringComparer.Ordinal),
            WorkingDir = config.WorkingDir ?? "",
            Labels = config.Labels is null ? null : new Dictionary<string, string>(config.Labels, StringComparer.Ordinal),
            StopSignal = config.StopSignal,
            ArgsEscaped = config.ArgsEscaped,
            OnBuild = config.OnBuild is null ? null : [.. config.OnBuild],
            Shell = config.Shell is null ? null : [.. config.Shell],
            Healthcheck = config.Healthcheck is { } h ? new HealthConfig
            {
                Test = h.Test is null ? null : [.. h.Test],
                Interval = h.Interval ?? 0,
                Timeout = h.Timeout ?? 0,
                StartPeriod = h.StartPeriod ?? 0,
                StartInterval = h.StartInterval ?? 0,
                Retries = h.Retries ?? 0,
            } : null,
        };
    }

    public static OciConfig ToImage(ContainerConfig config) => new()
    {
        User = string.IsNullOrEmpty(config.User) ? null : config.User,
        ExposedPorts = config.ExposedPorts is { Count: > 0 } ports ? new SortedDictionary<string, OciEmpty>(ports.ToDictionary(p => p.Key, _ => OciEmpty.Instance), StringComparer.Ordinal) : null,
        Env = config.Env is { Count: > 0 } env ? [.. env] : null,
        Cmd = config.Cmd is null ? null : [.. config.Cmd],
        Entrypoint = config.Entrypoint is { Count: > 0 } ep ? [.. ep] : null,
        Volumes = config.Volumes is { Count: > 0 } volumes ? new SortedDictionary<string, OciEmpty>(volumes.ToDictionary(p => p.Key, _ => OciEmpty.Instance), StringComparer.Ordinal) : null,
        WorkingDir = string.IsNullOrEmpty(config.WorkingDir) ? null : config.WorkingDir,
        Labels = config.Labels is { Count: > 0 } labels ? new SortedDictionary<string, string>(labels, StringComparer.Ordinal) : null,
        StopSignal = string.IsNullOrEmpty(config.StopSignal) ? null : config.StopSignal,
        ArgsEscaped = config.ArgsEscaped is true ? true : null,
        OnBuild = config.OnBuild is { Count: > 0 } onBuild ? [.. onBuild] : null,
        Shell = config.Shell is { Count: > 0 } shell ? [.. shell] : null,
        Healthcheck = config.Healthcheck is { } h ? new OciHealth
        {
            Test = h.Test is null ? null : [.. h.Test],
            Interval = h.Interval == 0 ? null : h.Interval,
            Timeout = h.Timeout == 0 ? null : h.Timeout,
            StartPeriod = h.StartPeriod == 0 ? null : h.StartPeriod,
            StartInterval = h.StartInterval == 0 ? null : h.StartInterval,
            Retries = h.Retries == 0 ? null : h.Retries,
        } : null,
    };

    /// <summary>
    /// Docker's commit merge (daemon/commit.go): what the client gave wins, the container's config fills the
    /// rest; sets (ports, volumes, labels) and Env are unions, Env by variable name.
    /// </summary>
    public static ContainerConfig Merge(ContainerConfig? user, ContainerConfig container)
    {
        if (user is null) return container;
        var merged = user;
        if (string.IsNullOrEmpty(merged.User)) merged.User = container.User;
        if (container.ExposedPorts is { Count: > 0 } ports)
        {
            merged.ExposedPorts ??= [];
            foreach (var (port, _) in ports) merged.ExposedPorts.TryAdd(port, new EmptyObject());
        }
        if (container.Env is { Count: > 0 } containerEnv)
        {
            merged.Env ??= [];
            var names = merged.Env.Select(EnvName).ToHashSet(StringComparer.Ordinal);
            foreach (var variable in containerEnv)
                if (names.Add(EnvName(variable))) merged.Env.Add(variable);
        }
        if (container.Labels is { Count: > 0 } labels)
        {
            merged.Labels ??= [];
            foreach (var (key, value) in labels) merged.Labels.TryAdd(key, value);
        }
        if (merged.Entrypoint is not { Count: > 0 })
        {
            if (merged.Cmd is not { Count: > 0 }) merged.Cmd = container.Cmd;
            merged.Entrypoint ??= container.Entrypoint;
        }
        merged.Healthcheck ??= container.Healthcheck;
        if (string.IsNullOrEmpty(merged.WorkingDir)) merged.WorkingDir = container.WorkingDir;
        if (container.Volumes is { Count: > 0 } volumes)
        {
            merged.Volumes ??= [];
            foreach (var (path, _) in volumes) merged.Volumes.TryAdd(path, new EmptyObject());
        }
        if (string.IsNullOrEmpty(merged.StopSignal)) merged.StopSignal = container.StopSignal;
        merged.OnBuild ??= container.OnBuild;
        merged.Shell ??= container.Shell;
        return merged;
    }

    private static string EnvName(string variable)
    {
        var eq = variable.IndexOf('=');
        return eq < 0 ? variable : variable[..eq];
    }
}
