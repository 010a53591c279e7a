using Berth.Linux;
using Berth.Oci.Runtime;
using Berth.Runtime.Rootfs;
using Berth.Testing;

namespace Berth.Runtime.Tests;

public class RootfsSetupTests : IDisposable
{
    private readonly TempDir bundle = new();
    private readonly RootfsRecordingSyscalls sys;
    private readonly List<string> warnings = [];
    private string Rootfs => bundle.Path + "/rootfs";

    public RootfsSetupTests()
    {
        Directory.CreateDirectory(Rootfs);
        foreach (var dir in new[] { "proc", "dev", "sys", "tmp", "etc" }) Directory.CreateDirectory(Rootfs + "/" + dir);
        sys = new RootfsRecordingSyscalls(bundle.Path);
        sys.Files["/proc/self/mountinfo"] = "";
        sys.Files["/proc/self/cgroup"] = "";
    }

    public void Dispose() => bundle.Dispose();

    private static Spec NewSpec(params Mount[] mounts) => new()
    {
        Root = new Root { Path = "rootfs" },
        Mounts = [.. mounts],
        Linux = new Berth.Oci.Runtime.Linux { Namespaces = [new() { Type = "mount" }, new() { Type = "uts" }, new() { Type = "ipc" }, new() { Type = "network" }] },
    };

    private void Prepare(Spec spec, RootfsOptions? options = null)
        => RootfsSetup.Prepare(spec, bundle.Path, sys, options ?? new RootfsOptions(Warn: warnings.Add));

    private List<string> Mounts => sys.Calls.Where(c => c.StartsWith("mount ", StringComparison.Ordinal)).ToList();

    [Fact]
    public void Root_is_made_private_then_bound_onto_itself_before_any_spec_mount()
    {
        Prepare(NewSpec(new Mount { Destination = "/proc", Type = "proc", Source = "proc" }));
        Assert.Equal($"mount - / - Recursive, Private -", sys.Calls[0]);
        Assert.Equal($"mount {Rootfs} {Rootfs} - Bind, Recursive -", sys.Calls[1]);
        Assert.Equal($"mount proc {Rootfs}/proc proc None -", sys.Calls[2]);
    }

    [Fact]
    public void Rootfs_propagation_from_spec_is_used()
    {
        var spec = NewSpec();
        spec.Linux!.RootfsPropagation = "rslave";
        Prepare(spec);
        Assert.Equal("mount - / - Recursive, Slave -", sys.Calls[0]);
    }

    [Fact]
    public void Shared_rootfs_propagation_makes_the_rootfs_parent_mount_private_for_pivot_root()
    {
        sys.Files["/proc/self/mountinfo"] =
            "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n" +
            $"40 22 0:30 / {bundle.Path} rw shared:5 - tmpfs tmpfs rw\n";
        var spec = NewSpec();
        spec.Linux!.RootfsPropagation = "rshared";
        Prepare(spec);
        Assert.Equal("mount - / - Recursive, Shared -", sys.Calls[0]);
        Assert.Equal($"mount - {bundle.Path} - Private -", sys.Calls[1]);
    }

