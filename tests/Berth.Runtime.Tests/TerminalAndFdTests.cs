using System.Diagnostics;
using System.Text.Json.Nodes;
using Berth.Runtime.Lifecycle;
using Berth.Testing;

namespace Berth.Runtime.Tests;

/// <summary>process.terminal without --console-socket, --preserve-fds and LISTEN_FDS, as runc behaves.</summary>
public class TerminalAndFdTests
{
    /// <summary>Runs berth-runtime through sh with <paramref name="redirections"/> (e.g. "3&lt;FILE") and stdout/stderr to files.</summary>
    private static (int Code, string Stdout, string Stderr) Shell(LifecycleHarness h, string prefix, string redirections, params string[] args)
    {
        var outFile = Path.Combine(h.Scratch, Guid.NewGuid().ToString("N") + ".out");
        var errFile = outFile + ".err";
        var psi = new ProcessStartInfo("/bin/sh") { RedirectStandardInput = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"{prefix} exec \"$0\" \"$@\" </dev/null >\"$OUT\" 2>\"$ERR\" {redirections}");
        psi.ArgumentList.Add(LifecycleHarness.Binary);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["OUT"] = outFile;
        psi.Environment["ERR"] = errFile;
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        if (!p.WaitForExit(30_000)) { p.Kill(true); throw new TimeoutException("berth-runtime timed out"); }
        return (p.ExitCode, File.ReadAllText(outFile), File.ReadAllText(errFile));
    }

    [RootFact]
    public void ForegroundRunWithATerminalAndNoConsoleSocketRelaysThePty()
    {
        using var h = new LifecycleHarness("sh", "-c", "tty; echo relayed; exit 3");
        h.Config["process"]!["terminal"] = true;
        h.Save();
        var r = h.Verb("run", "--bundle", h.Bundle, h.Id);
        Assert.True(r.Code == 3, $"exit {r.Code}: {r.Stderr}");
        Assert.Contains("/dev/pts/0", r.Stdout);
        Assert.Contains("relayed\r\n", r.Stdout); // through the pty's line discipline
        Assert.NotEqual(0, h.Verb("state", h.Id).Code); // run removed it
    }

    [RootFact]
    public void CreateOrDetachedRunWithATerminalNeedsAConsoleSocket()
    {
        using var h = new LifecycleHarness();
        h.Config["process"]!["terminal"] = true;
        h.Save();
        foreach (var verb in new[] { new[] { "create", "--bundle", h.Bundle, h.Id }, ["run", "-d", "--bundle", h.Bundle, h.Id] })
        {
            var r = h.Verb(verb);
            Assert.NotEqual(0, r.Code);
            Assert.Contains("console socket", r.Stderr);
            Assert.Single(r.Stderr.Trim().Split('\n'));
            Assert.False(Directory.Exists(Path.Combine(h.Root, h.Id)), "nothing left behind");
        }
    }

    [RootFact]
    public void PreservedDescriptorsReachTheContainerProcess()
    {
        using var h = new LifecycleHarness("sh", "-c", "cat <&3; cat <&4; ls /proc/self/fd | wc -l");
        File.WriteAllText(Path.Combine(h.Scratch, "three"), "from-three\n");
        File.WriteAllText(Path.Combine(h.Scratch, "four"), "from-four\n");
        var r = Shell(h, "", $"3<{h.Scratch}/three 4<{h.Scratch}/four", "--root", h.Root, "run", "--preserve-fds", "2", "--bundle", h.Bundle, h.Id);
        Assert.True(r.Code == 0, r.Stderr);
        Assert.Contains("from-three\nfrom-four\n", r.Stdout);
        // 0, 1, 2, 3, 4 and the one ls opens: nothing of the runtime's leaked in.
        Assert.Equal("6", r.Stdout.Trim().Split('\n')[^1].Trim());
    }

    [RootFact]
    public void ListenFdsAddressedToTheRuntimeArePassedOn()
    {
        using var h = new LifecycleHarness("sh", "-c", "echo \"$LISTEN_FDS $LISTEN_PID\"; cat <&3");
        File.WriteAllText(Path.Combine(h.Scratch, "sock"), "activated\n");
        // sh's $$ is the pid the runtime keeps after exec.
        var r = Shell(h, "LISTEN_FDS=1 LISTEN_PID=$$ export LISTEN_FDS LISTEN_PID;", $"3<{h.Scratch}/sock", "--root", h.Root, "run", "--bundle", h.Bundle, h.Id);
        Assert.True(r.Code == 0, r.Stderr);
        Assert.Contains("1 1\nactivated\n", r.Stdout);
    }

    [RootFact]
    public void APreservedDescriptorThatIsNotOpenIsRefused()
    {
        using var h = new LifecycleHarness("true");
        var r = Shell(h, "", "", "--root", h.Root, "run", "--preserve-fds", "40", "--bundle", h.Bundle, h.Id);
        Assert.NotEqual(0, r.Code);
        Assert.Contains("--preserve-fds 40: descriptor", r.Stderr);
        Assert.False(Directory.Exists(Path.Combine(h.Root, h.Id)));
    }

    [Fact]
    public void ListenFdsCountOnlyWhenAddressedToThisProcess()
    {
        string? Env(string name, string fds, string pid) => name == "LISTEN_FDS" ? fds : name == "LISTEN_PID" ? pid : null;
        var mine = PreservedFds.Collect(1, n => Env(n, "2", "77"), 77, _ => true);
        Assert.Equal([3, 4, 5], mine.Fds);
        Assert.Equal(["LISTEN_FDS=2", "LISTEN_PID=1"], mine.Env);
        var other = PreservedFds.Collect(0, n => Env(n, "2", "78"), 77, _ => true);
        Assert.Empty(other.Fds);
        Assert.Throws<RuntimeException>(() => PreservedFds.ParseFlag("-1"));
        Assert.Throws<RuntimeException>(() => PreservedFds.Collect(2, _ => null, 1, fd => fd == 3));
    }
}
