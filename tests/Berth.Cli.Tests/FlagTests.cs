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
    [InlineData(new[] { "--restart", "sometimes", "busybox" }, "invalid argument \"sometimes\" for \"--restart\" flag: invalid restart policy format: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")]
    [InlineData(new[] { "--ulimit", "nofile", "busybox" }, "invalid argument \"nofile\" for \"--ulimit\" flag: invalid ulimit argument: nofile")]
    [InlineData(new[] { "--pids-limit", "many", "busybox" }, "invalid argument \"many\" for \"--pids-limit\" flag: strconv.ParseInt: parsing \"many\": invalid syntax")]
    public void Bad_flags_fail_with_pflags_messages(string[] args, string message)
        => Assert.Equal(message, Assert.Throws<FlagException>(() => Run(args)).Message);

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
        => Assert.Equal(message, Assert.Throws<FlagException>(() => RunOptions.Build(Run("-p", spec, "busybox"), _ => null, _ => [])).Message);

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
        => Assert.Equal("Conflicting options: --restart and --rm",
            Assert.Throws<FlagException>(() => RunOptions.Build(Run("--rm", "--restart", "always", "busybox"), _ => null, _ => [])).Message);

    [Fact]
    public void Start_failures_map_to_126_and_127()
    {
        Assert.Equal(127, BerthCli.StartFailureCode("failed to create task: exec: \"nope\": executable file not found in $PATH"));
        Assert.Equal(126, BerthCli.StartFailureCode("exec /etc/passwd: permission denied"));
        Assert.Equal(125, BerthCli.StartFailureCode("something else"));
    }
}
