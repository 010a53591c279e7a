using System.Runtime.InteropServices;

namespace Berth.Oci.Runtime;

/// <summary>
/// The default seccomp profile of Docker (moby's profiles/seccomp): deny with EPERM, allow some 350 ordinary
/// calls, and allow the dangerous ones only to containers holding the capability that governs them. Namespace
/// creation through clone is refused without CAP_SYS_ADMIN (clone3, whose flags live in memory a filter
/// cannot read, answers ENOSYS so libc falls back to clone), and personality is limited to the harmless values.
/// </summary>
public static class DefaultSeccompProfile
{
    private const uint EPERM = 1, ENOSYS = 38, AF_VSOCK = 40;

    /// <summary>CLONE_NEWNS | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWCGROUP.</summary>
    public const ulong CloneNamespaceFlags = 0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x02000000;

    /// <summary>One group of the profile: names with an action, kept or dropped by capability and architecture.</summary>
    private sealed record Group(string[] Names, string Action = "SCMP_ACT_ALLOW", uint? ErrnoRet = null, SeccompArg[]? Args = null,
        string[]? OnlyWithCaps = null, string[]? ExceptWithCaps = null, string[]? OnlyOnArches = null, string[]? ExceptOnArches = null);

    private static SeccompArg Arg(uint index, string op, ulong value, ulong valueTwo = 0)
        => new() { Index = index, Op = op, Value = value, ValueTwo = valueTwo };

    private static readonly string[] Allowed =
    [
        "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset", "chdir",
        "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
        "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
        "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
        "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
        "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
        "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
        "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr",
        "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex",
        "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd",
        "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
        "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
        "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
        "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid",
        "getuid32", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch",
        "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get",
        "ioprio_set", "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset",
        "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr",
        "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise",
        "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod",
        "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify",
        "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink",
        "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
        "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2", "pause",
        "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
        "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease",
        "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
        "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages",
        "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction",
        "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
        "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
        "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
        "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
        "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop", "semtimedop",
        "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid",
        "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer",
        "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32",
        "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt", "set_thread_area",
        "set_tid_address", "setuid", "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown",
        "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice",
        "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
        "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
        "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
        "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64",
        "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes",
        "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
    ];

    private static readonly Group[] Groups =
    [
        new(Allowed),
        // Kernels since 4.8 check ptrace against seccomp properly, so it is safe without CAP_SYS_PTRACE.
        new(["process_vm_readv", "process_vm_writev", "ptrace"]),
        new(["socket"], Args: [Arg(0, "SCMP_CMP_NE", AF_VSOCK)]),
        new(["personality"], Args: [Arg(0, "SCMP_CMP_EQ", 0x0)]),          // PER_LINUX
        new(["personality"], Args: [Arg(0, "SCMP_CMP_EQ", 0x0008)]),       // PER_LINUX32
        new(["personality"], Args: [Arg(0, "SCMP_CMP_EQ", 0x20000)]),      // UNAME26
        new(["personality"], Args: [Arg(0, "SCMP_CMP_EQ", 0x20008)]),      // UNAME26 | PER_LINUX32
        new(["personality"], Args: [Arg(0, "SCMP_CMP_EQ", 0xffffffff)]),   // query
        new(["sync_file_range2", "swapcontext"], OnlyOnArches: ["ppc64le"]),
        new(["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"], OnlyOnArches: ["arm", "arm64"]),
        new(["arch_prctl"], OnlyOnArches: ["amd64", "x32"]),
        new(["modify_ldt"], OnlyOnArches: ["amd64", "x32", "x86"]),
        new(["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"], OnlyOnArches: ["s390", "s390x"]),
        new(["riscv_flush_icache"], OnlyOnArches: ["riscv64"]),
        new(["open_by_handle_at"], OnlyWithCaps: ["CAP_DAC_READ_SEARCH"]),
        new(["bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "listmount",
             "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl",
             "quotactl_fd", "setdomainname", "sethostname", "setns", "statmount", "syslog", "umount", "umount2",
             "unshare"], OnlyWithCaps: ["CAP_SYS_ADMIN"]),
        new(["clone"], Args: [Arg(0, "SCMP_CMP_MASKED_EQ", CloneNamespaceFlags, 0)], ExceptWithCaps: ["CAP_SYS_ADMIN"], ExceptOnArches: ["s390", "s390x"]),
        // s390 passes clone's flags second.
        new(["clone"], Args: [Arg(1, "SCMP_CMP_MASKED_EQ", CloneNamespaceFlags, 0)], ExceptWithCaps: ["CAP_SYS_ADMIN"], OnlyOnArches: ["s390", "s390x"]),
        new(["clone3"], "SCMP_ACT_ERRNO", ENOSYS, ExceptWithCaps: ["CAP_SYS_ADMIN"]),
        new(["reboot"], OnlyWithCaps: ["CAP_SYS_BOOT"]),
        new(["chroot"], OnlyWithCaps: ["CAP_SYS_CHROOT"]),
        new(["delete_module", "init_module", "finit_module"], OnlyWithCaps: ["CAP_SYS_MODULE"]),
        new(["acct"], OnlyWithCaps: ["CAP_SYS_PACCT"]),
        new(["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"], OnlyWithCaps: ["CAP_SYS_PTRACE"]),
        new(["iopl", "ioperm"], OnlyWithCaps: ["CAP_SYS_RAWIO"]),
        new(["settimeofday", "stime", "clock_settime", "clock_settime64"], OnlyWithCaps: ["CAP_SYS_TIME"]),
        new(["vhangup"], OnlyWithCaps: ["CAP_SYS_TTY_CONFIG"]),
        new(["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"], OnlyWithCaps: ["CAP_SYS_NICE"]),
        new(["syslog"], OnlyWithCaps: ["CAP_SYSLOG"]),
        new(["bpf"], OnlyWithCaps: ["CAP_BPF"]),
        new(["perf_event_open"], OnlyWithCaps: ["CAP_PERFMON"]),
    ];

