using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Berth.Testing;

namespace Berth.EndToEnd.Tests;

/// <summary>A published berth-registry on a free loopback port with storage of its own, stopped and removed on dispose.</summary>
public sealed class RegistryProcess : IAsyncDisposable
{
    private readonly TempDir dir = new();
    private readonly Process process;
    private readonly StringBuilder log = new();

    public int Port { get; }
    public string Host => $"127.0.0.1:{Port}";
    public string Log { get { lock (log) return log.ToString(); } }

    private RegistryProcess((string User, string Password)[] users, string tokenService)
    {
        Port = FreePort();
        var auth = "";
        if (users.Length > 0)
        {
            var htpasswd = dir.Combine("htpasswd");
            File.WriteAllLines(htpasswd, users.Select(u => $"{u.User}:{BCrypt.Net.BCrypt.HashPassword(u.Password, 5)}"));
            auth = $"auth:\n  token:\n    service: {tokenService}\n    htpasswd: {htpasswd}\n";
        }
        var config = dir.Combine("config.yml");
        File.WriteAllText(config, $"storage:\n  filesystem:\n    rootdirectory: {dir.Combine("storage")}\n  delete:\n    enabled: true\nhttp:\n  addr: {Host}\n{auth}");
        var psi = new ProcessStartInfo(Path.Combine(Repo.Bin, "berth-registry")) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("serve");
        psi.ArgumentList.Add(config);
        process = Process.Start(psi)!;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>An open registry, or (with <paramref name="users"/>) one behind its built-in token service.</summary>
    public static async Task<RegistryProcess> StartAsync(string tokenService = "", params (string User, string Password)[] users)
    {
        var registry = new RegistryProcess(users, tokenService);
        try { await registry.WaitAsync(); }
        catch { await registry.DisposeAsync(); throw; }
        return registry;
    }

    private async Task WaitAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException($"berth-registry exited {process.ExitCode}: {Log}");
            try
            {
                using var response = await http.GetAsync($"http://{Host}/v2/");
                if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"berth-registry did not answer on {Host}: {Log}");
            await Task.Delay(50);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
        process.Dispose();
        dir.Dispose();
    }
}

/// <summary>
/// berthd with two berth-registry processes beside it: one behind token auth (alice/secret), one open that
/// daemon.json names as a Docker Hub mirror and, by the machine's host name, as an insecure registry.
/// </summary>
public sealed class RegistryDaemon : BerthDaemon, IAsyncLifetime
{
    public RegistryProcess Secured { get; private set; } = null!;
    public RegistryProcess Mirror { get; private set; } = null!;
    /// <summary>The mirror by a name that is not a loopback literal (null when the host name does not resolve to loopback only).</summary>
    public string? MirrorByName { get; private set; }
    private string? configFile;

    public override IEnumerable<string> ExtraArguments => configFile is null ? [] : ["--config-file", configFile];

    public new async Task InitializeAsync()
    {
        if (!Berth.Linux.Host.IsRoot) return;
        if (!File.Exists(Path.Combine(Repo.Bin, "berth-registry"))) throw new InvalidOperationException($"{Repo.Bin}/berth-registry is missing: run scripts/build");
        Secured = await RegistryProcess.StartAsync("berth-e2e", ("alice", "secret"));
        Mirror = await RegistryProcess.StartAsync();
        var hostName = Dns.GetHostName();
        try
        {
            var addresses = await Dns.GetHostAddressesAsync(hostName);
            if (addresses.Length > 0 && addresses.All(IPAddress.IsLoopback)) MirrorByName = $"{hostName}:{Mirror.Port}";
        }
        catch (SocketException) { }
        configFile = TempPath("daemon.json");
        var insecure = MirrorByName is null ? "" : $"\"{MirrorByName}\"";
        File.WriteAllText(configFile, $$"""{"registry-mirrors": ["http://{{Mirror.Host}}"], "insecure-registries": [{{insecure}}]}""");
        await base.InitializeAsync();
    }

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (Secured is not null) await Secured.DisposeAsync();
        if (Mirror is not null) await Mirror.DisposeAsync();
    }
}

/// <summary>
/// Ship, end to end: the published berthd pulls from and pushes to the published berth-registry, driven by the
/// real docker CLI and by the berth CLI, with Docker Hub's token flow and `login`; daemon.json's
/// registry-mirrors and insecure-registries.
/// </summary>
public sealed class RegistryTests(RegistryDaemon daemon) : IClassFixture<RegistryDaemon>
{
    private Dictionary<string, string> Environment(string config) => new(daemon.Environment()) { ["DOCKER_CONFIG"] = config, ["BERTH_CONFIG"] = config };

    private static Task<Outcome> Run(string program, Dictionary<string, string> environment, params string[] args) =>
        Programs.RunAsync(program, args, environment, timeout: TimeSpan.FromMinutes(2));

