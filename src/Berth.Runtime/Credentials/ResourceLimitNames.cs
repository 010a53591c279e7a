namespace Berth.Runtime.Credentials;

/// <summary>RLIMIT_* names (as config.json writes them) and their numbers (asm-generic, used by x86_64 and aarch64).</summary>
public static class ResourceLimitNames
{
    private static readonly string[] Names =
    [
        "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS", "RLIMIT_NPROC",
        "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE",
        "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
    ];

    public static IReadOnlyList<string> All => Names;

    public static bool TryGetNumber(string name, out int number)
    {
        number = Array.IndexOf(Names, name);
        return number >= 0;
    }
}
