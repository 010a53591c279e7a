using System.Net.Sockets;
using System.Text;
using Berth.Testing;

namespace Berth.Cli.Tests;

/// <summary>
/// A daemon scripted by the test on a unix socket of its own: each request is answered by <see cref="Serve"/>'s function of
/// its request line (status, extra headers, body), and every request line is recorded; <see cref="BerthAsync"/> runs the
/// CLI against it.
/// </summary>
public sealed class ScriptedDaemon : IDisposable
{
    private readonly TempDir dir = new();
    private readonly List<string> requests = [];
    private readonly CancellationTokenSource stop = new();
    private Socket? listener;

    private string SocketPath => dir.Combine("d.sock");

    /// <summary>Serves each request with <paramref name="answer"/> (request line → status, extra headers, body).</summary>
    public void Serve(Func<string, (int Status, string Headers, string Body)> answer)
    {
        listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        listener.Listen(16);
        _ = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                Socket connection;
                try { connection = await listener.AcceptAsync(stop.Token); }
                catch (Exception) { return; }
                _ = Task.Run(async () =>
                {
                    using var c = connection;
                    var head = new StringBuilder();
                    var buffer = new byte[4096];
                    while (!head.ToString().Contains("\r\n\r\n"))
                    {
                        var n = await c.ReceiveAsync(buffer);
                        if (n == 0) return;
                        head.Append(Encoding.ASCII.GetString(buffer, 0, n));
                    }
                    var line = head.ToString()[..head.ToString().IndexOf("\r\n", StringComparison.Ordinal)];
                    lock (requests) requests.Add(line);
                    var (status, headers, body) = answer(line);
                    var bytes = Encoding.UTF8.GetBytes(body);
                    var reply = $"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{headers}Content-Length: {bytes.Length}\r\nConnection: close\r\n\r\n";
                    await c.SendAsync(Encoding.ASCII.GetBytes(reply).Concat(bytes).ToArray());
                });
            }
        });
    }

    /// <summary>The request lines received so far, in order.</summary>
    public List<string> Requests()
    {
        lock (requests) return [.. requests];
    }

    /// <summary>Runs the CLI with BERTH_HOST naming this daemon and a config directory of its own.</summary>
    public async Task<(int Code, string Out, string Err)> BerthAsync(params string[] args)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        var environment = (string name) => name switch
        {
            "BERTH_HOST" => "unix://" + SocketPath,
            "BERTH_CONFIG" => dir.Combine("config"),
            _ => null,
        };
        var cli = new BerthCli(output, errors, environment) { RawStdout = new MemoryStream(), RawStderr = new MemoryStream() };
        var code = await cli.RunAsync(args);
        return (code, output.ToString(), errors.ToString());
    }

    public void Dispose()
    {
        stop.Cancel();
        listener?.Dispose();
        dir.Dispose();
    }
}
