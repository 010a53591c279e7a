namespace Berth.Runtime;

/// <summary>Container IDs name a directory under --root, so only a safe alphabet is allowed (runc's: [A-Za-z0-9_+.-]).</summary>
public static class ContainerId
{
    public static bool IsValid(string id)
    {
        if (id.Length == 0 || id.Length > 1024 || id is "." or "..") return false;
        foreach (var c in id)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '+' or '-' or '.')) return false;
        return true;
    }

    public static string Validate(string? id)
    {
        if (string.IsNullOrEmpty(id)) throw new RuntimeException("container id cannot be empty");
        if (!IsValid(id)) throw new RuntimeException($"invalid container id \"{id}\": only [A-Za-z0-9_+.-] allowed, and not \".\" or \"..\"");
        return id;
    }
}
