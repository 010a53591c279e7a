using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Berth.Testing;

[assembly: CollectionBehavior(MaxParallelThreads = 2)]

namespace Berth.EndToEnd.Tests;

/// <summary>What a command printed and how it ended.</summary>
public sealed record Outcome(int Code, string Out, string Err)
{
    public override string ToString() => $"exit {Code}\nstdout: {Out}\nstderr: {Err}";
}

/// <summary>Runs programs with a deadline, their output captured; a hung program is killed and reported.</summary>
public static class Programs
{
    public static async Task<Outcome> RunAsync(string file, IEnumerable<string> args, IDictionary<string, string>? environment = null,
        byte[]? stdin = null, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var process = Process.Start(psi)!;
        var output = new MemoryStream();
        var errors = new MemoryStream();
        var copyOut = process.StandardOutput.BaseStream.CopyToAsync(output);
        var copyErr = process.StandardError.BaseStream.CopyToAsync(errors);
        try
        {
            if (stdin is not null) await process.StandardInput.BaseStream.WriteAsync(stdin);
            process.StandardInput.Close();
        }
        catch (IOException) { } // the program did not read its input
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            await Task.WhenAll(copyOut, copyErr);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish; stdout: {Encoding.UTF8.GetString(output.ToArray())} stderr: {Encoding.UTF8.GetString(errors.ToArray())}");
        }
        await Task.WhenAll(copyOut, copyErr);
        return new Outcome(process.ExitCode, Encoding.UTF8.GetString(output.ToArray()), Encoding.UTF8.GetString(errors.ToArray()));
    }

    /// <summary>
    /// Runs a command line on a pseudo-terminal (util-linux script allocates it), typing <paramref name="keys"/>
    /// after a pause so the program is up; script's exit code is the command's.
    /// </summary>
    public static async Task<Outcome> RunInTerminalAsync(string commandLine, IDictionary<string, string> environment, string keys, TimeSpan? timeout = null)
    {
        // The keys come from a shell that waits first, so they arrive as typing does, not before the program reads.
        var typist = $"sleep 1.5; printf '%b' '{keys.Replace("'", "'\\''")}'; sleep 3";
        return await RunAsync("sh", ["-c", $"({typist}) | script -qefc {Quote(commandLine)} /dev/null"], environment, timeout: timeout);
    }

    public static string Quote(string text) => "'" + text.Replace("'", "'\\''") + "'";
}

/// <summary>
/// One berthd of a test class: its own data root, exec root, socket, pid file, bridge name and subnet, with
/// busybox:latest imported; removed with everything it made when the class is done.
/// </summary>
public class BerthDaemon : IAsyncLifetime
{
    private readonly TempDir dir = new();
    private Process? process;
    private readonly StringBuilder log = new();
    private static int counter;

    public string Socket => dir.Combine("berthd.sock");
    public string Host => "unix://" + Socket;
    public string DataRoot => dir.Combine("data");
    public string ExecRoot => dir.Combine("exec");
    public string Bridge { get; }
    public string Bip { get; }
    public string Tag { get; } = "e2e" + Guid.NewGuid().ToString("N")[..8];
    /// <summary>This daemon's own cgroup parent (--cgroup-parent), removed from every hierarchy when the daemon is done.</summary>
    public string CgroupParent => "/berth-" + Tag;
    public virtual bool LiveRestore => false;
    /// <summary>More berthd flags a fixture wants (e.g. --storage-driver).</summary>
    public virtual IEnumerable<string> ExtraArguments => [];
    public static string Bin => Repo.Bin;
    public string Log { get { lock (log) return log.ToString(); } }
    public int Pid => process?.Id ?? 0;

    public BerthDaemon()
    {
        var n = Interlocked.Increment(ref counter);
        var seed = (System.Environment.ProcessId * 7 + n * 13) % 250;
        Bridge = "bt" + Tag[3..11];
        Bip = $"10.{200 + n % 50}.{seed}.1/24";
    }

