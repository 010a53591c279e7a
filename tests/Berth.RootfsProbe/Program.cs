using System.Runtime.InteropServices;
using System.Text.Json;
using Berth.Linux;
using Berth.Oci.Runtime;
using Berth.Runtime.Credentials;
using Berth.Runtime.Rootfs;

// usage: Berth.RootfsProbe BUNDLE [--no-pivot]
// Everything this process will need after the root changes is touched first: once pivot_root has run,
// the .NET runtime can no longer load assemblies from the host's file system.
var stderr = Console.Error;
var bundle = Path.GetFullPath(args[0]);
var spec = JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(bundle, "config.json")), RuntimeJsonContext.Default.Spec)
           ?? throw new InvalidOperationException("config.json is null");
var sys = LinuxSyscalls.Instance;
try
{
    RootfsSetup.Prepare(spec, bundle, sys, new RootfsOptions(NoPivot: args.Contains("--no-pivot"),
        RunCreateContainerHooks: () => stderr.WriteLine("probe: createContainer hooks"),
        Warn: message => stderr.WriteLine("probe: warning: " + message)));
    ProcessSetup.Finalize(spec, sys, null, message => stderr.WriteLine("probe: warning: " + message));
    var executable = ProcessSetup.ResolveExecutable(spec.Process!);
    string?[] argv = [.. spec.Process!.Args!, null];
    string?[] envp = [.. spec.Process.Env ?? [], null];
    Exec.execve(executable, argv, envp);
    stderr.WriteLine($"probe: execve {executable}: {Errno.Describe(Marshal.GetLastPInvokeError())}");
    return 127;
}
catch (Exception e) when (e is RootfsException or CredentialsException or SyscallException)
{
    stderr.WriteLine("probe: " + e.Message);
    return 1;
}

internal static class Exec
{
    [DllImport("libc", SetLastError = true)]
    public static extern int execve(string path, string?[] argv, string?[] envp);
}
