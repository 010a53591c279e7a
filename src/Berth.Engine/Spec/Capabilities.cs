namespace Berth.Engine.RuntimeSpec;

/// <summary>Docker's capability rules (moby oci/caps): the default set, cap-add/cap-drop, privileged.</summary>
public static class Capabilities
{
    /// <summary>Every capability Linux names, by number (CAP_CHOWN is 0).</summary>
    public static readonly IReadOnlyList<string> Known =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
        "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ];

    /// <summary>The 14 capabilities a Docker container gets by default.</summary>
    public static readonly IReadOnlyList<string> Default =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ];

    private const string All = "ALL";

    /// <summary>The kernel's highest capability number (/proc/sys/kernel/cap_last_cap), or the last one Berth knows.</summary>
    public static int HostLastCapability()
    {
        try { return int.Parse(File.ReadAllText("/proc/sys/kernel/cap_last_cap").Trim(), System.Globalization.CultureInfo.InvariantCulture); }
        catch (IOException) { return Known.Count - 1; }
        catch (UnauthorizedAccessException) { return Known.Count - 1; }
        catch (FormatException) { return Known.Count - 1; }
    }

    /// <summary>Every capability the kernel supports (what a privileged container gets).</summary>
    public static List<string> AllSupported(int lastCapability) => [.. Known.Take(Math.Min(lastCapability + 1, Known.Count))];

    /// <summary>
    /// Upper-cases and prefixes CAP_ to each name, keeping "ALL"; an unknown name is Docker's
    /// <c>unknown capability: "CAP_X"</c>, one the kernel lacks its "not supported by your kernel" error.
    /// </summary>
    public static List<string> Normalize(IEnumerable<string>? names, int lastCapability)
    {
        var result = new List<string>();
        foreach (var raw in names ?? [])
        {
            var name = raw.ToUpperInvariant();
            if (name == All) { result.Add(name); continue; }
            if (!name.StartsWith("CAP_", StringComparison.Ordinal)) name = "CAP_" + name;
            var number = IndexOf(name);
            if (number < 0) throw new InvalidParameterException($"unknown capability: \"{name}\"");
            if (number > lastCapability)
                throw new InvalidParameterException($"capability not supported by your kernel or not available in the current environment: \"{name}\"");
            result.Add(name);
        }
        return result;
    }

    /// <summary>The container's capability set from Docker's rules (moby caps.TweakCapabilities).</summary>
    public static List<string> Resolve(IEnumerable<string>? add, IEnumerable<string>? drop, bool privileged, int lastCapability)
    {
        if (privileged) return AllSupported(lastCapability);
        var adds = Normalize(add, lastCapability);
        var drops = Normalize(drop, lastCapability);
        if (adds.Count == 0 && drops.Count == 0) return [.. Default];
        if (adds.Contains(All)) return [.. AllSupported(lastCapability).Where(c => !drops.Contains(c))];
        if (drops.Contains(All)) return [.. adds.Distinct()];
        var caps = Default.Where(c => !drops.Contains(c)).ToList();
        foreach (var c in adds)
            if (!caps.Contains(c)) caps.Add(c);
        return caps;
    }

    private static int IndexOf(string name)
    {
        for (var i = 0; i < Known.Count; i++)
            if (Known[i] == name) return i;
        return -1;
    }
}
