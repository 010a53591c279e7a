using System.Net.Sockets;
using System.Text;
using Berth.Engine;
using Berth.Testing;
using Microsoft.AspNetCore.Builder;

namespace Berth.Api.Tests;

/// <summary>A Kestrel server with a fake engine on a temp unix socket, and clients for it.</summary>
public sealed class ApiServerFixture : IAsyncLifetime
{
    private readonly TempDir dir = new();
    private WebApplication? app;
    internal FakeContainers Containers { get; } = new();
    public string Socket => dir.Combine("api.sock");
    public DockerApi Api { get; }
    public HttpClient Client { get; }

    public ApiServerFixture()
    {
        var facts = new DaemonFacts("0.1.0-test", "/var/lib/berth-test", "berth", new Dictionary<string, string> { ["berth"] = "/usr/bin/berth-runtime" }, LiveRestore: true, Debug: false);
        Api = new DockerApi(new CompositeEngine(Containers, images: new FakeImages(), system: new HostSystemService(facts, () => "TEST-DAEMON-ID")), "0.1.0-test");
        Client = UnixClient(Socket);
    }

    public static HttpClient UnixClient(string socket) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, token) =>
        {
            var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), token);
            return new NetworkStream(s, ownsSocket: true);
        },
    })
    { BaseAddress = new Uri("http://docker") };

    public async Task InitializeAsync()
    {
        var options = new ApiServerOptions();
        options.Hosts.Add("unix://" + Socket);
        app = await ApiServer.StartAsync(Api, options);
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        if (app is not null)
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await app.StopAsync(deadline.Token);
            await app.DisposeAsync();
        }
        dir.Dispose();
    }

    /// <summary>Sends raw bytes and returns the connected socket for the caller to read.</summary>
    public async Task<Socket> RawAsync(string request)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await s.ConnectAsync(new UnixDomainSocketEndPoint(Socket));
        await s.SendAsync(Encoding.ASCII.GetBytes(request));
        return s;
    }
}

/// <summary>Reads an HTTP/1.1 response head byte by byte, then leaves the socket positioned at the body.</summary>
internal static class RawHttp
{
    public static async Task<(int Status, Dictionary<string, string> Headers)> ReadHeadAsync(Socket socket)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await socket.ReceiveAsync(one, timeout.Token) == 0) throw new IOException("connection closed in the response head: " + head);
            head.Append((char)one[0]);
        }
        var lines = head.ToString().Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var status = int.Parse(lines[0].Split(' ')[1]);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':');
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        return (status, headers);
    }

    public static async Task<byte[]> ReadExactlyAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        var read = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (read < count)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read, count - read), SocketFlags.None, timeout.Token);
            if (n == 0) throw new IOException($"connection closed after {read} of {count} bytes");
            read += n;
        }
        return buffer;
    }

    /// <summary>Reads one stdcopy frame: (stream, payload).</summary>
    public static async Task<(int Stream, string Payload)> ReadFrameAsync(Socket socket)
    {
        var header = await ReadExactlyAsync(socket, 8);
        var size = (header[4] << 24) | (header[5] << 16) | (header[6] << 8) | header[7];
        return (header[0], Encoding.UTF8.GetString(await ReadExactlyAsync(socket, size)));
    }
}
