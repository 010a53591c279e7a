using Berth.Engine.Models;
using ImageContainerConfig = Berth.Oci.Image.ContainerConfig;

namespace Berth.Engine.RuntimeSpec;

/// <summary>
/// Docker's merge of a create request with its image's config (moby daemon/commit.go merge and
/// mergeAndVerifyConfig), the command it runs and the environment it gets (container.CreateDaemonEnvironment).
/// </summary>
public static class ConfigMerge
{
    /// <summary>The default PATH of a Linux container without one (moby oci.DefaultPathEnv).</summary>
    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>
    /// Fills <paramref name="config"/> from <paramref name="image"/> where the request left things out, as Docker
    /// does at create (the result is what inspect shows as Config). An entrypoint of [""] clears the image's
    /// entrypoint; it is kept as an empty list (Docker keeps null), so merging an already merged config again
    /// changes nothing. Throws Docker's "no command specified" when there is nothing to run.
    /// </summary>
    public static void Apply(ContainerConfig config, ImageContainerConfig? image)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (image is not null)
        {
            if (string.IsNullOrEmpty(config.User)) config.User = image.User;
            if (config.ExposedPorts is not { Count: > 0 })
                config.ExposedPorts = image.ExposedPorts?.ToDictionary(p => p.Key, _ => EmptyObject.Instance);
            else if (image.ExposedPorts is not null)
                foreach (var port in image.ExposedPorts.Keys) config.ExposedPorts.TryAdd(port, EmptyObject.Instance);

            if (config.Env is not { Count: > 0 }) config.Env = image.Env is null ? null : [.. image.Env];
            else if (image.Env is not null)
                foreach (var imageEnv in image.Env)
                {
                    var key = EnvKey(imageEnv);
                    if (!config.Env.Any(e => EnvKey(e) == key)) config.Env.Add(imageEnv);
                }

            config.Labels ??= [];
            foreach (var (k, v) in image.Labels ?? []) config.Labels.TryAdd(k, v);

            if (config.Entrypoint is not { Count: > 0 })
            {
                if (config.Cmd is not { Count: > 0 }) config.Cmd = image.Cmd is null ? config.Cmd : [.. image.Cmd];
                if (config.Entrypoint is null && image.Entrypoint is not null) config.Entrypoint = [.. image.Entrypoint];
            }

            if (image.Healthcheck is { } ih)
            {
                if (config.Healthcheck is null)
                    config.Healthcheck = new HealthConfig
                    {
                        Test = ih.Test is null ? null : [.. ih.Test], Interval = ih.Interval ?? 0, Timeout = ih.Timeout ?? 0,
                        StartPeriod = ih.StartPeriod ?? 0, StartInterval = ih.StartInterval ?? 0, Retries = ih.Retries ?? 0,
                    };
                else
                {
                    var h = config.Healthcheck;
                    if (h.Test is not { Count: > 0 }) h.Test = ih.Test is null ? null : [.. ih.Test];
                    if (h.Interval == 0) h.Interval = ih.Interval ?? 0;
                    if (h.Timeout == 0) h.Timeout = ih.Timeout ?? 0;
                    if (h.StartPeriod == 0) h.StartPeriod = ih.StartPeriod ?? 0;
                    if (h.StartInterval == 0) h.StartInterval = ih.StartInterval ?? 0;
                    if (h.Retries == 0) h.Retries = ih.Retries ?? 0;
                }
            }

            if (string.IsNullOrEmpty(config.WorkingDir)) config.WorkingDir = image.WorkingDir;
            if (config.Volumes is not { Count: > 0 })
                config.Volumes = image.Volumes?.ToDictionary(p => p.Key, _ => EmptyObject.Instance);
            else if (image.Volumes is not null)
                foreach (var v in image.Volumes.Keys) config.Volumes[v] = EmptyObject.Instance;
            if (string.IsNullOrEmpty(config.StopSignal)) config.StopSignal = image.StopSignal;
        }

        if (config.Entrypoint is [""]) config.Entrypoint = [];
        if (config.Entrypoint is not { Count: > 0 } && config.Cmd is not { Count: > 0 })
            throw new InvalidParameterException("no command specified");
    }

    /// <summary>A merged copy of <paramref name="request"/> (never the request subclass, so HostConfig is not carried along).</summary>
    public static ContainerConfig Merged(ContainerConfig request, ImageContainerConfig? image)
    {
        var config = Copy(request);
        Apply(config, image);
        return config;
    }

    /// <summary>A deep copy typed as ContainerConfig (never the request subclass, so HostConfig is not carried along).</summary>
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

    /// <summary>The process's argv: the entrypoint followed by the command (moby getEntrypointAndArgs).</summary>
    public static List<string> Args(ContainerConfig merged)
    {
        var args = new List<string>();
        if (merged.Entrypoint is { Count: > 0 } entrypoint) args.AddRange(entrypoint);
        if (merged.Cmd is { } cmd) args.AddRange(cmd);
        if (args.Count == 0) throw new InvalidParameterException("no command specified");
        return args;
    }

    /// <summary>
    /// The process's environment: PATH, HOSTNAME and (with a TTY) TERM=xterm first, then the config's variables
    /// replacing those or appended; a variable without '=' removes it (moby ReplaceOrAppendEnvValues).
    /// </summary>
    public static List<string> Environment(ContainerConfig merged, string hostname)
    {
        var env = new List<string> { "PATH=" + DefaultPath, "HOSTNAME=" + hostname };
        if (merged.Tty) env.Add("TERM=xterm");
        return ReplaceOrAppend(env, merged.Env);
    }

    public static List<string> ReplaceOrAppend(List<string> defaults, IEnumerable<string>? overrides)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < defaults.Count; i++) index.TryAdd(EnvKey(defaults[i]), i);
        var removed = new HashSet<int>();
        foreach (var value in overrides ?? [])
        {
            if (!value.Contains('='))
            {
                if (index.TryGetValue(value, out var at)) removed.Add(at);
                continue;
            }
            var key = EnvKey(value);
            if (index.TryGetValue(key, out var i) && !removed.Contains(i)) defaults[i] = value;
            else
            {
                index[key] = defaults.Count;
                defaults.Add(value);
            }
        }
        if (removed.Count == 0) return defaults;
        return [.. defaults.Where((_, i) => !removed.Contains(i))];
    }

    private static string EnvKey(string entry)
    {
        var eq = entry.IndexOf('=');
        return eq < 0 ? entry : entry[..eq];
    }
}
