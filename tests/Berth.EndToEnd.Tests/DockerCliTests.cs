using System.Text.Json;
using Berth.Testing;

namespace Berth.EndToEnd.Tests;

/// <summary>The real docker CLI (28.2, /usr/local/bin/docker) against berthd, through DOCKER_HOST.</summary>
public sealed class DockerCliTests(BerthDaemon daemon) : IClassFixture<BerthDaemon>
{
    private string Name(string what) => $"{daemon.Tag}-{what}";

    [RootFact]
    public async Task Version_and_info()
    {
        var version = await daemon.DockerOkAsync("version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}");
        Assert.Equal("1.47 linux\n", version);
        Assert.Equal(daemon.DataRoot + "\n", await daemon.DockerOkAsync("info", "--format", "{{.DockerRootDir}}"));
    }

    [RootFact]
    public async Task Images_history_save_and_load()
    {
        await daemon.BusyboxAsync();
        Assert.Matches(@"busybox +latest +[0-9a-f]{12}", await daemon.DockerOkAsync("images"));
        Assert.Contains("Imported from -", await daemon.DockerOkAsync("history", "busybox"));
        var saved = daemon.TempPath("docker-save.tar");
        await daemon.DockerOkAsync("tag", "busybox", $"{daemon.Tag}/copy:1");
        await daemon.DockerOkAsync("save", "-o", saved, $"{daemon.Tag}/copy:1");
        await daemon.DockerOkAsync("rmi", $"{daemon.Tag}/copy:1");
        Assert.Contains($"Loaded image: {daemon.Tag}/copy:1", await daemon.DockerOkAsync("load", "-i", saved));
    }

    [RootFact]
    public async Task Run_forms_and_exit_codes()
    {
        await daemon.BusyboxAsync();
        Assert.Equal("hi\n", await daemon.DockerOkAsync("run", "--rm", "busybox", "echo", "hi"));
        Assert.Equal(3, (await daemon.DockerAsync("run", "--rm", "busybox", "sh", "-c", "exit 3")).Code);
        var piped = await daemon.DockerWithInputAsync("a\nb\n"u8.ToArray(), "run", "-i", "--rm", "busybox", "wc", "-l");
        Assert.Equal("2", piped.Out.Trim());
        var tty = await Programs.RunInTerminalAsync("stty rows 33 cols 101; /usr/local/bin/docker run -it --rm busybox sh", daemon.Environment(), "echo in-tty; tty; stty size; exit 7\\r");
        Assert.True(tty.Code == 7, tty.ToString());
        Assert.Contains("/dev/pts/0", tty.Out);
        Assert.Contains("33 101", tty.Out); // the CLI's resize reached the container's terminal
    }

    [RootFact]
    public async Task Detached_container_through_its_life()
    {
        await daemon.BusyboxAsync();
        var name = Name("d");
        var id = (await daemon.DockerOkAsync("run", "-d", "--name", name, "busybox", "sh", "-c", "echo started; sleep 300")).Trim();
        Assert.Matches("^[0-9a-f]{64}$", id);
        Assert.Contains(name, await daemon.DockerOkAsync("ps"));
        await Task.Delay(300);
        Assert.Equal("started\n", await daemon.DockerOkAsync("logs", name));
        Assert.Equal("inside\n", await daemon.DockerOkAsync("exec", name, "echo", "inside"));
        var inspect = JsonDocument.Parse(await daemon.DockerOkAsync("inspect", name)).RootElement[0];
        Assert.Equal(id, inspect.GetProperty("Id").GetString());
        Assert.True(inspect.GetProperty("State").GetProperty("Running").GetBoolean());
        Assert.Matches($"{id[..12]} +{name} ", await daemon.DockerOkAsync("stats", "--no-stream", name));
        await daemon.DockerOkAsync("pause", name);
        Assert.Equal("paused\n", await daemon.DockerOkAsync("inspect", "-f", "{{.State.Status}}", name));
        await daemon.DockerOkAsync("unpause", name);
        Assert.Equal("running\n", await daemon.DockerOkAsync("inspect", "-f", "{{.State.Status}}", name));
        var startedAt = await daemon.DockerOkAsync("inspect", "-f", "{{.State.StartedAt}}", name);
        await daemon.DockerOkAsync("restart", "-t", "1", name);
        Assert.Equal("running\n", await daemon.DockerOkAsync("inspect", "-f", "{{.State.Status}}", name));
        Assert.NotEqual(startedAt, await daemon.DockerOkAsync("inspect", "-f", "{{.State.StartedAt}}", name));
        await daemon.DockerOkAsync("stop", "-t", "1", name);
        Assert.Equal("exited\n", await daemon.DockerOkAsync("inspect", "-f", "{{.State.Status}}", name));
        Assert.DoesNotContain(name, await daemon.DockerOkAsync("ps"));
        await daemon.DockerOkAsync("start", name);
        Assert.Equal("running\n", await daemon.DockerOkAsync("inspect", "-f", "{{.State.Status}}", name));
        await WaitForLogAsync(name, "started\nstarted\nstarted\n"); // one line per run: first, restart, start
        await daemon.DockerOkAsync("rm", "-f", name);
        Assert.DoesNotContain(name, await daemon.DockerOkAsync("ps", "-a"));
    }

