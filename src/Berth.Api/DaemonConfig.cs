using System.Text.Json;

namespace Berth.Api;

/// <summary>
/// berthd's settings: dockerd's flag names and daemon.json keys. A setting given both as a flag and in the
/// file is refused, as dockerd does.
/// </summary>
public sealed class DaemonConfig
{
    public string DataRoot { get; set; } = "/var/lib/berth";
    public string ExecRoot { get; set; } = "/run/berth";
    public List<string> Hosts { get; set; } = [];
    public bool TlsVerify { get; set; }
    public string? TlsCaCert { get; set; }
    public string? TlsCert { get; set; }
    public string? TlsKey { get; set; }
    public string? Bridge { get; set; }
    public string? Bip { get; set; }
    /// <summary>The cgroup every container's cgroup is made under unless its HostConfig.CgroupParent names another: --cgroup-parent, "cgroup-parent".</summary>
    public string CgroupParent { get; set; } = DefaultCgroupParent;
    public string DefaultRuntime { get; set; } = "berth";
    /// <summary>The snapshot driver of the layer store: overlay2 (default), vfs or btrfs.</summary>
    public string StorageDriver { get; set; } = "overlay2";
    public Dictionary<string, string> Runtimes { get; set; } = [];
    public bool LiveRestore { get; set; }
    public string LogLevel { get; set; } = "info";
    public string? PidFile { get; set; }
    public string? ConfigFile { get; set; }
    public string Group { get; set; } = "berth";
    public bool Debug { get; set; }
    public bool ShowVersion { get; set; }
    public bool ShowHelp { get; set; }
    /// <summary>Registries reached over plain HTTP or unverified TLS ("host:port" or a CIDR): --insecure-registry, "insecure-registries".</summary>
    public List<string> InsecureRegistries { get; set; } = [];
    /// <summary>Docker Hub mirrors tried first for pulls: --registry-mirror, "registry-mirrors".</summary>
    public List<string> RegistryMirrors { get; set; } = [];

    public const string DefaultSocket = "/run/berth/berth.sock";
    public const string DefaultConfigFile = "/etc/berth/daemon.json";
    public const string DefaultCgroupParent = "/berth";

    public const string Usage = """
        Usage:	berthd [OPTIONS]

        A Docker-compatible container engine

        Options:
              --add-runtime runtime          Register an additional OCI compatible runtime (NAME=PATH)
              --bip string                   Specify network bridge IP
          -b, --bridge string                Attach containers to a network bridge
              --cgroup-parent string         Set parent cgroup for all containers (default "/berth")
              --config-file string           Daemon configuration file (default "/etc/berth/daemon.json")
              --data-root string             Root directory of persistent state (default "/var/lib/berth")
          -D, --debug                        Enable debug mode
              --default-runtime string       Default OCI runtime for containers (default "berth")
              --exec-root string             Root directory for execution state files (default "/run/berth")
          -G, --group string                 Group for the unix socket (default "berth")
          -H, --host list                    Daemon socket(s) to connect to
              --insecure-registry list       Enable insecure registry communication
              --live-restore                 Enable live restore of containers when the daemon is down
          -l, --log-level string             Set the logging level ("debug"|"info"|"warn"|"error"|"fatal") (default "info")
          -p, --pidfile string               Path to use for daemon PID file (default "/run/berth.pid")
              --registry-mirror list         Preferred Docker registry mirror
          -s, --storage-driver string        Storage driver to use ("overlay2"|"vfs"|"btrfs") (default "overlay2")
              --tls                          Use TLS; implied by --tlsverify
              --tlscacert string             Trust certs signed only by this CA
              --tlscert string               Path to TLS certificate file
              --tlskey string                Path to TLS key file
              --tlsverify                    Use TLS and verify the remote
          -v, --version                      Print version information and quit
        """;

