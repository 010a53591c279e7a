using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Testing;

namespace Berth.Runtime.Tests;

/// <summary>A busybox bundle, its own --root and a unique container ID, driven through the published binary.
/// Disposing force-deletes the container and removes every directory.</summary>
public sealed class LifecycleHarness : IDisposable
{
    private readonly TempDir _dir = new();
    public string Bundle => _dir.Combine("bundle");
    public string Root => _dir.Combine("state");
    public string Id { get; } = "t" + Guid.NewGuid().ToString("N")[..12];
    public static string Binary => Path.Combine(Repo.Bin, "berth-runtime");
    public JsonObject Config { get; }
    public string Scratch => _dir.Path;

    public LifecycleHarness(params string[] args)
    {
        // Traversable by every uid: a container in a user namespace runs as a mapped, unprivileged host uid.
        if (OperatingSystem.IsLinux()) File.SetUnixFileMode(_dir.Path, (UnixFileMode)0b111_101_101);
        BusyboxRootfs.CopyTo(Path.Combine(Bundle, "rootfs"));
        var spec = Run(["spec", "--bundle", Bundle]);
        if (spec.Code != 0) throw new InvalidOperationException("spec failed: " + spec.Stderr);
        Config = JsonNode.Parse(File.ReadAllText(Path.Combine(Bundle, "config.json")))!.AsObject();
        Config["process"]!["terminal"] = false;
        Config["process"]!["args"] = new JsonArray(args.Length == 0 ? ["sleep", "30"] : args.Select(a => (JsonNode)a!).ToArray());
        Save();
    }

    public void Save() => File.WriteAllText(Path.Combine(Bundle, "config.json"), Config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

    /// <summary>Runs the binary with stdout and stderr going to files: a created container inherits the runtime's stdio,
    /// and pipes it holds would never reach end-of-file.</summary>
    public (int Code, string Stdout, string Stderr) Run(IEnumerable<string> args, int timeoutMs = 30_000)
    {
        var tag = Guid.NewGuid().ToString("N");
        var outFile = Path.Combine(Scratch, tag + ".out");
        var errFile = Path.Combine(Scratch, tag + ".err");
        var psi = new ProcessStartInfo("/bin/sh") { RedirectStandardInput = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$0\" \"$@\" </dev/null >\"$OUT\" 2>\"$ERR\"");
        psi.ArgumentList.Add(Binary);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["OUT"] = outFile;
        psi.Environment["ERR"] = errFile;
        using var p = Process.Start(psi)!;
        if (!p.WaitForExit(timeoutMs)) { p.Kill(true); throw new TimeoutException($"berth-runtime {string.Join(' ', args)} timed out"); }
        return (p.ExitCode, File.ReadAllText(outFile), File.ReadAllText(errFile));
    }

    /// <summary>berth-runtime --root ROOT VERB ... ID-or-args.</summary>
    public (int Code, string Stdout, string Stderr) Verb(params string[] args) => Run(["--root", Root, .. args]);

    public (int Code, string Stdout, string Stderr) Create(params string[] extra) => Verb(["create", "--bundle", Bundle, .. extra, Id]);

    public string Status()
    {
        var r = Verb("state", Id);
        if (r.Code != 0) throw new InvalidOperationException("state failed: " + r.Stderr);
        return JsonNode.Parse(r.Stdout)!["status"]!.GetValue<string>();
    }

    private string TryStatus()
    {
        try { return Status(); } catch (InvalidOperationException) { return "(none)"; }
    }

    public int Pid() => JsonNode.Parse(Verb("state", Id).Stdout)!["pid"]!.GetValue<int>();

    /// <summary>Waits (bounded) until the container's status is <paramref name="status"/>.</summary>
    public void WaitForStatus(string status, int timeoutMs = 10_000)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        string last;
        while ((last = TryStatus()) != status)
        {
            if (Environment.TickCount64 > deadline) throw new TimeoutException($"status stayed {last}, wanted {status}");
            Thread.Sleep(20);
        }
    }

    public void Dispose()
    {
        try { Verb("delete", "--force", Id); } catch (Exception) { }
        _dir.Dispose();
    }
}
