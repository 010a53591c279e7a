using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Berth.Testing;

namespace Berth.Network.Tests;

/// <summary>Measurements printed for the report (never asserted as times): setup cost and published-port throughput.</summary>
public sealed class MeasurementTests
{
    [RootFact]
    public async Task Throughput_through_a_published_port_beside_the_direct_path()
    {
        using var f = new ManagerFixture();
        var net = f.CreateNetwork("tput");
        var (ns, e) = f.Container("sink", net.Name);
        using var listener = TestNetwork.Inside(ns, () =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Bind(new IPEndPoint(IPAddress.Any, 5001));
            s.Listen();
            return s;
        });
        _ = Task.Run(async () =>
        {
            var buffer = new byte[1 << 16];
            try
            {
                while (true)
                {
                    var client = await listener.AcceptAsync();
                    _ = Task.Run(async () =>
                    {
                        using (client)
                        {
                            long total = 0;
                            int n;
                            var local = new byte[1 << 16];
                            while ((n = await client.ReceiveAsync(local)) > 0) total += n;
                            await client.SendAsync(BitConverter.GetBytes(total));
                        }
                    });
                }
            }
            catch (ObjectDisposedException) { }
            catch (SocketException) { }
        });
        var hostPort = f.Manager.Publish(e.ContainerIdOf(f), [new PortRequest("tcp", 5001)])[0].HostPort;
        const long bytes = 256L << 20;
        var direct = await SendAsync(e.IPv4Address!, 5001, bytes);
        var published = await SendAsync(IPAddress.Loopback, hostPort, bytes);
        Console.WriteLine($"throughput direct to {e.IPv4Address}: {direct:F0} MB/s; through published port 127.0.0.1:{hostPort}: {published:F0} MB/s");
        Assert.True(direct > 0 && published > 0);
    }

    private static async Task<double> SendAsync(IPAddress address, int port, long bytes)
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(address, port);
        var chunk = new byte[1 << 16];
        var clock = Stopwatch.StartNew();
        for (long sent = 0; sent < bytes; sent += chunk.Length) await s.SendAsync(chunk);
        s.Shutdown(SocketShutdown.Send);
        var ack = new byte[8];
        var got = 0;
        while (got < 8) got += await s.ReceiveAsync(ack.AsMemory(got));
        Assert.Equal(bytes, BitConverter.ToInt64(ack));
        return bytes / (1024.0 * 1024.0) / clock.Elapsed.TotalSeconds;
    }
}
