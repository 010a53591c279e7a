using System.Diagnostics;
using Berth.Testing;

namespace Berth.Cli.Tests;

/// <summary>
/// berth against real Docker: Debian's dockerd (docker.io 20.10, API 1.41) started with its own data root,
/// exec root, socket and containerd namespaces, no bridge and no iptables, so it touches nothing else.
/// </summary>
public sealed class RealDockerdTests : IAsyncLifetime
{
    private readonly TempDir dir = new();
    private PrivateDockerd? dockerd;
    private readonly string tag = "berth-test-" + Guid.NewGuid().ToString("N")[..8];
    private string Socket => dir.Combine("docker.sock");
    private string Host => "unix://" + Socket;

    public async Task InitializeAsync()
    {
        dockerd = await PrivateDockerd.StartAsync(dir, tag);
        if (dockerd is null) return;
        // busybox:latest for this daemon, imported from the test rootfs as `tar -C rootfs -c . | docker import - NAME`.
        var rootfs = dir.Combine("rootfs");
        BusyboxRootfs.CopyTo(rootfs);
        BusyboxRootfs.Run("sh", "-c", $"tar -C '{rootfs}' -c . | /usr/local/bin/docker -H '{Host}' import - {tag}:latest");
    }

    public async Task DisposeAsync()
    {
        if (dockerd is not null)
        {
            try
            {
                BusyboxRootfs.Run("sh", "-c", $"/usr/local/bin/docker -H '{Host}' rm -f $(/usr/local/bin/docker -H '{Host}' ps -aq) 2>/dev/null || true");
            }
            catch (InvalidOperationException) { }
            await dockerd.DisposeAsync();
        }
        dir.Dispose();
    }

    private Task<(int Code, string Out, string Err, string ContainerOut)> BerthAsync(params string[] args) => BerthWithAsync(null, null, args);

