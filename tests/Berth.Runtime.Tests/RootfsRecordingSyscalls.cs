using Berth.Linux;

namespace Berth.Runtime.Tests;

/// <summary>
/// A double of the rootfs and credential calls: records every kernel call as one line, does file work for
/// real under a sandbox directory (the test's rootfs), and answers paths outside it from <see cref="Files"/>
/// and <see cref="Directories"/>. After pivot_root/chroot, absolute paths are taken inside the new root.
/// </summary>
public sealed class RootfsRecordingSyscalls(string sandbox)
    : IMountCalls, IFileSystemCalls, IUtsCalls, ICapabilityCalls, ICredentialCalls, IResourceLimitCalls
{
    public List<string> Calls { get; } = [];
    /// <summary>Destinations pinned with <see cref="OpenMountTarget"/>, in order.</summary>
    public List<string> Pins { get; } = [];
    public Dictionary<string, string> Files { get; } = new();
    public HashSet<string> Directories { get; } = [];
    /// <summary>Returns an errno to fail a mount with (target, flags), or null to let it succeed.</summary>
    public Func<string, MountFlags, int?> FailMount { get; set; } = (_, _) => null;
    public bool DenyMknod { get; set; }
    public MountFlags CurrentMountFlags { get; set; }
    public string? NewRoot { get; private set; }
    private string cwd = "/";
    private uint umask = 0x12;

    private string Map(string path)
    {
        if (!path.StartsWith('/')) path = cwd.TrimEnd('/') + "/" + path;
        return NewRoot is null ? path : NewRoot + path;
    }

    private bool InSandbox(string mapped) => mapped == sandbox || mapped.StartsWith(sandbox + "/", StringComparison.Ordinal);

    public void Mount(string? source, string target, string? fileSystemType, MountFlags flags, string? data)
    {
        Calls.Add($"mount {source ?? "-"} {target} {fileSystemType ?? "-"} {flags} {data ?? "-"}");
        if (FailMount(target, flags) is { } errno)
        {
            Calls[^1] += " => errno " + errno;
            throw new SyscallException("mount", errno, target);
        }
    }

    public void Unmount(string target, UnmountFlags flags) => Calls.Add($"umount2 {target} {flags}");

    public void PivotRoot(string newRoot, string putOld)
    {
        Calls.Add($"pivot_root {newRoot} {putOld}");
        NewRoot = Map(newRoot).TrimEnd('.').TrimEnd('/');
        cwd = "/";
    }

    public void ChangeRoot(string path)
    {
        Calls.Add($"chroot {path}");
        NewRoot = Map(path).TrimEnd('.').TrimEnd('/');
        cwd = "/";
    }

    public MountFlags GetMountFlags(string path)
    {
        Calls.Add($"statvfs {path}");
        return CurrentMountFlags;
    }

    public void SetMountAttributes(string path, bool recursive, MountAttributes set, MountAttributes clear)
        => Calls.Add($"mount_setattr {path} {(recursive ? "AT_RECURSIVE" : "0")} set={set} clear={clear}");

    /// <summary>An invalid handle: RootfsSetup then mounts on the resolved path, which the tests assert.</summary>
    public Microsoft.Win32.SafeHandles.SafeFileHandle OpenMountTarget(string root, string path)
    {
        Pins.Add(path);
        return new Microsoft.Win32.SafeHandles.SafeFileHandle(new IntPtr(-1), ownsHandle: false);
    }

    public FileKind GetFileKind(string path, bool followSymlinks = false)
    {
        var mapped = Map(path);
        if (InSandbox(mapped))
            return followSymlinks ? LinuxSyscalls.Instance.GetFileKind(mapped, true) : LinuxSyscalls.Instance.GetFileKind(mapped);
        if (Directories.Contains(path)) return FileKind.Directory;
        return Files.ContainsKey(path) ? FileKind.File : FileKind.None;
    }

    public void CreateDirectory(string path)
    {
        var mapped = Map(path);
        if (InSandbox(mapped)) Directory.CreateDirectory(mapped); else Directories.Add(path);
    }

    public void CreateEmptyFile(string path)
    {
        var mapped = Map(path);
        if (InSandbox(mapped)) LinuxSyscalls.Instance.CreateEmptyFile(mapped); else Files.TryAdd(path, "");
    }

    public void Remove(string path)
    {
        Calls.Add($"remove {path}");
        var mapped = Map(path);
        if (InSandbox(mapped)) LinuxSyscalls.Instance.Remove(mapped); else Files.Remove(path);
    }

    public void CreateSymlink(string target, string linkPath)
    {
        Calls.Add($"symlink {target} {linkPath}");
        var mapped = Map(linkPath);
        if (!InSandbox(mapped)) return;
        FailIfExists("symlink", mapped);
        File.CreateSymbolicLink(mapped, target);
    }

    /// <summary>EEXIST, as the kernel answers mknod and symlink on a name that is taken.</summary>
    private void FailIfExists(string call, string mapped)
    {
        if (!Path.Exists(mapped) && new FileInfo(mapped).LinkTarget is null) return;
        Calls[^1] += " => errno 17";
        throw new SyscallException(call, Errno.EEXIST, mapped);
    }

    public void MakeDirectory(string path, uint mode)
    {
        Calls.Add($"mkdir {path} 0{Convert.ToString(mode, 8)}");
        var mapped = Map(path);
        if (InSandbox(mapped)) Directory.CreateDirectory(mapped);
    }

    public void MakeNode(string path, uint mode, ulong device)
    {
        Calls.Add($"mknod {path} 0x{mode:x} {device}");
        if (DenyMknod)
        {
            Calls[^1] += " => errno 1";
            throw new SyscallException("mknod", Errno.EPERM, path);
        }
        var mapped = Map(path);
        if (!InSandbox(mapped)) return;
        FailIfExists("mknod", mapped);
        File.WriteAllText(mapped, ""); // stands in for the node
    }

    public void ChangeOwner(string path, uint uid, uint gid) => Calls.Add($"lchown {path} {uid} {gid}");

    public string ReadText(string path)
    {
        var mapped = Map(path);
        if (InSandbox(mapped)) return File.ReadAllText(mapped);
        return Files.TryGetValue(path, out var text) ? text : throw new FileNotFoundException(path);
    }

    public void WriteText(string path, string text) => Calls.Add($"write {path} {text}");

    public void ChangeDirectory(string path)
    {
        Calls.Add($"chdir {path}");
        cwd = path.StartsWith('/') ? path : cwd.TrimEnd('/') + "/" + path;
        if (NewRoot is not null && !path.StartsWith('/')) return;
    }

    public uint SetUmask(uint mask)
    {
        Calls.Add($"umask 0{Convert.ToString(mask, 8)}");
        (umask, mask) = (mask, umask);
        return mask;
    }

    public void CopyTree(string from, string to) => Calls.Add($"copytree {from} {to}");

    public void SetHostname(string name) => Calls.Add($"sethostname {name}");
    public void SetDomainname(string name) => Calls.Add($"setdomainname {name}");

    public CapabilitySets GetCapabilities() => new(~0UL, ~0UL, 0);
    public void SetCapabilities(CapabilitySets sets)
        => Calls.Add($"capset eff=0x{sets.Effective:x} prm=0x{sets.Permitted:x} inh=0x{sets.Inheritable:x}");

    public int Prctl(int option, ulong arg2 = 0, ulong arg3 = 0, ulong arg4 = 0, ulong arg5 = 0)
    {
        Calls.Add($"prctl {option} {arg2} {arg3}");
        return 0;
    }

    public void SetGroups(ReadOnlySpan<uint> groups) => Calls.Add($"setgroups [{string.Join(",", groups.ToArray())}]");
    public void SetResGid(uint real, uint effective, uint saved) => Calls.Add($"setresgid {real} {effective} {saved}");
    public void SetResUid(uint real, uint effective, uint saved) => Calls.Add($"setresuid {real} {effective} {saved}");
    public void SetResourceLimit(int resource, ulong soft, ulong hard) => Calls.Add($"prlimit {resource} {soft} {hard}");
}
