using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime.Credentials;

/// <summary>
/// The container process's last steps before execve, on the thread that will call execve (capabilities and
/// seccomp are per thread): limits, the OOM score, LSM labels, no_new_privs, seccomp, user and groups,
/// capabilities, umask and working directory, in runc's order.
/// </summary>
public static class ProcessSetup
{
    private const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public static void Finalize(Spec spec, ISyscalls sys, Action? loadSeccomp, bool boundingSetDropped = false)
        => Finalize<ISyscalls>(spec, sys, loadSeccomp, boundingSetDropped: boundingSetDropped);

    /// <summary>The same, against only the calls it needs (tests pass a recording double).</summary>
    /// <param name="warn">Receives warnings (an LSM the kernel lacks, a capability it does not know); stderr when null.</param>
    /// <param name="boundingSetDropped">The bounding set was narrowed already (<see cref="DropBoundingSet{TSys}"/>).</param>
    public static void Finalize<TSys>(Spec spec, TSys sys, Action? loadSeccomp, Action<string>? warn = null, bool boundingSetDropped = false)
        where TSys : ICapabilityCalls, ICredentialCalls, IResourceLimitCalls, IFileSystemCalls
    {
        var process = spec.Process ?? throw new CredentialsException("process: missing");
        warn ??= message => Console.Error.WriteLine($"berth-runtime: warning: {message}");
        Validate(process);
        var user = process.User;

        foreach (var limit in process.Rlimits ?? [])
        {
            ResourceLimitNames.TryGetNumber(limit.Type, out var resource);
            Call($"process.rlimits ({limit.Type})", () => sys.SetResourceLimit(resource, limit.Soft, limit.Hard));
        }
        if (process.OomScoreAdj is { } oomScoreAdj)
            Call("process.oomScoreAdj", () => sys.WriteText("/proc/self/oom_score_adj", oomScoreAdj.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        ApplyLsmLabels(process, sys, warn);

        if (process.NoNewPrivileges) Call("process.noNewPrivileges", () => sys.Prctl(PrctlOptions.SetNoNewPrivs, 1));
        else loadSeccomp?.Invoke();

        var capabilities = process.Capabilities;
        var lastCap = LastCapability(sys);
        if (capabilities is not null)
        {
            if (!boundingSetDropped) DropBoundingSet(capabilities, sys, lastCap);
            // Keep the permitted set across the uid change; capset below sets what the process really gets.
            Call("process.user", () => sys.Prctl(PrctlOptions.SetKeepCaps, 1));
        }

        // Enter the working directory while still privileged (it may be closed to the user); retried below.
        var cwdEntered = TryChangeDirectory(sys, process.Cwd);
        SetUser(user, sys);

        if (capabilities is not null)
        {
            Call("process.user", () => sys.Prctl(PrctlOptions.SetKeepCaps, 0));
            var sets = new CapabilitySets(
                CapabilityNames.Mask(capabilities.Effective, lastCap),
                CapabilityNames.Mask(capabilities.Permitted, lastCap),
                CapabilityNames.Mask(capabilities.Inheritable, lastCap));
            Call("process.capabilities", () => sys.SetCapabilities(sets));
            Call("process.capabilities.ambient", () => sys.Prctl(PrctlOptions.CapAmbient, PrctlOptions.CapAmbientClearAll));
            foreach (var name in capabilities.Ambient ?? [])
            {
                if (!CapabilityNames.TryGetNumber(name, out var cap) || cap > lastCap) continue;
                // The kernel raises an ambient capability only if it is permitted and inheritable. runc's default
                // config asks for ambient ones without inheritable, and runc quietly goes on without them.
                var bit = 1UL << cap;
                if ((sets.Permitted & bit) == 0 || (sets.Inheritable & bit) == 0) continue;
                Call("process.capabilities.ambient", () => sys.Prctl(PrctlOptions.CapAmbient, PrctlOptions.CapAmbientRaise, (ulong)cap));
            }
            var unknownToKernel = AllCapabilityNames(capabilities).Where(n => CapabilityNames.TryGetNumber(n, out var c) && c > lastCap).Distinct().ToList();
            if (unknownToKernel.Count > 0) warn($"process.capabilities: this kernel does not know {string.Join(", ", unknownToKernel)}; left out");
        }

        sys.SetUmask(user.Umask ?? 0x12 /* 0022 */);
        if (!cwdEntered) Call("process.cwd", () => sys.ChangeDirectory(process.Cwd));

        if (process.NoNewPrivileges) loadSeccomp?.Invoke();
    }

    /// <summary>Checks names and values before anything changes, so a bad config fails with nothing half-applied.</summary>
    public static void Validate(Process process)
    {
        // Loops, not LINQ: this runs in the container's init on the way to exec, and the LINQ generic instantiations'
        // first use showed in its profile.
        List<string>? unknownLimits = null;
        foreach (var limit in process.Rlimits ?? [])
            if (!ResourceLimitNames.TryGetNumber(limit.Type, out _)) (unknownLimits ??= []).Add(limit.Type);
        if (unknownLimits is not null)
            throw new CredentialsException($"process.rlimits: unknown type {string.Join(", ", unknownLimits.Select(t => $"\"{t}\""))}");
        foreach (var limit in process.Rlimits ?? [])
            if (limit.Soft > limit.Hard)
                throw new CredentialsException($"process.rlimits: {limit.Type} soft limit {limit.Soft} is above the hard limit {limit.Hard}");
        if (process.Capabilities is { } capabilities)
        {
            List<string>? unknown = null;
            foreach (var name in AllCapabilityNames(capabilities))
                if (!CapabilityNames.TryGetNumber(name, out _) && !(unknown ??= []).Contains(name)) unknown.Add(name);
            if (unknown is not null)
                throw new CredentialsException($"process.capabilities: unknown capability {string.Join(", ", unknown.Select(n => $"\"{n}\""))}");
        }
        if (!process.Cwd.StartsWith('/')) throw new CredentialsException($"process.cwd: \"{process.Cwd}\" is not an absolute path");
    }

    /// <summary>Looks <c>args[0]</c> up in the process's PATH inside the (already changed) root; a name with a
    /// slash is returned as it is.</summary>
    public static string ResolveExecutable(Process process)
    {
        var name = process.Args is { Count: > 0 } args && args[0].Length > 0
            ? args[0]
            : throw new CredentialsException("process.args: empty");
        if (name.Contains('/')) return name;
        var path = process.Env?.LastOrDefault(e => e.StartsWith("PATH=", StringComparison.Ordinal))?[5..] ?? DefaultPath;
        foreach (var dir in path.Split(':'))
        {
            var candidate = Path.Combine(dir.Length == 0 ? "." : dir, name);
            if (!File.Exists(candidate)) continue;
            const UnixFileMode anyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
            if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(candidate) & anyExecute) != 0) return candidate;
        }
        throw new CredentialsException($"process.args[0]: executable file \"{name}\" not found in $PATH");
    }

    private static IEnumerable<string> AllCapabilityNames(Capabilities c)
    {
        foreach (var set in (List<string>?[])[c.Bounding, c.Effective, c.Inheritable, c.Permitted, c.Ambient])
            foreach (var name in set ?? []) yield return name;
    }

    /// <summary>
    /// Narrows the bounding set to process.capabilities.bounding. The container's init does this before it waits
    /// for `start` when nothing runs between that wait and the exec (no startContainer hooks, which would inherit
    /// it): it changes nothing the process can do until it execs, and takes ~40 calls off the way from `start` to
    /// the program. Validate first: an unknown name is an error, not a capability left in place.
    /// </summary>
    public static void DropBoundingSet<TSys>(Spec spec, TSys sys) where TSys : ICapabilityCalls, IFileSystemCalls
    {
        if (spec.Process?.Capabilities is { } capabilities) DropBoundingSet(capabilities, sys, LastCapability(sys));
    }

    private static void DropBoundingSet<TSys>(Capabilities capabilities, TSys sys, int lastCap) where TSys : ICapabilityCalls
    {
        var bounding = CapabilityNames.Mask(capabilities.Bounding, lastCap);
        Call("process.capabilities.bounding", () =>
        {
            for (var cap = 0; cap <= lastCap; cap++)
                if ((bounding & (1UL << cap)) == 0) sys.Prctl(PrctlOptions.CapBsetDrop, (ulong)cap);
        });
    }

    private static int LastCapability(IFileSystemCalls sys)
    {
        try
        {
            return int.TryParse(sys.ReadText("/proc/sys/kernel/cap_last_cap").Trim(), out var last) ? last : CapabilityNames.Last;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return CapabilityNames.Last; }
    }

    private static void SetUser<TSys>(User user, TSys sys) where TSys : ICredentialCalls, IFileSystemCalls
    {
        // An unprivileged user namespace denies setgroups ("deny" in /proc/self/setgroups); then only an
        // explicit request for groups is an error.
        var setgroupsAllowed = sys.GetFileKind("/proc/self/setgroups") == FileKind.None
                               || sys.ReadText("/proc/self/setgroups").Trim() != "deny";
        var groups = user.AdditionalGids?.ToArray() ?? [];
        if (setgroupsAllowed) Call("process.user.additionalGids", () => sys.SetGroups(groups));
        else if (groups.Length > 0)
            throw new CredentialsException("process.user.additionalGids: setgroups is denied in this user namespace");
        Call("process.user.gid", () => sys.SetResGid(user.Gid, user.Gid, user.Gid));
        Call("process.user.uid", () => sys.SetResUid(user.Uid, user.Uid, user.Uid));
    }

    private static bool TryChangeDirectory(IFileSystemCalls sys, string cwd)
    {
        try { sys.ChangeDirectory(cwd); return true; }
        catch (SyscallException) { return false; }
    }

    private static void ApplyLsmLabels(Process process, IFileSystemCalls sys, Action<string> warn)
    {
        if (!string.IsNullOrEmpty(process.ApparmorProfile))
        {
            var enabled = sys.GetFileKind("/sys/module/apparmor/parameters/enabled", followSymlinks: true) == FileKind.File
                          && sys.ReadText("/sys/module/apparmor/parameters/enabled").StartsWith('Y');
            if (!enabled) warn($"process.apparmorProfile: AppArmor is not supported by this kernel; \"{process.ApparmorProfile}\" is ignored");
            else
            {
                var attr = sys.GetFileKind("/proc/self/attr/apparmor/exec", followSymlinks: true) == FileKind.File
                    ? "/proc/self/attr/apparmor/exec" : "/proc/self/attr/exec";
                Call("process.apparmorProfile", () => sys.WriteText(attr, "exec " + process.ApparmorProfile));
            }
        }
        if (!string.IsNullOrEmpty(process.SelinuxLabel))
        {
            if (sys.GetFileKind("/sys/fs/selinux/enforce", followSymlinks: true) == FileKind.None)
                warn($"process.selinuxLabel: SELinux is not supported by this kernel; \"{process.SelinuxLabel}\" is ignored");
            else Call("process.selinuxLabel", () => sys.WriteText("/proc/self/attr/exec", process.SelinuxLabel));
        }
    }

    private static void Call(string field, Action action)
    {
        try { action(); }
        catch (SyscallException e) { throw new CredentialsException($"{field}: {e.Message}", e); }
        catch (IOException e) { throw new CredentialsException($"{field}: {e.Message}", e); }
    }
}