    [RootFact]
    public async Task Cgroup_parent_of_the_daemon_and_of_one_container_and_none_left_behind()
    {
        await daemon.BusyboxAsync();
        var name = Name("cg");
        var id = (await daemon.DockerOkAsync("run", "-d", "--name", name, "busybox", "sleep", "300")).Trim();
        var pid = (await daemon.DockerOkAsync("inspect", "-f", "{{.State.Pid}}", name)).Trim();
        Assert.Contains($":{daemon.CgroupParent}/{id}\n", File.ReadAllText($"/proc/{pid}/cgroup"));
        await daemon.DockerOkAsync("rm", "-f", name);

        var own = "/" + Name("own-parent");
        try
        {
            var cgroup = await daemon.DockerOkAsync("run", "--rm", "--cgroup-parent", own, "busybox", "cat", "/proc/self/cgroup");
            Assert.Matches($":{own}/[0-9a-f]{{64}}\n", cgroup);
        }
        finally { BerthDaemon.RemoveCgroups(own); }

        // A daemon's cgroup parent goes when the test daemon does: the suite leaves no empty cgroups behind.
        var other = new BerthDaemon();
        try
        {
            await other.InitializeAsync();
            await other.BusyboxAsync();
            Assert.Equal("x\n", await other.DockerOkAsync("run", "--rm", "busybox", "echo", "x"));
            Assert.Contains(BerthDaemon.CgroupDirectories(other.CgroupParent), Directory.Exists);
        }
        finally { await other.DisposeAsync(); }
        Assert.DoesNotContain(BerthDaemon.CgroupDirectories(other.CgroupParent), Directory.Exists);
    }

    [RootFact]
    public async Task Cp_reads_and_writes_the_sources_of_binds_and_volumes()
    {
        await daemon.BusyboxAsync();
        var name = Name("cpmounts");
        var volume = Name("cpvol");
        var ro = daemon.TempPath("cp-ro");
        var rw = daemon.TempPath("cp-rw");
        var nested = daemon.TempPath("cp-nested");
        foreach (var d in new[] { ro, rw, nested }) Directory.CreateDirectory(d);
        File.WriteAllText(Path.Combine(ro, "h.txt"), "from-host\n");
        File.WriteAllText(Path.Combine(nested, "deep.txt"), "deep\n");
        var local = daemon.TempPath("cp-local.txt");
        File.WriteAllText(local, "sent\n");
        await daemon.DockerOkAsync("run", "-d", "--name", name, "-v", $"{ro}:/ro:ro", "-v", $"{rw}:/rw", "-v", $"{volume}:/v",
            "-v", $"{nested}:/rw/inner", "busybox", "sleep", "300");
        try
        {
            // In: the bind's host directory and the volume get the file (the container sees it through its mounts).
            await daemon.DockerOkAsync("cp", local, $"{name}:/rw/");
            Assert.Equal("sent\n", File.ReadAllText(Path.Combine(rw, "cp-local.txt")));
            await daemon.DockerOkAsync("cp", local, $"{name}:/v/copied.txt");
            Assert.Equal("sent\n", await daemon.DockerOkAsync("exec", name, "cat", "/v/copied.txt"));
            // A read-only mount refuses, as Docker's does.
            var refused = await daemon.DockerAsync("cp", local, $"{name}:/ro/");
            Assert.True(refused.Code == 1, refused.ToString());
            Assert.Contains("mounted volume is marked read-only", refused.Err);
            Assert.False(File.Exists(Path.Combine(ro, "cp-local.txt")));

            // Out: a file of a read-only bind, and a directory with the mount below it.
            Assert.Equal("from-host\n", await daemon.DockerOkAsync("exec", name, "cat", "/ro/h.txt"));
            var outDir = daemon.TempPath("cp-out");
            Directory.CreateDirectory(outDir);
            await daemon.DockerOkAsync("cp", $"{name}:/ro/h.txt", outDir);
            Assert.Equal("from-host\n", File.ReadAllText(Path.Combine(outDir, "h.txt")));
            await daemon.DockerOkAsync("cp", $"{name}:/rw", outDir);
            Assert.Equal("sent\n", File.ReadAllText(Path.Combine(outDir, "rw", "cp-local.txt")));
            Assert.Equal("deep\n", File.ReadAllText(Path.Combine(outDir, "rw", "inner", "deep.txt")));

            // A stopped container's volume is still where cp reads.
            await daemon.DockerOkAsync("stop", "-t", "0", name);
            await daemon.DockerOkAsync("cp", $"{name}:/v/copied.txt", outDir);
            Assert.Equal("sent\n", File.ReadAllText(Path.Combine(outDir, "copied.txt")));
        }
        finally
        {
            await daemon.DockerAsync("rm", "-f", name);
            await daemon.DockerAsync("volume", "rm", volume);
        }
    }

