namespace Berth.Oci.Runtime;

/// <summary>Linux capability names (as config.json writes them, "CAP_CHOWN") and their numbers: one table for the
/// runtime (masks for capset) and the engine (Docker's cap-add/cap-drop rules).</summary>
public static class CapabilityNames
{
    private static readonly string[] Names =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
        "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ];

    private static readonly Dictionary<string, int> Numbers =
        Names.Select((name, number) => (name, number)).ToDictionary(p => p.name, p => p.number, StringComparer.OrdinalIgnoreCase);

    /// <summary>The highest capability number this table knows (CAP_CHECKPOINT_RESTORE).</summary>
    public static int Last => Names.Length - 1;

    public static IReadOnlyList<string> All => Names;

    public static bool TryGetNumber(string name, out int number) => Numbers.TryGetValue(name, out number);

    public static string NameOf(int number) => number >= 0 && number < Names.Length ? Names[number] : $"CAP_{number}";

    /// <summary>The bit mask of <paramref name="names"/>; names beyond <paramref name="lastSupported"/> (the
    /// kernel's cap_last_cap) are left out.</summary>
    public static ulong Mask(IEnumerable<string>? names, int lastSupported)
    {
        ulong mask = 0;
        foreach (var name in names ?? [])
            if (Numbers.TryGetValue(name, out var number) && number <= lastSupported) mask |= 1UL << number;
        return mask;
    }
}
