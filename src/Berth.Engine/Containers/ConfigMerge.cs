using Berth.Engine.Models;
using ImageContainerConfig = Berth.Oci.Image.ContainerConfig;

namespace Berth.Engine.Containers;

/// <summary>
/// Docker's create-time merge of the request's config with the image's (moby daemon/create.go,
/// container.Merge): what the user left unset comes from the image; env and labels are combined.
/// </summary>
public static class ConfigMerge
{
    public static ContainerConfig Merge(ContainerConfig request, ImageContainerConfig? image)
    {
        var c = Copy(request);
        if (image is not null)
        {
            if (string.IsNullOrEmpty(c.User)) c.User = image.User;
            if (image.ExposedPorts is { Count: > 0 })
            {
                c.ExposedPorts ??= [];
                foreach (var port in image.ExposedPorts.Keys) c.ExposedPorts.TryAdd(port, EmptyObject.Instance);
            }
            if (image.Env is { Count: > 0 })
            {
                var own = new HashSet<string>((c.Env ?? []).Select(EnvKey), StringComparer.Ordinal);
                var merged = new List<string>();
                foreach (var e in image.Env) if (!own.Contains(EnvKey(e))) merged.Add(e);
                merged.AddRange(c.Env ?? []);
                c.Env = merged;
            }
            if (image.Labels is { Count: > 0 })
            {
                var labels = new Dictionary<string, string>(image.Labels, StringComparer.Ordinal);
                foreach (var (k, v) in c.Labels ?? []) labels[k] = v;
                c.Labels = labels;
            }
            if (c.Entrypoint is not { Count: > 0 })
            {
                if (c.Cmd is not { Count: > 0 })
                {
                    c.Cmd = image.Cmd is null ? null : [.. image.Cmd];
                    c.Entrypoint = image.Entrypoint is null ? null : [.. image.Entrypoint];
                }
                else if (image.Entrypoint is { Count: > 0 } && c.Entrypoint is null)
                {
                    c.Entrypoint = [.. image.Entrypoint];
                }
            }
            if (image.Healthcheck is { } ih)
            {
                if (c.Healthcheck is null)
                {
                    c.Healthcheck = new HealthConfig
                    {
                        Test = ih.Test is null ? null : [.. ih.Test], Interval = ih.Interval ?? 0, Timeout = ih.Timeout ?? 0,
                        Retries = ih.Retries ?? 0, StartPeriod = ih.StartPeriod ?? 0, StartInterval = ih.StartInterval ?? 0,
                    };
                }
                else
                {
                    if (c.Healthcheck.Test is not { Count: > 0 }) c.Healthcheck.Test = ih.Test is null ? null : [.. ih.Test];
                    if (c.Healthcheck.Interval == 0) c.Healthcheck.Interval = ih.Interval ?? 0;
                    if (c.Healthcheck.Timeout == 0) c.Healthcheck.Timeout = ih.Timeout ?? 0;
                    if (c.Healthcheck.StartPeriod == 0) c.Healthcheck.StartPeriod = ih.StartPeriod ?? 0;
                    if (c.Healthcheck.StartInterval == 0) c.Healthcheck.StartInterval = ih.StartInterval ?? 0;
                    if (c.Healthcheck.Retries == 0) c.Healthcheck.Retries = ih.Retries ?? 0;
                }
            }
            if (string.IsNullOrEmpty(c.WorkingDir)) c.WorkingDir = image.WorkingDir;
            if (image.Volumes is { Count: > 0 })
            {
                c.Volumes ??= [];
                foreach (var v in image.Volumes.Keys) c.Volumes.TryAdd(v, EmptyObject.Instance);
            }
            if (string.IsNullOrEmpty(c.StopSignal)) c.StopSignal = image.StopSignal;
            if (c.OnBuild is null && image.OnBuild is not null) c.OnBuild = [.. image.OnBuild];
            if (c.Shell is not { Count: > 0 } && image.Shell is { Count: > 0 }) c.Shell = [.. image.Shell];
        }
        if (c.Entrypoint is not { Count: > 0 } && c.Cmd is not { Count: > 0 })
            throw new InvalidParameterException("no command specified");
        return c;
    }

    /// <summary>The process's path and arguments: the entrypoint followed by the command.</summary>
    public static (string Path, List<string> Args) Command(ContainerConfig c)
    {
        List<string> all = [.. c.Entrypoint ?? [], .. c.Cmd ?? []];
        return (all[0], all[1..]);
    }

    private static string EnvKey(string e)
    {
        var eq = e.IndexOf('=');
        return eq < 0 ? e : e[..eq];
    }

    /// <summary>A copy typed as ContainerConfig (never the request subclass, so HostConfig is not carried along).</summary>
    public static ContainerConfig Copy(ContainerConfig r) => new()
    {
        Hostname = r.Hostname, Domainname = r.Domainname, User = r.User, AttachStdin = r.AttachStdin, AttachStdout = r.AttachStdout,
        AttachStderr = r.AttachStderr, ExposedPorts = r.ExposedPorts is null ? null : new(r.ExposedPorts), Tty = r.Tty, OpenStdin = r.OpenStdin,
        StdinOnce = r.StdinOnce, Env = r.Env is null ? null : [.. r.Env], Cmd = r.Cmd is null ? null : [.. r.Cmd],
        Healthcheck = r.Healthcheck is null ? null : new HealthConfig
        {
            Test = r.Healthcheck.Test is null ? null : [.. r.Healthcheck.Test], Interval = r.Healthcheck.Interval, Timeout = r.Healthcheck.Timeout,
            Retries = r.Healthcheck.Retries, StartPeriod = r.Healthcheck.StartPeriod, StartInterval = r.Healthcheck.StartInterval,
        },
        ArgsEscaped = r.ArgsEscaped, Image = r.Image, Volumes = r.Volumes is null ? null : new(r.Volumes), WorkingDir = r.WorkingDir,
        Entrypoint = r.Entrypoint is null ? null : [.. r.Entrypoint], NetworkDisabled = r.NetworkDisabled, MacAddress = r.MacAddress,
        OnBuild = r.OnBuild is null ? null : [.. r.OnBuild], Labels = r.Labels is null ? null : new(r.Labels), StopSignal = r.StopSignal,
        StopTimeout = r.StopTimeout, Shell = r.Shell is null ? null : [.. r.Shell],
    };
}