    /// <summary>
    /// The profile for a container with <paramref name="capabilities"/> (its bounding set, "CAP_SYS_ADMIN" or
    /// "SYS_ADMIN") on the host's architecture.
    /// </summary>
    public static Seccomp Create(IReadOnlyCollection<string> capabilities) => Create(capabilities, HostArchitecture);

    /// <summary>The architecture this process runs on, as the spec names it (SCMP_ARCH_X86_64…).</summary>
    public static string HostArchitecture => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => "SCMP_ARCH_X86_64",
        Architecture.Arm64 => "SCMP_ARCH_AARCH64",
        Architecture.X86 => "SCMP_ARCH_X86",
        Architecture.Arm => "SCMP_ARCH_ARM",
        Architecture.RiscV64 => "SCMP_ARCH_RISCV64",
        Architecture.LoongArch64 => "SCMP_ARCH_LOONGARCH64",
        Architecture.S390x => "SCMP_ARCH_S390X",
        Architecture.Ppc64le => "SCMP_ARCH_PPC64LE",
        var other => throw new PlatformNotSupportedException($"seccomp: no SCMP_ARCH_ name for {other}"),
    };

    /// <summary>The profile for a machine whose native architecture is <paramref name="nativeArchitecture"/>.</summary>
    public static Seccomp Create(IReadOnlyCollection<string> capabilities, string nativeArchitecture)
    {
        ArgumentNullException.ThrowIfNull(capabilities);
        var caps = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var cap in capabilities)
            caps.Add(cap.StartsWith("CAP_", StringComparison.OrdinalIgnoreCase) ? cap : "CAP_" + cap);
        (List<string> Architectures, string GoArch) target = nativeArchitecture switch
        {
            "SCMP_ARCH_X86_64" => (["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], "amd64"),
            "SCMP_ARCH_AARCH64" => (["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"], "arm64"),
            "SCMP_ARCH_S390X" => (["SCMP_ARCH_S390X", "SCMP_ARCH_S390"], "s390x"),
            "SCMP_ARCH_RISCV64" => (["SCMP_ARCH_RISCV64"], "riscv64"),
            "SCMP_ARCH_PPC64LE" => (["SCMP_ARCH_PPC64LE"], "ppc64le"),
            "SCMP_ARCH_X86" => (["SCMP_ARCH_X86"], "386"),
            "SCMP_ARCH_ARM" => (["SCMP_ARCH_ARM"], "arm"),
            _ => ([nativeArchitecture], nativeArchitecture),
        };

        var (architectures, goArch) = target;
        var syscalls = new List<SeccompSyscall>(Groups.Length);
        foreach (var group in Groups)
        {
            if (group.OnlyOnArches is { } only && !only.Contains(goArch)) continue;
            if (group.ExceptOnArches is { } except && except.Contains(goArch)) continue;
            if (group.OnlyWithCaps is { } needed && !needed.All(caps.Contains)) continue;
            if (group.ExceptWithCaps is { } excluded && excluded.Any(caps.Contains)) continue;
            syscalls.Add(new SeccompSyscall
            {
                Names = [.. group.Names],
                Action = group.Action,
                ErrnoRet = group.ErrnoRet,
                Args = group.Args is null ? null : [.. group.Args.Select(a => Arg(a.Index, a.Op, a.Value, a.ValueTwo))],
            });
        }
        return new Seccomp
        {
            DefaultAction = "SCMP_ACT_ERRNO",
            DefaultErrnoRet = EPERM,
            Architectures = architectures,
            Syscalls = syscalls,
        };
    }
}
