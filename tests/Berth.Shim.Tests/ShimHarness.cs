using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Engine.Supervision;
using Berth.Testing;

namespace Berth.Shim.Tests;

/// <summary>A busybox bundle, a runtime root, a state directory and a log for one container under berth-shim, with a
/// unique ID. Disposing force-deletes the container through the runtime, kills a shim still there, and removes the
/// directories (and the container's cgroups, which the runtime's delete removes).</summary>
public sealed class ShimHarness : IDisposable
{
    private readonly TempDir _dir = new();
    public string Id { get; } = "shim" + Guid.NewGuid().ToString("N")[..12];
    public string Runtime { get; }
    public string Bundle => _dir.Combine("bundle");
    public string RuntimeRoot => _dir.Combine("runtime");
    public string StateDirectory => _dir.Combine("state", Id);
    public string LogPath => _dir.Combine("logs", Id + "-json.log");
    public JsonObject Config { get; }
    /// <summary>berthd's supervisor: the shim runs the runtime's `run --detach` at the first start.</summary>
    public ShimSupervisor Supervisor { get; } = new(Path.Combine(Repo.Bin, "berth-shim"));
    /// <summary>A supervisor whose shim runs the runtime's create at once and its start when asked.</summary>
    public ShimSupervisor CreatingSupervisor { get; } = new(Path.Combine(Repo.Bin, "berth-shim")) { RunOnStart = false };

    public static string BerthRuntime => Path.Combine(Repo.Bin, "berth-runtime");
    public static string Runc => "/usr/sbin/runc";
    public static IEnumerable<object[]> Runtimes => [[BerthRuntime], [Runc]];

    public ShimHarness(string runtime, params string[] args)
    {
        Runtime = runtime;
        BusyboxRootfs.CopyTo(Path.Combine(Bundle, "rootfs"));
        BusyboxRootfs.Run(BerthRuntime, "spec", "--bundle", Bundle);
        Config = JsonNode.Parse(File.ReadAllText(Path.Combine(Bundle, "config.json")))!.AsObject();
        Config["process"]!["terminal"] = false;
        Config["process"]!["args"] = new JsonArray(args.Length == 0 ? ["sleep", "30"] : args.Select(a => (JsonNode)a!).ToArray());
        Config["root"]!["path"] = Path.Combine(Bundle, "rootfs");
        Config["linux"]!["cgroupsPath"] = "/" + Id;
        Save();
    }

    public void Save() => File.WriteAllText(Path.Combine(Bundle, "config.json"), Config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

    public LaunchRequest Request(bool tty = false, bool openStdin = false, bool stdinOnce = false, long maxSize = 0, int maxFiles = 1)
    {
        Config["process"]!["terminal"] = tty;
        Save();
        return new LaunchRequest(Id, Bundle, Runtime, RuntimeRoot, StateDirectory, LogPath, maxSize, maxFiles, tty, openStdin, stdinOnce);
    }

    /// <summary>The json-file log's entries (all files, oldest first).</summary>
    public List<JsonObject> LogEntries()
    {
        var entries = new List<JsonObject>();
        var files = new List<string>();
        for (var i = 20; i >= 1; i--) if (File.Exists($"{LogPath}.{i}")) files.Add($"{LogPath}.{i}");
        if (File.Exists(LogPath)) files.Add(LogPath);
        foreach (var f in files)
            foreach (var line in File.ReadAllLines(f))
                entries.Add(JsonNode.Parse(line)!.AsObject());
        return entries;
    }

    public string LogText(string stream = "stdout")
        => string.Concat(LogEntries().Where(e => (string)e["stream"]! == stream).Select(e => (string)e["log"]!));

    public int? ShimPid()
    {
        // berthd's launch record first: written before CreateAsync returns (a run-on-start shim may not have started yet);
        // else the shim's own pid file (a shim started by hand).
        try
        {
            if ((int?)JsonNode.Parse(File.ReadAllText(Path.Combine(StateDirectory, ShimSupervisor.LaunchFile)))?["ShimPid"] is > 0 and var launched) return launched;
        }
        catch (Exception e) when (e is IOException or JsonException or FormatException or InvalidOperationException) { }
        try { return int.Parse(File.ReadAllText(Path.Combine(StateDirectory, "shim.pid"))); }
        catch (Exception e) when (e is IOException or FormatException) { return null; }
    }

    public static bool Alive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException) { return false; }
    }

    public void Dispose()
    {
        Supervisor.StopStandby();
        CreatingSupervisor.StopStandby();
        try { RunRuntime("delete", "--force", Id); } catch (Exception) { }
        if (ShimPid() is { } pid && Alive(pid))
        {
            try { Process.GetProcessById(pid).Kill(); } catch (Exception) { }
        }
        foreach (var ctl in Directory.Exists("/sys/fs/cgroup") ? Directory.GetDirectories("/sys/fs/cgroup") : [])
        {
            try { Directory.Delete(Path.Combine(ctl, Id)); } catch (Exception) { }
        }
        _dir.Dispose();
    }

    public (int Code, string Output) RunRuntime(params string[] args)
    {
        var psi = new ProcessStartInfo(Runtime) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in new[] { "--root", RuntimeRoot }.Concat(args)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output);
    }
}
