namespace Berth.Linux;

public static class Host
{
    /// <summary>True when this process runs as uid 0 (integration tests need it).</summary>
    public static bool IsRoot => Environment.UserName == "root" || GetEffectiveUid() == 0;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEffectiveUid();
}