    private async Task<(int Code, string Out, string Err, string ContainerOut)> BerthWithAsync(Stream? stdin, ITerminal? terminal, params string[] args)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        var containerOut = new MemoryStream();
        var cli = new BerthCli(output, errors, _ => null) { RawStdout = containerOut, RawStderr = containerOut, Stdin = stdin ?? new MemoryStream() };
        if (terminal is not null) cli.Terminal = terminal;
        var code = await cli.RunAsync(["-H", Host, .. args]);
        return (code, output.ToString(), errors.ToString(), System.Text.Encoding.UTF8.GetString(containerOut.ToArray()));
    }

    [RootFact]
    public async Task Berth_talks_to_real_dockerd()
    {
        if (dockerd is null) return; // no docker.io on this machine
        var version = await BerthAsync("version");
        Assert.True(version.Code == 0, version.Err);
        Assert.Contains("API version:       1.41", version.Out); // negotiated down to Debian's dockerd
        Assert.Contains("20.10", version.Out);

        var info = await BerthAsync("info", "--format", "{{.Driver}} {{.DockerRootDir}}");
        Assert.Equal($"vfs {dir.Combine("data")}\n", info.Out);

        var images = await BerthAsync("images", "--format", "{{.Repository}}:{{.Tag}}");
        Assert.Equal(0, images.Code);
        Assert.Contains($"{tag}:latest", images.Out);

        var name = tag + "-c";
        var run = await BerthAsync("run", "--network", "none", "--name", name, tag, "sh", "-c", "echo hello from busybox; echo oops >&2; exit 3");
        Assert.True(run.Code == 3, run.Err);
        Assert.Contains("hello from busybox", run.ContainerOut);
        Assert.Contains("oops", run.ContainerOut);

        var ps = await BerthAsync("ps", "-a", "--format", "{{.Names}} {{.Status}}");
        Assert.Contains($"{name} Exited (3)", ps.Out);

        var logs = await BerthAsync("logs", name);
        Assert.Equal(0, logs.Code);
        Assert.Contains("hello from busybox", logs.ContainerOut);

        var inspect = await BerthAsync("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}} {{.Name}}", name);
        Assert.Equal($"exited 3 /{name}\n", inspect.Out);

        var rm = await BerthAsync("rm", name);
        Assert.Equal((0, name + "\n"), (rm.Code, rm.Out));
        Assert.DoesNotContain(name, (await BerthAsync("ps", "-a")).Out);

        var detached = await BerthAsync("run", "-d", "--rm", "--network", "none", tag, "sleep", "30");
        Assert.True(detached.Code == 0, detached.Err);
        var id = detached.Out.Trim();
        Assert.Equal(64, id.Length);
        Assert.Equal(0, (await BerthAsync("kill", id)).Code);

        var missing = await BerthAsync("rm", "no-such-container-" + tag);
        Assert.Equal(1, missing.Code);
        Assert.Contains("Error response from daemon: No such container", missing.Err);
    }

    /// <summary>A terminal of 40 rows and 100 columns that records raw mode being set and restored.</summary>
    private sealed class FakeTerminal : ITerminal
    {
        public int RawCount;
        public int RestoreCount;
        public bool IsTerminal(int fd) => true;
        public IDisposable? MakeRaw(int fd) { RawCount++; return new Restorer(this); }
        public (int Rows, int Columns)? Size(int fd) => (40, 100);
        private sealed class Restorer(FakeTerminal owner) : IDisposable { public void Dispose() => owner.RestoreCount++; }
    }

    /// <summary>Keystrokes that arrive one write at a time, and then (unless told otherwise) never end, as a terminal's.</summary>
    private sealed class Keyboard(bool endAfter, params byte[][] chunks) : Stream
    {
        private int next;
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (next < chunks.Length)
            {
                await Task.Delay(300, cancellationToken); // a person typing after the shell is up
                chunks[next].CopyTo(buffer);
                return chunks[next++].Length;
            }
            if (endAfter) return 0;
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return 0;
        }
        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [RootFact]
    public async Task Run_it_makes_the_terminal_raw_sends_its_size_and_restores_it()
    {
        if (dockerd is null) return;
        var terminal = new FakeTerminal();
        var keyboard = new Keyboard(false, "stty size; exit 4\r"u8.ToArray());
        var run = await BerthWithAsync(keyboard, terminal, "run", "-it", "--rm", "--network", "none", tag, "sh");
        Assert.True(run.Code == 4, run.Err + run.ContainerOut);
        Assert.Contains("40 100", run.ContainerOut); // the size reached the container's tty
        Assert.Equal((1, 1), (terminal.RawCount, terminal.RestoreCount));
    }

    [RootFact]
    public async Task Ctrl_p_ctrl_q_detaches_and_leaves_the_container_running()
    {
        if (dockerd is null) return;
        var name = tag + "-detach";
        var terminal = new FakeTerminal();
        var keyboard = new Keyboard(false, "echo typed\r"u8.ToArray(), [16, 17]);
        var run = await BerthWithAsync(keyboard, terminal, "run", "-it", "--name", name, "--network", "none", tag, "sh");
        Assert.True(run.Code == 0, run.Err);
        Assert.Equal(1, terminal.RestoreCount);
        Assert.Equal("true\n", (await BerthAsync("inspect", "--format", "{{.State.Running}}", name)).Out);
        Assert.Equal(0, (await BerthAsync("rm", "-f", name)).Code);
    }

    [RootFact]
    public async Task Run_i_passes_piped_stdin_and_closes_it()
    {
        if (dockerd is null) return;
        var run = await BerthWithAsync(new MemoryStream("line one\nline two\n"u8.ToArray()), null, "run", "-i", "--rm", "--network", "none", tag, "sh", "-c", "wc -l; exit 2");
        Assert.True(run.Code == 2, run.Err);
        Assert.Equal("2", run.ContainerOut.Trim());
        var tty = await BerthWithAsync(new MemoryStream(), new NotATerminal(), "run", "-it", "--rm", tag, "true");
        Assert.Equal((1, "the input device is not a TTY\n"), (tty.Code, tty.Err));
    }

    private sealed class NotATerminal : ITerminal
    {
        public bool IsTerminal(int fd) => false;
        public IDisposable? MakeRaw(int fd) => null;
        public (int Rows, int Columns)? Size(int fd) => null;
    }

    [RootFact]
    public async Task Cp_update_stats_port_df_and_prune_match_docker()
    {
        if (dockerd is null) return;
        var name = tag + "-box";
        Assert.Equal(0, (await BerthAsync("run", "-d", "--name", name, "--network", "none", tag, "sh", "-c", "mkdir -p /d/sub && echo hi > /d/f && echo x > /d/sub/g && sleep 300")).Code);
        try
        {
            await Task.Delay(500);
            var local = dir.Combine("cp");
            Directory.CreateDirectory(local);
            Assert.Equal(0, (await BerthAsync("cp", $"{name}:/d", Path.Combine(local, "copy"))).Code);
            Assert.Equal("x\n", File.ReadAllText(Path.Combine(local, "copy/sub/g")));
            Assert.Equal(0, (await BerthAsync("cp", $"{name}:/d/f", local)).Code);
            Assert.Equal("hi\n", File.ReadAllText(Path.Combine(local, "f")));
            var notDir = await BerthAsync("cp", $"{name}:/d", Path.Combine(local, "f"));
            Assert.Equal((1, "cannot copy directory\n"), (notDir.Code, notDir.Err));
            Assert.Equal(0, (await BerthAsync("cp", Path.Combine(local, "copy"), $"{name}:/tmp/back")).Code);
            Assert.Equal(0, (await BerthAsync("exec", name, "cat", "/tmp/back/sub/g")).Code);
            var missing = await BerthAsync("cp", $"{name}:/nosuch", local);
            Assert.Equal((1, $"Error response from daemon: Could not find the file /nosuch in container {name}\n"), (missing.Code, missing.Err));

            var update = await BerthAsync("update", "--cpus", "0.5", "--pids-limit", "50", name);
            Assert.True(update.Code == 0, update.Err);
            Assert.Equal("500000000 50\n", (await BerthAsync("inspect", "--format", "{{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}", name)).Out);

            var stats = await BerthAsync("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", name);
            Assert.Equal($"{name} 1\n", stats.Out);
            var table = await BerthAsync("stats", "--no-stream", name);
            Assert.StartsWith("CONTAINER ID   NAME ", table.Out);

            var port = await BerthAsync("port", name, "80");
            Assert.Equal((1, $"Error: No public port '80' published for {name}\n"), (port.Code, port.Err));
            var df = await BerthAsync("system", "df");
            Assert.StartsWith("TYPE            TOTAL     ACTIVE    SIZE ", df.Out);
            Assert.Contains("Images space usage:", (await BerthAsync("system", "df", "-v")).Out);
        }
        finally
        {
            await BerthAsync("rm", "-f", name);
        }
        Assert.Equal(0, (await BerthAsync("create", "--name", name + "-stopped", tag, "true")).Code);
        var prune = await BerthAsync("container", "prune", "-f");
        Assert.Contains("Deleted Containers:", prune.Out);
        Assert.Contains("Total reclaimed space:", prune.Out);
        Assert.DoesNotContain(name + "-stopped", (await BerthAsync("ps", "-a")).Out);
    }
}