    public async Task InitializeAsync()
    {
        if (!Berth.Linux.Host.IsRoot) return;
        foreach (var exe in new[] { "berthd", "berth", "berth-runtime" })
            if (!File.Exists(Path.Combine(Bin, exe))) throw new InvalidOperationException($"{Path.Combine(Bin, exe)} is missing: run scripts/build (or set BERTH_BIN)");
        await StartAsync();
    }

    private readonly SemaphoreSlim importing = new(1);
    private bool imported;

    /// <summary>busybox:latest in this daemon, imported (once) as users do: a tar of the rootfs into `berth import`.</summary>
    public async Task BusyboxAsync()
    {
        await importing.WaitAsync();
        try
        {
            if (imported) return;
            var rootfs = dir.Combine("busybox-rootfs");
            BusyboxRootfs.CopyTo(rootfs);
            var import = await Programs.RunAsync("sh", ["-c", $"tar -C {Programs.Quote(rootfs)} -c . | {Programs.Quote(Path.Combine(Bin, "berth"))} import - busybox:latest"], Environment());
            if (import.Code != 0) throw new InvalidOperationException($"busybox import failed: {import}\n{Log}");
            imported = true;
        }
        finally { importing.Release(); }
    }

    public Dictionary<string, string> Environment() => new() { ["BERTH_HOST"] = Host, ["DOCKER_HOST"] = Host };

