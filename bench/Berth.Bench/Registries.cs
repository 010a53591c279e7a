using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Berth.Bench;

/// <summary>A registry on a loopback port with a storage directory of its own: Debian's docker-registry
/// (distribution 2.8) or berth-registry.</summary>
public sealed class Registry(string name, bool isBerth, string binary, Workspace workspace) : IDisposable
{
    public string Name { get; } = name;
    public bool IsBerth { get; } = isBerth;
    public string? Unavailable { get; private set; } = File.Exists(binary) ? null : isBerth ? null : $"not installed ({binary} missing)";
    public bool NotBuilt { get; private set; } = isBerth && !File.Exists(binary);
    public int Port { get; private set; }
    public string Address => $"127.0.0.1:{Port}";
    private Process? _server;
    private int _generation;

    /// <summary>Starts (or restarts) the registry on empty storage; throws if it does not answer /v2/.</summary>
    public void StartFresh()
    {
        Stop();
        _generation++;
        var home = workspace.Dir("registry-" + Name);
        var storage = Path.Combine(home, $"storage-{_generation}");
        if (Directory.Exists(Path.Combine(home, $"storage-{_generation - 1}"))) Directory.Delete(Path.Combine(home, $"storage-{_generation - 1}"), true);
        Directory.CreateDirectory(storage);
        Port = FreePort();
        var psi = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (IsBerth)
        {
            foreach (var a in new[] { "serve", "--addr", Address, "--storage", storage }) psi.ArgumentList.Add(a);
        }
        else
        {
            var config = Path.Combine(home, "config.yml");
            File.WriteAllText(config, $"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\nhttp:\n  addr: {Address}\n");
            psi.ArgumentList.Add("serve");
            psi.ArgumentList.Add(config);
        }
        _server = Process.Start(psi)!;
        var output = new System.Text.StringBuilder();
        _server.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        _server.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        _server.BeginOutputReadLine();
        _server.BeginErrorReadLine();
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && !Shell.Stopping.IsCancellationRequested)
        {
            if (_server.HasExited)
            {
                string text;
                lock (output) text = output.ToString();
                if (text.Contains("not built yet", StringComparison.OrdinalIgnoreCase)) throw new NotBuiltException(Name);
                throw new BenchException($"{Name} exited: {Shell.Shorten(text.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "")}");
            }
            try
            {
                if (client.GetAsync($"http://{Address}/v2/").GetAwaiter().GetResult().StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            Thread.Sleep(50); // start-up is not measured
        }
        throw new BenchException($"{Name} did not answer on {Address} within 30 s");
    }

    public void Stop()
    {
        if (_server is { HasExited: false })
        {
            _server.Kill();
            _server.WaitForExit(10000);
        }
        _server?.Dispose();
        _server = null;
    }

    public void Dispose() => Stop();

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
