namespace Berth.Linux;

public static class Host
{
    /// <summary>True when this process runs as uid 0 (integration tests need it). The effective uid alone: a user-name
    /// lookup would read nsswitch.conf and /etc/passwd in every container create.</summary>
    public static bool IsRoot => GetEffectiveUid() == 0;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEffectiveUid();
}
