using System.Text.Json.Nodes;
using Berth.Testing;

namespace Berth.Runtime.Tests;

public class LifecycleIntegrationTests
{
    [RootFact]
    public void RunShowsPid1OwnHostnameAndOnlyLoopback()
    {
        using var h = new LifecycleHarness("sh", "-c", "echo pid=$$; hostname; ls /sys/class/net");
        h.Config["hostname"] = "berth-box";
        h.Save();
        var r = h.Verb("run", "--bundle", h.Bundle, h.Id);
        Assert.True(r.Code == 0, r.Stderr);
        Assert.Contains("pid=1\n", r.Stdout);
        Assert.Contains("berth-box\n", r.Stdout);
        var interfaces = r.Stdout.Split('\n')[2..].Where(l => l.Length > 0).ToArray();
        Assert.Equal(["lo"], interfaces);
        Assert.False(Directory.Exists(Path.Combine(h.Root, h.Id)), "run must delete the container");
    }

    [RootFact]
    public void RunExitsWithTheProcessExitCode()
    {
        using var h = new LifecycleHarness("sh", "-c", "exit 42");
        Assert.Equal(42, h.Verb("run", "--bundle", h.Bundle, h.Id).Code);
    }

    [RootFact]
    public void RunOfAKilledProcessExitsWith128PlusSignal()
    {
        using var h = new LifecycleHarness("sleep", "30");
        var run = Task.Run(() => h.Verb("run", "--bundle", h.Bundle, h.Id));
        h.WaitForStatus("running");
        Assert.Equal(0, h.Verb("kill", h.Id, "SIGKILL").Code);
        Assert.True(run.Wait(10_000));
        Assert.Equal(128 + 9, run.Result.Code);
    }

    [RootFact]
    public void CreateStartKillDeleteWalkTheStateMachine()
    {
        using var h = new LifecycleHarness("sleep", "30");
        var pidFile = Path.Combine(h.Scratch, "pid");
        var created = h.Create("--pid-file", pidFile);
        Assert.True(created.Code == 0, created.Stderr);
        Assert.Equal("created", h.Status());
        var pid = h.Pid();
        Assert.Equal(pid.ToString(), File.ReadAllText(pidFile));
        Assert.True(Directory.Exists($"/proc/{pid}"));

        var start = h.Verb("start", h.Id);
        Assert.True(start.Code == 0, start.Stderr);
        Assert.Equal("running", h.Status());
        // `start` returns once the init is released; its execve of the process follows a moment later.
        for (var waited = 0; waited < 5000 && !File.ReadAllText($"/proc/{pid}/cmdline").Contains("sleep"); waited += 10) Thread.Sleep(10);
        Assert.Contains("sleep", File.ReadAllText($"/proc/{pid}/cmdline"));

        var again = h.Verb("start", h.Id);
        Assert.NotEqual(0, again.Code);
        Assert.Contains("cannot start an already running container", again.Stderr);

        var refuse = h.Verb("delete", h.Id);
        Assert.NotEqual(0, refuse.Code);
        Assert.Contains("not stopped: running", refuse.Stderr);

        Assert.Equal(0, h.Verb("kill", h.Id, "KILL").Code);
        h.WaitForStatus("stopped");
        Assert.Equal(0, h.Pid());
        Assert.Contains("cannot start a container that has stopped", h.Verb("start", h.Id).Stderr);
        Assert.Contains("container not running", h.Verb("kill", h.Id).Stderr);

        var list = h.Verb("list", "-f", "json");
        Assert.Equal(h.Id, JsonNode.Parse(list.Stdout)![0]!["id"]!.GetValue<string>());

        Assert.Equal(0, h.Verb("delete", h.Id).Code);
        Assert.False(Directory.Exists(Path.Combine(h.Root, h.Id)));
        Assert.Contains("does not exist", h.Verb("state", h.Id).Stderr);
    }

