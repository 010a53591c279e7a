using System.Net;
using System.Net.Sockets;
using Berth.Testing;

namespace Berth.EndToEnd.Tests;

/// <summary>
/// Published ports with --live-restore: berthd is SIGKILLed and started again; the container's TCP and UDP ports
/// answer all along (the kernel keeps the NAT), and afterwards berthd holds the ports again and removes what it made.
/// </summary>
public sealed class NetworkLiveRestoreTests(LiveRestoreDaemon daemon) : IClassFixture<LiveRestoreDaemon>
{
    [RootFact]
    public async Task Published_ports_answer_while_the_daemon_is_killed_and_after_it_restarts()
    {
        await daemon.BusyboxAsync();
        var web = daemon.Tag + "-lrweb";
        var echo = daemon.Tag + "-lrudp";
        using var outside = new TestNamespace(daemon.Tag, 'l');
        try
        {
            await daemon.BerthOkAsync("run", "-d", "--name", web, "-p", "80", "busybox", "sh", "-c",
                "mkdir -p /www && echo 'hello restore' > /www/index.html && exec httpd -f -p 80 -h /www");
            await daemon.BerthOkAsync(["run", "-d", "--name", echo, "-p", "5353/udp", .. NetworkTests.UdpEcho(5353)]);
            var port = await HostPortAsync(web, "80");
            var udpPort = await HostPortAsync(echo, "5353/udp");
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            Assert.Equal("hello restore\n", await NetworkTests.HttpGetAsync(IPAddress.Loopback, port));
            Assert.Equal("echo before", await NetworkTests.UdpAskAsync(udp, new IPEndPoint(IPAddress.Loopback, udpPort), "before"));

            await daemon.KillAsync();
            // No daemon: the kernel's rules still lead to the containers.
            Assert.Equal("hello restore\n", await NetworkTests.HttpGetAsync(IPAddress.Loopback, port));
            Assert.Equal("echo while down", await NetworkTests.UdpAskAsync(udp, new IPEndPoint(IPAddress.Loopback, udpPort), "while down"));

            await daemon.StartAsync();
            Assert.Equal("hello restore\n", await NetworkTests.HttpGetAsync(IPAddress.Loopback, port));
            Assert.Equal("echo after", await NetworkTests.UdpAskAsync(udp, new IPEndPoint(IPAddress.Loopback, udpPort), "after"));
            var fromOutside = await Programs.RunAsync("ip", ["netns", "exec", outside.Name, "busybox", "wget", "-qO-", $"http://{outside.HostAddress}:{port}/"],
                timeout: TimeSpan.FromSeconds(10));
            Assert.True(fromOutside.Code == 0, fromOutside.ToString());
            Assert.Equal("hello restore\n", fromOutside.Out);
            Assert.Equal($"80/tcp -> 0.0.0.0:{port}\n", await daemon.BerthOkAsync("port", web));

            // The restarted daemon holds the port again: nothing else gets it.
            var taken = await daemon.BerthAsync("run", "-d", "--name", web + "2", "-p", $"{port}:80", "busybox", "sleep", "30");
            Assert.NotEqual(0, taken.Code);
            Assert.Contains("port is already allocated", taken.Err);

            // And it still removes what it made.
            await daemon.BerthOkAsync("rm", "-f", web, echo);
            Assert.Equal("", await NetworkTests.EventuallyAsync(() => Run("ip", "-o", "link", "show", "master", daemon.Bridge).Trim(), ""));
            Assert.DoesNotContain(" dport ", Run("nft", "list", "table", "inet", "berth_" + daemon.Bridge));
            var netns = Path.Combine(daemon.ExecRoot, "netns");
            Assert.Empty(Directory.Exists(netns) ? Directory.GetFiles(netns) : []);
        }
        finally
        {
            await daemon.BerthAsync("rm", "-f", web, echo, web + "2");
        }
    }

    /// <summary>The host port `berth port` names for a container port ("0.0.0.0:PORT").</summary>
    private async Task<int> HostPortAsync(string container, string port)
    {
        var binding = (await daemon.BerthOkAsync("port", container, port)).Trim();
        return int.Parse(binding[(binding.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string Run(string file, params string[] args)
    {
        var outcome = Programs.RunAsync(file, args).GetAwaiter().GetResult();
        Assert.True(outcome.Code == 0, $"{file} {string.Join(' ', args)}: {outcome}");
        return outcome.Out;
    }
}
