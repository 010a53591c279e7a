using Berth.Testing;

namespace Berth.Linux.Tests;

/// <summary>The shared test fixture's temporary directory never leaves a mount behind, nor deletes through one.</summary>
public sealed class TempDirTests
{
    [RootFact]
    public void Disposing_detaches_mounts_below_it_before_deleting()
    {
        using var outside = new TempDir();
        var kept = outside.Combine("kept");
        File.WriteAllText(kept, "mine");
        var temp = new TempDir();
        var target = temp.Combine("data");
        Directory.CreateDirectory(target);
        LinuxSyscalls.Instance.Mount(outside.Path, target, null, MountFlags.Bind, null);
        try
        {
            Assert.True(File.Exists(Path.Combine(target, "kept")));
            temp.Dispose();
            Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), line => line.Split(' ')[4] == target);
            Assert.False(Directory.Exists(temp.Path));
            Assert.Equal("mine", File.ReadAllText(kept));
        }
        finally
        {
            try { LinuxSyscalls.Instance.Unmount(target, UnmountFlags.Detach); } catch (SyscallException) { }
        }
    }
}