    [RootFact]
    public void ACreatedContainersInitIsInItsLimitedCgroupInEveryHierarchyAndDeleteRemovesIt()
    {
        using var h = new LifecycleHarness();
        var path = "/berth-test-" + h.Id;
        h.Config["linux"]!["cgroupsPath"] = path;
        h.Config["linux"]!["resources"] = new System.Text.Json.Nodes.JsonObject { ["pids"] = new System.Text.Json.Nodes.JsonObject { ["limit"] = 57 } };
        h.Save();
        var created = h.Create();
        Assert.True(created.Code == 0, created.Stderr);
        var lines = File.ReadAllLines($"/proc/{h.Pid()}/cgroup");
        var controllers = lines.Where(l => l.Split(':') is [_, { Length: > 0 } c, _] && !c.StartsWith("name=", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(controllers);
        Assert.All(controllers, l => Assert.EndsWith(":" + path, l));
        var pidsMax = lines.Any(l => l.Split(':')[1].Split(',').Contains("pids")) ? $"/sys/fs/cgroup/pids{path}/pids.max" : $"/sys/fs/cgroup{path}/pids.max";
        Assert.Equal("57", File.ReadAllText(pidsMax).Trim());
        Assert.Equal(0, h.Verb("delete", h.Id).Code);
        Assert.False(Directory.Exists(Path.GetDirectoryName(pidsMax)));
    }

    [RootFact]
    public void ACreatedInitReadsTheExecFifoAndOutlivesAWriterThatLeavesWithoutStartingIt()
    {
        using var h = new LifecycleHarness("sh", "-c", "echo started > /tmp/marker; sleep 30");
        h.Config["root"]!["readonly"] = false;
        h.Save();
        Assert.Equal(0, h.Create().Code);
        var fifo = Path.Combine(h.Root, h.Id, "exec.fifo");
        if (OperatingSystem.IsLinux()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(fifo));
        // `start` opens the write end without waiting, which works only while the init holds the read end: it has, since
        // before `create` returned. A writer that leaves without the byte releases nothing, and the init waits on.
        var sys = Berth.Linux.LinuxSyscalls.Instance;
        sys.CloseFd(sys.OpenFile(fifo, Berth.Linux.OpenFlags.O_WRONLY | Berth.Linux.OpenFlags.O_NONBLOCK));
        Thread.Sleep(100);
        Assert.Equal("created", h.Status());
        var marker = Path.Combine(h.Bundle, "rootfs", "tmp", "marker");
        Assert.False(File.Exists(marker));

        var start = h.Verb("start", h.Id);
        Assert.True(start.Code == 0, start.Stderr);
        Assert.False(File.Exists(fifo));
        for (var waited = 0; waited < 5000 && !File.Exists(marker); waited += 10) Thread.Sleep(10);
        Assert.Equal("started\n", File.ReadAllText(marker));
        Assert.Equal("running", h.Status());
    }

    [RootFact]
    public void TheRuntimesGcReservesOneGibibyteNotAMultipleOfTheMachinesMemory()
    {
        // A created container's init is a clone of `berth-runtime create`: its address space is the runtime's. The GC
        // region range (System.GC.RegionRange in berth-runtime.csproj) bounds the largest reservation; by default the
        // GC reserves twice the machine's memory, and every verb pays for building and tearing that down.
        using var h = new LifecycleHarness("sleep", "30");
        var created = h.Create();
        Assert.True(created.Code == 0, created.Stderr);
        var largest = File.ReadAllLines($"/proc/{h.Pid()}/maps")
            .Select(line => line.Split(' ')[0].Split('-'))
            .Max(range => Convert.ToInt64(range[1], 16) - Convert.ToInt64(range[0], 16));
        Assert.True(largest <= (1L << 30) + 4096 * 16, $"the runtime's largest mapping is {largest >> 20} MiB");
        Assert.True(largest >= 1L << 29, $"the runtime's largest mapping is {largest >> 20} MiB: is the GC's region range still reserved in one piece?");
        Assert.Equal(0, h.Verb("delete", "--force", h.Id).Code);
    }

    [RootFact]
    public void DeleteOfACreatedContainerKillsItsInit()
    {
        using var h = new LifecycleHarness("sleep", "30");
        Assert.Equal(0, h.Create().Code);
        var pid = h.Pid();
        Assert.Equal(0, h.Verb("delete", h.Id).Code);
        Assert.False(Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z "));
    }

    [RootFact]
    public void DeleteForceKillsARunningContainer()
    {
        using var h = new LifecycleHarness("sleep", "30");
        Assert.Equal(0, h.Create().Code);
        Assert.Equal(0, h.Verb("start", h.Id).Code);
        Assert.Equal(0, h.Verb("delete", "--force", h.Id).Code);
        Assert.False(Directory.Exists(Path.Combine(h.Root, h.Id)));
    }

    [RootFact]
    public void ASecondContainerWithTheSameIdIsRefused()
    {
        using var h = new LifecycleHarness("sleep", "30");
        Assert.Equal(0, h.Create().Code);
        var pid = h.Pid();
        var second = h.Create();
        Assert.NotEqual(0, second.Code);
        Assert.Contains("exists", second.Stderr);
        Assert.Equal(pid, h.Pid()); // the first one is untouched
    }

    [RootFact]
    public void BadIdsAndBadConfigsFailWithOneLineAndLeaveNothing()
    {
        using var h = new LifecycleHarness("true");
        var badId = h.Verb("create", "--bundle", h.Bundle, "../escape");
        Assert.NotEqual(0, badId.Code);
        Assert.Single(badId.Stderr.Trim().Split('\n'));
        Assert.Contains("invalid container id", badId.Stderr);

        h.Config["linux"]!["namespaces"]!.AsArray().Add(new JsonObject { ["type"] = "bogus" });
        h.Save();
        var log = Path.Combine(h.Scratch, "log.json");
        var r = h.Run(["--root", h.Root, "--log", log, "--log-format", "json", "create", "--bundle", h.Bundle, h.Id]);
        Assert.NotEqual(0, r.Code);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains("linux.namespaces[5].type", r.Stderr);
        var entry = JsonNode.Parse(File.ReadAllLines(log)[^1])!;
        Assert.Equal("error", entry["level"]!.GetValue<string>());
        Assert.Contains("unknown namespace type", entry["msg"]!.GetValue<string>());
        Assert.False(Directory.Exists(Path.Combine(h.Root, h.Id)));

        File.WriteAllText(Path.Combine(h.Bundle, "config.json"), "{ not json");
        var malformed = h.Create();
        Assert.NotEqual(0, malformed.Code);
        Assert.Contains("config.json", malformed.Stderr);
        Assert.False(Directory.Exists(Path.Combine(h.Root, h.Id)));
    }

    [RootFact]
    public void AMissingExecutableFailsCreateAndLeavesNothing()
    {
        using var h = new LifecycleHarness("/no/such/program");
        var r = h.Create();
        Assert.NotEqual(0, r.Code);
        Assert.Contains("/no/such/program", r.Stderr);
        Assert.False(Directory.Exists(Path.Combine(h.Root, h.Id)));
    }

    [RootFact]
    public void GlobalsRuncHasAreAcceptedWithAWarning()
    {
        using var h = new LifecycleHarness("true");
        var r = h.Run(["--root", h.Root, "--systemd-cgroup", "list"]);
        Assert.Equal(0, r.Code);
        Assert.Contains("ID", r.Stdout);
        Assert.Contains("systemd-cgroup", r.Stderr);
    }
}
