namespace Berth.Engine.RuntimeSpec;

/// <summary>The seccomp profile a container asked for.</summary>
public abstract record SeccompChoice
{
    /// <summary>Docker's default profile (also "seccomp=builtin").</summary>
    public sealed record Default : SeccompChoice;
    /// <summary>"seccomp=unconfined": no filter.</summary>
    public sealed record Unconfined : SeccompChoice;
    /// <summary>"seccomp=JSON" (the docker CLI sends the file's content) or "seccomp=PATH" (read on the daemon's host).</summary>
    public sealed record Custom(string JsonOrPath) : SeccompChoice;
}

/// <summary>HostConfig.SecurityOpt parsed as Docker does (moby daemon_unix.go parseSecurityOpt).</summary>
public sealed record SecurityOptions(bool NoNewPrivileges, SeccompChoice Seccomp, string? AppArmorProfile, IReadOnlyList<string> LabelOptions,
    bool? WritableCgroups)
{
    /// <summary>
    /// Parses <paramref name="options"/>; "no-new-privileges[=|:]bool", "seccomp=…", "apparmor=…", "label=…" (kept, and
    /// ignored: this host has neither AppArmor nor SELinux enforcement in Berth), "writable-cgroups". Anything else is
    /// Docker's <c>invalid --security-opt 2: "X"</c>.
    /// </summary>
    public static SecurityOptions Parse(IEnumerable<string>? options, bool daemonNoNewPrivileges)
    {
        var noNewPrivileges = daemonNoNewPrivileges;
        SeccompChoice seccomp = new SeccompChoice.Default();
        string? apparmor = null;
        bool? writableCgroups = null;
        var labels = new List<string>();
        foreach (var opt in options ?? [])
        {
            if (opt == "no-new-privileges") { noNewPrivileges = true; continue; }
            if (opt == "writable-cgroups") { writableCgroups = true; continue; }
            if (opt == "disable") { labels.Add("disable"); continue; }
            int separator = opt.IndexOf('=');
            if (separator < 0) separator = opt.IndexOf(':');
            if (separator < 0) throw new InvalidParameterException($"invalid --security-opt 1: \"{opt}\"");
            var key = opt[..separator];
            var value = opt[(separator + 1)..];
            switch (key)
            {
                case "label": labels.Add(value); break;
                case "apparmor": apparmor = value; break;
                case "seccomp":
                    seccomp = value switch
                    {
                        "unconfined" => new SeccompChoice.Unconfined(),
                        "builtin" or "" => new SeccompChoice.Default(),
                        _ => new SeccompChoice.Custom(value),
                    };
                    break;
                case "no-new-privileges":
                    noNewPrivileges = ParseBool(value) ?? throw new InvalidParameterException($"invalid --security-opt 2: \"{opt}\"");
                    break;
                case "writable-cgroups":
                    writableCgroups = ParseBool(value) ?? throw new InvalidParameterException($"invalid --security-opt 2: \"{opt}\"");
                    break;
                default:
                    throw new InvalidParameterException($"invalid --security-opt 2: \"{opt}\"");
            }
        }
        return new SecurityOptions(noNewPrivileges, seccomp, apparmor, labels, writableCgroups);
    }

    /// <summary>Go's strconv.ParseBool.</summary>
    private static bool? ParseBool(string value) => value switch
    {
        "1" or "t" or "T" or "true" or "TRUE" or "True" => true,
        "0" or "f" or "F" or "false" or "FALSE" or "False" => false,
        _ => null,
    };
}