    [RootFact]
    public async Task Ipc_modes_and_shm_size_as_Docker()
    {
        await daemon.BusyboxAsync();
        var donor = Name("ipc-donor");
        var isolated = Name("ipc-private");
        var hostFile = $"/dev/shm/{daemon.Tag}-ipc";
        try
        {
            var donorId = (await daemon.DockerOkAsync("run", "-d", "--name", donor, "--ipc", "shareable", "--shm-size", "2m", "busybox", "sleep", "300")).Trim();
            await daemon.DockerOkAsync("exec", donor, "sh", "-c", "echo shared > /dev/shm/x");
            await daemon.DockerOkAsync("run", "-d", "--name", isolated, "busybox", "sleep", "300");
            Assert.Equal("private 67108864\nshareable 2097152\n",
                await daemon.DockerOkAsync("inspect", "-f", "{{.HostConfig.IpcMode}} {{.HostConfig.ShmSize}}", isolated, donor));

            // container:X binds X's /dev/shm (a tmpfs of the daemon's, 2 MB) and joins X's IPC namespace.
            Assert.Equal("shared\n", await daemon.DockerOkAsync("run", "--rm", "--ipc", $"container:{donor}", "busybox", "cat", "/dev/shm/x"));
            Assert.Contains("size=2048k", await daemon.DockerOkAsync("run", "--rm", "--ipc", $"container:{donor}", "busybox", "grep", "/dev/shm", "/proc/mounts"));
            Assert.Equal(await daemon.DockerOkAsync("exec", donor, "readlink", "/proc/self/ns/ipc"),
                await daemon.DockerOkAsync("run", "--rm", "--ipc", $"container:{donor}", "busybox", "readlink", "/proc/self/ns/ipc"));
            // A private container's IPC is not shareable: Docker's refusal at start.
            var refused = await daemon.DockerAsync("run", "--rm", "--ipc", $"container:{isolated}", "busybox", "true");
            Assert.True(refused.Code == 125, refused.ToString());
            Assert.Contains("non-shareable IPC (hint: use IpcMode:shareable for the donor container)", refused.Err);

            // private (the default) with --shm-size, none without /dev/shm, host with the host's.
            Assert.Contains("size=1024k", await daemon.DockerOkAsync("run", "--rm", "--shm-size", "1m", "busybox", "grep", "/dev/shm", "/proc/mounts"));
            Assert.Equal(1, (await daemon.DockerAsync("run", "--rm", "--ipc", "none", "busybox", "ls", "/dev/shm")).Code);
            File.WriteAllText(hostFile, "host\n");
            Assert.Equal("host\n", await daemon.DockerOkAsync("run", "--rm", "--ipc", "host", "busybox", "cat", hostFile));

            // The shareable tmpfs goes when its container stops.
            var shm = $"/{donorId}/mounts/shm ";
            Assert.Contains(File.ReadLines("/proc/self/mountinfo"), l => l.Contains(shm, StringComparison.Ordinal));
            await daemon.DockerOkAsync("stop", "-t", "0", donor);
            Assert.DoesNotContain(File.ReadLines("/proc/self/mountinfo"), l => l.Contains(shm, StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(hostFile);
            await daemon.DockerAsync("rm", "-f", donor, isolated);
        }
    }

    [RootFact]
    public async Task Cp_diff_and_commit()
    {
        await daemon.BusyboxAsync();
        var name = Name("files");
        await daemon.DockerOkAsync("run", "-d", "--name", name, "busybox", "sh", "-c", "echo content > /made; sleep 300");
        await Task.Delay(300);
        var local = daemon.TempPath("docker-cp");
        Directory.CreateDirectory(local);
        await daemon.DockerOkAsync("cp", $"{name}:/made", local);
        Assert.Equal("content\n", File.ReadAllText(Path.Combine(local, "made")));
        File.WriteAllText(Path.Combine(local, "sent"), "sent\n");
        await daemon.DockerOkAsync("cp", Path.Combine(local, "sent"), $"{name}:/tmp/");
        Assert.Equal("sent\n", await daemon.DockerOkAsync("exec", name, "cat", "/tmp/sent"));
        Assert.Contains("A /made", await daemon.DockerOkAsync("diff", name));
        Assert.StartsWith("sha256:", await daemon.DockerOkAsync("commit", name, $"{daemon.Tag}/fromdocker"));
        Assert.Equal("content\n", await daemon.DockerOkAsync("run", "--rm", $"{daemon.Tag}/fromdocker", "cat", "/made"));
        await daemon.DockerOkAsync("rm", "-f", name);
    }

    [RootFact]
    public async Task Events_stream_what_happened()
    {
        await daemon.BusyboxAsync();
        var since = DateTimeOffset.UtcNow.AddSeconds(-1).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var name = Name("ev");
        await daemon.DockerOkAsync("run", "--name", name, "busybox", "true");
        await daemon.DockerOkAsync("rm", name);
        var until = DateTimeOffset.UtcNow.AddSeconds(1).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var events = await daemon.DockerOkAsync("events", "--since", since, "--until", until, "--filter", "container=" + name, "--format", "{{.Status}}");
        foreach (var action in new[] { "create", "start", "die", "destroy" }) Assert.Contains(action, events);
    }

    [RootFact]
    public async Task Exec_forms_through_the_hijacked_stream()
    {
        await daemon.BusyboxAsync();
        var name = Name("exec");
        await daemon.DockerOkAsync("run", "-d", "--name", name, "busybox", "sleep", "300");
        try
        {
            Assert.Equal("hi\n", await daemon.DockerOkAsync("exec", name, "echo", "hi"));
            Assert.Equal(4, (await daemon.DockerAsync("exec", name, "sh", "-c", "exit 4")).Code);
            var piped = await daemon.DockerWithInputAsync("one\ntwo\nthree\n"u8.ToArray(), "exec", "-i", name, "wc", "-l");
            Assert.True(piped.Code == 0, piped.ToString());
            Assert.Equal("3", piped.Out.Trim());
            // Binary stdin arrives whole (Ctrl-P Ctrl-Q bytes in it are data without a terminal).
            var binary = new byte[3_000_000];
            new Random(7).NextBytes(binary);
            var md5 = Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(binary));
            Assert.Equal($"{md5}  -\n", (await daemon.DockerWithInputAsync(binary, "exec", "-i", name, "md5sum")).Out);
            Assert.Equal($"{md5}  -\n", (await daemon.DockerWithInputAsync(binary, "run", "--rm", "-i", "busybox", "md5sum")).Out);
            var stderr = await daemon.DockerAsync("exec", name, "sh", "-c", "echo out; echo err >&2");
            Assert.Equal(("out\n", "err\n"), (stderr.Out, stderr.Err));
            var tty = await Programs.RunInTerminalAsync($"/usr/local/bin/docker exec -it {name} sh", daemon.Environment(), "tty; exit 6\\r");
            Assert.True(tty.Code == 6, tty.ToString());
            Assert.Contains("/dev/pts/", tty.Out);
            await daemon.DockerOkAsync("exec", "-d", name, "touch", "/detached-exec");
            Assert.Equal("ok\n", await daemon.DockerOkAsync("exec", name, "sh", "-c", "sleep 0.2; test -e /detached-exec && echo ok"));
        }
        finally { await daemon.DockerAsync("rm", "-f", name); }
    }

    [RootFact]
    public async Task Attach_streams_stdin_and_output_and_detaches_with_ctrl_p_ctrl_q()
    {
        await daemon.BusyboxAsync();
        var reader = Name("attach-i");
        var shell = Name("attach-t");
        try
        {
            await daemon.DockerOkAsync("run", "-d", "-i", "--name", reader, "busybox", "sh", "-c", "read line; echo got $line");
            var attached = await daemon.DockerWithInputAsync("hello\n"u8.ToArray(), "attach", reader);
            Assert.True(attached.Code == 0, attached.ToString());
            Assert.Equal("got hello\n", attached.Out);

            await daemon.DockerOkAsync("run", "-d", "-it", "--name", shell, "busybox", "sh");
            // The docker CLI itself spots Ctrl-P Ctrl-Q on a terminal, says "read escape sequence" and leaves.
            var detached = await TypeInTerminalAsync($"/usr/local/bin/docker attach {shell}", "echo typed-$((6*7))\\r", "\\020\\021");
            Assert.Contains("typed-42", detached.Out);
            Assert.Contains("read escape sequence", detached.Out);
            Assert.Equal("true\n", await daemon.DockerOkAsync("inspect", "-f", "{{.State.Running}}", shell));
            Assert.Equal("still-here\n", await daemon.DockerOkAsync("exec", shell, "echo", "still-here"));

            var run = Name("run-detach");
            var fromRun = await TypeInTerminalAsync($"/usr/local/bin/docker run -it --name {run} busybox sh", "echo ran-$((1+1))\\r", "\\020\\021");
            Assert.True(fromRun.Code == 0, fromRun.ToString());
            Assert.Contains("ran-2", fromRun.Out);
            Assert.Equal("true\n", await daemon.DockerOkAsync("inspect", "-f", "{{.State.Running}}", run));
            await daemon.DockerAsync("rm", "-f", run);
        }
        finally
        {
            await daemon.DockerAsync("rm", "-f", reader);
            await daemon.DockerAsync("rm", "-f", shell);
        }
    }

    [RootFact]
    public async Task Attach_with_logs_replays_what_was_written_before()
    {
        await daemon.BusyboxAsync();
        var name = Name("replay");
        var id = (await daemon.DockerOkAsync("run", "-d", "--name", name, "busybox", "sh", "-c", "echo before; echo err-before >&2; sleep 300")).Trim();
        try
        {
            await WaitForLogAsync(name, "before");
            // No Upgrade header: the API's plain answer is the framed stream as the response body.
            using var http = daemon.Http();
            using var response = await http.PostAsync($"/v1.47/containers/{id}/attach?logs=1&stream=0&stdout=1&stderr=1", null);
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("application/vnd.docker.multiplexed-stream", response.Content.Headers.ContentType?.MediaType);
            var frames = await response.Content.ReadAsByteArrayAsync();
            Assert.Equal(new byte[] { 1, 0, 0, 0, 0, 0, 0, 7 }, frames[..8]);
            Assert.Equal("before\n", System.Text.Encoding.ASCII.GetString(frames, 8, 7));
            Assert.Equal(2, frames[15]);
            Assert.Equal("err-before\n", System.Text.Encoding.ASCII.GetString(frames, 23, 11));
            Assert.Equal(34, frames.Length);
        }
        finally { await daemon.DockerAsync("rm", "-f", name); }
    }

    [RootFact]
    public async Task Containers_list_and_inspect_shapes()
    {
        await daemon.BusyboxAsync();
        var name = Name("ps");
        var id = (await daemon.DockerOkAsync("create", "--name", name, "-e", "A=b", "-l", "who=e2e", "busybox", "true")).Trim();
        try
        {
            Assert.Contains(name, await daemon.DockerOkAsync("ps", "-a"));
            Assert.DoesNotContain(name, await daemon.DockerOkAsync("ps"));
            Assert.Equal(id[..12] + "\n", await daemon.DockerOkAsync("ps", "-aq", "--filter", "name=" + name));
            Assert.Equal($"{name} created e2e\n", await daemon.DockerOkAsync("ps", "-a", "--filter", "label=who=e2e", "--format", "{{.Names}} {{.State}} {{.Label \"who\"}}"));
            var inspect = JsonDocument.Parse(await daemon.DockerOkAsync("container", "inspect", name)).RootElement[0];
            Assert.Equal("/" + name, inspect.GetProperty("Name").GetString());
            Assert.Contains("A=b", inspect.GetProperty("Config").GetProperty("Env").EnumerateArray().Select(e => e.GetString()));
            await daemon.DockerOkAsync("start", "-a", name);
            Assert.Equal("exited 0\n", await daemon.DockerOkAsync("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name));
        }
        finally { await daemon.DockerAsync("rm", "-f", name); }
    }

    /// <summary>Runs a command on a pseudo-terminal and types each piece of keys a second apart, as a person would.</summary>
    private Task<Outcome> TypeInTerminalAsync(string commandLine, params string[] keys)
    {
        var typist = string.Join("; ", keys.Select(k => $"sleep 1.5; printf '%b' {Programs.Quote(k)}")) + "; sleep 3";
        return Programs.RunAsync("sh", ["-c", $"({typist}) | script -qefc {Programs.Quote(commandLine)} /dev/null"], daemon.Environment());
    }

    private async Task WaitForLogAsync(string name, string text)
    {
        for (var i = 0; i < 100; i++)
        {
            if ((await daemon.DockerAsync("logs", name)).Out.Contains(text, StringComparison.Ordinal)) return;
            await Task.Delay(50);
        }
        Assert.Fail($"{name} never logged {text}");
    }

    [RootFact]
    public async Task Inspect_shows_binds_and_volumes_from_create_on_and_never_tmpfs_flags()
    {
        await daemon.BusyboxAsync();
        var name = Name("mounts");
        var bind = daemon.TempPath(name + "-bind");
        Directory.CreateDirectory(bind);
        var volume = Name("vol");
        try
        {
            await daemon.DockerOkAsync("create", "--name", name, "-v", bind + ":/b:ro", "-v", volume + ":/v", "--tmpfs", "/t",
                "--mount", "type=tmpfs,dst=/m", "busybox", "true");
            const string format = "{{range .Mounts}}{{.Type}} {{.Destination}} {{.Source}} {{.RW}} {{.Name}};{{end}}";
            var created = await daemon.DockerOkAsync("inspect", "--format", format, name);
            Assert.Contains($"bind /b {bind} false ;", created);
            Assert.Contains($"volume /v {daemon.DataRoot}/volumes/{volume}/_data true {volume};", created);
            Assert.Contains("tmpfs /m  true ;", created);
            Assert.DoesNotContain(" /t ", created);

            await daemon.DockerOkAsync("start", "-a", name);
            var started = await daemon.DockerOkAsync("inspect", "--format", format, name);
            Assert.Equal(created.Split(';').Order(), started.Split(';').Order()); // the same list once it has run
        }
        finally
        {
            await daemon.DockerAsync("rm", "-f", name);
            await daemon.DockerAsync("volume", "rm", volume);
        }
    }
}


/// <summary>
/// A berthd that also listens on loopback TCP with mutual TLS (-H tcp://127.0.0.1:PORT --tlsverify --tlscacert
/// --tlscert --tlskey); the CA, server and client certificates are made with openssl for the run.
/// </summary>
public sealed class TlsDaemon : BerthDaemon
{
    private readonly Lazy<string[]> arguments;

    public TlsDaemon() => arguments = new(MakeCertificates);

    public int Port { get; } = FreePort();
    public string TcpHost => $"tcp://127.0.0.1:{Port}";
    public string Certificates => TempPath("tls");
    public override IEnumerable<string> ExtraArguments => arguments.Value;

    /// <summary>The docker CLI's flags for this daemon's TLS endpoint, with the client certificate.</summary>
    public string[] ClientFlags => ["-H", TcpHost, "--tlsverify", "--tlscacert", Path.Combine(Certificates, "ca.pem"),
        "--tlscert", Path.Combine(Certificates, "client-cert.pem"), "--tlskey", Path.Combine(Certificates, "client-key.pem")];

    /// <summary>
    /// Waits until the TCP endpoint accepts connections: the fixture's start waits on the unix socket, which berthd may
    /// bind a moment before this one.
    /// </summary>
    public async Task TcpListeningAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                using var probe = new System.Net.Sockets.TcpClient();
                await probe.ConnectAsync(System.Net.IPAddress.Loopback, Port);
                return;
            }
            catch (System.Net.Sockets.SocketException) when (DateTime.UtcNow < deadline) { await Task.Delay(20); }
        }
    }

