using Berth.Linux;

namespace Berth.Build.Execution;

/// <summary>Owners of files in a tree, read and set without following symlinks (through the ISyscalls seam).</summary>
internal static class FileOwner
{
    public static ISyscalls Calls { get; set; } = LinuxSyscalls.Instance;

    public static (int Uid, int Gid) Get(string path)
        => Calls.Lstat(null, path, out var status) ? (status.Uid, status.Gid) : (0, 0);

    public static void Set(string path, int uid, int gid) => Calls.ChangeOwner(path, (uint)uid, (uint)gid);
}