    public async Task StartAsync()
    {
        var psi = new ProcessStartInfo(Path.Combine(Bin, "berthd")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--data-root", DataRoot, "--exec-root", ExecRoot, "-H", Host, "--pidfile", dir.Combine("berthd.pid"), "--bridge", Bridge, "--bip", Bip })
            psi.ArgumentList.Add(a);
        if (KnowsCgroupParent.Value) { psi.ArgumentList.Add("--cgroup-parent"); psi.ArgumentList.Add(CgroupParent); }
        if (LiveRestore) psi.ArgumentList.Add("--live-restore");
        foreach (var a in ExtraArguments) psi.ArgumentList.Add(a);
        File.Delete(Socket);
        process = Process.Start(psi)!;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            if (await PingAsync()) return;
            if (process.HasExited) throw new InvalidOperationException($"berthd exited {process.ExitCode}: {Log}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"berthd did not answer /_ping: {Log}");
            await Task.Delay(50);
        }
    }

    private async Task<bool> PingAsync()
    {
        try
        {
            using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await s.ConnectAsync(new UnixDomainSocketEndPoint(Socket));
            await s.SendAsync("GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n"u8.ToArray());
            var buffer = new byte[64];
            var n = await s.ReceiveAsync(buffer);
            return Encoding.ASCII.GetString(buffer, 0, n).StartsWith("HTTP/1.1 200", StringComparison.Ordinal);
        }
        catch (SocketException) { return false; }
    }

    /// <summary>SIGKILL: the daemon dies without any cleanup (its containers' shims live on).</summary>
    public async Task KillAsync()
    {
        if (process is null || process.HasExited) return;
        process.Kill();
        await process.WaitForExitAsync();
    }

    public async Task StopAsync()
    {
        if (process is null || process.HasExited) return;
        BusyboxRootfs.Run("kill", "-TERM", process.Id.ToString(CultureInfo.InvariantCulture));
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { await process.WaitForExitAsync(grace.Token); }
        catch (OperationCanceledException) { process.Kill(entireProcessTree: true); await process.WaitForExitAsync(); }
    }

    public string BerthPath => Path.Combine(Bin, "berth");

    public Task<Outcome> BerthAsync(params string[] args) => Programs.RunAsync(Path.Combine(Bin, "berth"), args, Environment());

    public Task<Outcome> BerthWithInputAsync(byte[] stdin, params string[] args) => Programs.RunAsync(Path.Combine(Bin, "berth"), args, Environment(), stdin);

    public Task<Outcome> DockerAsync(params string[] args) => Programs.RunAsync("/usr/local/bin/docker", args, Environment());

    public Task<Outcome> DockerWithInputAsync(byte[] stdin, params string[] args) => Programs.RunAsync("/usr/local/bin/docker", args, Environment(), stdin);

    /// <summary>berth, failing the test with its output unless it exits 0.</summary>
    public async Task<string> BerthOkAsync(params string[] args)
    {
        var outcome = await BerthAsync(args);
        Assert.True(outcome.Code == 0, $"berth {string.Join(' ', args)}: {outcome}");
        return outcome.Out;
    }

    public async Task<string> DockerOkAsync(params string[] args)
    {
        var outcome = await DockerAsync(args);
        Assert.True(outcome.Code == 0, $"docker {string.Join(' ', args)}: {outcome}");
        return outcome.Out;
    }

    public string TempPath(string name) => dir.Combine(name);

    public async Task DisposeAsync()
    {
        if (process is not null)
        {
            try
            {
                if (!process.HasExited) await Programs.RunAsync("sh", ["-c", $"{Path.Combine(Bin, "berth")} rm -f $({Path.Combine(Bin, "berth")} ps -aq) 2>/dev/null || true"], Environment());
            }
            catch (TimeoutException) { }
            await StopAsync();
            process.Dispose();
        }
        // Whatever the daemon left: mounts under its roots, its bridge.
        try { BusyboxRootfs.Run("sh", "-c", $"grep -o ' {dir.Path}[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l; ip link delete {Bridge} 2>/dev/null || true; nft delete table inet berth_{Bridge} 2>/dev/null || true"); }
        catch (InvalidOperationException) { }
        RemoveCgroups(CgroupParent);
        dir.Dispose();
    }

    /// <summary>
    /// The directories of cgroup <paramref name="path"/> in every hierarchy (each v1 controller's and the v2 one), deepest
    /// first, so a suite leaves no empty cgroups behind; a cgroup that still holds a process stays (rmdir says EBUSY).
    /// </summary>
    /// <summary>Whether the berthd under test has --cgroup-parent (an engineer's artifacts/bin may predate it).</summary>
    private static readonly Lazy<bool> KnowsCgroupParent = new(() =>
    {
        using var help = Process.Start(new ProcessStartInfo(Path.Combine(Bin, "berthd"), ["--help"]) { RedirectStandardOutput = true })!;
        var text = help.StandardOutput.ReadToEnd();
        help.WaitForExit();
        return text.Contains("--cgroup-parent", StringComparison.Ordinal);
    });

    public static void RemoveCgroups(string path)
    {
        foreach (var cgroup in CgroupDirectories(path).Where(Directory.Exists))
        {
            var below = Directory.EnumerateDirectories(cgroup, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length);
            foreach (var directory in below.Append(cgroup))
            {
                try { Directory.Delete(directory); } // rmdir: a cgroup's control files go with it
                catch (IOException) { }
            }
        }
    }

    /// <summary>Where cgroup <paramref name="path"/> lives: /sys/fs/cgroup/PATH on a v2-only host, else below each mounted hierarchy.</summary>
    public static IEnumerable<string> CgroupDirectories(string path)
    {
        const string root = "/sys/fs/cgroup";
        var relative = path.Trim('/');
        if (relative.Length == 0 || relative.Split('/').Contains("..")) return [];
        if (File.Exists(Path.Combine(root, "cgroup.controllers"))) return [Path.Combine(root, relative)];
        return Directory.Exists(root) ? Directory.EnumerateDirectories(root).Select(h => Path.Combine(h, relative)).ToList() : [];
    }
}

/// <summary>A daemon started with --live-restore.</summary>
public sealed class LiveRestoreDaemon : BerthDaemon
{
    public override bool LiveRestore => true;
}

/// <summary>A daemon whose layer store uses the vfs driver (--storage-driver vfs).</summary>
public sealed class VfsDaemon : BerthDaemon
{
    public override IEnumerable<string> ExtraArguments => ["--storage-driver", "vfs"];
}