    private static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        return ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
    }

    private string[] MakeCertificates()
    {
        var dir = Certificates;
        Directory.CreateDirectory(dir);
        const string key = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
        var script = $"""
            set -e
            cd {Programs.Quote(dir)}
            openssl req -x509 {key} -keyout ca-key.pem -out ca.pem -days 1 -subj /CN=berth-e2e-ca
            printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
            printf 'extendedKeyUsage=clientAuth\n' > client.ext
            for who in server client; do
              openssl req {key} -keyout $who-key.pem -out $who.csr -subj /CN=$who
              openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out $who-cert.pem -days 1 -extfile $who.ext
            done
            """;
        BusyboxRootfs.Run("sh", "-c", script); // throws with openssl's errors when one fails
        return ["-H", TcpHost, "--tlsverify", "--tlscacert", Path.Combine(dir, "ca.pem"),
            "--tlscert", Path.Combine(dir, "server-cert.pem"), "--tlskey", Path.Combine(dir, "server-key.pem")];
    }
}

/// <summary>The docker CLI through berthd's TCP endpoint with mutual TLS: hijacked attach and exec streams included.</summary>
public sealed class DockerCliTlsTests(TlsDaemon daemon) : IClassFixture<TlsDaemon>
{
    private Task<Outcome> DockerTlsAsync(byte[]? stdin, params string[] args)
        => Programs.RunAsync("/usr/local/bin/docker", [.. daemon.ClientFlags, .. args], daemon.Environment(), stdin);

