using Berth.Linux;

namespace Berth.Runtime.Rootfs;

/// <summary>
/// A mount's option strings sorted the way mount(2) wants them: MS_* flags, propagation changes (each its
/// own mount call), recursive attributes (mount_setattr), Berth extensions, and the rest as the data string
/// handed to the file system (size=, mode=, uid=…).
/// </summary>
public sealed record MountOptions(
    MountFlags Flags,
    MountFlags ClearedFlags,
    IReadOnlyList<MountFlags> Propagation,
    MountAttributes RecursiveSet,
    MountAttributes RecursiveClear,
    IReadOnlyList<string> Extensions,
    string? Data)
{
    public static readonly MountOptions Empty = new(MountFlags.None, MountFlags.None, [], MountAttributes.None, MountAttributes.None, [], null);

    /// <summary>True for "bind" and "rbind" (the type field may also say "bind").</summary>
    public bool IsBind => (Flags & MountFlags.Bind) != 0;

    // The lookups Parse uses: switches, so a runtime process (the container's init parses every mount) builds no
    // dictionaries in a static constructor. The tables below stay the list `features` reports; a test keeps both equal.
    private static (bool Clear, MountFlags Flag)? FlagOf(string name) => name switch
    {
        "acl" => (false, MountFlags.PosixAcl),
        "async" => (true, MountFlags.Synchronous),
        "atime" => (true, MountFlags.NoAtime),
        "bind" => (false, MountFlags.Bind),
        "defaults" => (false, MountFlags.None),
        "dev" => (true, MountFlags.NoDev),
        "diratime" => (true, MountFlags.NoDirAtime),
        "dirsync" => (false, MountFlags.DirSync),
        "exec" => (true, MountFlags.NoExec),
        "iversion" => (false, MountFlags.IVersion),
        "lazytime" => (false, MountFlags.LazyTime),
        "loud" => (true, MountFlags.Silent),
        "mand" => (false, MountFlags.MandatoryLock),
        "noacl" => (true, MountFlags.PosixAcl),
        "noatime" => (false, MountFlags.NoAtime),
        "nodev" => (false, MountFlags.NoDev),
        "nodiratime" => (false, MountFlags.NoDirAtime),
        "noexec" => (false, MountFlags.NoExec),
        "noiversion" => (true, MountFlags.IVersion),
        "nolazytime" => (true, MountFlags.LazyTime),
        "nomand" => (true, MountFlags.MandatoryLock),
        "norelatime" => (true, MountFlags.RelAtime),
        "nostrictatime" => (true, MountFlags.StrictAtime),
        "nosuid" => (false, MountFlags.NoSuid),
        "nosymfollow" => (false, MountFlags.NoSymFollow),
        "rbind" => (false, MountFlags.Bind | MountFlags.Recursive),
        "relatime" => (false, MountFlags.RelAtime),
        "remount" => (false, MountFlags.Remount),
        "ro" => (false, MountFlags.ReadOnly),
        "rw" => (true, MountFlags.ReadOnly),
        "silent" => (false, MountFlags.Silent),
        "strictatime" => (false, MountFlags.StrictAtime),
        "suid" => (true, MountFlags.NoSuid),
        "sync" => (false, MountFlags.Synchronous),
        "symfollow" => (true, MountFlags.NoSymFollow),
        _ => null,
    };

    private static MountFlags? PropagationOf(string name) => name switch
    {
        "private" => MountFlags.Private,
        "rprivate" => MountFlags.Private | MountFlags.Recursive,
        "shared" => MountFlags.Shared,
        "rshared" => MountFlags.Shared | MountFlags.Recursive,
        "slave" => MountFlags.Slave,
        "rslave" => MountFlags.Slave | MountFlags.Recursive,
        "unbindable" => MountFlags.Unbindable,
        "runbindable" => MountFlags.Unbindable | MountFlags.Recursive,
        _ => null,
    };

    private static (bool Clear, MountAttributes Attribute)? RecursiveOf(string name) => name switch
    {
        "rro" => (false, MountAttributes.ReadOnly),
        "rrw" => (true, MountAttributes.ReadOnly),
        "rnosuid" => (false, MountAttributes.NoSuid),
        "rsuid" => (true, MountAttributes.NoSuid),
        "rnodev" => (false, MountAttributes.NoDev),
        "rdev" => (true, MountAttributes.NoDev),
        "rnoexec" => (false, MountAttributes.NoExec),
        "rexec" => (true, MountAttributes.NoExec),
        "rnodiratime" => (false, MountAttributes.NoDirAtime),
        "rdiratime" => (true, MountAttributes.NoDirAtime),
        "rnosymfollow" => (false, MountAttributes.NoSymFollow),
        "rsymfollow" => (true, MountAttributes.NoSymFollow),
        _ => null,
    };

    private static MountAttributes? RecursiveAtimeOf(string name) => name switch
    {
        "rrelatime" => MountAttributes.None,
        "rnoatime" => MountAttributes.NoAtime,
        "rstrictatime" => MountAttributes.StrictAtime,
        _ => null,
    };

    /// <summary>The option names and what they mean (`features`, tests); built only when asked for.</summary>
    public static class Tables
    {
        /// <summary>Options Berth understands that are not kernel options.</summary>
        public static readonly IReadOnlySet<string> KnownExtensions = new HashSet<string> { "tmpcopyup" };

        // name → (clears the flag?, flag); runc's table, so configs mean the same under both runtimes.
        public static readonly Dictionary<string, (bool Clear, MountFlags Flag)> FlagTable = new()
        {
            ["acl"] = (false, MountFlags.PosixAcl),
            ["async"] = (true, MountFlags.Synchronous),
            ["atime"] = (true, MountFlags.NoAtime),
            ["bind"] = (false, MountFlags.Bind),
            ["defaults"] = (false, MountFlags.None),
            ["dev"] = (true, MountFlags.NoDev),
            ["diratime"] = (true, MountFlags.NoDirAtime),
            ["dirsync"] = (false, MountFlags.DirSync),
            ["exec"] = (true, MountFlags.NoExec),
            ["iversion"] = (false, MountFlags.IVersion),
            ["lazytime"] = (false, MountFlags.LazyTime),
            ["loud"] = (true, MountFlags.Silent),
            ["mand"] = (false, MountFlags.MandatoryLock),
            ["noacl"] = (true, MountFlags.PosixAcl),
            ["noatime"] = (false, MountFlags.NoAtime),
            ["nodev"] = (false, MountFlags.NoDev),
            ["nodiratime"] = (false, MountFlags.NoDirAtime),
            ["noexec"] = (false, MountFlags.NoExec),
            ["noiversion"] = (true, MountFlags.IVersion),
            ["nolazytime"] = (true, MountFlags.LazyTime),
            ["nomand"] = (true, MountFlags.MandatoryLock),
            ["norelatime"] = (true, MountFlags.RelAtime),
            ["nostrictatime"] = (true, MountFlags.StrictAtime),
            ["nosuid"] = (false, MountFlags.NoSuid),
            ["nosymfollow"] = (false, MountFlags.NoSymFollow),
            ["rbind"] = (false, MountFlags.Bind | MountFlags.Recursive),
            ["relatime"] = (false, MountFlags.RelAtime),
            ["remount"] = (false, MountFlags.Remount),
            ["ro"] = (false, MountFlags.ReadOnly),
            ["rw"] = (true, MountFlags.ReadOnly),
            ["silent"] = (false, MountFlags.Silent),
            ["strictatime"] = (false, MountFlags.StrictAtime),
            ["suid"] = (true, MountFlags.NoSuid),
            ["sync"] = (false, MountFlags.Synchronous),
            ["symfollow"] = (true, MountFlags.NoSymFollow),
        };

        public static readonly Dictionary<string, MountFlags> PropagationTable = new()
        {
            ["private"] = MountFlags.Private,
            ["rprivate"] = MountFlags.Private | MountFlags.Recursive,
            ["shared"] = MountFlags.Shared,
            ["rshared"] = MountFlags.Shared | MountFlags.Recursive,
            ["slave"] = MountFlags.Slave,
            ["rslave"] = MountFlags.Slave | MountFlags.Recursive,
            ["unbindable"] = MountFlags.Unbindable,
            ["runbindable"] = MountFlags.Unbindable | MountFlags.Recursive,
        };

        // name → (clears?, attribute); an atime value clears the whole atime field first.
        public static readonly Dictionary<string, (bool Clear, MountAttributes Attribute)> RecursiveTable = new()
        {
            ["rro"] = (false, MountAttributes.ReadOnly),
            ["rrw"] = (true, MountAttributes.ReadOnly),
            ["rnosuid"] = (false, MountAttributes.NoSuid),
            ["rsuid"] = (true, MountAttributes.NoSuid),
            ["rnodev"] = (false, MountAttributes.NoDev),
            ["rdev"] = (true, MountAttributes.NoDev),
            ["rnoexec"] = (false, MountAttributes.NoExec),
            ["rexec"] = (true, MountAttributes.NoExec),
            ["rnodiratime"] = (false, MountAttributes.NoDirAtime),
            ["rdiratime"] = (true, MountAttributes.NoDirAtime),
            ["rnosymfollow"] = (false, MountAttributes.NoSymFollow),
            ["rsymfollow"] = (true, MountAttributes.NoSymFollow),
        };

        public static readonly Dictionary<string, MountAttributes> RecursiveAtimeTable = new()
        {
            ["rrelatime"] = MountAttributes.None,
            ["rnoatime"] = MountAttributes.NoAtime,
            ["rstrictatime"] = MountAttributes.StrictAtime,
        };
    }

    /// <summary>Every option name Berth maps to flags, propagation, recursive attributes or an extension (`features`).</summary>
    public static IEnumerable<string> KnownNames =>
        Tables.FlagTable.Keys.Concat(Tables.PropagationTable.Keys).Concat(Tables.RecursiveTable.Keys).Concat(Tables.RecursiveAtimeTable.Keys).Concat(Tables.KnownExtensions);


    /// <summary>Sorts <paramref name="options"/> (a config.json mount's options) in order; later options win.</summary>
    public static MountOptions Parse(IEnumerable<string>? options)
    {
        if (options is null) return Empty;
        MountFlags flags = MountFlags.None, cleared = MountFlags.None;
        MountAttributes recursiveSet = MountAttributes.None, recursiveClear = MountAttributes.None;
        List<MountFlags>? propagation = null;
        List<string>? extensions = null;
        List<string>? data = null;
        foreach (var option in options)
        {
            if (FlagOf(option) is { } entry)
            {
                if (entry.Clear) { flags &= ~entry.Flag; cleared |= entry.Flag; }
                else { flags |= entry.Flag; cleared &= ~entry.Flag; }
            }
            else if (PropagationOf(option) is { } propagationFlag)
                (propagation ??= []).Add(propagationFlag);
            else if (RecursiveOf(option) is { } attribute)
            {
                if (attribute.Clear) { recursiveClear |= attribute.Attribute; recursiveSet &= ~attribute.Attribute; }
                else { recursiveSet |= attribute.Attribute; recursiveClear &= ~attribute.Attribute; }
            }
            else if (RecursiveAtimeOf(option) is { } atime)
            {
                recursiveClear |= MountAttributes.AtimeMask;
                recursiveSet = (recursiveSet & ~MountAttributes.AtimeMask) | atime;
            }
            else if (option == "tmpcopyup") (extensions ??= []).Add(option); // Tables.KnownExtensions
            else if (option.Length > 0) (data ??= []).Add(option);
        }
        return new MountOptions(flags, cleared, propagation ?? [], recursiveSet, recursiveClear, extensions ?? [],
            data is null ? null : string.Join(',', data));
    }

    /// <summary>The value of rootfsPropagation (or a propagation option) as mount flags; null when unknown.</summary>
    public static MountFlags? ParsePropagation(string name)
        => PropagationOf(name);
}
