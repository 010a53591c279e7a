namespace Berth.Runtime.Rootfs;

/// <summary>/proc/PID/mountinfo, the fields rootfs setup needs (proc(5)).</summary>
public static class MountInfo
{
    public sealed record Entry(string Root, string MountPoint, string FileSystemType, string Source, string SuperOptions);

    public static List<Entry> Parse(string text)
    {
        var entries = new List<Entry>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // id parent major:minor root mountpoint options [optional fields…] - fstype source superoptions
            var fields = line.Split(' ');
            if (fields.Length < 10) continue;
            var separator = Array.IndexOf(fields, "-", 6);
            if (separator < 0 || separator + 3 > fields.Length) continue;
            entries.Add(new Entry(Unescape(fields[3]), Unescape(fields[4]), fields[separator + 1], Unescape(fields[separator + 2]),
                separator + 3 < fields.Length ? fields[separator + 3] : ""));
        }
        return entries;
    }

    /// <summary>mountinfo writes space, tab, newline and backslash as \ooo octal escapes.</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\')) return field;
        var builder = new System.Text.StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && IsOctal(field[i + 1]) && IsOctal(field[i + 2]) && IsOctal(field[i + 3]))
            {
                builder.Append((char)((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0')));
                i += 3;
            }
            else builder.Append(field[i]);
        }
        return builder.ToString();
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';
}

/// <summary>/proc/PID/cgroup: one line per hierarchy, "id:controllers:path" (id 0 and no controllers for v2).</summary>
public static class CgroupMembership
{
    public sealed record Entry(int HierarchyId, string[] Controllers, string Path);

    public static List<Entry> Parse(string text)
    {
        var entries = new List<Entry>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(':', 3);
            if (parts.Length != 3 || !int.TryParse(parts[0], out var id)) continue;
            entries.Add(new Entry(id, parts[1].Length == 0 ? [] : parts[1].Split(','), parts[2]));
        }
        return entries;
    }

    /// <summary>True for a cgroup v1 super option that names a controller (or a named hierarchy), not a mount option.</summary>
    public static bool IsControllerOption(string option)
        => option.StartsWith("name=", StringComparison.Ordinal)
           || option is not ("rw" or "ro" or "xattr" or "noprefix" or "clone_children" or "cpuset_v2_mode" or "favordynmods" or "nsdelegate" or "memory_localevents" or "memory_recursiveprot")
              && !option.Contains('=');
}