    private async Task<string> DockerTlsOkAsync(params string[] args)
    {
        var outcome = await DockerTlsAsync(null, args);
        Assert.True(outcome.Code == 0, $"docker {string.Join(' ', args)}: {outcome}\n{daemon.Log}");
        return outcome.Out;
    }

    [RootFact]
    public async Task Run_attached_and_exec_through_mutual_TLS()
    {
        await daemon.BusyboxAsync();
        await daemon.TcpListeningAsync();
        Assert.Equal("1.47\n", await DockerTlsOkAsync("version", "--format", "{{.Server.APIVersion}}"));
        // run without -d attaches before it starts: the hijack whose 101 berthd writes on the TLS transport itself.
        Assert.Equal("hi\n", await DockerTlsOkAsync("run", "--rm", "busybox", "echo", "hi"));
        var piped = await DockerTlsAsync("a\nb\nc\n"u8.ToArray(), "run", "-i", "--rm", "busybox", "wc", "-l");
        Assert.True(piped.Code == 0, piped.ToString());
        Assert.Equal("3", piped.Out.Trim());
        Assert.Equal(4, (await DockerTlsAsync(null, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 4")).Code);

        var name = $"{daemon.Tag}-tls";
        await DockerTlsOkAsync("run", "-d", "--name", name, "busybox", "sleep", "300");
        try
        {
            Assert.Equal("inside\n", await DockerTlsOkAsync("exec", name, "echo", "inside"));
            var exec = await DockerTlsAsync("through tls\n"u8.ToArray(), "exec", "-i", name, "cat");
            Assert.True(exec.Code == 0, exec.ToString());
            Assert.Equal("through tls\n", exec.Out);
        }
        finally { await DockerTlsAsync(null, "rm", "-f", name); }

        // Without a client certificate the handshake is refused.
        var anonymous = await Programs.RunAsync("/usr/local/bin/docker",
            ["-H", daemon.TcpHost, "--tlsverify", "--tlscacert", Path.Combine(daemon.Certificates, "ca.pem"), "version", "--format", "{{.Server.APIVersion}}"],
            daemon.Environment());
        Assert.NotEqual(0, anonymous.Code);
    }
}