    /// <summary>Parses the command line, then merges the configuration file; throws <see cref="FormatException"/> with dockerd's wording.</summary>
    public static DaemonConfig Parse(IReadOnlyList<string> args, Func<string, string?>? readFile = null)
    {
        readFile ??= path => File.Exists(path) ? File.ReadAllText(path) : null;
        var config = new DaemonConfig();
        var fromFlags = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string? inline = null;
            var eq = arg.IndexOf('=');
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0) { inline = arg[(eq + 1)..]; arg = arg[..eq]; }
            string Value()
            {
                if (inline is not null) return inline;
                if (i + 1 >= args.Count) throw new FormatException($"flag needs an argument: {arg}");
                return args[++i];
            }
            bool Flag() => inline is null || !(inline is "false" or "0");
            switch (arg)
            {
                case "--data-root": config.DataRoot = Value(); fromFlags.Add("data-root"); break;
                case "--exec-root": config.ExecRoot = Value(); fromFlags.Add("exec-root"); break;
                case "-H" or "--host": config.Hosts.Add(Value()); fromFlags.Add("hosts"); break;
                case "--tls": fromFlags.Add("tls"); Flag(); break;
                case "--tlsverify": config.TlsVerify = Flag(); fromFlags.Add("tlsverify"); break;
                case "--tlscacert": config.TlsCaCert = Value(); fromFlags.Add("tlscacert"); break;
                case "--tlscert": config.TlsCert = Value(); fromFlags.Add("tlscert"); break;
                case "--tlskey": config.TlsKey = Value(); fromFlags.Add("tlskey"); break;
                case "-b" or "--bridge": config.Bridge = Value(); fromFlags.Add("bridge"); break;
                case "--bip": config.Bip = Value(); fromFlags.Add("bip"); break;
                case "--cgroup-parent": config.CgroupParent = CheckCgroupParent(Value()); fromFlags.Add("cgroup-parent"); break;
                case "--default-runtime": config.DefaultRuntime = Value(); fromFlags.Add("default-runtime"); break;
                case "--add-runtime":
                    var runtime = Value();
                    var sep = runtime.IndexOf('=');
                    if (sep <= 0 || sep == runtime.Length - 1) throw new FormatException($"invalid argument \"{runtime}\" for \"--add-runtime\" flag: invalid runtime argument: {runtime}");
                    config.Runtimes[runtime[..sep]] = runtime[(sep + 1)..]; // merged with daemon.json's "runtimes"
                    break;
                case "--live-restore": config.LiveRestore = Flag(); fromFlags.Add("live-restore"); break;
                case "--insecure-registry": config.InsecureRegistries.Add(Value()); fromFlags.Add("insecure-registries"); break;
                case "--registry-mirror": config.RegistryMirrors.Add(Value()); fromFlags.Add("registry-mirrors"); break;
                case "-l" or "--log-level":
                    config.LogLevel = Value();
                    if (config.LogLevel is not ("debug" or "info" or "warn" or "error" or "fatal" or "panic" or "trace"))
                        throw new FormatException($"Unable to parse logging level: {config.LogLevel}");
                    fromFlags.Add("log-level");
                    break;
                case "-p" or "--pidfile": config.PidFile = Value(); fromFlags.Add("pidfile"); break;
                case "-s" or "--storage-driver": config.StorageDriver = CheckStorageDriver(Value()); fromFlags.Add("storage-driver"); break;
                case "--config-file": config.ConfigFile = Value(); break;
                case "-G" or "--group": config.Group = Value(); fromFlags.Add("group"); break;
                case "-D" or "--debug": config.Debug = Flag(); fromFlags.Add("debug"); break;
                case "-v" or "--version": config.ShowVersion = true; break;
                case "-h" or "--help": config.ShowHelp = true; break;
                default:
                    throw new FormatException(arg.StartsWith("--", StringComparison.Ordinal) ? $"unknown flag: {arg}" : arg.StartsWith('-') ? $"unknown shorthand flag: '{arg.TrimStart('-')[0]}' in {arg}" : $"berthd takes no arguments, got \"{arg}\"");
            }
        }

        var path = config.ConfigFile ?? DefaultConfigFile;
        var text = readFile(path);
        if (text is null && config.ConfigFile is not null) throw new FormatException($"unable to configure the Docker daemon with file {path}: open {path}: no such file or directory");
        if (text is not null) config.Merge(text, path, fromFlags);
        if (config.Hosts.Count == 0) config.Hosts.Add("unix://" + DefaultSocket);
        config.PidFile ??= "/run/berth.pid";
        if (config.TlsVerify && (config.TlsCert is null || config.TlsKey is null))
            throw new FormatException("--tlsverify needs --tlscert and --tlskey");
        return config;
    }

    private void Merge(string json, string path, HashSet<string> fromFlags)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false }); }
        catch (JsonException e) { throw new FormatException($"unable to configure the Docker daemon with file {path}: {e.Message}"); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new FormatException($"unable to configure the Docker daemon with file {path}: not a JSON object");
        var conflicts = new List<string>();
        foreach (var property in doc.RootElement.EnumerateObject())
        {
            if (fromFlags.Contains(property.Name))
            {
                conflicts.Add($"{property.Name}: (from flag: {FlagValue(property.Name)}, from file: {property.Value.GetRawText()})");
                continue;
            }
            var v = property.Value;
            switch (property.Name)
            {
                case "data-root": DataRoot = v.GetString()!; break;
                case "exec-root": ExecRoot = v.GetString()!; break;
                case "hosts": Hosts.AddRange(v.EnumerateArray().Select(h => h.GetString()!)); break;
                case "tls": break;
                case "tlsverify": TlsVerify = v.GetBoolean(); break;
                case "tlscacert": TlsCaCert = v.GetString(); break;
                case "tlscert": TlsCert = v.GetString(); break;
                case "tlskey": TlsKey = v.GetString(); break;
                case "bridge": Bridge = v.GetString(); break;
                case "bip": Bip = v.GetString(); break;
                case "cgroup-parent": CgroupParent = CheckCgroupParent(v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new FormatException($"unable to configure the Docker daemon with file {path}: cgroup-parent must be a string")); break;
                case "default-runtime": DefaultRuntime = v.GetString()!; break;
                case "runtimes":
                    foreach (var r in v.EnumerateObject())
                        Runtimes[r.Name] = r.Value.TryGetProperty("path", out var p) ? p.GetString()! : throw new FormatException($"runtime {r.Name}: path is required");
                    break;
                case "live-restore": LiveRestore = v.GetBoolean(); break;
                case "insecure-registries": InsecureRegistries.AddRange(Strings(v, property.Name, path)); break;
                case "registry-mirrors": RegistryMirrors.AddRange(Strings(v, property.Name, path)); break;
                case "log-level": LogLevel = v.GetString()!; break;
                case "pidfile": PidFile = v.GetString(); break;
                case "storage-driver": StorageDriver = CheckStorageDriver(v.GetString() ?? ""); break;
                case "group": Group = v.GetString()!; break;
                case "debug": Debug = v.GetBoolean(); break;
                default: throw new FormatException($"the following directives don't match any configuration option: {property.Name}");
            }
        }
        if (conflicts.Count > 0)
            throw new FormatException($"unable to configure the Docker daemon with file {path}: the following directives are specified both as a flag and in the configuration file: {string.Join(", ", conflicts)}");
    }

    /// <summary>A path under the cgroup roots (made there by the runtime), or a systemd slice; never one that climbs out of them.</summary>
    private static string CheckCgroupParent(string parent) =>
        parent.Length > 0 && !parent.Split('/').Contains("..") && !parent.Contains('\0')
            ? parent
            : throw new FormatException($"invalid cgroup-parent \"{parent}\": a cgroup path such as /berth or a systemd slice");

    private static string CheckStorageDriver(string driver) => driver is "overlay2" or "vfs" or "btrfs"
        ? driver
        : throw new FormatException($"error initializing graphdriver: driver not supported: \"{driver}\" (overlay2, vfs or btrfs)");
    private static IEnumerable<string> Strings(JsonElement value, string key, string path) =>
        value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String)
            ? [.. value.EnumerateArray().Select(e => e.GetString()!)]
            : throw new FormatException($"unable to configure the Docker daemon with file {path}: {key} must be a list of strings");

    private string FlagValue(string key) => key switch
    {
        "data-root" => DataRoot,
        "exec-root" => ExecRoot,
        "hosts" => "[" + string.Join(" ", Hosts) + "]",
        "insecure-registries" => "[" + string.Join(" ", InsecureRegistries) + "]",
        "registry-mirrors" => "[" + string.Join(" ", RegistryMirrors) + "]",
        "log-level" => LogLevel,
        "default-runtime" => DefaultRuntime,
        "storage-driver" => StorageDriver,
        "cgroup-parent" => CgroupParent,
        "live-restore" => LiveRestore ? "true" : "false",
        "debug" => Debug ? "true" : "false",
        _ => "…",
    };
}