    [Fact]
    public void Runc_default_mounts_in_order_with_flags_and_data()
    {
        var spec = NewSpec(
            new Mount { Destination = "/proc", Type = "proc", Source = "proc" },
            new Mount { Destination = "/dev", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            new Mount { Destination = "/dev/pts", Type = "devpts", Source = "devpts", Options = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            new Mount { Destination = "/dev/shm", Type = "tmpfs", Source = "shm", Options = ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            new Mount { Destination = "/dev/mqueue", Type = "mqueue", Source = "mqueue", Options = ["nosuid", "noexec", "nodev"] },
            new Mount { Destination = "/sys", Type = "sysfs", Source = "sysfs", Options = ["nosuid", "noexec", "nodev", "ro"] });
        Prepare(spec);
        Assert.Equal(
        [
            "mount - / - Recursive, Private -",
            $"mount {Rootfs} {Rootfs} - Bind, Recursive -",
            $"mount proc {Rootfs}/proc proc None -",
            $"mount tmpfs {Rootfs}/dev tmpfs NoSuid, StrictAtime mode=755,size=65536k",
            $"mount devpts {Rootfs}/dev/pts devpts NoSuid, NoExec newinstance,ptmxmode=0666,mode=0620,gid=5",
            $"mount shm {Rootfs}/dev/shm tmpfs NoSuid, NoDev, NoExec mode=1777,size=65536k",
            $"mount mqueue {Rootfs}/dev/mqueue mqueue NoSuid, NoDev, NoExec -",
            $"mount sysfs {Rootfs}/sys sysfs ReadOnly, NoSuid, NoDev, NoExec -",
        ], Mounts.Take(8));
        Assert.True(Directory.Exists(Rootfs + "/dev/pts"));
        Assert.True(Directory.Exists(Rootfs + "/dev/mqueue"));
    }

    [Fact]
    public void Every_mount_step_on_a_spec_destination_is_pinned_inside_the_rootfs()
    {
        var source = bundle.Combine("data");
        Directory.CreateDirectory(source);
        Prepare(NewSpec(
            new Mount { Destination = "/proc", Type = "proc" },
            new Mount { Destination = "/data", Type = "bind", Source = source, Options = ["rbind", "ro", "rprivate"] }));
        // proc: the mount; bind: the mount, the remount (re-pinned: a new handle names the new mount), propagation.
        Assert.Equal([Rootfs + "/proc", Rootfs + "/data", Rootfs + "/data", Rootfs + "/data"], sys.Pins);
    }

    [Fact]
    public void Read_only_bind_is_a_bind_then_a_remount_then_propagation()
    {
        var source = bundle.Combine("data");
        Directory.CreateDirectory(source);
        Prepare(NewSpec(new Mount { Destination = "/data", Type = "bind", Source = source, Options = ["rbind", "ro", "nosuid", "rprivate"] }));
        var target = Rootfs + "/data";
        Assert.Equal(
        [
            $"mount {source} {target} bind Bind, Recursive -",
            $"mount - {target} - ReadOnly, NoSuid, Remount, Bind -",
            $"mount - {target} - Recursive, Private -",
        ], Mounts.Skip(2).Take(3));
        Assert.True(Directory.Exists(target));
    }

    [Fact]
    public void Bind_of_a_file_creates_a_file_mount_point_and_relative_sources_are_bundle_relative()
    {
        File.WriteAllText(bundle.Combine("hosts"), "127.0.0.1 x\n");
        Prepare(NewSpec(new Mount { Destination = "/etc/hosts", Type = "bind", Source = "hosts", Options = ["bind"] }));
        Assert.Contains($"mount {bundle.Path}/hosts {Rootfs}/etc/hosts bind Bind -", sys.Calls);
        Assert.True(File.Exists(Rootfs + "/etc/hosts"));
        Assert.DoesNotContain(sys.Calls, c => c.Contains("Remount") && c.Contains("/etc/hosts")); // plain bind: no remount
    }

    [Fact]
    public void Recursive_attributes_use_mount_setattr_after_the_bind()
    {
        Directory.CreateDirectory(bundle.Combine("src"));
        Prepare(NewSpec(new Mount { Destination = "/m", Source = bundle.Combine("src"), Options = ["rbind", "rro"] }));
        var bind = sys.Calls.FindIndex(c => c.StartsWith($"mount {bundle.Path}/src ", StringComparison.Ordinal));
        Assert.Equal($"mount_setattr {Rootfs}/m AT_RECURSIVE set=ReadOnly clear=None", sys.Calls[bind + 1]);
    }

    [Fact]
    public void Destination_through_an_absolute_symlink_stays_inside_the_rootfs()
    {
        File.CreateSymbolicLink(Rootfs + "/evil", "/etc");
        File.CreateSymbolicLink(Rootfs + "/climb", "../../../../../../../../tmp");
        Prepare(NewSpec(
            new Mount { Destination = "/evil/x", Type = "tmpfs", Source = "tmpfs" },
            new Mount { Destination = "/climb/y", Type = "tmpfs", Source = "tmpfs" }));
        Assert.Contains($"mount tmpfs {Rootfs}/etc/x tmpfs None -", sys.Calls);
        Assert.Contains($"mount tmpfs {Rootfs}/tmp/y tmpfs None -", sys.Calls);
        Assert.True(Directory.Exists(Rootfs + "/etc/x"));
    }

    [Fact]
    public void Destination_climbing_out_with_dotdot_is_refused_before_any_call()
    {
        var e = Assert.Throws<RootfsException>(() => Prepare(NewSpec(
            new Mount { Destination = "/proc", Type = "proc" },
            new Mount { Destination = "/../../etc/x", Type = "tmpfs", Source = "tmpfs" })));
        Assert.StartsWith("mounts[1].destination:", e.Message);
        Assert.Empty(sys.Calls);
    }

    [Fact]
    public void Idmapped_mounts_are_refused_rather_than_ignored()
    {
        var e = Assert.Throws<RootfsException>(() => Prepare(NewSpec(new Mount
        {
            Destination = "/x", Type = "bind", Source = "/tmp", Options = ["rbind"],
            UidMappings = [new IdMapping { ContainerId = 0, HostId = 1000, Size = 1 }],
        })));
        Assert.StartsWith("mounts[0]: idmapped mounts", e.Message);
        Assert.Empty(sys.Calls);
    }

    [Fact]
    public void Missing_bind_source_names_the_field()
    {
        var e = Assert.Throws<RootfsException>(() => Prepare(NewSpec(new Mount { Destination = "/x", Type = "bind", Source = "/no/such/dir-" + Guid.NewGuid(), Options = ["bind"] })));
        Assert.StartsWith("mounts[0].source:", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Failing_mount_is_one_line_naming_the_mount()
    {
        sys.FailMount = (target, _) => target.EndsWith("/proc", StringComparison.Ordinal) ? Errno.EINVAL : null;
        var e = Assert.Throws<RootfsException>(() => Prepare(NewSpec(new Mount { Destination = "/proc", Type = "proc" })));
        Assert.StartsWith("mounts[0] (proc on /proc): mount", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Default_devices_are_created_with_mknod_and_umask_zero()
    {
        Prepare(NewSpec(new Mount { Destination = "/dev", Type = "tmpfs", Source = "tmpfs" }));
        var umaskZero = sys.Calls.IndexOf("umask 00");
        var nodes = sys.Calls.Where(c => c.StartsWith("mknod", StringComparison.Ordinal)).ToList();
        Assert.True(umaskZero >= 0 && umaskZero < sys.Calls.IndexOf(nodes[0]));
        Assert.Equal(
        [
            $"mknod {Rootfs}/dev/null 0x21b6 {DeviceNumbers.Make(1, 3)}",
            $"mknod {Rootfs}/dev/zero 0x21b6 {DeviceNumbers.Make(1, 5)}",
            $"mknod {Rootfs}/dev/full 0x21b6 {DeviceNumbers.Make(1, 7)}",
            $"mknod {Rootfs}/dev/random 0x21b6 {DeviceNumbers.Make(1, 8)}",
            $"mknod {Rootfs}/dev/urandom 0x21b6 {DeviceNumbers.Make(1, 9)}",
            $"mknod {Rootfs}/dev/tty 0x21b6 {DeviceNumbers.Make(5, 0)}",
        ], nodes);
        Assert.Contains("umask 022", sys.Calls); // restored
    }

    [Fact]
    public void Spec_devices_are_added_with_mode_and_owner()
    {
        var spec = NewSpec();
        spec.Linux!.Devices = [new Device { Type = "c", Path = "/dev/fuse", Major = 10, Minor = 229, FileMode = 0x1B0 /* 0660 */, Uid = 0, Gid = 7 }];
        Prepare(spec);
        Assert.Contains($"mknod {Rootfs}/dev/fuse 0x21b0 {DeviceNumbers.Make(10, 229)}", sys.Calls);
        Assert.Contains($"lchown {Rootfs}/dev/fuse 0 7", sys.Calls);
    }

    [Fact]
    public void Where_mknod_is_denied_devices_are_bind_mounts_of_the_host_nodes()
    {
        sys.DenyMknod = true;
        Prepare(NewSpec());
        Assert.Contains($"mount /dev/null {Rootfs}/dev/null bind Bind -", sys.Calls);
        Assert.Contains($"mount /dev/tty {Rootfs}/dev/tty bind Bind -", sys.Calls);
        Assert.Single(sys.Calls, c => c.StartsWith("mknod", StringComparison.Ordinal)); // tried once, then binds
        Assert.True(File.Exists(Rootfs + "/dev/zero"));
    }

    [Fact]
    public void Dev_symlinks_and_ptmx()
    {
        sys.Files["/proc/kcore"] = "";
        Prepare(NewSpec());
        Assert.Contains($"symlink /proc/self/fd {Rootfs}/dev/fd", sys.Calls);
        Assert.Contains($"symlink /proc/self/fd/0 {Rootfs}/dev/stdin", sys.Calls);
        Assert.Contains($"symlink /proc/self/fd/1 {Rootfs}/dev/stdout", sys.Calls);
        Assert.Contains($"symlink /proc/self/fd/2 {Rootfs}/dev/stderr", sys.Calls);
        Assert.Contains($"symlink /proc/kcore {Rootfs}/dev/core", sys.Calls);
        Assert.Contains($"symlink pts/ptmx {Rootfs}/dev/ptmx", sys.Calls);
        Assert.Equal("pts/ptmx", new FileInfo(Rootfs + "/dev/ptmx").LinkTarget);
    }

    [Fact]
    public void In_a_dev_it_mounted_afresh_each_node_and_link_is_one_call_and_a_taken_name_is_replaced()
    {
        var spec = NewSpec(new Mount { Destination = "/dev", Type = "tmpfs", Source = "tmpfs" });
        spec.Linux!.Devices = [new Device { Type = "c", Path = "/dev/fuse", Major = 10, Minor = 229, Uid = 0, Gid = 7 }];
        File.WriteAllText(Rootfs + "/dev/ptmx", ""); // a taken name: this double's mounts do not hide the image's /dev
        Prepare(spec);
        Assert.Equal([$"mknod {Rootfs}/dev/null 0x21b6 {DeviceNumbers.Make(1, 3)}"], sys.Calls.Where(c => c.Contains("/dev/null")));
        Assert.Equal([$"symlink /proc/self/fd {Rootfs}/dev/fd"], sys.Calls.Where(c => c.EndsWith("/dev/fd", StringComparison.Ordinal)));
        Assert.Equal([$"mknod {Rootfs}/dev/fuse 0x21b6 {DeviceNumbers.Make(10, 229)}", $"lchown {Rootfs}/dev/fuse 0 7"],
            sys.Calls.Where(c => c.Contains("/dev/fuse")));
        Assert.Equal(
            [$"symlink pts/ptmx {Rootfs}/dev/ptmx => errno 17", $"remove {Rootfs}/dev/ptmx", $"symlink pts/ptmx {Rootfs}/dev/ptmx"],
            sys.Calls.Where(c => c.Contains("/dev/ptmx")));
        Assert.Equal("pts/ptmx", new FileInfo(Rootfs + "/dev/ptmx").LinkTarget);
    }

    [Fact]
    public void A_dev_covered_by_a_later_mount_takes_the_general_way()
    {
        File.WriteAllText(Rootfs + "/dev/zero", "");
        Prepare(NewSpec(
            new Mount { Destination = "/dev", Type = "tmpfs", Source = "tmpfs" },
            new Mount { Destination = "/dev/", Type = "tmpfs", Source = "tmpfs", Options = ["tmpcopyup"] }));
        // No mknod tried and refused first: the taken name is found and removed, then the node made.
        Assert.Equal([$"remove {Rootfs}/dev/zero", $"mknod {Rootfs}/dev/zero 0x21b6 {DeviceNumbers.Make(1, 5)}"],
            sys.Calls.Where(c => c.Contains("/dev/zero")));
    }

    [Fact]
    public void No_devices_when_dev_is_a_bind_mount()
    {
        sys.Directories.Add("/dev");
        Prepare(NewSpec(new Mount { Destination = "/dev", Type = "bind", Source = "/dev", Options = ["rbind"] }));
        Assert.DoesNotContain(sys.Calls, c => c.StartsWith("mknod", StringComparison.Ordinal) || c.StartsWith("symlink", StringComparison.Ordinal));
    }

    [Fact]
    public void Hostname_then_hook_then_pivot_root_then_sysctl_readonly_masked_and_readonly_root()
    {
        var spec = NewSpec(new Mount { Destination = "/proc", Type = "proc" });
        spec.Hostname = "box";
        spec.Domainname = "example";
        spec.Root!.Readonly = true;
        spec.Linux!.Sysctl = new() { ["net.ipv4.ip_forward"] = "1" };
        spec.Linux.ReadonlyPaths = ["/proc/sys", "/proc/missing"];
        spec.Linux.MaskedPaths = ["/proc/kcore", "/proc/acpi", "/proc/absent"];
        Directory.CreateDirectory(Rootfs + "/proc/sys");
        Directory.CreateDirectory(Rootfs + "/proc/acpi");
        File.WriteAllText(Rootfs + "/proc/kcore", "");
        Prepare(spec, new RootfsOptions(RunCreateContainerHooks: () => sys.Calls.Add("hooks"), Warn: warnings.Add));

        var tail = sys.Calls.SkipWhile(c => !c.StartsWith("sethostname", StringComparison.Ordinal)).ToList();
        Assert.Equal(
        [
            "sethostname box",
            "setdomainname example",
            "hooks",
            $"chdir {Rootfs}",
            "pivot_root . .",
            "mount - . - Recursive, Slave -",
            "umount2 . Detach",
            "chdir /",
            "write /proc/sys/net/ipv4/ip_forward 1",
            "mount /proc/sys /proc/sys - Bind, Recursive -",
            "mount - /proc/sys - ReadOnly, Remount, Bind -",
            "mount /dev/null /proc/kcore - Bind -",
            "mount tmpfs /proc/acpi tmpfs ReadOnly -",
            "mount - / - ReadOnly, Remount, Bind -",
        ], tail);
    }

    [Fact]
    public void Read_only_dev_is_mounted_writable_and_made_read_only_after_the_root_change()
    {
        Prepare(NewSpec(new Mount { Destination = "/dev", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "ro", "mode=755"] }));
        Assert.Contains($"mount tmpfs {Rootfs}/dev tmpfs NoSuid mode=755", sys.Calls);
        var pivot = sys.Calls.IndexOf("pivot_root . .");
        var nodes = sys.Calls.FindIndex(c => c.StartsWith("mknod", StringComparison.Ordinal));
        var remount = sys.Calls.IndexOf("mount - /dev - ReadOnly, NoSuid, Remount, Bind -");
        Assert.True(nodes < pivot && pivot < remount, string.Join("\n", sys.Calls));
    }

    [Fact]
    public void Tmpcopyup_copies_the_covered_directory_into_the_new_tmpfs()
    {
        Prepare(NewSpec(new Mount { Destination = "/etc", Type = "tmpfs", Source = "tmpfs", Options = ["tmpcopyup", "size=1m"] }));
        var mount = sys.Calls.IndexOf($"mount tmpfs {Rootfs}/etc tmpfs None size=1m");
        Assert.Equal($"copytree {Rootfs}/etc {Rootfs}/etc", sys.Calls[mount + 1]);
        Assert.Equal(3, sys.Pins.Count(p => p == Rootfs + "/etc")); // the covered directory, the mount, the copy
    }

    [Fact]
    public void No_pivot_moves_the_rootfs_onto_slash_and_chroots()
    {
        Prepare(NewSpec(), new RootfsOptions(NoPivot: true, Warn: warnings.Add));
        var start = sys.Calls.IndexOf($"chdir {Rootfs}");
        Assert.Equal([$"chdir {Rootfs}", $"mount {Rootfs} / - Move -", "chroot .", "chdir /"], sys.Calls.Skip(start).Take(4));
        Assert.DoesNotContain(sys.Calls, c => c.StartsWith("pivot_root", StringComparison.Ordinal));
    }

    [Fact]
    public void Remount_refused_in_a_user_namespace_is_retried_with_the_locked_flags()
    {
        Directory.CreateDirectory(bundle.Combine("src"));
        var refused = false;
        sys.FailMount = (_, flags) =>
        {
            if ((flags & MountFlags.Remount) == 0 || refused) return null;
            refused = true;
            return Errno.EPERM;
        };
        sys.CurrentMountFlags = MountFlags.NoSuid | MountFlags.NoDev | MountFlags.RelAtime;
        Prepare(NewSpec(new Mount { Destination = "/m", Type = "bind", Source = bundle.Combine("src"), Options = ["bind", "ro", "dev"] }));
        Assert.Contains($"mount - {Rootfs}/m - ReadOnly, Remount, Bind - => errno 1", sys.Calls);
        // nodev was cleared explicitly ("dev"), so only nosuid and relatime are carried over.
        Assert.Contains($"mount - {Rootfs}/m - ReadOnly, NoSuid, Remount, Bind, RelAtime -", sys.Calls);
    }

    [Fact]
    public void Sysfs_refused_falls_back_to_a_read_only_bind_of_the_hosts()
    {
        sys.FailMount = (target, flags) => target.EndsWith("/sys", StringComparison.Ordinal) && flags.HasFlag(MountFlags.ReadOnly) && !flags.HasFlag(MountFlags.Remount) ? Errno.EPERM : null;
        Prepare(NewSpec(new Mount { Destination = "/sys", Type = "sysfs", Source = "sysfs", Options = ["ro", "nosuid"] }));
        Assert.Contains($"mount /sys {Rootfs}/sys bind Bind, Recursive -", sys.Calls);
        Assert.Contains($"mount - {Rootfs}/sys - ReadOnly, NoSuid, Remount, Bind -", sys.Calls);
    }

    [Fact]
    public void Cgroup_v1_is_a_tmpfs_with_a_bind_per_hierarchy_of_this_container()
    {
        sys.Files["/proc/self/mountinfo"] =
            "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n" +
            "30 22 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n" +
            "31 30 0:27 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw,nsdelegate\n" +
            "32 30 0:28 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw,xattr,name=systemd\n" +
            "35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw shared:14 - cgroup cgroup rw,cpu,cpuacct\n" +
            "36 30 0:32 / /sys/fs/cgroup/memory rw shared:15 - cgroup cgroup rw,memory\n";
        sys.Files["/proc/self/cgroup"] = "4:memory:/berth/c1\n3:cpu,cpuacct:/berth/c1\n1:name=systemd:/user.slice\n0::/\n";
        Prepare(NewSpec(new Mount { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup", Options = ["nosuid", "noexec", "nodev", "relatime", "ro"] }));
        var cg = Rootfs + "/sys/fs/cgroup";
        Assert.Contains($"mount tmpfs {cg} tmpfs NoSuid, NoDev, NoExec mode=755", sys.Calls);
        Assert.Contains($"mount /sys/fs/cgroup/cpu,cpuacct/berth/c1 {cg}/cpu,cpuacct bind Bind, Recursive -", sys.Calls);
        Assert.Contains($"mount - {cg}/cpu,cpuacct - ReadOnly, NoSuid, NoDev, NoExec, Remount, Bind, RelAtime -", sys.Calls);
        Assert.Contains($"mount /sys/fs/cgroup/memory/berth/c1 {cg}/memory bind Bind, Recursive -", sys.Calls);
        Assert.Contains($"mount /sys/fs/cgroup/systemd/user.slice {cg}/systemd bind Bind, Recursive -", sys.Calls);
        Assert.Contains($"symlink cpu,cpuacct {cg}/cpu", sys.Calls);
        Assert.Contains($"symlink cpu,cpuacct {cg}/cpuacct", sys.Calls);
        Assert.DoesNotContain(sys.Calls, c => c.Contains("unified"));
        Assert.Contains($"mount - {cg} - ReadOnly, NoSuid, NoDev, NoExec, Remount, Bind -", sys.Calls);
    }

    [Fact]
    public void Cgroup_v2_mounts_cgroup2()
    {
        sys.Files["/proc/self/mountinfo"] = "30 22 0:26 / /sys/fs/cgroup rw shared:9 - cgroup2 cgroup2 rw\n";
        sys.Files["/proc/self/cgroup"] = "0::/berth/c1\n";
        Prepare(NewSpec(new Mount { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup", Options = ["nosuid", "ro"] }));
        Assert.Contains($"mount cgroup2 {Rootfs}/sys/fs/cgroup cgroup2 ReadOnly, NoSuid -", sys.Calls);
    }

    [Theory]
    [InlineData("kernel.shmmax", "ipc", null)]
    [InlineData("fs.mqueue.msg_max", "ipc", null)]
    [InlineData("net.ipv4.ip_forward", "network", null)]
    [InlineData("kernel.domainname", "uts", null)]
    [InlineData("kernel.shmmax", "network", "needs a new ipc namespace")]
    [InlineData("net.core.somaxconn", "ipc", "needs a new network namespace")]
    [InlineData("vm.swappiness", "ipc", "is not namespaced")]
    [InlineData("kernel.pid_max", "ipc", "is not namespaced")]
    public void Sysctls_are_validated_against_namespaces(string key, string ns, string? error)
    {
        var spec = NewSpec();
        spec.Linux!.Namespaces = [new() { Type = "mount" }, new() { Type = ns }];
        spec.Linux.Sysctl = new() { [key] = "1" };
        if (error is null)
        {
            Prepare(spec);
            Assert.Contains($"write /proc/sys/{key.Replace('.', '/')} 1", sys.Calls);
        }
        else
        {
            var e = Assert.Throws<RootfsException>(() => Prepare(spec));
            Assert.StartsWith("linux.sysctl:", e.Message);
            Assert.Contains(error, e.Message);
            Assert.Empty(sys.Calls);
        }
    }

    [Fact]
    public void Hostname_without_uts_namespace_is_refused()
    {
        var spec = NewSpec();
        spec.Linux!.Namespaces = [new() { Type = "mount" }];
        spec.Hostname = "x";
        Assert.StartsWith("hostname:", Assert.Throws<RootfsException>(() => Prepare(spec)).Message);
    }

    [Fact]
    public void Missing_rootfs_names_root_path()
    {
        var spec = NewSpec();
        spec.Root!.Path = "nope";
        Assert.StartsWith("root.path:", Assert.Throws<RootfsException>(() => Prepare(spec)).Message);
        Assert.Empty(sys.Calls);
    }

    [Fact]
    public void Unknown_rootfs_propagation_is_refused()
    {
        var spec = NewSpec();
        spec.Linux!.RootfsPropagation = "sideways";
        Assert.StartsWith("linux.rootfsPropagation:", Assert.Throws<RootfsException>(() => Prepare(spec)).Message);
    }

    [Fact]
    public void Mount_label_without_selinux_is_a_warning()
    {
        var spec = NewSpec();
        spec.Linux!.MountLabel = "system_u:object_r:container_file_t:s0";
        Prepare(spec);
        Assert.Single(warnings, w => w.StartsWith("linux.mountLabel:", StringComparison.Ordinal));
    }
}
