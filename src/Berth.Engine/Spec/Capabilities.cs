using Berth.Oci.Runtime;

namespace Berth.Engine.RuntimeSpec;

/// <summary>Docker's capability rules (moby oci/caps): the default set, cap-add/cap-drop, privileged.</summary>
public static class Capabilities
{
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
        catch (IOException) { return CapabilityNames.Last; }
        catch (UnauthorizedAccessException) { return CapabilityNames.Last; }
        catch (FormatException) { return CapabilityNames.Last; }
    }

    /// <summary>Every capability the kernel supports (what a privileged container gets).</summary>
    public static List<string> AllSupported(int lastCapability) => [.. CapabilityNames.All.Take(Math.Min(lastCapability + 1, CapabilityNames.All.Count))];

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
            if (!CapabilityNames.TryGetNumber(name, out var number)) throw new InvalidParameterException($"unknown capability: \"{name}\"");
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
}
