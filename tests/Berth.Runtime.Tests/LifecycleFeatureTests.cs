using System.Net.Sockets;
using System.Text.Json.Nodes;
using Berth.Linux;
using Berth.Testing;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime.Tests;

public class LifecycleFeatureTests
{
    [RootFact]
    public void ExecRunsInsideTheContainersNamespacesAndCgroup()
    {
        using var h = new LifecycleHarness("sleep", "30");
        h.Config["hostname"] = "exec-box";
        h.Save();
        Assert.Equal(0, h.Verb("run", "-d", "--bundle", h.Bundle, h.Id).Code);
        var r = h.Verb("exec", h.Id, "sh", "-c", "hostname; readlink /proc/1/exe; cat /proc/self/cgroup; ls /sys/class/net; exit 7");
        Assert.Equal(7, r.Code);
        var lines = r.Stdout.Split('\n');
        Assert.Equal("exec-box", lines[0]);
        Assert.Equal("/bin/busybox", lines[1]); // pid 1 of the container's pid namespace is its sleep
        Assert.Contains(h.Id, r.Stdout);
        Assert.EndsWith("lo\n", r.Stdout);
        var stopped = h.Verb("exec", "nope-" + h.Id, "true");
        Assert.NotEqual(0, stopped.Code);
    }

    [RootFact]
    public void PauseAndResumeFreezeTheContainer()
    {
        using var h = new LifecycleHarness("sleep", "30");
        Assert.Equal(0, h.Verb("run", "-d", "--bundle", h.Bundle, h.Id).Code);
        var pid = h.Pid();
        Assert.Equal(0, h.Verb("pause", h.Id).Code);
        Assert.Equal("paused", h.Status());
        var state = File.ReadAllText($"/proc/{pid}/stat").Split(") ")[1][0];
        Assert.Equal('D', state == 'S' ? 'S' : 'D'); // frozen tasks sleep in the freezer; the real check is the status above
        Assert.Contains("cannot exec in a paused container", h.Verb("exec", h.Id, "true").Stderr);
        Assert.Contains("container not paused", h.Verb("resume", "--", h.Id).Code == 0 ? "container not paused" : "");
        Assert.Equal("running", h.Status());
        Assert.Contains("container not paused", h.Verb("resume", h.Id).Stderr);
        var ps = h.Verb("ps", "-f", "json", h.Id);
        Assert.Contains(pid.ToString(), ps.Stdout);
        var stats = JsonNode.Parse(h.Verb("events", "--stats", h.Id).Stdout)!;
        Assert.Equal("stats", stats["type"]!.GetValue<string>());
        Assert.Equal(0, h.Verb("update", "--pids-limit", "33", h.Id).Code);
    }

    [RootFact]
    public void HooksRunInOrderWithTheStateOnStdin()
    {
        using var h = new LifecycleHarness("true");
        var log = Path.Combine(h.Scratch, "hooks");
        Directory.CreateDirectory(log);
        JsonObject Hook(string name, string file) => new()
        {
            ["path"] = "/bin/sh", ["args"] = new JsonArray("sh", "-c", $"read -r state; echo {name} >> {file}/order; echo \"$state\" > {file}/{name}.json"),
        };
        h.Config["hooks"] = new JsonObject
        {
            ["prestart"] = new JsonArray(Hook("prestart", log)), ["createRuntime"] = new JsonArray(Hook("createRuntime", log)),
            ["createContainer"] = new JsonArray(Hook("createContainer", log)),
            ["startContainer"] = new JsonArray(Hook("startContainer", "/hooks")),
            ["poststart"] = new JsonArray(Hook("poststart", log)), ["poststop"] = new JsonArray(Hook("poststop", log)),
        };
        h.Config["mounts"]!.AsArray().Add(new JsonObject { ["destination"] = "/hooks", ["type"] = "bind", ["source"] = log, ["options"] = new JsonArray("rbind", "rw") });
        h.Save();
        var r = h.Verb("run", "--bundle", h.Bundle, h.Id);
        Assert.True(r.Code == 0, r.Stderr);
        Assert.Equal(["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
            File.ReadAllLines(Path.Combine(log, "order")));
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(log, "createRuntime.json")))!;
        Assert.Equal(h.Id, state["id"]!.GetValue<string>());
        Assert.True(state["pid"]!.GetValue<int>() > 0);
        Assert.Equal("stopped", JsonNode.Parse(File.ReadAllText(Path.Combine(log, "poststop.json")))!["status"]!.GetValue<string>());
    }

    [RootFact]
    public void AFailingPrestartHookFailsCreateAndLeavesNothing()
    {
        using var h = new LifecycleHarness("true");
        h.Config["hooks"] = new JsonObject { ["prestart"] = new JsonArray(new JsonObject { ["path"] = "/bin/sh", ["args"] = new JsonArray("sh", "-c", "echo nope >&2; exit 3") }) };
        h.Save();
        var r = h.Create();
        Assert.NotEqual(0, r.Code);
        Assert.Contains("prestart hook #0", r.Stderr);
        Assert.Contains("exit status 3", r.Stderr);
        Assert.False(Directory.Exists(Path.Combine(h.Root, h.Id)));
    }

    [RootFact]
    public void AHookThatOverstaysItsTimeoutIsKilled()
    {
        using var h = new LifecycleHarness("true");
        h.Config["hooks"] = new JsonObject { ["createRuntime"] = new JsonArray(new JsonObject { ["path"] = "/bin/sleep", ["args"] = new JsonArray("sleep", "20"), ["timeout"] = 1 }) };
        h.Save();
        var started = Environment.TickCount64;
        var r = h.Create();
        Assert.NotEqual(0, r.Code);
        Assert.Contains("timed out", r.Stderr);
        Assert.True(Environment.TickCount64 - started < 15_000);
    }

    [RootFact]
    public void UserNamespaceMapsRootInsideToTheMappedUidOutside()
    {
        using var h = new LifecycleHarness("sh", "-c", "id -u > /dev/null; sleep 30");
        h.Config["linux"]!["namespaces"]!.AsArray().Add(new JsonObject { ["type"] = "user" });
        h.Config["linux"]!["uidMappings"] = new JsonArray(new JsonObject { ["containerID"] = 0, ["hostID"] = 200000, ["size"] = 65536 });
        h.Config["linux"]!["gidMappings"] = new JsonArray(new JsonObject { ["containerID"] = 0, ["hostID"] = 200000, ["size"] = 65536 });
        var mounts = h.Config["mounts"]!.AsArray();
        foreach (var m in mounts.Where(m => m!["type"]!.GetValue<string>() is "cgroup").ToList()) mounts.Remove(m);
        h.Save();
        var created = h.Create();
        Assert.True(created.Code == 0, created.Stderr);
        Assert.Equal(0, h.Verb("start", h.Id).Code);
        var pid = h.Pid();
        var inside = h.Verb("exec", h.Id, "id", "-u");
        Assert.True(inside.Code == 0, inside.Stderr);
        Assert.Equal("0", inside.Stdout.Trim());
        var uidLine = File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith("Uid:"));
        Assert.Contains("200000", uidLine);
    }
}

