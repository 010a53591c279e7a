using Berth.Api;
using Berth.Engine;
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

var runtimes = new Dictionary<string, string>(config.Runtimes)
{
    ["berth"] = Path.Combine(AppContext.BaseDirectory, "berth-runtime"),
    ["runc"] = "runc",
};
var facts = new DaemonFacts(Version, config.DataRoot, config.DefaultRuntime, runtimes, config.LiveRestore, config.Debug);
Directory.CreateDirectory(config.DataRoot);
Directory.CreateDirectory(config.ExecRoot);

// Until the engine lands, berthd answers /_ping, /version and /info itself and 501 for the rest.
IEngine engine = new CompositeEngine(system: new HostSystemService(facts, () => DaemonIdentity.Load(config.DataRoot)));
var api = new DockerApi(engine, Version);

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
foreach (var host in config.Hosts)
    if (ApiServer.SplitHost(host) is ("unix", var socket)) File.Delete(socket);
if (config.PidFile is { } pid) File.Delete(pid);
return 0;

/// <summary>The daemon's stable ID (Docker keeps one in its data root).</summary>
internal static class DaemonIdentity
{
    public static string Load(string dataRoot)
    {
        var path = Path.Combine(dataRoot, "engine-id");
        try
        {
            if (File.Exists(path)) return File.ReadAllText(path).Trim();
            var id = Guid.NewGuid().ToString();
            File.WriteAllText(path, id);
            return id;
        }
        catch (IOException) { return Guid.NewGuid().ToString(); }
    }
}
