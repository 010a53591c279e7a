using Berth.Linux;

namespace Berth.Shim;

/// <summary>
/// `berth-shim exec-wait PIDFILE -- RUNTIME ARGS…`: the parent an exec needs. runc runs a terminal exec only detached
/// (its console socket is refused otherwise), and a detached exec's process is re-parented to the nearest subreaper:
/// this one. It runs the runtime's exec (which writes PIDFILE), waits for the process and exits with its status
/// (128 + signal when killed), so berthd learns the exec's exit code by waiting for this small process. Its stdio is
/// passed through to the runtime and so to the process.
/// </summary>
public static class ExecWaiter
{
    public static int Run(ISyscalls sys, ReadOnlySpan<string> args)
    {
        if (args.Length < 3 || args[1] != "--")
        {
            Console.Error.WriteLine("usage: berth-shim exec-wait PIDFILE -- RUNTIME ARGS...");
            return 125;
        }
        var pidFile = args[0];
        var runtimeArgs = args[2..].ToArray();
        try
        {
            sys.BecomeSubreaper();
            var env = new List<string>();
            foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            {
                var name = (string)e.Key;
                if (!name.StartsWith("DOTNET_", StringComparison.Ordinal)) env.Add(name + "=" + (string?)e.Value);
            }
            var runtime = sys.SpawnProcess(runtimeArgs[0], runtimeArgs, env, 0, 1, 2);
            sys.WaitForChild(runtime, out var status);
            if (!WaitStatus.Exited(status) || WaitStatus.ExitCode(status) != 0 || !File.Exists(pidFile)) return 126; // the runtime said why on stderr
            var pid = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            while (true)
            {
                var reaped = sys.WaitForChild(-1, out status);
                if (reaped == pid) return WaitStatus.ShellCode(status);
            }
        }
        catch (SyscallException e)
        {
            Console.Error.WriteLine("berth-shim exec-wait: " + e.Message);
            return 126;
        }
    }
}
