using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime.Rootfs;

/// <param name="NoPivot">chroot into the rootfs (after moving it onto "/") instead of pivot_root, as
/// <c>--no-pivot</c> asks; needed where the root is on a ramfs.</param>
/// <param name="RunCreateContainerHooks">Runs the createContainer hooks: called after the mounts, before the
/// root changes.</param>
/// <param name="Warn">Receives warnings (e.g. an LSM label the kernel cannot apply); stderr when null.</param>
/// <param name="BeforeCgroupMount">Runs before a `cgroup` mount, which shows the cgroups the init is in: an init that joins
/// its cgroup only while it sets up the rootfs does so here at the latest.</param>
/// <param name="Validated">The config passed <see cref="RootfsSetup.Validate"/> already (in `create`, before anything was made):
/// the container's init does not check it again, which would be the first run of that code and its data in the init.</param>
public sealed record RootfsOptions(bool NoPivot = false, Action? RunCreateContainerHooks = null, Action<string>? Warn = null, Action? BeforeCgroupMount = null,
    bool Validated = false);

/// <summary>
/// Everything config.md and config-linux.md say about the container's file system, done in the
/// container's init process inside its new mount namespace: propagation, the rootfs bind, spec mounts
/// (destinations resolved inside the rootfs), devices and /dev links, hostname, the root change, sysctls,
/// read-only and masked paths, and a read-only root.
/// </summary>
public static class RootfsSetup
{
    /// <summary>The flags the kernel locks on a mount seen from a less privileged user namespace: a remount
    /// must keep them or fail with EPERM.</summary>
    internal const MountFlags LockedFlags = MountFlags.ReadOnly | MountFlags.NoSuid | MountFlags.NoDev | MountFlags.NoExec
        | MountFlags.NoAtime | MountFlags.NoDirAtime | MountFlags.RelAtime | MountFlags.StrictAtime;

