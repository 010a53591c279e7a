using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>The UTS namespace's names.</summary>
public interface IUtsCalls
{
    void SetHostname(string name);
    void SetDomainname(string name);
}

public partial interface ISyscalls : IUtsCalls;

public sealed partial class LinuxSyscalls
{
    public void SetHostname(string name)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(name);
        Errno.Check(NativeSethostname(bytes, (nuint)bytes.Length), "sethostname", name);
    }

    public void SetDomainname(string name)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(name);
        Errno.Check(NativeSetdomainname(bytes, (nuint)bytes.Length), "setdomainname", name);
    }

    [LibraryImport("libc", EntryPoint = "sethostname", SetLastError = true)]
    private static partial int NativeSethostname(byte[] name, nuint length);

    [LibraryImport("libc", EntryPoint = "setdomainname", SetLastError = true)]
    private static partial int NativeSetdomainname(byte[] name, nuint length);
}
