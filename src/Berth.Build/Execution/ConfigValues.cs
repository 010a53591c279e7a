using Berth.Build.Context;

namespace Berth.Build.Execution;

/// <summary>EXPOSE values as Docker's nat.ParsePortSpecs reads them: "80", "80/tcp", "53/udp", "8000-8002/tcp".</summary>
public static class PortSpecs
{
    public static IEnumerable<string> Parse(string spec)
    {
        var slash = spec.IndexOf('/');
        var proto = slash < 0 ? "tcp" : spec[(slash + 1)..].ToLowerInvariant();
        var ports = slash < 0 ? spec : spec[..slash];
        // "ip:hostPort:containerPort" forms keep only the container port, as Docker does.
        var colon = ports.LastIndexOf(':');
        if (colon >= 0) ports = ports[(colon + 1)..];
        if (proto is not ("tcp" or "udp" or "sctp")) throw new BuildException($"invalid proto: {proto}");
        var dash = ports.IndexOf('-');
        if (!ushort.TryParse(dash < 0 ? ports : ports[..dash], out var start) || (dash >= 0 && !ushort.TryParse(ports[(dash + 1)..], out _)))
            throw new BuildException($"invalid containerPort: {ports}");
        var end = dash < 0 ? start : ushort.Parse(ports[(dash + 1)..]);
        if (end < start) throw new BuildException($"invalid range specified for container port: {ports}");
        for (int p = start; p <= end; p++) yield return $"{p}/{proto}";
    }
}

/// <summary>STOPSIGNAL values Docker accepts: a number, or a name with or without SIG.</summary>
public static class Signals
{
    private static readonly HashSet<string> Names =
    [
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL", "PROF", "PWR",
        "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
    ];

    public static bool IsValid(string signal)
    {
        if (int.TryParse(signal, out var n)) return n is > 0 and < 65;
        var name = signal.ToUpperInvariant();
        if (name.StartsWith("SIG", StringComparison.Ordinal)) name = name[3..];
        if (name.StartsWith("RTMIN", StringComparison.Ordinal) || name.StartsWith("RTMAX", StringComparison.Ordinal)) return true;
        return Names.Contains(name);
    }
}

/// <summary>--chown values: numbers, or names looked up in the image's /etc/passwd and /etc/group.</summary>
public static class Ownership
{
    public static (int Uid, int Gid) Resolve(string chown, string rootfs)
    {
        var colon = chown.IndexOf(':');
        var user = colon < 0 ? chown : chown[..colon];
        var group = colon < 0 ? null : chown[(colon + 1)..];
        int uid, primaryGid;
        if (int.TryParse(user, out uid)) primaryGid = uid;
        else
        {
            var entry = Lookup(rootfs, "etc/passwd", user)
                ?? throw new BuildException($"unable to convert uid/gid chown string to host mapping: can't find uid for user {user}: no such user: {user}");
            uid = int.Parse(entry[2]);
            primaryGid = int.Parse(entry[3]);
        }
        if (group is null) return (uid, primaryGid);
        if (int.TryParse(group, out var gid)) return (uid, gid);
        var groupEntry = Lookup(rootfs, "etc/group", group)
            ?? throw new BuildException($"unable to convert uid/gid chown string to host mapping: can't find gid for group {group}: no such group: {group}");
        return (uid, int.Parse(groupEntry[2]));
    }

    private static string[]? Lookup(string rootfs, string file, string name)
    {
        var path = ScopedPath.Resolve(rootfs, file);
        if (!File.Exists(path)) return null;
        foreach (var line in File.ReadLines(path))
        {
            var fields = line.Split(':');
            if (fields.Length >= 3 && fields[0] == name) return fields;
        }
        return null;
    }
}
