using Berth.Api;
using Berth.Engine;
using Berth.Engine.Containers;
using Berth.Engine.Networks;
using Berth.Engine.RuntimeSpec;
using Berth.Engine.Supervision;
using Microsoft.Extensions.Logging;

// berthd: parse dockerd's flags and daemon.json, wire the engine to the Docker Engine API, serve until signalled.

const string Version = "0.1.0";

DaemonConfig config;
try
{
    config = DaemonConfig.Parse(args);
}
catch (FormatException e)
{
    Console.Error.WriteLine($"berthd: {e.Message}");
    Console.Error.WriteLine("See 'berthd --help'.");
    return 125;
}
if (config.ShowHelp) { Console.WriteLine(DaemonConfig.Usage); return 0; }
if (config.ShowVersion) { Console.WriteLine($"Berth version {Version}"); return 0; }
try
{
    Berth.Engine.Images.ImageService.CheckRegistrySettings(config.InsecureRegistries, config.RegistryMirrors);
}
catch (FormatException e)
{
    Console.Error.WriteLine($"berthd: {e.Message}");
    return 1;
}

// Runtimes: berth-runtime beside berthd, runc from PATH, and --add-runtime/daemon.json ones (which may override).
var runtimes = new Dictionary<string, string>
{
    ["berth"] = Path.Combine(AppContext.BaseDirectory, "berth-runtime"),
    ["runc"] = FindOnPath("runc") ?? "runc",
};
foreach (var (name, path) in config.Runtimes) runtimes[name] = Path.IsPathRooted(path) ? path : FindOnPath(path) ?? path;
if (!runtimes.ContainsKey(config.DefaultRuntime))
{
    Console.Error.WriteLine($"berthd: default runtime \"{config.DefaultRuntime}\" is not configured (--add-runtime NAME=PATH)");
    return 1;
}
Directory.CreateDirectory(config.DataRoot);
Directory.CreateDirectory(config.ExecRoot);

// The network and volume rooms: the default bridge (--bridge, --bip), user networks, NAPT, DNS; named volumes.
NetworkRoom network;
try
{
    network = NetworkRoom.Open(new NetworkRoomOptions { DataRoot = config.DataRoot, ExecRoot = config.ExecRoot, Bridge = config.Bridge, Bip = config.Bip });
}
catch (Exception e) when (e is EngineException or IOException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"berthd: {e.Message}");
    return 1;
}

BerthEngine engine;
try
{
    var daemon = DaemonDefaults.Standard with
    {
        InitBinary = InitBundle.Find(Path.Combine(AppContext.BaseDirectory, "berth-init")),
        HostGatewayIp = network.DefaultGateway,
    };
    engine = await BerthEngine.OpenAsync(new BerthEngineOptions
    {
        DataRoot = config.DataRoot,
        ExecRoot = config.ExecRoot,
        StorageDriver = config.StorageDriver,
        DefaultRuntime = config.DefaultRuntime,
        Runtimes = runtimes,
        LiveRestore = config.LiveRestore,
        ExecStateOnTmpfs = true,
        Debug = config.Debug,
        Version = Version,
        Supervisor = new ShimSupervisor(ShimSupervisor.FindShim()),
        Specs = network.Specs(new ContainerSpecFactory(daemon, config.CgroupParent)),
        Networks = network.AttacherFor,
        Logs = JsonFileLogReader.Instance,
        Filesystems = _ => new Berth.Engine.Filesystem.ContainerFilesystemService(volumes: network.Resolver),
    });
}
catch (Exception e) when (e is IOException or UnauthorizedAccessException or Berth.Storage.StorageException or Berth.Images.ImageException or EngineException)
{
    Console.Error.WriteLine($"berthd: failed to open {config.DataRoot}: {e.Message}");
    network.Shutdown(liveRestore: false);
    network.Dispose();
    return 1;
}
engine.ImageService.ConfigureRegistries(config.InsecureRegistries, config.RegistryMirrors);
var api = new DockerApi(network.Plug(engine), Version);

var options = new ApiServerOptions
{
    TlsVerify = config.TlsVerify,
    TlsCaCert = config.TlsCaCert,
    TlsCert = config.TlsCert,
    TlsKey = config.TlsKey,
    LogLevel = config.Debug ? LogLevel.Debug : config.LogLevel switch
    {
        "debug" or "trace" => LogLevel.Debug,
        "info" => LogLevel.Warning, // Kestrel's info lines are per request: too chatty for a daemon log
        "warn" => LogLevel.Warning,
        _ => LogLevel.Error,
    },
    SocketListening = socket => SocketPermissions.Apply(socket, config.Group),
};
options.Hosts.AddRange(config.Hosts);

using var stopping = new CancellationTokenSource();
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stopping.Cancel(); });
using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; stopping.Cancel(); });

Microsoft.AspNetCore.Builder.WebApplication app;
try
{
    app = await ApiServer.StartAsync(api, options, stopping.Token);
}
catch (Exception e) when (e is IOException or ArgumentException or FormatException or System.Security.Cryptography.CryptographicException or InvalidOperationException)
{
    Console.Error.WriteLine($"berthd: failed to start: {e.Message}");
    await engine.DisposeAsync();
    network.Shutdown(config.LiveRestore);
    network.Dispose();
    return 1;
}

if (config.PidFile is { } pidFile)
{
    Directory.CreateDirectory(Path.GetDirectoryName(pidFile)!);
    File.WriteAllText(pidFile, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
}
Console.Error.WriteLine($"berthd {Version}: API listening on {string.Join(", ", config.Hosts)}");
try
{
    await Task.Delay(Timeout.Infinite, stopping.Token);
}
catch (OperationCanceledException) { }
await app.StopAsync();
await app.DisposeAsync();
// Without --live-restore containers stop with the daemon (each with its stop signal and timeout), as with dockerd.
await engine.DisposeAsync();
// Without --live-restore the bridges, veths and nftables table go with the containers; with it they stay for them.
network.Shutdown(config.LiveRestore);
network.Dispose();
foreach (var host in config.Hosts)
    if (ApiServer.SplitHost(host) is ("unix", var socket)) File.Delete(socket);
if (config.PidFile is { } pid) File.Delete(pid);
return 0;

static string? FindOnPath(string name)
{
    foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
    {
        var candidate = Path.Combine(dir, name);
        if (File.Exists(candidate)) return candidate;
    }
    return null;
}
