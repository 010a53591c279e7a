using System.Text.Json;
using Berth.Linux;
using Berth.Runtime.State;

namespace Berth.Runtime.Lifecycle;

/// <summary>
/// berth-runtime's verbs for a process that links this library instead of starting the command (berth-shim, for the
/// delete at the end of every container): the same code, --root and state format as `berth-runtime --root ROOT --log LOG
/// --log-format json VERB`, without a process start.
/// </summary>
public static class LinkedRuntime
{
    /// <summary>
    /// `delete --force ID` under <paramref name="root"/>: null when it succeeded, else the error the command would print;
    /// warnings and the error go to <paramref name="logPath"/> as JSON lines, as the command's --log.
    /// </summary>
    public static string? ForceDelete(ISyscalls sys, string root, string id, string? logPath)
    {
        RuntimeLog.Configure(logPath, "json", debug: false);
        try
        {
            new ContainerOperations(sys, new StateStore(root)).Delete(id, force: true);
            return null;
        }
        // What the command turns into its one error line (RuntimeCli.Run).
        catch (Exception e) when (e is RuntimeException or SyscallException or IOException or UnauthorizedAccessException
            or Linux.Cgroups.CgroupException or JsonException or FormatException)
        {
            RuntimeLog.Error(e.Message);
            return e.Message;
        }
    }
}
