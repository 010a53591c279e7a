using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Berth.Linux;

public partial interface ISyscalls : IXattrCalls;

/// <summary>Extended attributes (security.capability, trusted.overlay.*, user.*), never following a final symlink.</summary>
public interface IXattrCalls
{
    void LSetXattr(string path, string name, ReadOnlySpan<byte> value);
    /// <summary>The value, or null when the attribute is absent (ENODATA) or unsupported.</summary>
    byte[]? LGetXattr(string path, string name);
    /// <summary>Attribute names; empty when the filesystem has none or does not support them.</summary>
    IReadOnlyList<string> LListXattr(string path);
    void FSetXattr(SafeFileHandle file, string name, ReadOnlySpan<byte> value);
    byte[]? FGetXattr(SafeFileHandle file, string name);
    IReadOnlyList<string> FListXattr(SafeFileHandle file);
}

public sealed partial class LinuxSyscalls
{
    [LibraryImport("libc", EntryPoint = "lsetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int lsetxattr(string path, string name, byte* value, nuint size, int flags);
    [LibraryImport("libc", EntryPoint = "lgetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial nint lgetxattr(string path, string name, byte* value, nuint size);
    [LibraryImport("libc", EntryPoint = "llistxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial nint llistxattr(string path, byte* list, nuint size);
    [LibraryImport("libc", EntryPoint = "fsetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int fsetxattr(SafeFileHandle fd, string name, byte* value, nuint size, int flags);
    [LibraryImport("libc", EntryPoint = "fgetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial nint fgetxattr(SafeFileHandle fd, string name, byte* value, nuint size);
    [LibraryImport("libc", EntryPoint = "flistxattr", SetLastError = true)]
    private static unsafe partial nint flistxattr(SafeFileHandle fd, byte* list, nuint size);

    public unsafe void LSetXattr(string path, string name, ReadOnlySpan<byte> value)
    {
        fixed (byte* p = value) Errno.Check(lsetxattr(path, name, p, (nuint)value.Length, 0), "lsetxattr", $"{name} on {path}");
    }

    public unsafe void FSetXattr(SafeFileHandle file, string name, ReadOnlySpan<byte> value)
    {
        fixed (byte* p = value) Errno.Check(fsetxattr(file, name, p, (nuint)value.Length, 0), "fsetxattr", name);
    }

    public unsafe byte[]? LGetXattr(string path, string name) => GetXattr((b, n) => lgetxattr(path, name, b, n), "lgetxattr", name);
    public unsafe byte[]? FGetXattr(SafeFileHandle file, string name) => GetXattr((b, n) => fgetxattr(file, name, b, n), "fgetxattr", name);
    public unsafe IReadOnlyList<string> LListXattr(string path) => ListXattr((b, n) => llistxattr(path, b, n), path);
    public unsafe IReadOnlyList<string> FListXattr(SafeFileHandle file) => ListXattr((b, n) => flistxattr(file, b, n), "fd");

    private unsafe delegate nint XattrCall(byte* buffer, nuint size);

    private static unsafe byte[]? GetXattr(XattrCall call, string what, string name)
    {
        Span<byte> stack = stackalloc byte[256];
        while (true)
        {
            nint n;
            fixed (byte* p = stack) n = call(p, (nuint)stack.Length);
            if (n >= 0) return stack[..(int)n].ToArray();
            var errno = Errno.Last;
            if (errno is Errno.ENODATA or Errno.EOPNOTSUPP) return null;
            if (errno != Errno.ERANGE) throw new SyscallException(what, errno, name);
            var size = call(null, 0);
            Errno.Check(size, what, name);
            stack = new byte[Math.Max((int)size, stack.Length * 2)];
        }
    }

    private static unsafe IReadOnlyList<string> ListXattr(XattrCall call, string subject)
    {
        Span<byte> buffer = stackalloc byte[512];
        while (true)
        {
            nint n;
            fixed (byte* p = buffer) n = call(p, (nuint)buffer.Length);
            if (n == 0) return [];
            if (n > 0)
            {
                var names = new List<string>();
                foreach (var range in buffer[..(int)n].Split((byte)0))
                    if (range.End.GetOffset((int)n) > range.Start.GetOffset((int)n)) names.Add(System.Text.Encoding.UTF8.GetString(buffer[range]));
                return names;
            }
            var errno = Errno.Last;
            if (errno == Errno.EOPNOTSUPP) return [];
            if (errno != Errno.ERANGE) throw new SyscallException("listxattr", errno, subject);
            var size = call(null, 0);
            Errno.Check(size, "listxattr", subject);
            buffer = new byte[Math.Max((int)size, buffer.Length * 2)];
        }
    }
}
