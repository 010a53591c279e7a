using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Berth.Testing;

namespace Berth.EndToEnd.Tests;

/// <summary>
/// Networking through berthd with the real docker CLI and the berth CLI: user networks with the embedded DNS, isolation
/// between networks, published ports from the host's loopback, from a namespace standing in for another host, and
/// from the container itself (hairpin); nothing of it left afterwards. Traffic goes only to loopback and to this
/// daemon's containers and the test's own namespaces.
/// </summary>
public sealed class NetworkTests(BerthDaemon daemon) : IClassFixture<BerthDaemon>
{
    private string Name(string what) => $"{daemon.Tag}-{what}";

    /// <summary>busybox httpd serving "hello NAME" on port 80.</summary>
    private static string[] Httpd(string text) => ["sh", "-c", $"mkdir -p /www && echo '{text}' > /www/index.html && exec httpd -f -p 80 -h /www"];

    /// <summary>
    /// `docker run` of a short command, its output read back from the container's log: an attached run of a command
    /// that ends at once sometimes loses its output (the engine's attach race, engine-core), the log never does.
    /// </summary>
    internal static async Task<Outcome> RunLoggedAsync(BerthDaemon daemon, params string[] args)
    {
        var id = (await daemon.DockerOkAsync(["run", "-d", .. args])).Trim();
        try
        {
            var code = int.Parse((await daemon.DockerOkAsync("wait", id)).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            var logs = await daemon.DockerAsync("logs", id);
            return new Outcome(code, logs.Out, logs.Err);
        }
        finally { await daemon.DockerAsync("rm", "-f", id); }
    }

    private async Task<string> RunOkAsync(params string[] args)
    {
        var outcome = await RunLoggedAsync(daemon, args);
        Assert.True(outcome.Code == 0, $"docker run {string.Join(' ', args)}: {outcome}");
        return outcome.Out;
    }

    private async Task<JsonElement> InspectAsync(string name)
        => JsonDocument.Parse(await daemon.DockerOkAsync("inspect", name)).RootElement[0];

    /// <summary>GET from a new container on <paramref name="network"/>. Busybox 1.35's wget crashes with -T, so the bound is
    /// busybox timeout, under sh because a pid 1 ignores the signal.</summary>
    private async Task<string> WgetAsync(string network, string url)
    {
        var outcome = await RunLoggedAsync(daemon, "--network", network, "busybox", "sh", "-c", Wget(url));
        return outcome.Code == 0 ? outcome.Out : $"failed: {outcome}";
    }

    private static string Wget(string url) => $"timeout 3 wget -qO- {url} || exit 1"; // "|| exit": else sh execs timeout as pid 1

    [RootFact]
    public async Task Containers_on_a_user_network_reach_each_other_by_name_and_alias_but_not_across_networks()
    {
        await daemon.BusyboxAsync();
        var net = Name("front");
        var other = Name("back");
        var web = Name("web");
        try
        {
            var id = (await daemon.DockerOkAsync("network", "create", net)).Trim();
            Assert.Matches("^[0-9a-f]{64}$", id);
            await daemon.DockerOkAsync("network", "create", other);
            Assert.Contains(net, await daemon.DockerOkAsync("network", "ls", "--format", "{{.Name}} {{.Driver}}"));
            await daemon.DockerOkAsync(["run", "-d", "--name", web, "--network", net, "--network-alias", "site", "busybox", .. Httpd("hello web")]);

            var inspect = await InspectAsync(web);
            var endpoint = inspect.GetProperty("NetworkSettings").GetProperty("Networks").GetProperty(net);
            var ip = endpoint.GetProperty("IPAddress").GetString()!;
            Assert.Matches(@"^\d+\.\d+\.\d+\.\d+$", ip);
            Assert.Equal(id, endpoint.GetProperty("NetworkID").GetString());
            Assert.Contains("site", endpoint.GetProperty("Aliases").EnumerateArray().Select(a => a.GetString()));
            Assert.Matches("^02:42:", endpoint.GetProperty("MacAddress").GetString());

            // By name and by alias through the embedded DNS; resolv.conf names it as Docker's does.
            Assert.Equal("hello web\n", await WgetAsync(net, $"http://{web}/"));
            Assert.Equal("hello web\n", await WgetAsync(net, "http://site/"));
            Assert.Contains("nameserver 127.0.0.11", await RunOkAsync("--network", net, "busybox", "cat", "/etc/resolv.conf"));
            var networkInspect = JsonDocument.Parse(await daemon.DockerOkAsync("network", "inspect", net)).RootElement[0];
            Assert.Equal(web, networkInspect.GetProperty("Containers").GetProperty(inspect.GetProperty("Id").GetString()!).GetProperty("Name").GetString());

            // From another network the address does not answer. (Names unknown there are forwarded to the host's
            // resolvers by the embedded DNS: not asked here, so no query leaves the machine.)
            Assert.StartsWith("failed", await WgetAsync(other, $"http://{ip}/"));

            // connect: now it answers on the other network too; disconnect undoes it.
            await daemon.DockerOkAsync("network", "connect", other, web);
            Assert.Equal("hello web\n", await WgetAsync(other, $"http://{web}/"));
            Assert.True((await InspectAsync(web)).GetProperty("NetworkSettings").GetProperty("Networks").TryGetProperty(other, out _));
            var otherIp = (await InspectAsync(web)).GetProperty("NetworkSettings").GetProperty("Networks").GetProperty(other).GetProperty("IPAddress").GetString();
            await daemon.DockerOkAsync("network", "disconnect", other, web);
            Assert.StartsWith("failed", await WgetAsync(other, $"http://{otherIp}/"));
            Assert.False((await InspectAsync(web)).GetProperty("NetworkSettings").GetProperty("Networks").TryGetProperty(other, out _));

            // A network with a container cannot go.
            var refused = await daemon.DockerAsync("network", "rm", net);
            Assert.NotEqual(0, refused.Code);
            Assert.Contains("has active endpoints", refused.Err);
        }
        finally
        {
            await daemon.DockerAsync("rm", "-f", web);
            await daemon.DockerAsync("network", "rm", net, other);
        }
        Assert.DoesNotContain(net, await daemon.DockerOkAsync("network", "ls", "--format", "{{.Name}}"));
        await AssertNothingDanglesAsync();
    }

    [RootFact]
    public async Task Published_port_answers_on_loopback_from_another_namespace_and_from_the_container_itself()
    {
        await daemon.BusyboxAsync();
        var web = Name("pub");
        var outside = Name("out")[..Math.Min(15, Name("out").Length)];
        var hostVeth = "vh" + daemon.Tag[3..11];
        var octet = 1 + (Environment.ProcessId + daemon.Tag[3]) % 250;
        var hostSide = $"10.254.{octet}.1";
        try
        {
            await daemon.BerthOkAsync(["run", "-d", "--name", web, "-p", "80", "busybox", .. Httpd("hello port")]);
            var inspect = await InspectAsync(web);
            var settings = inspect.GetProperty("NetworkSettings");
            var port = int.Parse(settings.GetProperty("Ports").GetProperty("80/tcp")[0].GetProperty("HostPort").GetString()!);
            var gateway = settings.GetProperty("Gateway").GetString()!;
            Assert.Equal(daemon.Bip.Split('/')[0], gateway);
            Assert.False(string.IsNullOrEmpty(settings.GetProperty("IPAddress").GetString()));
            Assert.Contains($"0.0.0.0:{port}->80/tcp", await daemon.DockerOkAsync("ps", "--filter", "name=" + web, "--format", "{{.Ports}}"));
            Assert.Equal($"80/tcp -> 0.0.0.0:{port}\n", await daemon.DockerOkAsync("port", web));

            // The host's loopback.
            Assert.Equal("hello port\n", await HttpGetAsync(IPAddress.Loopback, port));

            // A namespace of the test's own, joined to the host by a veth pair: another host on the wire.
            Run("ip", "netns", "add", outside);
            Run("ip", "link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", outside);
            Run("ip", "addr", "add", hostSide + "/30", "dev", hostVeth);
            Run("ip", "link", "set", hostVeth, "up");
            Run("ip", "-n", outside, "addr", "add", $"10.254.{octet}.2/30", "dev", "eth0");
            Run("ip", "-n", outside, "link", "set", "eth0", "up");
            Run("ip", "-n", outside, "link", "set", "lo", "up");
            var fromOutside = await Programs.RunAsync("ip", ["netns", "exec", outside, "busybox", "wget", "-qO-", $"http://{hostSide}:{port}/"], timeout: TimeSpan.FromSeconds(10));
            Assert.True(fromOutside.Code == 0, fromOutside.ToString());
            Assert.Equal("hello port\n", fromOutside.Out);

            // Hairpin: from the container's own namespace to its published port through the host's address.
            Assert.Equal("hello port\n", await RunOkAsync("--network", "container:" + web, "busybox", "sh", "-c", Wget($"http://{gateway}:{port}/")));
            // And a neighbour on the default bridge through the host's other address.
            Assert.Equal("hello port\n", await RunOkAsync("busybox", "sh", "-c", Wget($"http://{hostSide}:{port}/")));

            // A second container cannot take the same host port: a clear error, nothing left of it running.
            var taken = await daemon.DockerAsync("run", "-d", "--name", web + "2", "-p", $"{port}:80", "busybox", "sleep", "30");
            Assert.NotEqual(0, taken.Code);
            Assert.Contains("port is already allocated", taken.Err);
            Assert.Equal("", (await daemon.DockerOkAsync("ps", "-q", "--filter", "name=" + web + "2")).Trim());
        }
        finally
        {
            await daemon.DockerAsync("rm", "-f", web, web + "2");
            TryRun("ip", "link", "delete", hostVeth);
            TryRun("ip", "netns", "delete", outside);
        }
        await AssertNothingDanglesAsync();
    }

    [RootFact]
    public async Task Udp_port_answers_on_loopback_and_from_another_namespace()
    {
        await daemon.BusyboxAsync();
        var echo = Name("udp");
        using var outside = new TestNamespace(daemon.Tag, 'u');
        var port = FreePort(SocketType.Dgram, ProtocolType.Udp);
        try
        {
            await daemon.DockerOkAsync(["run", "-d", "--name", echo, "-p", $"{port}:5353/udp", .. UdpEcho(5353)]);
            var inspect = await InspectAsync(echo);
            Assert.Equal(port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                inspect.GetProperty("NetworkSettings").GetProperty("Ports").GetProperty("5353/udp")[0].GetProperty("HostPort").GetString());
            Assert.Equal($"5353/udp -> 0.0.0.0:{port}\n", await daemon.DockerOkAsync("port", echo));

            // From the host's loopback.
            using (var local = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
                Assert.Equal("echo from loopback", await UdpAskAsync(local, new IPEndPoint(IPAddress.Loopback, port), "from loopback"));

            // From a namespace standing in for another host: the socket is opened inside it and used from here.
            using (var remote = outside.Open(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp)))
                Assert.Equal("echo from outside", await UdpAskAsync(remote, new IPEndPoint(IPAddress.Parse(outside.HostAddress), port), "from outside"));

            // The UDP port is held: a second container cannot take it, a TCP port of the same number can be published.
            var taken = await daemon.DockerAsync("run", "-d", "--name", echo + "2", "-p", $"{port}:5353/udp", "busybox", "sleep", "30");
            Assert.NotEqual(0, taken.Code);
            Assert.Contains("port is already allocated", taken.Err);
        }
        finally
        {
            await daemon.DockerAsync("rm", "-f", echo, echo + "2");
        }
        await AssertNothingDanglesAsync();
    }

    [RootFact]
    public async Task Publish_all_maps_the_image_s_exposed_ports_to_ephemeral_host_ports()
    {
        await daemon.BusyboxAsync();
        var builder = Name("exposer");
        var image = Name("exposed").ToLowerInvariant() + ":latest";
        var web = Name("all");
        var zero = Name("zero");
        try
        {
            await daemon.DockerOkAsync("create", "--name", builder, "busybox", "true");
            await daemon.DockerOkAsync("commit", "--change", "EXPOSE 80", "--change", "EXPOSE 5353/udp", builder, image);
            await daemon.DockerOkAsync(["run", "-d", "--name", web, "-P", image, .. Httpd("hello all")]);
            var ports = (await InspectAsync(web)).GetProperty("NetworkSettings").GetProperty("Ports");
            var tcp = int.Parse(ports.GetProperty("80/tcp")[0].GetProperty("HostPort").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            var udp = int.Parse(ports.GetProperty("5353/udp")[0].GetProperty("HostPort").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(tcp, 1024, 65535);
            Assert.InRange(udp, 1024, 65535);
            Assert.Equal($"0.0.0.0:{tcp}\n", await daemon.DockerOkAsync("port", web, "80"));
            Assert.Equal($"0.0.0.0:{udp}\n", await daemon.DockerOkAsync("port", web, "5353/udp"));
            Assert.Equal("hello all\n", await HttpGetAsync(IPAddress.Loopback, tcp));
            var summary = await daemon.DockerOkAsync("ps", "--filter", "name=" + web, "--format", "{{.Ports}}");
            Assert.Contains($"0.0.0.0:{tcp}->80/tcp", summary);
            Assert.Contains($"0.0.0.0:{udp}->5353/udp", summary);

            // -p 0:80 is an ephemeral host port too, as -p 80 is.
            await daemon.DockerOkAsync(["run", "-d", "--name", zero, "-p", "127.0.0.1:0:80", "busybox", .. Httpd("hello zero")]);
            var binding = (await InspectAsync(zero)).GetProperty("NetworkSettings").GetProperty("Ports").GetProperty("80/tcp")[0];
            Assert.Equal("127.0.0.1", binding.GetProperty("HostIp").GetString());
            var zeroPort = int.Parse(binding.GetProperty("HostPort").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            Assert.NotEqual(0, zeroPort);
            Assert.Equal("hello zero\n", await HttpGetAsync(IPAddress.Loopback, zeroPort));
        }
        finally
        {
            await daemon.DockerAsync("rm", "-f", web, zero, builder);
            await daemon.DockerAsync("rmi", "-f", image);
        }
        await AssertNothingDanglesAsync();
    }

    [RootFact]
    public async Task Berth_run_takes_a_fixed_address_and_network_aliases()
    {
        await daemon.BusyboxAsync();
        var net = Name("alias");
        var web = Name("aliased");
        try
        {
            await daemon.BerthOkAsync("network", "create", net);
            var subnet = (await daemon.DockerOkAsync("network", "inspect", "--format", "{{(index .IPAM.Config 0).Subnet}}", net)).Trim();
            var prefix = subnet[..subnet.LastIndexOf('.')];
            var wanted = prefix + ".66";
            await daemon.BerthOkAsync(["run", "-d", "--name", web, "--network", net, "--ip", wanted, "--network-alias", "first", "--network-alias", "second",
                "--mac-address", "02:42:be:e7:00:01", "busybox", .. Httpd("hello alias")]);
            var endpoint = (await InspectAsync(web)).GetProperty("NetworkSettings").GetProperty("Networks").GetProperty(net);
            Assert.Equal(wanted, endpoint.GetProperty("IPAddress").GetString());
            Assert.Equal("02:42:be:e7:00:01", endpoint.GetProperty("MacAddress").GetString());
            Assert.Equal("hello alias\n", await WgetAsync(net, "http://first/"));
            Assert.Equal("hello alias\n", await WgetAsync(net, "http://second/"));

            // On the default bridge an alias is refused, as by Docker.
            var refused = await daemon.BerthAsync("run", "-d", "--network-alias", "nope", "busybox", "true");
            Assert.NotEqual(0, refused.Code);
            Assert.Contains("network-scoped alias is supported only for containers in user defined networks", refused.Err);
        }
        finally
        {
            await daemon.DockerAsync("rm", "-f", web);
            await daemon.DockerAsync("network", "rm", net);
        }
        await AssertNothingDanglesAsync();
    }

    [RootFact]
    public async Task Network_modes_none_host_and_container_and_the_files_docker_writes()
    {
        await daemon.BusyboxAsync();
        var first = Name("first");
        try
        {
            var none = await RunOkAsync("--network", "none", "busybox", "ip", "-o", "link");
            Assert.Equal(["lo"], none.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(':')[1].Trim()).ToArray());

            var hostLinks = await RunOkAsync("--network", "host", "busybox", "ip", "-o", "link");
            Assert.Contains(daemon.Bridge, hostLinks);

            await daemon.DockerOkAsync("run", "-d", "--name", first, "--add-host", "db.example:10.9.8.7", "--dns", "10.1.2.3", "--hostname", "box", "busybox", "sleep", "300");
            var inspect = await InspectAsync(first);
            var ip = inspect.GetProperty("NetworkSettings").GetProperty("IPAddress").GetString()!;
            // The files as the container sees them (bind-mounted from these paths).
            var hosts = File.ReadAllText(inspect.GetProperty("HostsPath").GetString()!);
            Assert.StartsWith("127.0.0.1\tlocalhost\n", hosts);
            Assert.Contains("10.9.8.7\tdb.example\n", hosts);
            Assert.Contains($"{ip}\tbox\n", hosts);
            Assert.Equal("box\n", File.ReadAllText(inspect.GetProperty("HostnamePath").GetString()!));
            Assert.Contains("nameserver 10.1.2.3\n", File.ReadAllText(inspect.GetProperty("ResolvConfPath").GetString()!));
            var seen = await RunOkAsync("--add-host", "db.example:10.9.8.7", "busybox", "sh", "-c", "cat /etc/hosts; ip route");
            Assert.Contains("10.9.8.7\tdb.example\n", seen);
            Assert.Contains($"default via {daemon.Bip.Split('/')[0]} dev eth0", seen);

            // container:X shares X's namespace: the same address.
            var shared = await RunOkAsync("--network", "container:" + first, "busybox", "ip", "-o", "-4", "addr", "show", "eth0");
            Assert.Contains($"inet {ip}/", shared);
        }
        finally
        {
            await daemon.DockerAsync("rm", "-f", first);
        }
        await AssertNothingDanglesAsync();
    }

    [RootFact]
    public async Task Fixed_address_on_a_user_network_and_connecting_a_stopped_container()
    {
        await daemon.BusyboxAsync();
        var net = Name("fixed");
        var box = Name("fixedbox");
        try
        {
            await daemon.DockerOkAsync("network", "create", net);
            var subnet = (await daemon.DockerOkAsync("network", "inspect", "--format", "{{(index .IPAM.Config 0).Subnet}}", net)).Trim();
            var prefix = subnet[..subnet.LastIndexOf('.')];
            var wanted = prefix.EndsWith(".0", StringComparison.Ordinal) ? prefix[..^2] + ".0.77" : prefix + ".77";
            await daemon.DockerOkAsync("create", "--name", box, "busybox", "sleep", "300");
            await daemon.DockerOkAsync("network", "connect", "--ip", wanted, "--alias", "fixed", net, box);
            var networks = (await InspectAsync(box)).GetProperty("NetworkSettings").GetProperty("Networks");
            Assert.True(networks.TryGetProperty(net, out _), networks.ToString());
            await daemon.DockerOkAsync("start", box);
            var addresses = await RunOkAsync("--network", "container:" + box, "busybox", "ip", "-o", "-4", "addr");
            Assert.Contains($"inet {wanted}/", addresses);
            Assert.Contains("eth1", addresses);
            Assert.Equal(wanted, (await InspectAsync(box)).GetProperty("NetworkSettings").GetProperty("Networks").GetProperty(net).GetProperty("IPAddress").GetString());
        }
        finally
        {
            await daemon.DockerAsync("rm", "-f", box);
            await daemon.DockerAsync("network", "rm", net);
        }
        await AssertNothingDanglesAsync();
    }

    [RootFact]
    public async Task IPv6_network_with_a_ULA_subnet()
    {
        if (!File.Exists("/proc/net/if_inet6")) return; // the kernel has no IPv6: nothing to show
        await daemon.BusyboxAsync();
        var net = Name("six");
        var a = Name("six-a");
        var subnet = $"fd00:be:{Environment.ProcessId % 0xffff:x}:{Random.Shared.Next(0xffff):x}::/64";
        try
        {
            await daemon.DockerOkAsync("network", "create", "--ipv6", "--subnet", subnet, net);
            await daemon.DockerOkAsync(["run", "-d", "--name", a, "--network", net, "busybox", .. Httpd("hello six")]);
            var v6 = (await InspectAsync(a)).GetProperty("NetworkSettings").GetProperty("Networks").GetProperty(net).GetProperty("GlobalIPv6Address").GetString()!;
            Assert.StartsWith(subnet[..subnet.IndexOf("::", StringComparison.Ordinal)], v6);
            var outcome = await RunLoggedAsync(daemon, "--network", net, "busybox", "sh", "-c", Wget($"http://[{v6}]/"));
            Assert.True(outcome.Code == 0, outcome.ToString());
            Assert.Equal("hello six\n", outcome.Out);
        }
        finally
        {
            await daemon.DockerAsync("rm", "-f", a);
            await daemon.DockerAsync("network", "rm", net);
        }
        await AssertNothingDanglesAsync();
    }

    [RootFact]
    public async Task Berth_network_and_volume_commands()
    {
        var net = Name("cli");
        var volume = Name("clivol");
        try
        {
            var id = (await daemon.BerthOkAsync("network", "create", "--label", "suite=e2e", net)).Trim();
            Assert.Matches("^[0-9a-f]{64}$", id);
            Assert.Matches($@"(?m)^{id[..12]} +{net} +bridge +local$", await daemon.BerthOkAsync("network", "ls"));
            Assert.Equal($"{net} bridge e2e\n", await daemon.BerthOkAsync("network", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Labels.suite}}", net));
            Assert.Equal(volume + "\n", await daemon.BerthOkAsync("volume", "create", volume));
            Assert.Contains(volume + "\n", await daemon.BerthOkAsync("volume", "ls", "-q"));
            Assert.Equal(Path.Combine(daemon.DataRoot, "volumes", volume, "_data") + "\n", await daemon.BerthOkAsync("volume", "inspect", "-f", "{{.Mountpoint}}", volume));
            Assert.Equal(net + "\n", await daemon.BerthOkAsync("network", "rm", net));
            Assert.Equal(volume + "\n", await daemon.BerthOkAsync("volume", "rm", volume));
            var missing = await daemon.BerthAsync("network", "rm", net);
            Assert.Equal(1, missing.Code);
            Assert.Contains($"network {net} not found", missing.Err);
        }
        finally
        {
            await daemon.BerthAsync("network", "rm", net);
            await daemon.BerthAsync("volume", "rm", "-f", volume);
        }
    }

    /// <summary>No namespace pinned for a container, no veth on this daemon's bridges, no DNAT rule — with no containers left.</summary>
    private async Task AssertNothingDanglesAsync()
    {
        if ((await daemon.DockerOkAsync("ps", "-aq")).Trim().Length > 0) return; // another test of the class still runs containers
        var netns = Path.Combine(daemon.ExecRoot, "netns");
        Assert.Empty(Directory.Exists(netns) ? Directory.GetFiles(netns) : []);
        // A stopped container's veth is deleted in the background (the kernel's grace period is not on its stop path).
        Assert.Equal("", await EventuallyAsync(() => Run("ip", "-o", "link", "show", "master", daemon.Bridge).Trim(), ""));
        var table = Run("nft", "list", "table", "inet", "berth_" + daemon.Bridge);
        Assert.DoesNotContain(" dport ", table);
        Assert.DoesNotContain(" veth", Run("ip", "-o", "link", "show", "type", "veth").Split('\n').Where(l => l.Contains(daemon.Bridge, StringComparison.Ordinal)));
    }

    /// <summary>
    /// A UDP echo server on <paramref name="port"/> ("echo " + what it got). Busybox's nc has no UDP, so the host's perl
    /// (perl-base is essential in Debian) runs in the container from the host's /usr, bind-mounted read-only.
    /// </summary>
    internal static string[] UdpEcho(int port) =>
    [
        "-v", "/usr:/usr:ro", "-v", "/usr/lib:/lib:ro", "-v", "/usr/lib64:/lib64:ro", "busybox", "/usr/bin/perl", "-MIO::Socket::INET", "-e",
        $"$s = IO::Socket::INET->new(LocalPort => {port}, Proto => 'udp') or die \"bind: $!\"; while (1) {{ $p = $s->recv($m, 512); $s->send(\"echo $m\", 0, $p) }}",
    ];

    /// <summary>Sends <paramref name="text"/> until an answer comes (the server may not be listening yet); its text.</summary>
    internal static async Task<string> UdpAskAsync(Socket socket, IPEndPoint to, string text)
    {
        var buffer = new byte[512];
        for (var attempt = 0; attempt < 20; attempt++)
        {
            await socket.SendToAsync(System.Text.Encoding.UTF8.GetBytes(text), to);
            using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            try
            {
                var got = await socket.ReceiveAsync(buffer, SocketFlags.None, wait.Token);
                return System.Text.Encoding.UTF8.GetString(buffer, 0, got);
            }
            catch (OperationCanceledException) { }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused) { await Task.Delay(200); } // not bound yet
        }
        return $"no answer from {to}";
    }

    /// <summary>A port nothing listens on now (the kernel's choice).</summary>
    internal static int FreePort(SocketType type, ProtocolType protocol)
    {
        using var probe = new Socket(AddressFamily.InterNetwork, type, protocol);
        probe.Bind(new IPEndPoint(IPAddress.Any, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    /// <summary><paramref name="read"/> until it gives <paramref name="expected"/> (at most 5 s); its last value.</summary>
    internal static async Task<string> EventuallyAsync(Func<string> read, string expected)
    {
        var value = read();
        for (var i = 0; i < 50 && value != expected; i++)
        {
            await Task.Delay(100);
            value = read();
        }
        return value;
    }

    /// <summary>GET / through a published port; refused connections are retried for a while (a server that was just
    /// started may not listen yet: the DNAT rule is there before it).</summary>
    internal static async Task<string> HttpGetAsync(IPAddress address, int port)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        for (var attempt = 0; ; attempt++)
        {
            try { return await client.GetStringAsync($"http://{address}:{port}/"); }
            catch (HttpRequestException e) when (attempt < 30 && e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
            {
                await Task.Delay(100);
            }
        }
    }

    private static string Run(string file, params string[] args)
    {
        var outcome = Programs.RunAsync(file, args).GetAwaiter().GetResult();
        Assert.True(outcome.Code == 0, $"{file} {string.Join(' ', args)}: {outcome}");
        return outcome.Out;
    }

    private static void TryRun(string file, params string[] args)
    {
        try { Programs.RunAsync(file, args).GetAwaiter().GetResult(); }
        catch (TimeoutException) { }
    }
}
