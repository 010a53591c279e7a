using Berth.Registry;
using Berth.Registry.Storage;

// berth-registry: an OCI Distribution registry. Thin host: parse flags and the config file, run the room.

const string Usage = """
Usage:
  berth-registry serve [CONFIG.yml] [--addr HOST:PORT] [--storage DIR] [--htpasswd FILE]
                       [--tls-cert FILE --tls-key FILE] [--delete-enabled]
  berth-registry garbage-collect [--dry-run] [CONFIG.yml] [--storage DIR]

The configuration file uses distribution's keys (storage.filesystem.rootdirectory, storage.delete.enabled,
http.addr, http.tls, auth.htpasswd, auth.token); flags override it.
""";

if (args.Length == 0 || args[0] is "-h" or "--help" or "help") { Console.WriteLine(Usage); return args.Length == 0 ? 1 : 0; }
if (args[0] is "-v" or "--version" or "version") { Console.WriteLine("berth-registry 0.1.0"); return 0; }

RegistryConfig config;
bool dryRun = false;
try
{
    config = new RegistryConfig();
    string? configPath = null;
    var flags = new List<(string Name, string? Value)>();
    for (var i = 1; i < args.Length; i++)
    {
        var arg = args[i];
        if (!arg.StartsWith("--", StringComparison.Ordinal))
        {
            if (configPath is not null) throw new FormatException($"unexpected argument \"{arg}\"");
            configPath = arg;
            continue;
        }
        var eq = arg.IndexOf('=');
        var name = eq > 0 ? arg[..eq] : arg;
        string? value = eq > 0 ? arg[(eq + 1)..] : null;
        if (name is "--dry-run" or "-d" or "--delete-enabled") { flags.Add((name, value)); continue; }
        if (value is null)
        {
            if (i + 1 >= args.Length) throw new FormatException($"flag needs an argument: {name}");
            value = args[++i];
        }
        flags.Add((name, value));
    }
    if (configPath is not null) config = RegistryConfig.Load(configPath);
    foreach (var (name, value) in flags)
    {
        switch (name)
        {
            case "--addr": config.Addr = value!; break;
            case "--storage": config.RootDirectory = value!; break;
            case "--htpasswd": config.HtpasswdPath = value!; break;
            case "--tls-cert": config.TlsCertificate = value!; break;
            case "--tls-key": config.TlsKey = value!; break;
            case "--log-level": config.LogLevel = value!; break;
            case "--delete-enabled": config.DeleteEnabled = value is null or "true"; break;
            case "--dry-run" or "-d": dryRun = true; break;
            default: throw new FormatException($"unknown flag: {name}");
        }
    }
    if ((config.TlsCertificate is null) != (config.TlsKey is null)) throw new FormatException("--tls-cert and --tls-key go together");
    RegistryServer.ParseAddress(config.Addr);
}
catch (FormatException e)
{
    Console.Error.WriteLine($"berth-registry: {e.Message}");
    return 2;
}

switch (args[0])
{
    case "serve":
    {
        using var stopping = new CancellationTokenSource();
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stopping.Cancel(); });
        using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; stopping.Cancel(); });
        RunningRegistry running;
        try
        {
            running = await RegistryServer.StartAsync(config, stopping.Token);
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            Console.Error.WriteLine($"berth-registry: {e.Message}");
            return 1;
        }
        Console.Out.WriteLine($"berth-registry listening on {running.Address} (storage {config.RootDirectory})");
        Console.Out.Flush();
        try { await Task.Delay(Timeout.Infinite, stopping.Token); } catch (OperationCanceledException) { }
        await running.DisposeAsync();
        return 0;
    }
    case "garbage-collect":
    {
        var gc = new GarbageCollector(new FilesystemDriver(config.RootDirectory));
        var report = gc.Collect(dryRun, line => Console.Out.WriteLine(line));
        Console.Out.WriteLine($"{report.Manifests} manifests, {report.MarkedBlobs} blobs marked, {report.Deleted.Count} blobs {(dryRun ? "eligible for deletion" : "deleted")} ({report.BytesFreed} bytes)");
        return 0;
    }
    default:
        Console.Error.WriteLine($"berth-registry: unknown command \"{args[0]}\"\n{Usage}");
        return 2;
}
