using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>The effective, permitted and inheritable capability sets of one thread, one bit per capability.</summary>
public readonly record struct CapabilitySets(ulong Effective, ulong Permitted, ulong Inheritable);

/// <summary>Capabilities and the prctl(2) knobs around them. All act on the calling thread.</summary>
public interface ICapabilityCalls
{
    CapabilitySets GetCapabilities();
    void SetCapabilities(CapabilitySets sets);
    /// <summary>prctl(2); returns its non-negative result.</summary>
    int Prctl(int option, ulong arg2 = 0, ulong arg3 = 0, ulong arg4 = 0, ulong arg5 = 0);
}

public static class PrctlOptions
{
    public const int SetPdeathsig = 1, SetKeepCaps = 8, CapBsetRead = 23, CapBsetDrop = 24, SetNoNewPrivs = 38,
        CapAmbient = 47;
    public const ulong CapAmbientRaise = 2, CapAmbientLower = 3, CapAmbientClearAll = 4;
}

public partial interface ISyscalls : ICapabilityCalls;

public sealed partial class LinuxSyscalls
{
    private const uint CapabilityVersion3 = 0x20080522;

    public unsafe CapabilitySets GetCapabilities()
    {
        var header = stackalloc uint[2] { CapabilityVersion3, 0 };
        var data = stackalloc uint[6]; // two struct __user_cap_data_struct {effective, permitted, inheritable}
        Errno.Check(NativeCapget(header, data), "capget");
        return new CapabilitySets(data[0] | (ulong)data[3] << 32, data[1] | (ulong)data[4] << 32, data[2] | (ulong)data[5] << 32);
    }

    public unsafe void SetCapabilities(CapabilitySets sets)
    {
        var header = stackalloc uint[2] { CapabilityVersion3, 0 };
        var data = stackalloc uint[6]
        {
            (uint)sets.Effective, (uint)sets.Permitted, (uint)sets.Inheritable,
            (uint)(sets.Effective >> 32), (uint)(sets.Permitted >> 32), (uint)(sets.Inheritable >> 32),
        };
        Errno.Check(NativeCapset(header, data), "capset");
    }

    public int Prctl(int option, ulong arg2 = 0, ulong arg3 = 0, ulong arg4 = 0, ulong arg5 = 0)
        => (int)Errno.Check(NativePrctl(option, arg2, arg3, arg4, arg5), "prctl", option.ToString());

    [LibraryImport("libc", EntryPoint = "capget", SetLastError = true)]
    private static unsafe partial int NativeCapget(uint* header, uint* data);

    [LibraryImport("libc", EntryPoint = "capset", SetLastError = true)]
    private static unsafe partial int NativeCapset(uint* header, uint* data);

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static partial int NativePrctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);
}
