using Berth.Linux;

namespace Berth.EndToEnd.Tests;

/// <summary>
/// A network namespace of the test's own standing in for another host on the wire: `ip netns add`, joined to the host
/// by a veth pair with a /30 of 10.254.0.0/16 (the host end <see cref="HostAddress"/>). Disposing removes the link and
/// the namespace, whatever the test did.
/// </summary>
public sealed class TestNamespace : IDisposable
{
    private static int counter;
    private readonly string hostVeth;

    public string Name { get; }
    /// <summary>The host's address on the link, which the namespace reaches (the host's published ports answer there).</summary>
    public string HostAddress { get; }
    public string InsideAddress { get; }

    public TestNamespace(string tag, char purpose)
    {
        var n = Interlocked.Increment(ref counter);
        Name = $"bn{tag[3..11]}{purpose}{n % 10}";
        hostVeth = $"vn{tag[3..11]}{purpose}{n % 10}";
        // /30s from .4 on: the one at .0 is NetworkTests' older namespace.
        var third = 1 + (Environment.ProcessId + tag[4] * 31 + n * 7) % 250;
        var fourth = 4 * (1 + n % 60);
        HostAddress = $"10.254.{third}.{fourth + 1}";
        InsideAddress = $"10.254.{third}.{fourth + 2}";
        try
        {
            Run("ip", "netns", "add", Name);
            Run("ip", "link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", Name);
            Run("ip", "addr", "add", HostAddress + "/30", "dev", hostVeth);
            Run("ip", "link", "set", hostVeth, "up");
            Run("ip", "-n", Name, "addr", "add", InsideAddress + "/30", "dev", "eth0");
            Run("ip", "-n", Name, "link", "set", "eth0", "up");
            Run("ip", "-n", Name, "link", "set", "lo", "up");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Runs <paramref name="open"/> inside the namespace (e.g. a socket, which keeps the namespace it was opened in).</summary>
    public T Open<T>(Func<T> open) => NetworkNamespace.Run(LinuxSyscalls.Instance, "/run/netns/" + Name, open);

    public void Dispose()
    {
        TryRun("ip", "link", "delete", hostVeth);
        TryRun("ip", "netns", "delete", Name);
    }

    private static void Run(string file, params string[] args)
    {
        var outcome = Programs.RunAsync(file, args).GetAwaiter().GetResult();
        if (outcome.Code != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)}: {outcome}");
    }

    private static void TryRun(string file, params string[] args)
    {
        try { Programs.RunAsync(file, args).GetAwaiter().GetResult(); }
        catch (TimeoutException) { }
    }
}
