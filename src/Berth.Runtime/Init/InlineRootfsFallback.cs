using System.Runtime.InteropServices;
using Berth.Oci.Runtime;

namespace Berth.Runtime.Init;

/// <summary>
/// TEMPORARY: a minimal rootfs setup (spec mounts, a few devices, pivot_root) so containers run until rt-rootfs's
/// RootfsSetup lands; then this file goes away. Its direct P/Invokes are the exception to the ISyscalls rule for
/// that reason.
/// </summary>
internal static partial class InlineRootfsFallback
{
    private const ulong MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_REMOUNT = 32, MS_NOATIME = 1024, MS_BIND = 4096,
        MS_REC = 16384, MS_PRIVATE = 1 << 18, MS_RELATIME = 1 << 21, MS_STRICTATIME = 1 << 24;

    public static void Prepare(Spec spec, string rootfs, bool noPivot, Action beforePivot)
    {
        Check(mount(null, "/", null, MS_REC | MS_PRIVATE, null), "make / private");
        Check(mount(rootfs, rootfs, null, MS_BIND | MS_REC, null), "bind rootfs");
        foreach (var m in spec.Mounts ?? [])
        {
            var target = rootfs + m.Destination;
            ulong flags = 0;
            var data = new List<string>();
            foreach (var o in m.Options ?? [])
            {
                switch (o)
                {
                    case "ro": flags |= MS_RDONLY; break;
                    case "rw": break;
                    case "nosuid": flags |= MS_NOSUID; break;
                    case "nodev": flags |= MS_NODEV; break;
                    case "noexec": flags |= MS_NOEXEC; break;
                    case "noatime": flags |= MS_NOATIME; break;
                    case "relatime": flags |= MS_RELATIME; break;
                    case "strictatime": flags |= MS_STRICTATIME; break;
                    case "bind": flags |= MS_BIND; break;
                    case "rbind": flags |= MS_BIND | MS_REC; break;
                    case "private" or "rprivate" or "slave" or "rslave" or "shared" or "rshared": break;
                    default: data.Add(o); break;
                }
            }
            if (m.Type == "cgroup") continue;
            if ((flags & MS_BIND) != 0 && File.Exists(m.Source)) { if (!File.Exists(target)) File.Create(target).Dispose(); }
            else Directory.CreateDirectory(target);
            var bind = (flags & MS_BIND) != 0;
            Check(mount(m.Source ?? "none", target, bind ? null : m.Type, bind ? flags & (MS_BIND | MS_REC) : flags,
                data.Count > 0 ? string.Join(',', data) : null), "mount " + m.Destination);
            if (bind && (flags & ~(MS_BIND | MS_REC)) != 0)
                Check(mount(null, target, null, flags | MS_REMOUNT | MS_BIND, null), "remount " + m.Destination);
        }
        foreach (var dev in new[] { "null", "zero", "full", "random", "urandom", "tty" })
        {
            var target = $"{rootfs}/dev/{dev}";
            if (File.Exists(target)) continue;
            File.Create(target).Dispose();
            Check(mount("/dev/" + dev, target, null, MS_BIND, null), "bind /dev/" + dev);
        }
        foreach (var (link, to) in new[] { ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                     ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx") })
        {
            var path = $"{rootfs}/dev/{link}";
            if (!File.Exists(path) && !Directory.Exists(path)) File.CreateSymbolicLink(path, to);
        }
        if (!string.IsNullOrEmpty(spec.Hostname)) Check(sethostname(spec.Hostname, spec.Hostname.Length), "sethostname");
        beforePivot();
        Directory.SetCurrentDirectory(rootfs);
        if (noPivot)
        {
            Check(mount(rootfs, "/", null, 8192 /* MS_MOVE */, null), "move rootfs");
            Check(chroot("."), "chroot");
        }
        else
        {
            Check((int)syscall(RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 41 : 155, ".", "."), "pivot_root");
            Check(umount2(".", 2 /* MNT_DETACH */), "umount old root");
        }
        Directory.SetCurrentDirectory("/");
        if (spec.Root?.Readonly == true) Check(mount(null, "/", null, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_REC, null), "remount / ro");
    }

    private static void Check(int rc, string what)
    {
        if (rc != 0) throw new RuntimeException($"rootfs: {what}: {Linux.Errno.Describe(Marshal.GetLastPInvokeError())}");
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mount(string? source, string target, string? type, ulong flags, string? data);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int umount2(string target, int flags);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int chroot(string path);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int sethostname(string name, nint length);
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long syscall(long number, string a, string b);
}
