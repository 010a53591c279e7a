using System.Text;
using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime.Hooks;

/// <summary>Runs OCI hooks: argv as given (args[0] is argv[0]), env as given, the state JSON on stdin, stdout and
/// stderr captured for the error message, and the hook's timeout enforced (SIGKILL when it expires).</summary>
public sealed class HookRunner(ISyscalls sys)
{
    /// <summary>Runs each hook in order; the first failure throws (callers that only warn catch it).</summary>
    public void Run(IReadOnlyList<Hook>? hooks, string phase, string stateJson)
    {
        if (hooks is null) return;
        for (var i = 0; i < hooks.Count; i++) RunOne(hooks[i], phase, i, stateJson);
    }

    /// <summary>Runs every hook; failures are logged as warnings (poststart, poststop).</summary>
    public void RunWarning(IReadOnlyList<Hook>? hooks, string phase, string stateJson)
    {
        if (hooks is null) return;
        for (var i = 0; i < hooks.Count; i++)
        {
            try { RunOne(hooks[i], phase, i, stateJson); }
            catch (RuntimeException e) { RuntimeLog.Warn(e.Message); }
        }
    }

    private void RunOne(Hook hook, string phase, int index, string stateJson)
    {
        var name = $"{phase} hook #{index} ({hook.Path})";
        var (stdinRead, stdinWrite) = sys.CreatePipe();
        var (outRead, outWrite) = sys.CreatePipe();
        int pid;
        try
        {
            pid = sys.SpawnProcess(hook.Path, hook.Args is { Count: > 0 } a ? a : [hook.Path], hook.Env ?? [], stdinRead, outWrite, outWrite);
        }
        catch (SyscallException e)
        {
            sys.CloseFd(stdinRead); sys.CloseFd(stdinWrite); sys.CloseFd(outRead); sys.CloseFd(outWrite);
            throw new RuntimeException($"{name}: {e.Message}");
        }
        sys.CloseFd(stdinRead);
        sys.CloseFd(outWrite);
        try { sys.WriteAll(stdinWrite, Encoding.UTF8.GetBytes(stateJson)); }
        catch (SyscallException) { } // a hook need not read its stdin
        sys.CloseFd(stdinWrite);

        var output = new StringBuilder();
        var deadline = hook.Timeout is { } t ? Environment.TickCount64 + t * 1000L : long.MaxValue;
        var buffer = new byte[4096];
        var timedOut = false;
        try
        {
            while (true)
            {
                var left = deadline == long.MaxValue ? -1 : (int)Math.Max(0, deadline - Environment.TickCount64);
                if (sys.WaitReadable([outRead], left) < 0) { timedOut = true; break; }
                var n = sys.ReadSome(outRead, buffer);
                if (n == 0) break;
                if (output.Length < 4096) output.Append(Encoding.UTF8.GetString(buffer, 0, n));
            }
        }
        finally { sys.CloseFd(outRead); }
        if (timedOut) sys.SendSignal(pid, 9);
        sys.WaitForChild(pid, out var status);
        if (timedOut) throw new RuntimeException($"{name}: timed out after {hook.Timeout}s");
        if (status != 0)
        {
            var detail = output.ToString().Trim().ReplaceLineEndings(" ");
            var how = WaitStatus.Exited(status) ? $"exit status {WaitStatus.ExitCode(status)}" : $"killed by signal {WaitStatus.TermSignal(status)}";
            throw new RuntimeException($"{name} failed: {how}{(detail.Length > 0 ? ": " + detail : "")}");
        }
    }
}