    [RootFact]
    public async Task Docker_cli_logs_in_pushes_and_pulls_through_berthd()
    {
        const string Docker = "/usr/local/bin/docker";
        await daemon.BusyboxAsync();
        var env = Environment(daemon.TempPath("docker-config-" + Guid.NewGuid().ToString("N")[..6]));
        var image = $"{daemon.Secured.Host}/team/busybox:{daemon.Tag}";
        Assert.Equal(0, (await Run(Docker, env, "tag", "busybox:latest", image)).Code);

        var anonymous = await Run(Docker, env, "push", image);
        Assert.NotEqual(0, anonymous.Code);
        Assert.Contains("authentication required", anonymous.Out + anonymous.Err);

        var wrong = await Run(Docker, env, "login", "-u", "alice", "--password-stdin", daemon.Secured.Host);
        Assert.NotEqual(0, wrong.Code); // no password on stdin
        var refused = await Programs.RunAsync(Docker, ["login", "-u", "alice", "--password-stdin", daemon.Secured.Host], env, "wrong\n"u8.ToArray());
        Assert.NotEqual(0, refused.Code);
        Assert.Contains("incorrect username or password", refused.Err);
        var login = await Programs.RunAsync(Docker, ["login", "-u", "alice", "--password-stdin", daemon.Secured.Host], env, "secret\n"u8.ToArray());
        Assert.True(login.Code == 0, login.ToString());
        Assert.Contains("Login Succeeded", login.Out);

        var push = await Run(Docker, env, "push", image);
        Assert.True(push.Code == 0, push.ToString());
        Assert.Contains($"The push refers to repository [{daemon.Secured.Host}/team/busybox]", push.Out);
        Assert.Matches($"{daemon.Tag}: digest: sha256:[0-9a-f]{{64}} size: [0-9]+", push.Out);

        Assert.Equal(0, (await Run(Docker, env, "rmi", image)).Code);
        var pull = await Run(Docker, env, "pull", image);
        Assert.True(pull.Code == 0, pull.ToString());
        // busybox:latest is the same image, so nothing is downloaded (dockerd prints no layer lines then either).
        Assert.Contains($"Pulling from team/busybox", pull.Out);
        Assert.Contains($"Status: Downloaded newer image for {image}", pull.Out);
        var again = await Run(Docker, env, "pull", image);
        Assert.Contains($"Status: Image is up to date for {image}", again.Out);

        // The pulled image runs.
        // (The exit code, not output: attach-before-start output is another room's open race.)
        var run = await Run(Docker, env, "run", "--rm", "--network", "none", image, "sh", "-c", "test -x /bin/busybox && exit 7");
        Assert.True(run.Code == 7, run.ToString());

        var missing = await Run(Docker, env, "pull", $"{daemon.Secured.Host}/team/nothing:1");
        Assert.NotEqual(0, missing.Code);
        Assert.Contains("not found", missing.Err);

        Assert.Equal(0, (await Run(Docker, env, "logout", daemon.Secured.Host)).Code);
        Assert.Equal(0, (await Run(Docker, env, "rmi", image)).Code);
        // berthd kept nothing from the login: without credentials the pull is refused. (Asked through the berth CLI,
        // which reads the same config.json: the docker CLI would prompt for a login on a 401 and wait.)
        var afterLogout = await Run(daemon.BerthPath, env, "pull", image);
        Assert.NotEqual(0, afterLogout.Code);
        Assert.Contains("pull access denied", afterLogout.Err);
    }

    [RootFact]
    public async Task Berth_cli_logs_in_pushes_pulls_searches_and_logs_out()
    {
        var berth = daemon.BerthPath;
        await daemon.BusyboxAsync();
        var config = daemon.TempPath("berth-config-" + Guid.NewGuid().ToString("N")[..6]);
        var env = Environment(config);
        var image = $"{daemon.Secured.Host}/cli/busybox:{daemon.Tag}";
        Assert.Equal(0, (await Run(berth, env, "tag", "busybox:latest", image)).Code);

        var denied = await Run(berth, env, "push", image);
        Assert.Equal(1, denied.Code);
        Assert.Contains("authentication required", denied.Err);
        var refused = await Run(berth, env, "login", "-u", "alice", "-p", "nope", daemon.Secured.Host);
        Assert.NotEqual(0, refused.Code);
        Assert.Contains("incorrect username or password", refused.Err);
        Assert.False(File.Exists(Path.Combine(config, "config.json")) && File.ReadAllText(Path.Combine(config, "config.json")).Contains(daemon.Secured.Host));

        var login = await Programs.RunAsync(berth, ["login", "-u", "alice", "--password-stdin", daemon.Secured.Host], env, "secret\n"u8.ToArray());
        Assert.True(login.Code == 0, login.ToString());
        Assert.Contains("Login Succeeded", login.Out);
        Assert.Contains(daemon.Secured.Host, File.ReadAllText(Path.Combine(config, "config.json")));

        var push = await Run(berth, env, "push", image);
        Assert.True(push.Code == 0, push.ToString());
        Assert.Matches(": (Pushed|Mounted from team/busybox|Layer already exists)", push.Out); // the docker test may have pushed the layer
        Assert.Matches($"{daemon.Tag}: digest: sha256:[0-9a-f]{{64}}", push.Out);

        Assert.Equal(0, (await Run(berth, env, "rmi", image)).Code);
        var pull = await Run(berth, env, "pull", image);
        Assert.True(pull.Code == 0, pull.ToString());
        Assert.Contains($"Status: Downloaded newer image for {image}", pull.Out);
        Assert.EndsWith(image + "\n", pull.Out);
        var run = await Run(berth, env, "run", "--rm", "--network", "none", image, "sh", "-c", "test -x /bin/busybox && exit 9");
        Assert.True(run.Code == 9, run.ToString());

        var search = await Run(berth, env, "search", $"{daemon.Secured.Host}/cli");
        Assert.True(search.Code == 0, search.ToString());
        Assert.StartsWith("NAME", search.Out);
        Assert.Contains($"{daemon.Secured.Host}/cli/busybox", search.Out);

        var logout = await Run(berth, env, "logout", daemon.Secured.Host);
        Assert.Contains($"Removing login credentials for {daemon.Secured.Host}", logout.Out);
        Assert.DoesNotContain(daemon.Secured.Host, File.ReadAllText(Path.Combine(config, "config.json")));
        Assert.Equal(0, (await Run(berth, env, "rmi", image)).Code);
    }