    private static readonly (string Path, long Major, long Minor)[] DefaultDevices =
    [
        ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
        ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0),
    ];

    private static readonly (string Target, string Link)[] DevSymlinks =
    [
        ("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"),
    ];

    /// <summary>Sysctls that belong to the IPC namespace (plus every fs.mqueue.*).</summary>
    private static readonly HashSet<string> IpcSysctls =
    [
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
        "kernel.shmmni", "kernel.shm_rmid_forced",
    ];

    public static void Prepare(Spec spec, string bundleDir, ISyscalls sys, RootfsOptions options)
        => Prepare<ISyscalls>(spec, bundleDir, sys, options);

    /// <summary>The same, against only the calls it needs (tests pass a recording double).</summary>
    public static void Prepare<TSys>(Spec spec, string bundleDir, TSys sys, RootfsOptions options)
        where TSys : IMountCalls, IFileSystemCalls, IUtsCalls
    {
        if (!options.Validated) Validate(spec, bundleDir);
        var rootfs = RootfsPath(spec, bundleDir);
        if (sys.GetFileKind(rootfs, followSymlinks: true) != FileKind.Directory)
            throw new RootfsException($"root.path: {rootfs} is not a directory");
        var warn = options.Warn ?? (message => Console.Error.WriteLine($"berth-runtime: warning: {message}"));
        var setup = new Setup<TSys>(spec, bundleDir, rootfs, sys, warn);
        setup.Run(options);
    }

    /// <summary>The checks that need no kernel: run by Prepare, and callable before anything is created.</summary>
    public static void Validate(Spec spec, string bundleDir)
    {
        if (spec.Root is null || string.IsNullOrEmpty(spec.Root.Path)) throw new RootfsException("root.path: missing");
        if (!Path.IsPathRooted(bundleDir)) throw new RootfsException($"bundle: {bundleDir} is not an absolute path");
        var namespaces = spec.Linux?.Namespaces ?? [];
        bool Has(string type) => namespaces.Any(n => n.Type == type);
        var mounts = spec.Mounts ?? [];
        for (var i = 0; i < mounts.Count; i++)
        {
            var m = mounts[i];
            if (string.IsNullOrEmpty(m.Destination)) throw new RootfsException($"mounts[{i}].destination: missing");
            if (PathInRoot.ClimbsAboveRoot(m.Destination))
                throw new RootfsException($"mounts[{i}].destination: \"{m.Destination}\" climbs out of the rootfs with \"..\"");
            if (m.UidMappings is { Count: > 0 } || m.GidMappings is { Count: > 0 } || m.Options?.Any(o => o is "idmap" or "ridmap") == true)
                throw new RootfsException($"mounts[{i}]: idmapped mounts (uidMappings, gidMappings, idmap) are not supported");
            var parsed = MountOptions.Parse(m.Options);
            if ((m.Type == "bind" || parsed.IsBind) && string.IsNullOrEmpty(m.Source))
                throw new RootfsException($"mounts[{i}].source: a bind mount needs a source");
            if (!parsed.IsBind && m.Type != "bind" && string.IsNullOrEmpty(m.Type))
                throw new RootfsException($"mounts[{i}].type: missing (for {m.Destination})");
        }
        if (spec.Linux?.RootfsPropagation is { Length: > 0 } propagation && MountOptions.ParsePropagation(propagation) is null)
            throw new RootfsException($"linux.rootfsPropagation: unknown value \"{propagation}\"");
        if (!string.IsNullOrEmpty(spec.Hostname) && !Has("uts"))
            throw new RootfsException("hostname: setting it needs a new uts namespace (linux.namespaces)");
        if (!string.IsNullOrEmpty(spec.Domainname) && !Has("uts"))
            throw new RootfsException("domainname: setting it needs a new uts namespace (linux.namespaces)");
        foreach (var device in spec.Linux?.Devices ?? [])
        {
            if (DeviceMode(device.Type) is null) throw new RootfsException($"linux.devices: {device.Path} has unknown type \"{device.Type}\"");
            if (!device.Path.StartsWith("/dev/", StringComparison.Ordinal) || PathInRoot.ClimbsAboveRoot(device.Path))
                throw new RootfsException($"linux.devices: path \"{device.Path}\" is not under /dev");
        }
        foreach (var (key, _) in spec.Linux?.Sysctl ?? [])
        {
            if (IpcSysctls.Contains(key) || key.StartsWith("fs.mqueue.", StringComparison.Ordinal))
            {
                if (!Has("ipc")) throw new RootfsException($"linux.sysctl: \"{key}\" needs a new ipc namespace");
            }
            else if (key.StartsWith("net.", StringComparison.Ordinal))
            {
                if (!Has("network")) throw new RootfsException($"linux.sysctl: \"{key}\" needs a new network namespace");
            }
            else if (key is "kernel.hostname" or "kernel.domainname")
            {
                if (!Has("uts")) throw new RootfsException($"linux.sysctl: \"{key}\" needs a new uts namespace");
            }
            else throw new RootfsException($"linux.sysctl: \"{key}\" is not namespaced, so a container may not set it");
            if (key.Contains("..", StringComparison.Ordinal) || key.Contains('/'))
                throw new RootfsException($"linux.sysctl: \"{key}\" is not a sysctl name");
        }
    }

    /// <summary>The absolute rootfs directory: root.path, relative to the bundle unless absolute.</summary>
    public static string RootfsPath(Spec spec, string bundleDir)
        => Path.TrimEndingDirectorySeparator(Path.GetFullPath(Path.Combine(bundleDir, spec.Root?.Path ?? "rootfs")));

    internal static uint? DeviceMode(string type) => type switch
    {
        "c" or "u" => DeviceNumbers.CharDevice,
        "b" => DeviceNumbers.BlockDevice,
        "p" => DeviceNumbers.Fifo,
        _ => null,
    };

    private sealed class Setup<TSys>(Spec spec, string bundleDir, string rootfs, TSys sys, Action<string> warn)
        where TSys : IMountCalls, IFileSystemCalls, IUtsCalls
    {
        private readonly List<Mount> mounts = spec.Mounts ?? [];
        private string? mountInfo;
        private MountFlags? devReadonlyFlags;
        private Action? beforeCgroupMount;
        /// <summary>The rootfs's /dev while it is a new, empty file system that this setup mounted there (a tmpfs, as in
        /// every runtime's default config) and no later mount has covered it; see <see cref="TryInFreshDev"/>.</summary>
        private string? freshDev;

        public void Run(RootfsOptions options)
        {
            beforeCgroupMount = options.BeforeCgroupMount;
            var propagation = spec.Linux?.RootfsPropagation is { Length: > 0 } p
                ? MountOptions.ParsePropagation(p)!.Value
                : MountFlags.Recursive | MountFlags.Private;
            Call($"linux.rootfsPropagation", () => sys.Mount(null, "/", null, propagation, null));
            if ((propagation & MountFlags.Shared) != 0) MakeParentMountPrivate();
            Call("root.path", () => sys.Mount(rootfs, rootfs, null, MountFlags.Bind | MountFlags.Recursive, null));

            for (var i = 0; i < mounts.Count; i++) MountOne(i, mounts[i]);

            if (NeedsDevSetup())
            {
                CreateDevices();
                CreateDevSymlinks();
            }
            if (!string.IsNullOrEmpty(spec.Hostname)) Call("hostname", () => sys.SetHostname(spec.Hostname));
            if (!string.IsNullOrEmpty(spec.Domainname)) Call("domainname", () => sys.SetDomainname(spec.Domainname));
            if (!string.IsNullOrEmpty(spec.Linux?.MountLabel) && sys.GetFileKind("/sys/fs/selinux/enforce") == FileKind.None)
                warn("linux.mountLabel: SELinux is not supported by this kernel; the label is ignored");

            options.RunCreateContainerHooks?.Invoke();

            if (options.NoPivot) ChangeRootByMove(); else PivotRoot();

            if (devReadonlyFlags is { } devFlags)
                Call("mounts (/dev)", () => Remount("/dev", devFlags | MountFlags.Bind | MountFlags.ReadOnly, MountFlags.None));
            WriteSysctls();
            foreach (var path in spec.Linux?.ReadonlyPaths ?? []) MakeReadonly(path);
            foreach (var path in spec.Linux?.MaskedPaths ?? []) Mask(path);
            if (spec.Root!.Readonly) RemountRootReadonly();
        }

        private void Call(string field, Action action)
        {
            try { action(); }
            catch (SyscallException e) { throw new RootfsException($"{field}: {e.Message}", e); }
        }

        private void MakeParentMountPrivate()
        {
            // pivot_root refuses a new root whose parent mount is shared.
            var mountPoint = MountPointOf(rootfs);
            Call("linux.rootfsPropagation", () => sys.Mount(null, mountPoint, null, MountFlags.Private, null));
        }

        private string MountPointOf(string path)
        {
            var best = "/";
            foreach (var entry in MountInfo.Parse(mountInfo ??= sys.ReadText("/proc/self/mountinfo")))
            {
                var mp = entry.MountPoint;
                var under = mp == "/" || path == mp || path.StartsWith(mp + "/", StringComparison.Ordinal);
                if (under && mp.Length > best.Length) best = mp;
            }
            return best;
        }

        private string Resolve(string field, string destination)
        {
            try { return PathInRoot.Resolve(rootfs, destination); }
            catch (SyscallException e) { throw new RootfsException($"{field}: {destination}: {e.Message}", e); }
        }

        private void MountOne(int index, Mount m)
        {
            var field = $"mounts[{index}]";
            var options = MountOptions.Parse(m.Options);
            var destination = Resolve(field + ".destination", m.Destination);
            if (destination == freshDev) freshDev = null;
            try
            {
                if (m.Type == "bind" || options.IsBind) MountBind(field, m, options, destination);
                else if (m.Type == "cgroup") MountCgroup(options, destination);
                else MountFileSystem(field, m, options, destination);
                if (options.Propagation.Count > 0 || options.RecursiveSet != MountAttributes.None || options.RecursiveClear != MountAttributes.None)
                {
                    AtPinned(destination, target =>
                    {
                        foreach (var propagation in options.Propagation) sys.Mount(null, target, null, propagation, null);
                        if (options.RecursiveSet != MountAttributes.None || options.RecursiveClear != MountAttributes.None)
                            sys.SetMountAttributes(target, true, options.RecursiveSet, options.RecursiveClear);
                    });
                }
            }
            catch (SyscallException e)
            {
                throw new RootfsException($"{field} ({m.Type ?? "bind"} on {m.Destination}): {e.Message}", e);
            }
        }

        private void MountBind(string field, Mount m, MountOptions options, string destination)
        {
            var source = Path.IsPathRooted(m.Source!) ? m.Source! : Path.GetFullPath(Path.Combine(bundleDir, m.Source!));
            var kind = sys.GetFileKind(source, followSymlinks: true);
            if (kind == FileKind.None) throw new RootfsException($"{field}.source: {source} does not exist");
            CreateMountPoint(destination, kind == FileKind.Directory);
            AtPinned(destination, target => sys.Mount(source, target, "bind", MountFlags.Bind | (options.Flags & MountFlags.Recursive), null));
            // A bind takes no other flags: they need a remount of the new mount.
            var extra = options.Flags & ~(MountFlags.Bind | MountFlags.Recursive | MountFlags.Remount);
            if (extra != MountFlags.None) AtPinned(destination, target => Remount(target, extra | MountFlags.Bind, options.ClearedFlags));
        }

        /// <summary>Runs <paramref name="action"/> on a name of <paramref name="destination"/> that no later
        /// symlink swap can redirect (/proc/self/fd/N of an O_PATH handle opened inside the rootfs). Opened
        /// afresh for each step: after a mount, a new handle names the new mount, the old one what is below.</summary>
        private void AtPinned(string destination, Action<string> action)
        {
            using var pin = sys.OpenMountTarget(rootfs, destination);
            action(pin.IsInvalid ? destination : "/proc/self/fd/" + pin.DangerousGetHandle());
        }

        /// <summary>Remounts with <paramref name="flags"/>; when the kernel refuses (locked flags in a user
        /// namespace), retries keeping the flags the mount already has that were not explicitly cleared.</summary>
        private void Remount(string path, MountFlags flags, MountFlags cleared)
        {
            try { sys.Mount(null, path, null, flags | MountFlags.Remount, null); }
            catch (SyscallException e) when (e.ErrorNumber == Errno.EPERM)
            {
                var locked = CurrentLockedFlags(path) & ~cleared;
                sys.Mount(null, path, null, flags | locked | MountFlags.Remount, null);
            }
        }

        private MountFlags CurrentLockedFlags(string path)
        {
            var current = sys.GetMountFlags(path) & LockedFlags;
            // statvfs shows no bit for strictatime: it is the absence of noatime and relatime.
            if ((current & (MountFlags.NoAtime | MountFlags.RelAtime)) == 0) current |= MountFlags.StrictAtime;
            return current;
        }

        private void MountFileSystem(string field, Mount m, MountOptions options, string destination)
        {
            var kind = sys.GetFileKind(destination);
            if (kind == FileKind.File && m.Type is "proc" or "sysfs")
                throw new RootfsException($"{field}.destination: {m.Destination} is not a directory");
            CreateMountPoint(destination, directory: true);
            // tmpcopyup: the tmpfs starts with what the image has at the destination. A handle on the
            // directory taken before the mount still reaches the covered contents afterwards.
            using var covered = options.Extensions.Contains("tmpcopyup") && m.Type == "tmpfs" ? sys.OpenMountTarget(rootfs, destination) : null;
            var flags = options.Flags;
            if (Path.TrimEndingDirectorySeparator(m.Destination) == "/dev" && (flags & MountFlags.ReadOnly) != 0)
            {
                // Devices and links still have to be made in it: read-only comes after the root change.
                flags &= ~MountFlags.ReadOnly;
                devReadonlyFlags = flags & ~MountFlags.Remount;
            }
            var boundHostInstance = false;
            AtPinned(destination, target =>
            {
                try
                {
                    sys.Mount(m.Source ?? m.Type, target, m.Type, flags, options.Data);
                }
                catch (SyscallException e) when (e.ErrorNumber == Errno.EPERM && m.Type is "sysfs" or "mqueue")
                {
                    // In a user namespace without its own network (sysfs) or ipc (mqueue) namespace the kernel
                    // refuses a new instance: bind the host's instead, as runc does.
                    var hostPath = m.Type == "sysfs" ? "/sys" : "/dev/mqueue";
                    sys.Mount(hostPath, target, "bind", MountFlags.Bind | MountFlags.Recursive, null);
                    boundHostInstance = true;
                }
            });
            if (boundHostInstance)
                AtPinned(destination, target => Remount(target, (options.Flags & ~MountFlags.Remount) | MountFlags.Bind, options.ClearedFlags));
            else if (covered is null && Path.TrimEndingDirectorySeparator(m.Destination) == "/dev") freshDev = destination;
            if (covered is not null)
            {
                var from = covered.IsInvalid ? destination : "/proc/self/fd/" + covered.DangerousGetHandle();
                try { AtPinned(destination, target => sys.CopyTree(from, target)); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new RootfsException($"{field} (tmpcopyup on {m.Destination}): {e.Message}", e);
                }
            }
        }

        private void CreateMountPoint(string path, bool directory)
        {
            if (directory) { sys.CreateDirectory(path); return; }
            sys.CreateDirectory(Path.GetDirectoryName(path)!);
            sys.CreateEmptyFile(path);
        }

        private void MountCgroup(MountOptions options, string destination)
        {
            beforeCgroupMount?.Invoke();
            CreateMountPoint(destination, directory: true);
            var entries = MountInfo.Parse(mountInfo ??= sys.ReadText("/proc/self/mountinfo"));
            var ownCgroups = CgroupMembership.Parse(sys.ReadText("/proc/self/cgroup"));
            var unifiedRoot = entries.FirstOrDefault(e => e.MountPoint == "/sys/fs/cgroup" && e.FileSystemType == "cgroup2");
            var hasCgroupNamespace = spec.Linux?.Namespaces?.Any(n => n.Type == "cgroup") == true;
            var flags = options.Flags & ~MountFlags.Remount;
            if (unifiedRoot is not null)
            {
                var boundHostCgroup = false;
                AtPinned(destination, target =>
                {
                    try { sys.Mount("cgroup2", target, "cgroup2", flags, null); }
                    catch (SyscallException e) when (e.ErrorNumber is Errno.EPERM or Errno.EBUSY)
                    {
                        var path = ownCgroups.FirstOrDefault(c => c.HierarchyId == 0)?.Path ?? "/";
                        sys.Mount(HostCgroupDir(unifiedRoot, path), target, "bind", MountFlags.Bind | MountFlags.Recursive, null);
                        boundHostCgroup = true;
                    }
                });
                if (boundHostCgroup && flags != MountFlags.None)
                    AtPinned(destination, target => Remount(target, flags | MountFlags.Bind, options.ClearedFlags));
                return;
            }

            // cgroup v1: a tmpfs holding one directory per hierarchy, each showing only this container's cgroup.
            // Everything below is inside that fresh tmpfs, which nothing else can reach yet.
            AtPinned(destination, target => sys.Mount("tmpfs", target, "tmpfs", MountFlags.NoSuid | MountFlags.NoDev | MountFlags.NoExec, "mode=755"));
            foreach (var hierarchy in entries.Where(e => e.FileSystemType == "cgroup"))
            {
                var controllers = hierarchy.SuperOptions.Split(',').Where(CgroupMembership.IsControllerOption).ToArray();
                if (controllers.Length == 0) continue;
                var membership = ownCgroups.FirstOrDefault(c => c.Controllers.Length > 0 && c.Controllers.All(controllers.Contains)
                    && controllers.All(c.Controllers.Contains));
                if (membership is null) continue;
                var name = Path.GetFileName(hierarchy.MountPoint);
                var target = destination + "/" + name;
                sys.CreateDirectory(target);
                if (hasCgroupNamespace)
                    sys.Mount("cgroup", target, "cgroup", flags, string.Join(',', controllers));
                else
                {
                    sys.Mount(HostCgroupDir(hierarchy, membership.Path), target, "bind", MountFlags.Bind | MountFlags.Recursive, null);
                    if (flags != MountFlags.None) Remount(target, flags | MountFlags.Bind, options.ClearedFlags);
                }
                // Co-mounted controllers ("cpu,cpuacct") get a link per controller, as on the host.
                foreach (var controller in controllers)
                {
                    var link = destination + "/" + controller.Replace("name=", "", StringComparison.Ordinal);
                    if (controller != name && sys.GetFileKind(link) == FileKind.None) sys.CreateSymlink(name, link);
                }
            }
            if ((flags & MountFlags.ReadOnly) != 0)
                AtPinned(destination, target => Remount(target, MountFlags.Bind | MountFlags.ReadOnly | MountFlags.NoSuid | MountFlags.NoDev | MountFlags.NoExec, MountFlags.None));
        }

        /// <summary>The host directory of cgroup <paramref name="cgroupPath"/> within a hierarchy's mount.</summary>
        private static string HostCgroupDir(MountInfo.Entry hierarchy, string cgroupPath)
        {
            var relative = cgroupPath;
            if (hierarchy.Root != "/" && (relative == hierarchy.Root || relative.StartsWith(hierarchy.Root + "/", StringComparison.Ordinal)))
                relative = relative[hierarchy.Root.Length..];
            return hierarchy.MountPoint + (relative is "" or "/" ? "" : relative);
        }

        private bool NeedsDevSetup()
            => !mounts.Any(m => Path.TrimEndingDirectorySeparator(m.Destination) == "/dev"
                && (m.Type == "bind" || MountOptions.Parse(m.Options).IsBind));

        private void CreateDevices()
        {
            var devices = new List<(string Path, uint Mode, long Major, long Minor, uint? Uid, uint? Gid)>();
            foreach (var (path, major, minor) in DefaultDevices) devices.Add((path, DeviceNumbers.CharDevice | 0x1B6 /* 0666 */, major, minor, null, null));
            foreach (var d in spec.Linux?.Devices ?? [])
            {
                devices.RemoveAll(existing => existing.Path == d.Path);
                devices.Add((d.Path, DeviceMode(d.Type)!.Value | (d.FileMode ?? 0x1B6 /* 0666 */) & 0xFFF /* 07777 */, d.Major, d.Minor, d.Uid, d.Gid));
            }
            var oldMask = sys.SetUmask(0); // mknod's mode is meant exactly
            try
            {
                var bindInstead = false;
                foreach (var device in devices)
                {
                    if (!bindInstead && TryInFreshDev(device.Path, node => sys.MakeNode(node, device.Mode, DeviceNumbers.Make((ulong)device.Major, (ulong)device.Minor))))
                    {
                        if (device.Uid is not null || device.Gid is not null)
                            Call($"linux.devices ({device.Path})", () => sys.ChangeOwner(freshDev + device.Path[4..], device.Uid ?? 0, device.Gid ?? 0));
                        continue;
                    }
                    var field = $"linux.devices ({device.Path})";
                    var destination = Resolve(field, device.Path);
                    sys.CreateDirectory(Path.GetDirectoryName(destination)!);
                    if (sys.GetFileKind(destination) is FileKind.File or FileKind.Symlink) sys.Remove(destination);
                    if (!bindInstead)
                    {
                        try
                        {
                            sys.MakeNode(destination, device.Mode, DeviceNumbers.Make((ulong)device.Major, (ulong)device.Minor));
                            if (device.Uid is not null || device.Gid is not null)
                                sys.ChangeOwner(destination, device.Uid ?? 0, device.Gid ?? 0);
                            continue;
                        }
                        catch (SyscallException e) when (e.ErrorNumber == Errno.EPERM)
                        {
                            bindInstead = true; // a user namespace may not mknod: bind the host's nodes instead
                        }
                    }
                    Call(field, () =>
                    {
                        sys.CreateEmptyFile(destination);
                        sys.Mount(device.Path, destination, "bind", MountFlags.Bind, null);
                    });
                }
            }
            finally { sys.SetUmask(oldMask); }
        }

        private void CreateDevSymlinks()
        {
            var links = DevSymlinks.ToList();
            if (sys.GetFileKind("/proc/kcore") != FileKind.None) links.Add(("/proc/kcore", "/dev/core"));
            foreach (var (target, link) in links)
            {
                if (TryInFreshDev(link, path => sys.CreateSymlink(target, path))) continue;
                var path = Resolve("/dev", link);
                if (sys.GetFileKind(path) != FileKind.None) continue;
                Call(link, () => sys.CreateSymlink(target, path));
            }
            // /dev/ptmx must be the one of the container's devpts instance.
            if (TryInFreshDev("/dev/ptmx", path => sys.CreateSymlink("pts/ptmx", path))) return;
            var ptmx = Resolve("/dev", "/dev/ptmx");
            Call("/dev/ptmx", () =>
            {
                if (sys.GetFileKind(ptmx) != FileKind.None) sys.Remove(ptmx);
                sys.CreateSymlink("pts/ptmx", ptmx);
            });
        }

        /// <summary>
        /// Makes a node or link named directly under /dev (<paramref name="path"/> is "/dev/NAME") in one call when /dev is
        /// still the empty file system this setup mounted: there is no symlink to resolve in it and nothing to replace,
        /// only the mount points of later mounts. False, with nothing made, when that does not hold or the call fails (the
        /// name exists, say): the caller then takes the general way, which resolves the path and replaces what is there.
        /// </summary>
        private bool TryInFreshDev(string path, Action<string> make)
        {
            if (freshDev is null || !path.StartsWith("/dev/", StringComparison.Ordinal)) return false;
            var name = path.AsSpan(5);
            if (name.IsEmpty || name.Contains('/') || name is "." or "..") return false;
            try { make(freshDev + path[4..]); return true; }
            catch (SyscallException) { return false; }
        }

        private void PivotRoot()
        {
            // pivot_root(".", ".") stacks the old root on top of the new one at "/"; detaching it leaves the
            // new root alone, with no directory to create and remove (pivot_root(2), NOTES).
            Call("root.path (pivot_root)", () =>
            {
                sys.ChangeDirectory(rootfs);
                sys.PivotRoot(".", ".");
                // Keep the detach from propagating to the host's mounts.
                sys.Mount(null, ".", null, MountFlags.Slave | MountFlags.Recursive, null);
                sys.Unmount(".", UnmountFlags.Detach);
                sys.ChangeDirectory("/");
            });
        }

        private void ChangeRootByMove()
        {
            Call("root.path (--no-pivot)", () =>
            {
                sys.ChangeDirectory(rootfs);
                sys.Mount(rootfs, "/", null, MountFlags.Move, null);
                sys.ChangeRoot(".");
                sys.ChangeDirectory("/");
            });
        }

        private void WriteSysctls()
        {
            foreach (var (key, value) in spec.Linux?.Sysctl ?? [])
            {
                try { sys.WriteText("/proc/sys/" + key.Replace('.', '/'), value); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or SyscallException)
                {
                    throw new RootfsException($"linux.sysctl: \"{key}\" = \"{value}\": {e.Message}", e);
                }
            }
        }

        private void MakeReadonly(string path)
        {
            if (sys.GetFileKind(path, followSymlinks: true) == FileKind.None) return;
            Call($"linux.readonlyPaths ({path})", () =>
            {
                sys.Mount(path, path, null, MountFlags.Bind | MountFlags.Recursive, null);
                Remount(path, MountFlags.Bind | MountFlags.ReadOnly, MountFlags.None);
            });
        }

        private void Mask(string path)
        {
            var kind = sys.GetFileKind(path, followSymlinks: true);
            if (kind == FileKind.None) return;
            Call($"linux.maskedPaths ({path})", () =>
            {
                if (kind == FileKind.Directory) sys.Mount("tmpfs", path, "tmpfs", MountFlags.ReadOnly, null);
                else sys.Mount("/dev/null", path, null, MountFlags.Bind, null);
            });
        }

        private void RemountRootReadonly()
            => Call("root.readonly", () => Remount("/", MountFlags.Bind | MountFlags.ReadOnly, MountFlags.None));
    }
}
