using System.Diagnostics;
using System.Text.Json;
using Berth.Engine.Models;
using Berth.Engine.RuntimeSpec;
using RuntimeJsonContext = Berth.Oci.Runtime.RuntimeJsonContext;
using Berth.Testing;

namespace Berth.Engine.Tests.RuntimeSpec;

/// <summary>
/// A spec from <see cref="ContainerSpecBuilder"/> with --init, run by berth-runtime on a busybox rootfs (no libc
/// in it): berth-init is pid 1, reaps orphans, forwards SIGTERM, and the container exits with the command's code.
/// Needs artifacts/bin/berth-runtime and artifacts/bin/berth-init (scripts/build).
/// </summary>
public sealed class InitIntegrationTests
{
    [RootFact]
    public void BerthInit_IsPidOne_ReapsOrphans_ForwardsSigterm_KeepsTheExitCode()
    {
        using var temp = new TempDir();
        var id = "spec-init-" + Guid.NewGuid().ToString("N")[..12];
        var rootfs = temp.Combine("rootfs");
        var containerDirectory = temp.Combine("container");
        Directory.CreateDirectory(containerDirectory);
        BusyboxRootfs.CopyTo(rootfs);
        var bundle = InitBundle.Find(Path.Combine(Repo.Bin, "berth-init")) ?? throw new InvalidOperationException("berth-init is not built (scripts/build)");
        const string script = "sh -c 'sleep 0.1 &'; sleep 0.5; ps -o pid,stat,comm; trap 'echo got-term; exit 3' TERM; kill -TERM 1; sleep 5 & wait";
        var spec = ContainerSpecBuilder.Build(new SpecInputs
        {
            ContainerId = id,
            Request = new ContainerCreateRequest { Cmd = ["sh", "-c", script], HostConfig = new HostConfig { Init = true } },
            RootfsPath = rootfs,
            ContainerDirectory = containerDirectory,
            CgroupParent = "/berth-spec-test",
            Daemon = new DaemonDefaults { InitBinary = bundle },
        });
        File.WriteAllText(temp.Combine("config.json"), JsonSerializer.Serialize(spec, RuntimeJsonContext.Default.Spec));

        var runtime = Path.Combine(Repo.Bin, "berth-runtime");
        try
        {
            var psi = new ProcessStartInfo(runtime) { WorkingDirectory = temp.Path, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "run", "--bundle", temp.Path, id }) psi.ArgumentList.Add(a);
            using var process = Process.Start(psi)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            Assert.True(process.WaitForExit(60_000), "the container did not end");
            var output = stdout.Result;
            Assert.True(process.ExitCode == 3, $"exit {process.ExitCode}; stdout: {output}; stderr: {stderr.Result}");
            Assert.Matches(@"(?m)^\s*1 S\S*\s+docker-init", output); // STAT may carry more flags, e.g. N when the test runs under nice
            Assert.DoesNotMatch(@"(?m)^\s*\d+ Z", output);
            Assert.Contains("got-term", output);
        }
        finally
        {
            using var delete = Process.Start(new ProcessStartInfo(runtime, ["delete", "--force", id]) { RedirectStandardError = true, RedirectStandardOutput = true });
            delete?.WaitForExit(10_000);
            foreach (var hierarchy in Directory.Exists("/sys/fs/cgroup") ? Directory.EnumerateDirectories("/sys/fs/cgroup") : [])
                try { Directory.Delete(Path.Combine(hierarchy, "berth-spec-test")); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
