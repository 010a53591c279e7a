[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

/// <summary>The API socket is rw for root and the socket's group only (dockerd's 0660, group "docker" → "berth").</summary>
internal static class SocketPermissions
{
    public static void Apply(string socket, string group)
    {
        File.SetUnixFileMode(socket, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        if (GroupId(group) is { } gid) SetGroup(socket, gid);
    }

    /// <summary>The group's ID from /etc/group, or null when there is no such group (then the socket stays root's).</summary>
    public static int? GroupId(string group, string groupFile = "/etc/group")
    {
        if (!File.Exists(groupFile)) return null;
        foreach (var line in File.ReadLines(groupFile))
        {
            var fields = line.Split(':');
            if (fields.Length >= 3 && fields[0] == group && int.TryParse(fields[2], out var gid)) return gid;
        }
        return null;
    }

    private static void SetGroup(string socket, int gid)
    {
        var syscalls = Berth.Linux.LinuxSyscalls.Instance;
        using var directory = syscalls.OpenAt(null, Path.GetDirectoryName(socket)!, Berth.Linux.OpenFlags.O_PATH | Berth.Linux.OpenFlags.O_DIRECTORY | Berth.Linux.OpenFlags.O_CLOEXEC);
        syscalls.LchownAt(directory, Path.GetFileName(socket), -1, gid);
    }
}
