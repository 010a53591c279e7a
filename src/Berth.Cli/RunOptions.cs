using System.Globalization;
using Berth.Engine.Models;

namespace Berth.Cli;

/// <summary>docker run / create flags and their translation into a ContainerCreate body.</summary>
public static class RunOptions
{
    public static FlagSet Flags(string command) => new FlagSet(command, interspersed: false)
        .Bool("detach", 'd').Bool("interactive", 'i').Bool("tty", 't').Bool("rm").Bool("privileged").Bool("read-only").Bool("init")
        .Bool("publish-all", 'P').Bool("no-healthcheck").Bool("help")
        .String("name").List("env", 'e').List("env-file").String("workdir", 'w').String("user", 'u').String("entrypoint")
        .List("label", 'l').String("hostname", 'h').String("memory", 'm', v => Try(() => Units.RamInBytes(v)))
        .String("memory-swap", null, v => v == "-1" ? null : Try(() => Units.RamInBytes(v)))
        .String("cpus", null, v => decimal.TryParse(v, NumberStyles.Number, CultureInfo.InvariantCulture, out var d) && d >= 0 ? null : $"failed to parse {v} as a rational number")
        .Int("cpu-shares", 'c').String("cpuset-cpus").Int("pids-limit").List("cap-add").List("cap-drop")
        .List("tmpfs").String("restart").List("ulimit", null, v => Try(() => ParseUlimit(v)))
        .List("security-opt").List("publish", 'p').List("expose").List("volume", 'v').List("mount", null, v => Try(() => ParseMount(v)))
        .String("network").List("add-host", null, v => v.Contains(':') ? null : $"bad format for add-host: \"{v}\"").List("dns").String("runtime")
        .String("stop-signal").Int("stop-timeout").String("health-cmd").String("health-interval", null, v => Try(() => GoDuration(v)))
        .String("health-timeout", null, v => Try(() => GoDuration(v))).String("health-start-period", null, v => Try(() => GoDuration(v)))
        .Int("health-retries").String("detach-keys").String("platform").String("pull").List("attach", 'a', v => v.ToLowerInvariant() is "stdin" or "stdout" or "stderr" ? null : "valid streams are STDIN, STDOUT and STDERR").String("shm-size", null, v => Try(() => Units.RamInBytes(v)))
        .List("sysctl").List("group-add").String("ipc").String("pid").String("cidfile").String("log-driver").List("log-opt")
        .List("label-file").Bool("sig-proxy").List("dns-search").List("dns-option").String("memory-reservation", null, v => Try(() => Units.RamInBytes(v)))
        .Int("cpu-period").Int("cpu-quota").Bool("oom-kill-disable").String("cgroupns").String("uts").String("userns").String("mac-address")
        .String("ip").String("cgroup-parent").List("device").Int("oom-score-adj")
        .String("ip6").List("network-alias").List("volumes-from");

    private static string? Try(Action parse)
    {
        try { parse(); return null; }
        catch (FormatException e) { return e.Message; }
    }

