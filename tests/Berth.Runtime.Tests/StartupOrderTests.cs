using System.Diagnostics;
using Berth.Testing;

namespace Berth.Runtime.Tests;

/// <summary>berth-runtime is laid out by src/berth-runtime/startup.order (scripts/profile-runtime-startup writes it).
/// The compiler skips names it no longer has, silently: this says when the file has gone stale.</summary>
public class StartupOrderTests
{
    [Fact]
    public void The_startup_order_names_methods_the_published_runtime_has()
    {
        var order = File.ReadAllLines(Path.Combine(Repo.Root, "src", "berth-runtime", "startup.order"));
        Assert.True(order.Length > 500, $"startup.order has {order.Length} names; a lifecycle runs over a thousand methods");
        var symbolFile = Path.Combine(Repo.Root, "src", "berth-runtime", "bin", "Release", "net10.0", "linux-x64", "native", "berth-runtime.dbg");
        Assert.True(File.Exists(symbolFile), $"{symbolFile} is missing: publish berth-runtime first (scripts/build)");
        var defined = DefinedFunctions(symbolFile);
        var missing = order.Where(name => !defined.Contains(name)).ToList();
        Assert.True(missing.Count * 10 <= order.Length,
            $"{missing.Count} of the {order.Length} methods in startup.order are no longer in berth-runtime (such as {missing.FirstOrDefault()}): " +
            "run scripts/profile-runtime-startup");
    }

    private static HashSet<string> DefinedFunctions(string elf)
    {
        using var nm = Process.Start(new ProcessStartInfo("nm", ["--defined-only", elf]) { RedirectStandardOutput = true })!;
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (nm.StandardOutput.ReadLine() is { } line)
        {
            var parts = line.Split(' ', 3);
            if (parts.Length == 3 && parts[1] is "T" or "t") names.Add(parts[2]);
        }
        nm.WaitForExit();
        Assert.Equal(0, nm.ExitCode);
        return names;
    }
}
