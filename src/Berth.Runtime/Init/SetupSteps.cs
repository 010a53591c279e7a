using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime.Init;

/// <summary>The rootfs step of init: where RootfsSetup.Prepare (rt-rootfs) is called.</summary>
internal static class RootfsStep
{
    public static void Prepare(Spec spec, string bundle, string rootfs, bool noPivot, ISyscalls sys, Action beforePivot)
    {
        _ = bundle; _ = sys;
        InlineRootfsFallback.Prepare(spec, rootfs, noPivot, beforePivot);
    }
}

/// <summary>The last step before exec: where ProcessSetup.Finalize (credentials, caps, seccomp) is called.</summary>
internal static class ProcessStep
{
    public static void Finalize(Spec spec, ISyscalls sys)
    {
        _ = sys;
        var cwd = spec.Process!.Cwd;
        if (!string.IsNullOrEmpty(cwd)) Directory.SetCurrentDirectory(cwd);
    }
}