    /// <summary>Go's time.ParseDuration for the units docker users write: 300ms, 30s, 1m30s, 2h.</summary>
    public static long GoDuration(string text)
    {
        if (text == "0") return 0;
        long total = 0;
        var i = 0;
        if (text.Length == 0) throw new FormatException($"time: invalid duration \"{text}\"");
        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.')) i++;
            if (start == i) throw new FormatException($"time: invalid duration \"{text}\"");
            var number = double.Parse(text[start..i], CultureInfo.InvariantCulture);
            var unitStart = i;
            while (i < text.Length && !char.IsAsciiDigit(text[i])) i++;
            total += text[unitStart..i] switch
            {
                "ns" => (long)number,
                "us" or "µs" => (long)(number * 1e3),
                "ms" => (long)(number * 1e6),
                "s" => (long)(number * 1e9),
                "m" => (long)(number * 60e9),
                "h" => (long)(number * 3600e9),
                "" => throw new FormatException($"time: missing unit in duration \"{text}\""),
                var u => throw new FormatException($"time: unknown unit \"{u}\" in duration \"{text}\""),
            };
        }
        return total;
    }

    /// <summary>docker's opts.ParseRestartPolicy: the CLI checks only the form; the daemon judges the policy's name.</summary>
    public static RestartPolicy ParseRestart(string text)
    {
        var colon = text.IndexOf(':');
        var name = colon < 0 ? text : text[..colon];
        if (colon == 0) throw new InvalidOptionException("invalid restart policy format: no policy provided before colon");
        var policy = new RestartPolicy { Name = name };
        if (colon >= 0 && colon + 1 < text.Length)
        {
            if (!int.TryParse(text[(colon + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var count))
                throw new InvalidOptionException("invalid restart policy format: maximum retry count must be an integer");
            policy.MaximumRetryCount = count;
        }
        return policy;
    }

    public static Ulimit ParseUlimit(string text)
    {
        var eq = text.IndexOf('=');
        if (eq <= 0) throw new FormatException($"invalid ulimit argument: {text}");
        var limits = text[(eq + 1)..].Split(':');
        if (limits.Length > 2 || !long.TryParse(limits[0], out var soft)) throw new FormatException($"invalid ulimit argument: {text}");
        var hard = soft;
        if (limits.Length == 2 && !long.TryParse(limits[1], out hard)) throw new FormatException($"invalid ulimit argument: {text}");
        if (soft > hard) throw new FormatException($"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
        return new Ulimit { Name = text[..eq], Soft = soft, Hard = hard };
    }

    public static Mount ParseMount(string text)
    {
        var mount = new Mount { Type = "volume" };
        foreach (var field in text.Split(','))
        {
            var kv = field.Split('=', 2);
            var key = kv[0].Trim().ToLowerInvariant();
            var value = kv.Length > 1 ? kv[1] : null;
            switch (key)
            {
                case "type": mount.Type = value; break;
                case "source" or "src": mount.Source = value; break;
                case "target" or "dst" or "destination": mount.Target = value; break;
                case "readonly" or "ro": mount.ReadOnly = value is null or "1" or "true"; break;
                case "bind-propagation": (mount.BindOptions ??= new BindOptions()).Propagation = value; break;
                case "tmpfs-size": (mount.TmpfsOptions ??= new TmpfsOptions()).SizeBytes = Units.RamInBytes(value ?? ""); break;
                case "tmpfs-mode": (mount.TmpfsOptions ??= new TmpfsOptions()).Mode = Convert.ToInt32(value, 8); break;
                case "volume-nocopy": (mount.VolumeOptions ??= new VolumeOptions()).NoCopy = value is null or "1" or "true"; break;
                case "volume-driver": ((mount.VolumeOptions ??= new VolumeOptions()).DriverConfig ??= new DriverConfig()).Name = value; break;
                case "volume-label":
                    var label = (value ?? "").Split('=', 2);
                    ((mount.VolumeOptions ??= new VolumeOptions()).Labels ??= [])[label[0]] = label.Length > 1 ? label[1] : "";
                    break;
                case "volume-opt":
                    var option = (value ?? "").Split('=', 2);
                    (((mount.VolumeOptions ??= new VolumeOptions()).DriverConfig ??= new DriverConfig()).Options ??= [])[option[0]] = option.Length > 1 ? option[1] : "";
                    break;
                case "bind-nonrecursive": (mount.BindOptions ??= new BindOptions()).NonRecursive = value is null or "1" or "true"; break;
                case "consistency": mount.Consistency = value; break;
                default: throw new FormatException($"unexpected key '{key}' in '{field}'");
            }
        }
        if (string.IsNullOrEmpty(mount.Target)) throw new FormatException("target is required");
        return mount;
    }

    /// <summary>-p [ip:][hostPort:]containerPort[/proto] (ranges allowed) into ExposedPorts and PortBindings.</summary>
    public static void ParsePublish(string spec, Dictionary<string, EmptyObject> exposed, Dictionary<string, List<PortBinding>?> bindings)
    {
        var proto = "tcp";
        var slash = spec.LastIndexOf('/');
        var body = spec;
        if (slash >= 0) { proto = spec[(slash + 1)..].ToLowerInvariant(); body = spec[..slash]; }
        if (proto is not ("tcp" or "udp" or "sctp")) throw new FormatException($"invalid proto: {proto}");
        string ip = "", hostPart = "", containerPart;
        if (body.StartsWith('['))
        {
            var close = body.IndexOf(']');
            ip = body[1..close];
            body = body[(close + 1)..].TrimStart(':');
            var p = body.Split(':');
            (hostPart, containerPart) = p.Length == 2 ? (p[0], p[1]) : ("", p[0]);
        }
        else
        {
            var parts = body.Split(':');
            switch (parts.Length)
            {
                case 1: containerPart = parts[0]; break;
                case 2: hostPart = parts[0]; containerPart = parts[1]; break;
                case 3: ip = parts[0]; hostPart = parts[1]; containerPart = parts[2]; break;
                default: throw new FormatException($"invalid port specification: \"{spec}\"");
            }
        }
        if (ip.Length > 0 && (!System.Net.IPAddress.TryParse(ip, out _) || (!ip.Contains(':') && ip.Split('.').Length != 4)))
            throw new FormatException($"invalid IP address: {ip}");
        if (containerPart.Length == 0) throw new FormatException($"no port specified: {spec}<empty>");
        var (cStart, cEnd) = PortRange(containerPart, "containerPort");
        var (hStart, hEnd) = hostPart.Length == 0 ? (0, 0) : PortRange(hostPart, "hostPort");
        if (hostPart.Length > 0 && hEnd - hStart != cEnd - cStart && hStart != hEnd)
            throw new FormatException($"invalid ranges specified for container and host Ports: {containerPart} and {hostPart}");
        for (var port = cStart; port <= cEnd; port++)
        {
            var key = $"{port}/{proto}";
            exposed[key] = EmptyObject.Instance;
            var hostPort = hostPart.Length == 0 ? "" : hStart == hEnd ? hStart.ToString(CultureInfo.InvariantCulture) : (hStart + port - cStart).ToString(CultureInfo.InvariantCulture);
            if (!bindings.TryGetValue(key, out var list) || list is null) bindings[key] = list = [];
            list.Add(new PortBinding { HostIp = ip, HostPort = hostPort });
        }
    }

    private static (int Start, int End) PortRange(string text, string what)
    {
        var dash = text.IndexOf('-');
        var startText = dash < 0 ? text : text[..dash];
        var endText = dash < 0 ? text : text[(dash + 1)..];
        if (!int.TryParse(startText, NumberStyles.None, CultureInfo.InvariantCulture, out var start) || start < 1 || start > 65535)
            throw new FormatException($"invalid {what}: {startText}");
        if (!int.TryParse(endText, NumberStyles.None, CultureInfo.InvariantCulture, out var end) || end < 1 || end > 65535)
            throw new FormatException($"invalid {what}: {endText}");
        if (end < start) throw new FormatException($"invalid range specified for {what}: {text}");
        return (start, end);
    }

    /// <summary>Builds the create body from parsed flags and the positionals IMAGE [COMMAND] [ARG...].</summary>
    public static ContainerCreateRequest Build(FlagSet f, Func<string, string?> environment, Func<string, IEnumerable<string>> readLines)
    {
        if (f.Positionals.Count == 0) throw new FlagException($"\"berth {f.Command}\" requires at least 1 argument.");
        var host = new HostConfig
        {
            AutoRemove = f.GetBool("rm"),
            Privileged = f.GetBool("privileged"),
            ReadonlyRootfs = f.GetBool("read-only"),
            Init = f.GetBool("init") ? true : null,
            PublishAllPorts = f.GetBool("publish-all"),
            NetworkMode = f.Get("network") ?? "default",
            CapAdd = NullIfEmpty(f.GetAll("cap-add")),
            CapDrop = NullIfEmpty(f.GetAll("cap-drop")),
            SecurityOpt = NullIfEmpty(f.GetAll("security-opt")),
            Dns = NullIfEmpty(f.GetAll("dns")),
            DnsSearch = NullIfEmpty(f.GetAll("dns-search")),
            DnsOptions = NullIfEmpty(f.GetAll("dns-option")),
            CpuPeriod = f.GetInt("cpu-period") ?? 0,
            CpuQuota = f.GetInt("cpu-quota") ?? 0,
            OomKillDisable = f.GetBool("oom-kill-disable") ? true : null,
            OomScoreAdj = f.GetInt("oom-score-adj") ?? 0,
            CgroupnsMode = f.Get("cgroupns"),
            CgroupParent = f.Get("cgroup-parent"),
            UTSMode = f.Get("uts"),
            UsernsMode = f.Get("userns"),
            ContainerIDFile = f.Get("cidfile"),
            ExtraHosts = NullIfEmpty(f.GetAll("add-host")),
            GroupAdd = NullIfEmpty(f.GetAll("group-add")),
            Runtime = f.Get("runtime"),
            CpusetCpus = f.Get("cpuset-cpus"),
            CpuShares = f.GetInt("cpu-shares") ?? 0,
            PidsLimit = f.GetInt("pids-limit"),
            IpcMode = f.Get("ipc"),
            PidMode = f.Get("pid"),
            RestartPolicy = f.Get("restart") is { } restart ? ParseRestart(restart) : new RestartPolicy { Name = "no" },
            VolumesFrom = NullIfEmpty(f.GetAll("volumes-from")),
        };
        if (host.AutoRemove && host.RestartPolicy.Name is not ("no" or "")) throw new InvalidOptionException("conflicting options: cannot specify both --restart and --rm");
        if (f.Get("memory") is { } memory) host.Memory = Units.RamInBytes(memory);
        if (f.Get("memory-swap") is { } swap) host.MemorySwap = swap == "-1" ? -1 : Units.RamInBytes(swap);
        if (f.Get("memory-reservation") is { } reservation) host.MemoryReservation = Units.RamInBytes(reservation);
        if (f.Get("shm-size") is { } shm) host.ShmSize = Units.RamInBytes(shm);
        if (f.Get("cpus") is { } cpus) host.NanoCpus = (long)(decimal.Parse(cpus, CultureInfo.InvariantCulture) * 1_000_000_000m);
        if (f.GetAll("ulimit").Count > 0) host.Ulimits = f.GetAll("ulimit").Select(ParseUlimit).ToList();
        if (f.GetAll("mount").Count > 0) host.Mounts = f.GetAll("mount").Select(ParseMount).ToList();
        if (f.GetAll("log-driver").Count > 0 || f.GetAll("log-opt").Count > 0)
            host.LogConfig = new LogConfig { Type = f.Get("log-driver") ?? "json-file", Config = f.GetAll("log-opt").Select(o => o.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "") };
        foreach (var tmpfs in f.GetAll("tmpfs"))
        {
            var colon = tmpfs.IndexOf(':');
            (host.Tmpfs ??= [])[colon < 0 ? tmpfs : tmpfs[..colon]] = colon < 0 ? "" : tmpfs[(colon + 1)..];
        }
        foreach (var sysctl in f.GetAll("sysctl"))
        {
            var kv = sysctl.Split('=', 2);
            if (kv.Length != 2) throw new FlagException($"invalid argument \"{sysctl}\" for \"--sysctl\" flag: sysctl '{sysctl}' is not allowed");
            (host.Sysctls ??= [])[kv[0]] = kv[1];
        }

        var exposed = new Dictionary<string, EmptyObject>();
        var bindings = new Dictionary<string, List<PortBinding>?>();
        foreach (var publish in f.GetAll("publish"))
        {
            try { ParsePublish(publish, exposed, bindings); }
            catch (FormatException e) { throw new InvalidOptionException(e.Message); }
        }
        foreach (var expose in f.GetAll("expose"))
            exposed[expose.Contains('/') ? expose : expose + "/tcp"] = EmptyObject.Instance;
        if (bindings.Count > 0) host.PortBindings = bindings;

        Dictionary<string, EmptyObject>? volumes = null;
        foreach (var volume in f.GetAll("volume"))
        {
            var parts = volume.Split(':');
            if (parts.Length == 1) { (volumes ??= [])[parts[0]] = EmptyObject.Instance; continue; }
            if (parts.Length > 3 || parts[1].Length == 0 || !parts[1].StartsWith('/'))
                throw new InvalidOptionException($"invalid volume specification: '{volume}'");
            (host.Binds ??= []).Add(volume);
        }

        var env = new List<string>();
        foreach (var file in f.GetAll("env-file"))
            foreach (var line in readLines(file))
            {
                var trimmed = line.Trim();
                if (trimmed.Length == 0 || trimmed.StartsWith('#')) continue;
                env.Add(ExpandEnv(trimmed, environment));
            }
        foreach (var e in f.GetAll("env")) env.Add(ExpandEnv(e, environment));
        env.RemoveAll(e => e.Length == 0);

        // Loops, not a LINQ chain: each generic iterator costs NativeAOT a slow generic-virtual lookup on first use (perf).
        var labels = new Dictionary<string, string>();
        void AddLabel(string line)
        {
            var pair = line.Split('=', 2);
            labels[pair[0]] = pair.Length > 1 ? pair[1] : "";
        }
        foreach (var file in f.GetAll("label-file"))
            foreach (var line in readLines(file))
            {
                var trimmed = line.Trim();
                if (trimmed.Length > 0 && !trimmed.StartsWith('#')) AddLabel(trimmed);
            }
        foreach (var label in f.GetAll("label")) AddLabel(label);
        var tty = f.GetBool("tty");
        var interactive = f.GetBool("interactive");
        var detached = f.GetBool("detach");
        var request = new ContainerCreateRequest
        {
            Image = f.Positionals[0],
            Cmd = f.Positionals.Count > 1 ? f.Positionals.GetRange(1, f.Positionals.Count - 1) : null,
            Entrypoint = f.Get("entrypoint") is { } entrypoint ? (entrypoint.Length == 0 ? [""] : [entrypoint]) : null,
            Env = env.Count > 0 ? env : null,
            WorkingDir = f.Get("workdir"),
            User = f.Get("user"),
            Hostname = f.Get("hostname"),
            Labels = labels,
            Tty = tty,
            OpenStdin = interactive,
            StdinOnce = interactive && !detached,
            AttachStdin = interactive && !detached,
            AttachStdout = !detached,
            AttachStderr = !detached,
            ExposedPorts = exposed.Count > 0 ? exposed : null,
            Volumes = volumes,
            StopSignal = f.Get("stop-signal"),
            StopTimeout = f.GetInt("stop-timeout"),
            HostConfig = host,
            NetworkingConfig = EndpointConfig(f, host.NetworkMode),
        };
        var healthFlags = f.Has("health-cmd") || f.Has("health-interval") || f.Has("health-retries") || f.Has("health-timeout") || f.Has("health-start-period");
        if (f.GetBool("no-healthcheck"))
        {
            if (healthFlags) throw new InvalidOptionException("--no-healthcheck conflicts with --health-* options");
            request.Healthcheck = new HealthConfig { Test = ["NONE"] };
        }
        else if (healthFlags)
        {
            request.Healthcheck = new HealthConfig
            {
                Test = f.Get("health-cmd") is { } c ? ["CMD-SHELL", c] : null,
                Interval = f.Get("health-interval") is { } i ? GoDuration(i) : 0,
                Timeout = f.Get("health-timeout") is { } t ? GoDuration(t) : 0,
                StartPeriod = f.Get("health-start-period") is { } s ? GoDuration(s) : 0,
                Retries = f.GetInt("health-retries") ?? 0,
            };
        }
        return request;
    }

    /// <summary>As docker's CLI: --ip, --ip6, --network-alias and --mac-address configure the endpoint on the --network network.</summary>
    private static NetworkingConfig? EndpointConfig(FlagSet f, string network)
    {
        var aliases = f.GetAll("network-alias");
        string? ip = f.Get("ip"), ip6 = f.Get("ip6"), mac = f.Get("mac-address");
        if (aliases.Count == 0 && ip is null && ip6 is null && mac is null) return null;
        var endpoint = new EndpointSettings
        {
            Aliases = aliases.Count > 0 ? [.. aliases] : null,
            IPAMConfig = ip is null && ip6 is null ? null : new EndpointIPAMConfig { IPv4Address = ip, IPv6Address = ip6 },
            MacAddress = mac,
        };
        return new NetworkingConfig { EndpointsConfig = new() { [network] = endpoint } };
    }

    private static string ExpandEnv(string entry, Func<string, string?> environment)
    {
        if (entry.Contains('=')) return entry;
        return environment(entry) is { } value ? $"{entry}={value}" : "";
    }

    private static List<string>? NullIfEmpty(IReadOnlyList<string> values) => values.Count == 0 ? null : [.. values];
}