    [RootFact]
    public async Task Docker_hub_names_are_pulled_from_the_daemon_json_mirror()
    {
        await daemon.BusyboxAsync();
        var tag = "mirrored-" + daemon.Tag;
        var inMirror = $"{daemon.Mirror.Host}/library/busybox:{tag}";
        await daemon.BerthOkAsync("tag", "busybox:latest", inMirror);
        await daemon.BerthOkAsync("push", inMirror);
        await daemon.BerthOkAsync("rmi", inMirror);

        // "busybox:TAG" is docker.io/library/busybox:TAG: Docker Hub is unreachable here, so only the mirror can answer.
        var pull = await daemon.DockerAsync("pull", "busybox:" + tag);
        Assert.True(pull.Code == 0, pull + "\n" + daemon.Log);
        Assert.Contains($"Status: Downloaded newer image for busybox:{tag}", pull.Out);
        Assert.Equal(
            (await daemon.BerthOkAsync("image", "inspect", "--format", "{{.Id}}", "busybox:latest")).Trim(),
            (await daemon.BerthOkAsync("image", "inspect", "--format", "{{.Id}}", "busybox:" + tag)).Trim());
        await daemon.BerthOkAsync("rmi", "busybox:" + tag);
    }

    [RootFact]
    public async Task An_insecure_registry_from_daemon_json_is_spoken_to_over_plain_http()
    {
        // A registry named by the host name (not a loopback literal, which is always insecure) is plain HTTP only
        // because daemon.json lists it; the fixture lists it when the host name resolves to loopback only.
        if (daemon.MirrorByName is null) return;
        await daemon.BusyboxAsync();
        var image = $"{daemon.MirrorByName}/plain/busybox:{daemon.Tag}";
        await daemon.BerthOkAsync("tag", "busybox:latest", image);
        var push = await daemon.DockerAsync("push", image);
        Assert.True(push.Code == 0, push.ToString());
        await daemon.BerthOkAsync("rmi", image);
        var pull = await daemon.DockerAsync("pull", image);
        Assert.True(pull.Code == 0, pull.ToString());
        Assert.Contains($"Status: Downloaded newer image for {image}", pull.Out);
        await daemon.BerthOkAsync("rmi", image);
    }

    [RootFact]
    public async Task A_bad_registry_setting_stops_berthd_with_one_line_and_nothing_made()
    {
        using var dir = new TempDir();
        var config = dir.Combine("daemon.json");
        File.WriteAllText(config, """{"registry-mirrors": ["ftp://mirror.example"]}""");
        var dataRoot = dir.Combine("data");
        var outcome = await Programs.RunAsync(Path.Combine(Repo.Bin, "berthd"),
            ["--config-file", config, "--data-root", dataRoot, "--exec-root", dir.Combine("exec"), "-H", "unix://" + dir.Combine("s.sock"), "--pidfile", dir.Combine("pid")]);
        Assert.Equal(1, outcome.Code);
        Assert.Equal("berthd: invalid mirror: unsupported scheme \"ftp\" in \"ftp://mirror.example/\"\n", outcome.Err);
        Assert.False(Directory.Exists(dataRoot));

        File.WriteAllText(config, """{"insecure-registries": "registry:5000"}""");
        var notAList = await Programs.RunAsync(Path.Combine(Repo.Bin, "berthd"), ["--config-file", config, "--data-root", dataRoot]);
        Assert.Equal(125, notAList.Code);
        Assert.Contains("insecure-registries must be a list of strings", notAList.Err);
        Assert.False(Directory.Exists(dataRoot));
    }
}
