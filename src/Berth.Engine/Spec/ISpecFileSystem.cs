using Berth.Engine.Models;
using Berth.Linux;

namespace Berth.Engine.RuntimeSpec;

/// <summary>
/// The few file operations building a spec needs, behind a seam so the builder is tested on text: reading the
/// image's /etc/passwd and /etc/group, creating the working directory and missing bind sources, and writing
/// the container's hostname, hosts and resolv.conf.
/// </summary>
public interface ISpecFileSystem
{
    /// <summary>The text of <paramref name="pathInRoot"/> resolved inside <paramref name="root"/> (symlinks cannot leave it); null when absent.</summary>
    string? ReadInRoot(string root, string pathInRoot);

    /// <summary>
    /// Creates <paramref name="pathInRoot"/> and its parents inside <paramref name="root"/> (mode 0755, owned by root)
    /// unless it exists; false when something other than a directory is there.
    /// </summary>
    bool CreateDirectoryInRoot(string root, string pathInRoot);

    /// <summary>The text of a host file; null when absent.</summary>
    string? ReadHostFile(string path);

    /// <summary>What is at a host path (following symlinks).</summary>
    HostPathKind Stat(string path);

    /// <summary>Creates a host directory and its parents (mode 0755).</summary>
    void CreateHostDirectory(string path);

    /// <summary>Writes a host file (mode 0644 when it is new), replacing its content.</summary>
    void WriteHostFile(string path, string text);

    /// <summary>
    /// Mounts a tmpfs of <paramref name="size"/> bytes at host directory <paramref name="path"/> (made if missing) unless
    /// one is mounted there: a shareable container's /dev/shm. Returns the path. Test doubles need not mount.
    /// </summary>
    string MountSharedMemory(string path, long size) => path;

    /// <summary>Whether a host directory is a mount point (a shareable container's /dev/shm while it runs).</summary>
    bool IsMountPoint(string path) => false;
}

/// <summary>Where a shareable container's /dev/shm lives on the host (Docker's containers/ID/mounts/shm), and its release.</summary>
public static class SharedMemory
{
    /// <summary>The key in <see cref="SpecInputs.JoinNamespaces"/> naming the /dev/shm of the container whose IPC namespace is joined.</summary>
    public const string JoinKey = "ipc:/dev/shm";

    public static string PathIn(string containerDirectory) => Path.Combine(containerDirectory, "mounts", "shm");

    /// <summary>What a container that joins the IPC of a container with <paramref name="host"/> binds at /dev/shm.</summary>
    public static string Of(HostConfig host, string containerDirectory) => host.IpcMode == "host" ? "/dev/shm" : PathIn(containerDirectory);

    /// <summary>After a run: a shareable container's tmpfs is unmounted (its content goes, as with Docker); nothing for other modes.</summary>
    public static void Release(HostConfig host, string containerDirectory, ISyscalls? syscalls = null)
    {
        if (host.IpcMode != "shareable") return;
        var sys = syscalls ?? LinuxSyscalls.Instance;
        var path = PathIn(containerDirectory);
        var rc = sys.Umount(path, 0);
        if (rc == Errno.EBUSY) sys.Umount(path, 2); // MNT_DETACH: once the last user (a joined container) goes
    }
}

public enum HostPathKind { Missing, Directory, File, Other }

/// <summary>The real file system.</summary>
public sealed class HostSpecFileSystem : ISpecFileSystem
{
    public static readonly HostSpecFileSystem Instance = new();

    public string MountSharedMemory(string path, long size)
    {
        CreateHostDirectory(path);
        if (!IsMountPoint(path))
            LinuxSyscalls.Instance.Mount("shm", path, "tmpfs", MountFlags.NoSuid | MountFlags.NoDev | MountFlags.NoExec,
                "mode=1777,size=" + size.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return path;
    }

    public bool IsMountPoint(string path)
    {
        var sys = LinuxSyscalls.Instance;
        if (!sys.Lstat(null, path, out var here) || !here.IsDirectory || !sys.Lstat(null, path + "/..", out var parent)) return false;
        return here.DeviceMajor != parent.DeviceMajor || here.DeviceMinor != parent.DeviceMinor;
    }

    public string? ReadInRoot(string root, string pathInRoot)
    {
        try
        {
            var path = PathInRoot.Resolve(root, pathInRoot);
            return File.Exists(path) ? File.ReadAllText(path) : null;
        }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }

    public bool CreateDirectoryInRoot(string root, string pathInRoot)
    {
        var path = PathInRoot.Resolve(root, pathInRoot);
        if (Directory.Exists(path)) return true;
        if (File.Exists(path)) return false;
        // Each component is resolved again so a symlink created under a parent stays inside the root.
        var current = "/";
        foreach (var part in pathInRoot.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            current = current == "/" ? "/" + part : current + "/" + part;
            var resolved = PathInRoot.Resolve(root, current);
            if (Directory.Exists(resolved)) continue;
            if (File.Exists(resolved)) return false;
            CreateHostDirectory(resolved);
        }
        return true;
    }

    public string? ReadHostFile(string path)
    {
        try { return File.ReadAllText(path); }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }

    public HostPathKind Stat(string path)
    {
        if (Directory.Exists(path)) return HostPathKind.Directory;
        if (File.Exists(path))
        {
            var info = new FileInfo(path);
            var target = info.LinkTarget is null ? info : info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? info;
            return (target.Attributes & FileAttributes.Device) != 0 ? HostPathKind.Other : HostPathKind.File;
        }
        return HostPathKind.Missing;
    }

    public void CreateHostDirectory(string path)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
        Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
            UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
    }

    /// <summary>
    /// In place, as dockerd writes them: these files (hostname, hosts, resolv.conf) are written only while their container
    /// is about to start, so no reader can see them half-written, and a crash mid-write leaves a file the next start
    /// rewrites. No temp file and rename (a rename over an existing file makes ext4 flush the new file's data first).
    /// </summary>
    public void WriteHostFile(string path, string text)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
        using var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Create, Access = FileAccess.Write, BufferSize = 0,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
        });
        stream.Write(System.Text.Encoding.UTF8.GetBytes(text));
    }
}
