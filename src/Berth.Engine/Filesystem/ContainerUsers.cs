using System.Globalization;
using Berth.Linux;
using Microsoft.Win32.SafeHandles;
using static Berth.Linux.OpenFlags;

namespace Berth.Engine.Filesystem;

/// <summary>A container's Config.User ("name", "uid", "name:group", "uid:gid") as numbers, from the container's own /etc/passwd and /etc/group.</summary>
internal static class ContainerUsers
{
    public static (int Uid, int Gid) Lookup(ISyscalls sys, SafeFileHandle root, string user)
    {
        var colon = user.IndexOf(':');
        var userPart = colon < 0 ? user : user[..colon];
        var groupPart = colon < 0 ? null : user[(colon + 1)..];
        var passwd = ReadLines(sys, root, "/etc/passwd");
        int uid, gid;
        if (int.TryParse(userPart, NumberStyles.None, CultureInfo.InvariantCulture, out uid))
        {
            var entry = passwd.Select(l => l.Split(':')).FirstOrDefault(f => f.Length > 3 && f[2] == userPart);
            gid = entry is not null && int.TryParse(entry[3], CultureInfo.InvariantCulture, out var g) ? g : 0;
        }
        else
        {
            var entry = passwd.Select(l => l.Split(':')).FirstOrDefault(f => f.Length > 3 && f[0] == userPart)
                ?? throw new InvalidParameterException($"unable to find user {userPart}: no matching entries in passwd file");
            uid = int.Parse(entry[2], CultureInfo.InvariantCulture);
            gid = int.Parse(entry[3], CultureInfo.InvariantCulture);
        }
        if (!string.IsNullOrEmpty(groupPart))
        {
            if (!int.TryParse(groupPart, NumberStyles.None, CultureInfo.InvariantCulture, out gid))
            {
                var group = ReadLines(sys, root, "/etc/group").Select(l => l.Split(':')).FirstOrDefault(f => f.Length > 2 && f[0] == groupPart)
                    ?? throw new InvalidParameterException($"unable to find group {groupPart}: no matching entries in group file");
                gid = int.Parse(group[2], CultureInfo.InvariantCulture);
            }
        }
        return (uid, gid);
    }

    private static List<string> ReadLines(ISyscalls sys, SafeFileHandle root, string path)
    {
        using var handle = sys.TryOpenAt2(root, path, O_RDONLY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, out _);
        if (handle is null) return [];
        using var stream = new FileStream(handle, FileAccess.Read, 1);
        using var reader = new StreamReader(stream);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line) lines.Add(line);
        return lines;
    }
}