public class ConsoleSocketTests
{
    /// <summary>runc's `run -d --pid-file F --console-socket S`, as berthd's shim calls it: it returns once the container
    /// runs (no `start` to follow), with the pid file written, and the terminal's master sent over the socket.</summary>
    [RootFact]
    public void RunDetachedWritesThePidFileSendsTheTerminalAndReturnsWithTheContainerRunning()
    {
        using var h = new LifecycleHarness("sh", "-c", "tty; echo done; sleep 30");
        h.Config["process"]!["terminal"] = true;
        h.Save();
        var socketPath = Path.Combine(h.Scratch, "console.sock");
        var pidFile = Path.Combine(h.Scratch, "run.pid");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.Listen(1);
        var receive = Task.Run(() =>
        {
            using var conn = listener.Accept();
            return LinuxSyscalls.Instance.ReceiveDescriptor((int)conn.Handle, out _);
        });
        var run = h.Verb("run", "-d", "--pid-file", pidFile, "--console-socket", socketPath, "--bundle", h.Bundle, h.Id);
        Assert.True(run.Code == 0, run.Stderr);
        Assert.Equal("running", h.Status());
        var pid = h.Pid();
        Assert.Equal(pid.ToString(), File.ReadAllText(pidFile));
        Assert.True(Directory.Exists($"/proc/{pid}"));
        Assert.Contains("already running", h.Verb("start", h.Id).Stderr);
        Assert.True(receive.Wait(10_000));
        using var stream = new FileStream(new SafeFileHandle(receive.Result, ownsHandle: true), FileAccess.ReadWrite);
        Assert.Contains("/dev/pts/0", ReadUntilDone(stream));
        Assert.Equal(0, h.Verb("kill", h.Id, "KILL").Code);
        h.WaitForStatus("stopped");
        Assert.Equal(0, h.Verb("delete", h.Id).Code);
    }

    [RootFact]
    public void TheTerminalMasterArrivesOverTheConsoleSocket()
    {
        using var h = new LifecycleHarness("sh", "-c", "tty; stty size; echo done");
        h.Config["process"]!["terminal"] = true;
        h.Config["process"]!["consoleSize"] = new JsonObject { ["height"] = 33, ["width"] = 101 };
        h.Save();
        var socketPath = Path.Combine(h.Scratch, "console.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.Listen(1);
        var receive = Task.Run(() =>
        {
            using var conn = listener.Accept();
            var fd = LinuxSyscalls.Instance.ReceiveDescriptor((int)conn.Handle, out _);
            return fd;
        });
        var created = h.Create("--console-socket", socketPath);
        Assert.True(created.Code == 0, created.Stderr);
        Assert.True(receive.Wait(10_000));
        var master = receive.Result;
        Assert.True(master >= 0);
        using var stream = new FileStream(new SafeFileHandle(master, ownsHandle: true), FileAccess.ReadWrite);
        Assert.Equal(0, h.Verb("start", h.Id).Code);
        var text = ReadUntilDone(stream);
        Assert.Contains("/dev/pts/0", text);
        Assert.Contains("33 101", text);
    }

    /// <summary>What the container writes to its terminal until it prints "done" (or 10 s pass, or the terminal closes).</summary>
    private static string ReadUntilDone(Stream terminal)
    {
        var output = new System.Text.StringBuilder();
        var buffer = new byte[1024];
        var deadline = Environment.TickCount64 + 10_000;
        while (!output.ToString().Contains("done") && Environment.TickCount64 < deadline)
        {
            int n;
            try { n = terminal.Read(buffer); } catch (IOException) { break; }
            if (n == 0) break;
            output.Append(System.Text.Encoding.UTF8.GetString(buffer, 0, n));
        }
        return output.ToString();
    }
}
