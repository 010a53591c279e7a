using Berth.Engine.Models;

namespace Berth.Cli.Tests;

public sealed class FlagTests
{
    private static FlagSet Run(params string[] args) => RunOptions.Flags("run").Parse(args);

    [Fact]
    public void Grouped_short_flags_attached_values_and_the_first_positional_ends_flags()
    {
        var flags = Run("-dit", "--name=web", "-e", "A=1", "-eB=2", "-p8080:80", "busybox", "sh", "-c", "echo --rm");
        Assert.True(flags.GetBool("detach") && flags.GetBool("interactive") && flags.GetBool("tty"));
        Assert.Equal("web", flags.Get("name"));
        Assert.Equal(["A=1", "B=2"], flags.GetAll("env"));
        Assert.Equal(["busybox", "sh", "-c", "echo --rm"], flags.Positionals);
        Assert.False(flags.GetBool("rm"));
    }

    [Theory]
    [InlineData(new[] { "--memory", "abc", "busybox" }, "invalid argument \"abc\" for \"-m, --memory\" flag: invalid size: 'abc'")]
    [InlineData(new[] { "-m", "12q", "busybox" }, "invalid argument \"12q\" for \"-m, --memory\" flag: invalid size: '12q'")]
    [InlineData(new[] { "--cpus", "x", "busybox" }, "invalid argument \"x\" for \"--cpus\" flag: failed to parse x as a rational number")]
    [InlineData(new[] { "--nope", "busybox" }, "unknown flag: --nope")]
    [InlineData(new[] { "-z", "busybox" }, "unknown shorthand flag: 'z' in -z")]
    [InlineData(new[] { "--name" }, "flag needs an argument: --name")]
    [InlineData(new[] { "--rm=maybe", "busybox" }, "invalid argument \"maybe\" for \"--rm\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax")]
    [InlineData(new[] { "-a", "stdfoo", "busybox" }, "invalid argument \"stdfoo\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR")]
    [InlineData(new[] { "--health-interval", "5", "busybox" }, "invalid argument \"5\" for \"--health-interval\" flag: time: missing unit in duration \"5\"")]
    [InlineData(new[] { "--ulimit", "nofile", "busybox" }, "invalid argument \"nofile\" for \"--ulimit\" flag: invalid ulimit argument: nofile")]
    [InlineData(new[] { "--pids-limit", "many", "busybox" }, "invalid argument \"many\" for \"--pids-limit\" flag: strconv.ParseInt: parsing \"many\": invalid syntax")]
    public void Bad_flags_fail_with_pflags_messages(string[] args, string message)
        => Assert.Equal(message, Assert.Throws<FlagException>(() => Run(args)).Message);

