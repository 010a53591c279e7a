using System.Runtime.InteropServices;
using Berth.Linux;
using Berth.Oci.Runtime;
using Berth.Runtime.Seccomp;
using Berth.Testing;

namespace Berth.Runtime.Tests;

/// <summary>
/// The real kernel's verdicts. A filter without TSYNC binds only the thread that loads it, so each test loads
/// its filter on a thread of its own that ends right after: the test host's other threads stay unfiltered.
/// </summary>
public sealed partial class SeccompKernelTests
{
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mkdir(string path, uint mode);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getpid();

    [LibraryImport("libc", SetLastError = true)]
    private static partial int personality(nuint persona);

    private static T OnFilteredThread<T>(SockFilter[] program, IEnumerable<string>? flags, Func<T> body)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                SeccompFilter.Load(LinuxSyscalls.Instance, program, flags);
                result = body();
            }
            catch (Exception e) { failure = e; }
        });
        thread.Start();
        thread.Join();
        if (failure is not null) throw new InvalidOperationException("on the filtered thread: " + failure.Message, failure);
        return result;
    }

    private static int MkdirErrno(string path) => mkdir(path, 0x1ed) == 0 ? 0 : Marshal.GetLastPInvokeError();

    [RootFact]
    public void DeniedSyscall_ReturnsTheConfiguredErrno_OnlyOnTheFilteredThread()
    {
        using var dir = new TempDir();
        var spec = SeccompFilterTests.Spec("SCMP_ACT_ALLOW", SeccompFilterTests.Rule("SCMP_ACT_ERRNO", ["mkdir", "mkdirat"], errnoRet: 28));
        var program = SeccompFilter.Compile(spec);

        var errno = OnFilteredThread(program, null, () => MkdirErrno(dir.Combine("denied")));

        Assert.Equal(28, errno); // ENOSPC, as configured
        Assert.False(Directory.Exists(dir.Combine("denied")));
        Assert.Equal(0, MkdirErrno(dir.Combine("allowed"))); // this thread has no filter
    }

    [RootFact]
    public void ArgumentConditions_AreSeenByTheKernel()
    {
        using var dir = new TempDir();
        // Deny mkdir only for mode 0700 (arg 1 of mkdir, arg 2 of mkdirat), with a 64-bit comparison.
        var spec = SeccompFilterTests.Spec("SCMP_ACT_ALLOW",
            SeccompFilterTests.Rule("SCMP_ACT_ERRNO", ["mkdir"], 13, SeccompFilterTests.Arg(1, "SCMP_CMP_EQ", 0x1c0)),
            SeccompFilterTests.Rule("SCMP_ACT_ERRNO", ["mkdirat"], 13, SeccompFilterTests.Arg(2, "SCMP_CMP_EQ", 0x1c0)));
        var program = SeccompFilter.Compile(spec);

        var (private0700, public0755) = OnFilteredThread(program, ["SECCOMP_FILTER_FLAG_LOG"], () =>
            (mkdir(dir.Combine("a"), 0x1c0) == 0 ? 0 : Marshal.GetLastPInvokeError(), MkdirErrno(dir.Combine("b"))));

        Assert.Equal(13, private0700);
        Assert.Equal(0, public0755);
    }

    [RootFact]
    public void KernelAccepts_LongPrograms_AndTheDefaultProfile()
    {
        var names = new[] { "read", "write", "getpid", "mkdir", "mkdirat", "futex", "clock_gettime" };
        var rules = Enumerable.Range(0, 150)
            .Select(i => SeccompFilterTests.Rule("SCMP_ACT_ERRNO", [names[i % names.Length]], 99, SeccompFilterTests.Arg((uint)(i % 6), "SCMP_CMP_EQ", 0xdead_0000_0000UL + (ulong)i)))
            .ToArray();
        var program = SeccompFilter.Compile(SeccompFilterTests.Spec("SCMP_ACT_ALLOW", rules));
        Assert.True(program.Length > 600);
        Assert.True(OnFilteredThread(program, null, () => getpid()) > 0);
    }

    [RootFact]
    public void DefaultProfile_AllowsOrdinaryWork_AndRefusesPersonalityChanges()
    {
        var program = SeccompFilter.Compile(DefaultSeccompProfile.Create(SeccompDefaultProfileTests.DockerCaps));
        var (pid, query, change) = OnFilteredThread(program, null, () =>
        {
            var pid = getpid();
            var query = personality(0xffffffff);
            var change = personality(0x0040000) == -1 ? Marshal.GetLastPInvokeError() : 0; // ADDR_NO_RANDOMIZE
            return (pid, query, change);
        });
        Assert.Equal(Environment.ProcessId, pid);
        Assert.True(query >= 0);
        Assert.Equal(1, change); // EPERM
    }

    [RootFact]
    public void PrctlPath_InstallsTheSameProgram()
    {
        using var dir = new TempDir();
        var program = SeccompFilter.Compile(SeccompFilterTests.Spec("SCMP_ACT_ALLOW", SeccompFilterTests.Rule("SCMP_ACT_ERRNO", ["mkdir", "mkdirat"], errnoRet: 30)));
        int errno = 0;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                LinuxSyscalls.Instance.PrctlSetSeccompFilter(program);
                errno = MkdirErrno(dir.Combine("denied"));
            }
            catch (Exception e) { failure = e; }
        });
        thread.Start();
        thread.Join();
        Assert.Null(failure);
        Assert.Equal(30, errno); // EROFS, as configured
    }
}
