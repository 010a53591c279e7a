using System.Globalization;

namespace Berth.Engine.RuntimeSpec;

/// <summary>The identity a container's process runs as.</summary>
public sealed record ResolvedUser(uint Uid, uint Gid, IReadOnlyList<uint> AdditionalGids, string Home);

/// <summary>
/// Resolves Docker's <c>--user</c> ("name", "uid", "uid:gid", "name:group", ids without a passwd entry) against
/// the image's /etc/passwd and /etc/group text, as runc's libcontainer/user does for dockerd.
/// </summary>
public static class UserResolver
{
    private sealed record PasswdEntry(string Name, uint Uid, uint Gid, string Home);
    private sealed record GroupEntry(string Name, uint Gid, string[] Members);

    /// <summary>
    /// The user for <paramref name="spec"/> (empty means root). The additional gids are Docker's: the primary
    /// gid, the groups listing the user in /etc/group, then <paramref name="groupAdd"/> (names or ids).
    /// </summary>
    /// <exception cref="EngineFailureException">Docker's "unable to find user X: no matching entries in passwd file" and its kin.</exception>
    public static ResolvedUser Resolve(string? spec, string? passwdText, string? groupText, IEnumerable<string>? groupAdd = null)
    {
        var passwd = passwdText is null ? null : ParsePasswd(passwdText);
        var groups = groupText is null ? null : ParseGroups(groupText);
        var (userArg, groupArg) = Split(spec ?? "");

        uint uid = 0, gid = 0;
        var home = "/";
        string? matchedName = null;

        // A numeric user is always a uid, as in runc, even if some entry is named like a number.
        var userIsId = IsId(userArg, out var userId);
        var match = passwd?.FirstOrDefault(p => userArg.Length == 0 ? p.Uid == 0 : userIsId ? p.Uid == userId : p.Name == userArg);
        if (match is not null)
        {
            (uid, gid, home, matchedName) = (match.Uid, match.Gid, match.Home, match.Name);
        }
        else if (userArg.Length > 0)
        {
            if (!IsId(userArg, out uid))
            {
                if (long.TryParse(userArg, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                    throw new EngineFailureException($"uids and gids must be in range 0-{int.MaxValue}");
                throw new EngineFailureException($"unable to find user {userArg}: no matching entries in passwd file");
            }
        }

        var supplementary = new List<uint>();
        if (groupArg.Length > 0)
        {
            var groupIsId = IsId(groupArg, out var groupId);
            var byGroup = groups?.FirstOrDefault(g => groupIsId ? g.Gid == groupId : g.Name == groupArg);
            if (byGroup is not null) gid = byGroup.Gid;
            else if (!IsId(groupArg, out gid))
            {
                if (long.TryParse(groupArg, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                    throw new EngineFailureException($"uids and gids must be in range 0-{int.MaxValue}");
                throw new EngineFailureException($"unable to find group {groupArg}: no matching entries in group file");
            }
        }
        else if (matchedName is not null && groups is not null)
        {
            foreach (var g in groups)
                if (g.Members.Contains(matchedName)) supplementary.Add(g.Gid);
        }

        foreach (var extra in groupAdd ?? [])
        {
            var byName = groups?.FirstOrDefault(g => g.Name == extra);
            if (byName is not null) { supplementary.Add(byName.Gid); continue; }
            if (IsId(extra, out var n)) { supplementary.Add(n); continue; }
            throw new EngineFailureException($"Unable to find group {extra}: no matching entries in group file");
        }

        return new ResolvedUser(uid, gid, [gid, .. supplementary], home);
    }

    private static (string User, string Group) Split(string spec)
    {
        var colon = spec.IndexOf(':');
        return colon < 0 ? (spec, "") : (spec[..colon], spec[(colon + 1)..]);
    }

    private static bool IsId(string text, out uint id)
        => uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out id) && id <= int.MaxValue;

    private static List<PasswdEntry> ParsePasswd(string text)
    {
        var entries = new List<PasswdEntry>();
        foreach (var line in Lines(text))
        {
            // name:password:uid:gid:gecos:home:shell
            var f = line.Split(':');
            if (f.Length < 4 || !IsId(f[2], out var uid) || !IsId(f[3], out var gid)) continue;
            entries.Add(new PasswdEntry(f[0], uid, gid, f.Length > 5 && f[5].Length > 0 ? f[5] : "/"));
        }
        return entries;
    }

    private static List<GroupEntry> ParseGroups(string text)
    {
        var entries = new List<GroupEntry>();
        foreach (var line in Lines(text))
        {
            // name:password:gid:member,member
            var f = line.Split(':');
            if (f.Length < 3 || !IsId(f[2], out var gid)) continue;
            var members = f.Length > 3 ? f[3].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [];
            entries.Add(new GroupEntry(f[0], gid, members));
        }
        return entries;
    }

    private static IEnumerable<string> Lines(string text)
    {
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            yield return line;
        }
    }
}
