using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Berth.Linux;

public partial interface ISyscalls : IFileNodeCalls;

/// <summary>Creating, linking, renaming and removing directory entries relative to a directory fd.</summary>
public interface IFileNodeCalls
{
    void MkdirAt(SafeFileHandle directory, string name, int mode);
    /// <summary>mknodat(2): mode carries the file type (S_IFCHR, S_IFBLK, S_IFIFO) and permission bits.</summary>
    void MknodAt(SafeFileHandle directory, string name, int mode, ulong device);
    void SymlinkAt(string target, SafeFileHandle directory, string name);
    /// <summary>linkat(2) without following a final symlink (the link is made to the symlink itself).</summary>
    void LinkAt(SafeFileHandle oldDirectory, string oldName, SafeFileHandle newDirectory, string newName);
    /// <summary>unlinkat(2); returns the errno (0 on success) so callers can treat ENOENT as done.</summary>
    int UnlinkAt(SafeFileHandle directory, string name, bool directoryEntry);
    /// <summary>renameat2(2), flags RENAME_NOREPLACE / RENAME_EXCHANGE / RENAME_WHITEOUT.</summary>
    void RenameAt2(SafeFileHandle oldDirectory, string oldName, SafeFileHandle newDirectory, string newName, uint flags = 0);
    string ReadLinkAt(SafeFileHandle directory, string name);
    /// <summary>fsync(2): used on directories after a rename so the entry survives a crash.</summary>
    void Fsync(SafeFileHandle file);
}

public static class FileTypes
{
    public const int S_IFMT = 0xF000, S_IFSOCK = 0xC000, S_IFLNK = 0xA000, S_IFREG = 0x8000, S_IFBLK = 0x6000, S_IFDIR = 0x4000,
        S_IFCHR = 0x2000, S_IFIFO = 0x1000;
    public const uint RENAME_NOREPLACE = 1, RENAME_EXCHANGE = 2, RENAME_WHITEOUT = 4;

    /// <summary>The kernel's dev_t encoding (glibc makedev).</summary>
    public static ulong MakeDevice(uint major, uint minor)
        => ((ulong)(major & 0xfffff000) << 32) | ((ulong)(major & 0xfff) << 8) | ((ulong)(minor & 0xffffff00) << 12) | (minor & 0xff);
}

public sealed partial class LinuxSyscalls
{
    [LibraryImport("libc", EntryPoint = "mkdirat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mkdirat(SafeFileHandle dirfd, string name, int mode);
    [LibraryImport("libc", EntryPoint = "mknodat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mknodat(SafeFileHandle dirfd, string name, int mode, ulong dev);
    [LibraryImport("libc", EntryPoint = "symlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int symlinkat(string target, SafeFileHandle dirfd, string name);
    [LibraryImport("libc", EntryPoint = "linkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int linkat(SafeFileHandle olddirfd, string oldname, SafeFileHandle newdirfd, string newname, int flags);
    [LibraryImport("libc", EntryPoint = "unlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int unlinkat(SafeFileHandle dirfd, string name, int flags);
    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int renameat2(SafeFileHandle olddirfd, string oldname, SafeFileHandle newdirfd, string newname, uint flags);
    [LibraryImport("libc", EntryPoint = "readlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial nint readlinkat(SafeFileHandle dirfd, string name, byte* buffer, nuint size);
    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int fsync(SafeFileHandle fd);

    public void MkdirAt(SafeFileHandle directory, string name, int mode) => Errno.Check(mkdirat(directory, name, mode), "mkdirat", name);
    public void MknodAt(SafeFileHandle directory, string name, int mode, ulong device) => Errno.Check(mknodat(directory, name, mode, device), "mknodat", name);
    public void SymlinkAt(string target, SafeFileHandle directory, string name) => Errno.Check(symlinkat(target, directory, name), "symlinkat", name);
    public void LinkAt(SafeFileHandle oldDirectory, string oldName, SafeFileHandle newDirectory, string newName)
        => Errno.Check(linkat(oldDirectory, oldName, newDirectory, newName, 0), "linkat", $"{newName} → {oldName}");
    public int UnlinkAt(SafeFileHandle directory, string name, bool directoryEntry)
        => unlinkat(directory, name, directoryEntry ? OpenFlags.AT_REMOVEDIR : 0) == 0 ? 0 : Errno.Last;
    public void RenameAt2(SafeFileHandle oldDirectory, string oldName, SafeFileHandle newDirectory, string newName, uint flags = 0)
        => Errno.Check(renameat2(oldDirectory, oldName, newDirectory, newName, flags), "renameat2", $"{oldName} → {newName}");
    public void Fsync(SafeFileHandle file) => Errno.Check(fsync(file), "fsync");

    public unsafe string ReadLinkAt(SafeFileHandle directory, string name)
    {
        var buffer = stackalloc byte[4096];
        var n = readlinkat(directory, name, buffer, 4096);
        Errno.Check(n, "readlinkat", name);
        return System.Text.Encoding.UTF8.GetString(buffer, (int)n);
    }
}
