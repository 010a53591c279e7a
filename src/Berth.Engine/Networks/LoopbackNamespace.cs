using Berth.Linux;

namespace Berth.Engine.Networks;

/// <summary>
/// The network namespace of a <c>--network none</c> container: a new namespace with only loopback, up, pinned at a path
/// (NetworkSettings.SandboxKey, as Docker's) so that inspect shows it and the runtime joins it by path. It is made on a
/// thread of its own (a thread's network namespace is its own: unshare, loopback up through a netlink socket opened
/// inside, then the bind mount that pins it), and the caller does not wait for it: the container's start prepares its
/// rootfs, files and spec meanwhile and waits on <see cref="Create"/>'s task only before the runtime needs the path.
/// </summary>
internal static class LoopbackNamespace
{
    /// <summary>Starts making the namespace pinned at <paramref name="path"/>; the task ends when it is ready (or failed,
    /// leaving nothing behind).</summary>
    public static Task Create(ISyscalls sys, string path)
    {
        NetworkNamespace.Delete(sys, path); // a leftover of a crash
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        sys.CloseFd(sys.OpenFile(path, OpenFlags.O_RDONLY | OpenFlags.O_CREAT | OpenFlags.O_EXCL, 0b100_100_100 /* 0444 */));
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            var mounted = false;
            try
            {
                sys.UnshareNamespaces(Namespaces.CloneNewNet);
                using (var inside = new Linux.Netlink.RouteNetlink(sys))
                    if (inside.GetLink("lo") is { IsUp: false } lo) inside.SetUp(lo.Index);
                sys.Mount("/proc/thread-self/ns/net", path, null, MountFlags.Bind, null);
                mounted = true;
                done.SetResult();
            }
            catch (Exception e)
            {
                try
                {
                    if (mounted) sys.Unmount(path, UnmountFlags.Detach);
                    File.Delete(path);
                }
                catch (Exception cleanup) when (cleanup is IOException or SyscallException or UnauthorizedAccessException) { }
                done.SetException(e);
            }
        }, 256 * 1024) { IsBackground = true, Name = "berth-netns" };
        try { thread.Start(); }
        catch
        {
            File.Delete(path);
            throw;
        }
        return done.Task;
    }
}
