using Berth.Linux;
using Berth.Oci.Runtime;
using Berth.Runtime.Credentials;
using Berth.Runtime.Rootfs;
using Berth.Runtime.Seccomp;

namespace Berth.Runtime.Init;

/// <summary>The rootfs step of init: rt-rootfs's RootfsSetup, with createContainer hooks (and the runtime's
/// prestart/createRuntime round trip) run after the mounts, before the root changes. The config was validated by `create`.</summary>
internal static class RootfsStep
{
    public static void Prepare(Spec spec, string bundle, bool noPivot, ISyscalls sys, Action beforePivot, Action? beforeCgroupMount = null)
        => RootfsSetup.Prepare(spec, bundle, sys, new RootfsOptions(noPivot, beforePivot, message => Console.Error.WriteLine($"berth-runtime: warning: {message}"), beforeCgroupMount,
            Validated: true)); // by SpecLoader.Validate, in `create`
}

/// <summary>The last step before exec: credentials, capabilities and the seccomp filter (compiled beforehand, so a bad
/// profile fails `create`), on the thread that then calls execve.</summary>
internal static class ProcessStep
{
    public static SockFilter[]? CompileSeccomp(Spec spec)
        => spec.Linux?.Seccomp is { } profile ? SeccompFilter.Compile(profile) : null;

    public static void Finalize(Spec spec, ISyscalls sys, SockFilter[]? seccomp, bool boundingSetDropped = false)
    {
        Action? load = seccomp is null ? null : () => LoadSeccomp(spec, sys, seccomp);
        ProcessSetup.Finalize(spec, sys, load, boundingSetDropped);
    }

    /// <summary>Loads the compiled filter, if any, on its own: after a <see cref="Finalize"/> without one, for a process
    /// with noNewPrivileges (which needs no privilege for it).</summary>
    public static void LoadSeccomp(Spec spec, ISyscalls sys, SockFilter[]? seccomp)
    {
        if (seccomp is not null) SeccompFilter.Load(sys, seccomp, spec.Linux!.Seccomp!.Flags);
    }
}
