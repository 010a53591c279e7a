using Berth.Linux;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime.Init;

/// <summary>
/// A cgroup that a cloned init joins itself once the runtime has made and limited it, which the runtime does while the
/// init sets up its rootfs (the two overlap on two cores). The init holds a descriptor of each hierarchy's mount point,
/// opened by the runtime before the clone, so it reaches the `tasks` files wherever it is in its rootfs set-up (after
/// pivot_root the host's paths are gone). Writing "0" moves the writing thread alone: no global threadgroup lock
/// (ICgroup.SelfJoinFiles).
/// </summary>
public sealed class DeferredCgroupJoin(IReadOnlyList<(SafeFileHandle Mount, string Relative, string Path)> files)
{
    public IReadOnlyList<(SafeFileHandle Mount, string Relative, string Path)> Files { get; } = files;

    public void Join(ISyscalls sys)
    {
        foreach (var (mount, relative, path) in Files)
        {
            try
            {
                using var tasks = sys.OpenAt(mount, relative, OpenFlags.O_WRONLY);
                sys.WriteAll((int)tasks.DangerousGetHandle(), "0"u8);
            }
            catch (SyscallException e) { throw new RuntimeException($"joining the container's cgroup: {path}: {e.Message}"); }
        }
        foreach (var (mount, _, _) in Files) mount.Dispose();
    }
}