    /// <summary>The create body goes out through the CLI's own generated writer: byte for byte what DockerJsonContext writes.</summary>
    [Fact]
    public void The_create_body_is_written_as_DockerJsonContext_writes_it()
    {
        var flags = Run("--rm", "--name", "x", "-e", "A=1", "-w", "/tmp", "-u", "1000:1000", "--entrypoint", "/bin/sh", "-l", "k=v",
            "--hostname", "box", "-m", "512m", "--cpus", "1.5", "--pids-limit", "64", "--cap-add", "NET_ADMIN", "--cap-drop", "ALL", "--privileged",
            "--read-only", "--tmpfs", "/run:size=64m", "--init", "--ulimit", "nofile=1024:2048", "--security-opt", "no-new-privileges",
            "-p", "127.0.0.1:8080:80/udp", "-p", "90", "-v", "/src:/dst:ro", "-v", "/anon", "--mount", "type=tmpfs,target=/cache,tmpfs-size=1m",
            "--network", "none", "--health-cmd", "true", "--health-interval", "1m30s", "--add-host", "h:1.2.3.4", "--dns", "9.9.9.9",
            "--restart", "no", "-t", "-i", "busybox", "echo", "hi");
        var body = RunOptions.Build(flags, _ => null, _ => []);
        var expected = System.Text.Json.JsonSerializer.Serialize(body, Berth.Engine.Models.DockerJsonContext.Default.ContainerCreateRequest);
        Assert.Equal(expected, System.Text.Json.JsonSerializer.Serialize(body, CliWriteJsonContext.Default.ContainerCreateRequest));
        var plain = RunOptions.Build(Run("busybox"), _ => null, _ => []);
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(plain, Berth.Engine.Models.DockerJsonContext.Default.ContainerCreateRequest),
            System.Text.Json.JsonSerializer.Serialize(plain, CliWriteJsonContext.Default.ContainerCreateRequest));
    }

    [Fact]
    public void Run_flags_become_the_create_body()
    {
        var flags = Run("--rm", "--name", "x", "-e", "A=1", "-e", "HOME", "-w", "/tmp", "-u", "1000:1000", "--entrypoint", "/bin/sh", "-l", "k=v",
            "--hostname", "box", "-m", "512m", "--cpus", "1.5", "--pids-limit", "64", "--cap-add", "NET_ADMIN", "--cap-drop", "ALL", "--privileged",
            "--read-only", "--tmpfs", "/run:size=64m", "--init", "--ulimit", "nofile=1024:2048", "--security-opt", "no-new-privileges",
            "-p", "127.0.0.1:8080:80/udp", "-p", "90", "-v", "/src:/dst:ro", "-v", "/anon", "--mount", "type=tmpfs,target=/cache,tmpfs-size=1m",
            "--network", "none", "--health-cmd", "true", "--health-interval", "1m30s", "busybox", "echo", "hi");
        var body = RunOptions.Build(flags, name => name == "HOME" ? "/root" : null, _ => []);
        Assert.Equal("busybox", body.Image);
        Assert.Equal(["echo", "hi"], body.Cmd);
        Assert.Equal(["/bin/sh"], body.Entrypoint);
        Assert.Equal(["A=1", "HOME=/root"], body.Env);
        Assert.Equal(("/tmp", "1000:1000", "box"), (body.WorkingDir, body.User, body.Hostname));
        Assert.Equal("v", body.Labels!["k"]);
        var host = body.HostConfig!;
        Assert.True(host.AutoRemove && host.Privileged && host.ReadonlyRootfs && host.Init == true);
        Assert.Equal(512L << 20, host.Memory);
        Assert.Equal(1_500_000_000, host.NanoCpus);
        Assert.Equal(64, host.PidsLimit);
        Assert.Equal(["NET_ADMIN"], host.CapAdd);
        Assert.Equal(["ALL"], host.CapDrop);
        Assert.Equal("size=64m", host.Tmpfs!["/run"]);
        Assert.Equal(2048, host.Ulimits![0].Hard);
        Assert.Equal(["no-new-privileges"], host.SecurityOpt);
        Assert.Equal("8080", host.PortBindings!["80/udp"]![0].HostPort);
        Assert.Equal("127.0.0.1", host.PortBindings["80/udp"]![0].HostIp);
        Assert.Equal("", host.PortBindings["90/tcp"]![0].HostPort);
        Assert.True(body.ExposedPorts!.ContainsKey("90/tcp"));
        Assert.Equal(["/src:/dst:ro"], host.Binds);
        Assert.True(body.Volumes!.ContainsKey("/anon"));
        Assert.Equal(1 << 20, host.Mounts![0].TmpfsOptions!.SizeBytes);
        Assert.Equal("none", host.NetworkMode);
        Assert.Equal(["CMD-SHELL", "true"], body.Healthcheck!.Test);
        Assert.Equal(90_000_000_000, body.Healthcheck.Interval);
    }

    [Theory]
    [InlineData("99999:80", "invalid hostPort: 99999")]
    [InlineData("80:0", "invalid containerPort: 0")]
    [InlineData("abc", "invalid containerPort: abc")]
    [InlineData("1.2.3:80:80", "invalid IP address: 1.2.3")]
    public void Bad_port_specs_give_dockers_messages(string spec, string message)
        => Assert.Equal(message, Assert.Throws<InvalidOptionException>(() => RunOptions.Build(Run("-p", spec, "busybox"), _ => null, _ => [])).Message);

    [Fact]
    public void Port_ranges_map_one_to_one()
    {
        var exposed = new Dictionary<string, EmptyObject>();
        var bindings = new Dictionary<string, List<PortBinding>?>();
        RunOptions.ParsePublish("8000-8001:80-81", exposed, bindings);
        Assert.Equal("8001", bindings["81/tcp"]![0].HostPort);
    }

    [Fact]
    public void Rm_and_restart_conflict()
        => Assert.Equal("conflicting options: cannot specify both --restart and --rm",
            Assert.Throws<InvalidOptionException>(() => RunOptions.Build(Run("--rm", "--restart", "always", "busybox"), _ => null, _ => [])).Message);

    [Theory]
    [InlineData("always", "always", 0)]
    [InlineData("on-failure:3", "on-failure", 3)]
    [InlineData("sometimes", "sometimes", 0)] // the daemon judges names, as dockerd does
    public void Restart_policies_parse_as_dockers(string text, string name, int retries)
    {
        var policy = RunOptions.ParseRestart(text);
        Assert.Equal((name, retries), (policy.Name, policy.MaximumRetryCount));
    }

    [Fact]
    public void Label_files_env_files_mounts_and_health_flags_reach_the_body()
    {
        var files = new Dictionary<string, string[]> { ["labels"] = ["# comment", "a=1", "b"], ["env"] = ["X=1", "", "Y"] };
        var flags = Run("--label-file", "labels", "-l", "a=2", "--env-file", "env", "--mount", "type=volume,source=data,target=/data,volume-label=k=v,readonly",
            "--health-cmd", "true", "--health-timeout", "2s", "--health-retries", "4", "--stop-signal", "SIGUSR1", "--stop-timeout", "7", "--add-host", "db:10.0.0.2",
            "--dns", "10.0.0.53", "--runtime", "runc", "--security-opt", "seccomp=unconfined", "-P", "--init", "busybox");
        var body = RunOptions.Build(flags, name => name == "Y" ? "y" : null, path => files[path]);
        Assert.Equal(("2", ""), (body.Labels!["a"], body.Labels["b"]));
        Assert.Equal(["X=1", "Y=y"], body.Env);
        var mount = Assert.Single(body.HostConfig!.Mounts!);
        Assert.Equal(("volume", "data", "/data", true, "v"), (mount.Type, mount.Source, mount.Target, mount.ReadOnly, mount.VolumeOptions!.Labels!["k"]));
        Assert.Equal((2_000_000_000L, 4), (body.Healthcheck!.Timeout, body.Healthcheck.Retries));
        Assert.Equal(("SIGUSR1", 7), (body.StopSignal, body.StopTimeout));
        Assert.Equal(["db:10.0.0.2"], body.HostConfig.ExtraHosts);
        Assert.Equal(["10.0.0.53"], body.HostConfig.Dns);
        Assert.Equal("runc", body.HostConfig.Runtime);
        Assert.True(body.HostConfig.PublishAllPorts && body.HostConfig.Init == true);
        Assert.Equal("--no-healthcheck conflicts with --health-* options",
            Assert.Throws<InvalidOptionException>(() => RunOptions.Build(Run("--no-healthcheck", "--health-cmd", "true", "busybox"), _ => null, _ => [])).Message);
    }

    [Theory]
    [InlineData("ctrl-p,ctrl-q", new byte[] { 16, 17 })]
    [InlineData("a,ctrl-[", new byte[] { 97, 27 })]
    public void Detach_keys_parse_as_dockers(string text, byte[] expected) => Assert.Equal(expected, DetachKeys.Parse(text));

    [Fact]
    public void Detach_keys_are_held_back_until_they_complete_or_break()
    {
        var keys = new DetachKeys(DetachKeys.Default);
        static string Show((byte[] Forward, bool Detach) r) => $"{Convert.ToHexString(r.Forward)} {r.Detach}";
        Assert.Equal("6162 False", Show(keys.Filter("ab\u0010"u8)));
        Assert.Equal("1063 False", Show(keys.Filter("c"u8))); // ctrl-p then c: both pass
        Assert.Equal("78 True", Show(keys.Filter("x\u0010\u0011tail"u8)));
    }

    [Theory]
    [InlineData("web:/etc/hosts", "web", "/etc/hosts")]
    [InlineData("./a:b", null, "./a:b")]
    [InlineData("/tmp/x:y", null, "/tmp/x:y")]
    [InlineData("-", null, "-")]
    public void Copy_arguments_split_as_dockers(string argument, string? container, string path)
        => Assert.Equal((container, path), BerthCli.SplitCopyArgument(argument));

    [Theory]
    [InlineData("ls", "ps")]
    [InlineData("rm", "rm")]
    [InlineData("prune", "container-prune")]
    [InlineData("update", "update")]
    public void Management_container_verbs_map_to_commands(string verb, string command)
        => Assert.Equal(command, BerthCli.ManagementCommand("container", verb));

    [Fact]
    public void The_daemon_is_found_by_flag_then_BERTH_HOST_then_the_default_socket()
    {
        Assert.Equal("unix:///a.sock", BerthCli.ResolveHost("/a.sock", _ => "unix:///b.sock"));
        Assert.Equal("unix:///b.sock", BerthCli.ResolveHost(null, name => name == "BERTH_HOST" ? "unix:///b.sock" : null));
        Assert.Equal("unix:///run/berth/berth.sock", BerthCli.ResolveHost(null, name => name == "DOCKER_HOST" ? "unix:///c.sock" : null));
    }

    [Fact]
    public void Start_failures_map_to_126_and_127()
    {
        Assert.Equal(127, BerthCli.StartFailureCode("failed to create task: exec: \"nope\": executable file not found in $PATH"));
        Assert.Equal(126, BerthCli.StartFailureCode("exec /etc/passwd: permission denied"));
        Assert.Equal(125, BerthCli.StartFailureCode("something else"));
    }
}
