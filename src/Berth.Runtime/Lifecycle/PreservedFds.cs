using System.Globalization;

namespace Berth.Runtime.Lifecycle;

/// <summary>
/// Descriptors the runtime hands on to the container process beyond stdio, as runc does: systemd socket activation
/// (LISTEN_FDS with LISTEN_PID naming this process: descriptors 3 … 3+LISTEN_FDS-1, and the process gets
/// LISTEN_FDS and LISTEN_PID=1) followed by --preserve-fds N more.
/// </summary>
public sealed record PreservedFds(IReadOnlyList<int> Fds, IReadOnlyList<string> Env)
{
    public static readonly PreservedFds None = new([], []);

    public static int ParseFlag(string? value)
    {
        if (value is null) return 0;
        return int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= 1 << 16
            ? n : throw new RuntimeException($"--preserve-fds: \"{value}\" is not a number of descriptors");
    }

    /// <param name="environment">The runtime's environment (LISTEN_FDS, LISTEN_PID); <paramref name="pid"/> this process's id.</param>
    /// <param name="isOpen">Whether a descriptor number is open in this process.</param>
    public static PreservedFds Collect(int preserveFlag, Func<string, string?> environment, int pid, Func<int, bool> isOpen)
    {
        var listen = 0;
        if (environment("LISTEN_FDS") is { } count && environment("LISTEN_PID") is { } listenPid
            && int.TryParse(listenPid, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p == pid
            && int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            listen = n;
        if (listen + preserveFlag == 0) return None;
        var fds = new List<int>();
        for (var fd = 3; fd < 3 + listen + preserveFlag; fd++)
        {
            if (!isOpen(fd))
                throw new RuntimeException(fd < 3 + listen
                    ? $"LISTEN_FDS={listen}: descriptor {fd} is not open"
                    : $"--preserve-fds {preserveFlag}: descriptor {fd} is not open");
            fds.Add(fd);
        }
        return new PreservedFds(fds, listen > 0 ? [$"LISTEN_FDS={listen}", "LISTEN_PID=1"] : []);
    }

    /// <summary>From this process: its environment, its pid, /proc/self/fd.</summary>
    public static PreservedFds OfThisProcess(int preserveFlag)
        => Collect(preserveFlag, Environment.GetEnvironmentVariable, Environment.ProcessId, fd => File.Exists($"/proc/self/fd/{fd}"));
}
