using Berth.Linux;

namespace Berth.Storage;

/// <summary>
/// Mounts a <see cref="MountSpec"/> with the new mount API. Overlay lowerdirs are added one by one ("lowerdir+",
/// kernel 6.8+), resolved against the spec's WorkingDirectory, so no option string has to fit one page.
/// </summary>
public static class Mounter
{
    public static void Mount(MountSpec spec, string target, ISyscalls? syscalls = null)
    {
        var sys = syscalls ?? LinuxSyscalls.Instance;
        var readOnly = spec.Options.Contains("ro");
        if (spec.Type == "bind")
        {
            using var tree = sys.OpenTreeClone(spec.Source, recursive: spec.Options.Contains("rbind"));
            if (readOnly) sys.MakeReadOnly(tree, recursive: true);
            sys.MoveMountTo(tree, target);
            return;
        }
        using var context = sys.FsOpen(spec.Type);
        sys.FsConfigString(context, "source", spec.Source);
        foreach (var option in spec.Options)
        {
            if (option is "ro" or "rw") continue;
            var equals = option.IndexOf('=');
            if (equals < 0) { sys.FsConfigFlag(context, option); continue; }
            var key = option[..equals];
            var value = option[(equals + 1)..];
            if (spec.Type == "overlay" && key == "lowerdir")
            {
                foreach (var lower in value.Split(':'))
                    sys.FsConfigString(context, "lowerdir+", Resolve(spec, lower));
            }
            else if (spec.Type == "overlay" && key is "upperdir" or "workdir")
                sys.FsConfigString(context, key, Resolve(spec, value));
            else
                sys.FsConfigString(context, key, value);
        }
        sys.FsConfigCreate(context);
        using var mount = sys.FsMount(context, readOnly ? 1u : 0u);
        sys.MoveMountTo(mount, target);
    }

    public static void Unmount(string target, ISyscalls? syscalls = null)
    {
        var sys = syscalls ?? LinuxSyscalls.Instance;
        var rc = sys.Umount(target, 0);
        if (rc == Errno.EBUSY) rc = sys.Umount(target, 2); // MNT_DETACH: lazily, once the last user goes
        if (rc != 0 && rc != Errno.EINVAL && rc != Errno.ENOENT) throw new SyscallException("umount2", rc, target);
    }

    private static string Resolve(MountSpec spec, string path)
        => Path.IsPathRooted(path) || spec.WorkingDirectory is null ? path : Path.GetFullPath(Path.Combine(spec.WorkingDirectory, path));
}
