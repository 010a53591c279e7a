using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Berth.Network.Dns;

/// <summary>What the embedded DNS server knows: the containers each container can see by name.</summary>
public interface IDnsDirectory
{
    /// <summary>Addresses of <paramref name="name"/> (a container name, alias or short id on a network the asking
    /// container is on); null when no such container is in sight.</summary>
    IReadOnlyList<IPAddress>? Resolve(string containerId, string name);
    /// <summary>The name of the container holding <paramref name="address"/> on a network the asking container is on.</summary>
    string? ReverseLookup(string containerId, IPAddress address);
    /// <summary>False when the container is only on internal networks: no query leaves for outside resolvers.</summary>
    bool MayForward(string containerId);
}

/// <summary>
/// Docker's embedded DNS: a resolver at 127.0.0.11:53 (UDP and TCP) inside each container on a user-defined network.
/// Its sockets are opened inside the container's network namespace (by <see cref="BindInside"/> on a thread that
/// joined it) and served from here; names of containers in sight are answered from the <see cref="IDnsDirectory"/>,
/// everything else is forwarded, unchanged, to the upstream resolvers from the daemon's own namespace.
/// </summary>
public sealed class EmbeddedDnsServer : IDisposable
{
    public static readonly IPAddress Address = IPAddress.Parse("127.0.0.11");
    public const uint Ttl = 600;

    private readonly IDnsDirectory _directory;
    private readonly IReadOnlyList<IPEndPoint> _upstreams;
    private readonly ConcurrentDictionary<string, Listener> _listeners = new();
    private readonly TimeSpan _upstreamTimeout;

    public EmbeddedDnsServer(IDnsDirectory directory, IReadOnlyList<IPEndPoint> upstreams, TimeSpan? upstreamTimeout = null)
    {
        _directory = directory;
        _upstreams = upstreams;
        _upstreamTimeout = upstreamTimeout ?? TimeSpan.FromSeconds(3);
    }

    /// <summary>The nameservers of a resolv.conf (the host's), for forwarding.</summary>
    public static List<IPEndPoint> ReadResolvConf(string path = "/etc/resolv.conf")
    {
        var list = new List<IPEndPoint>();
        if (!File.Exists(path)) return list;
        foreach (var line in File.ReadLines(path))
        {
            var parts = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 2 && parts[0] == "nameserver" && IPAddress.TryParse(parts[1], out var a)) list.Add(new IPEndPoint(a, 53));
        }
        return list;
    }

    /// <summary>
    /// Makes 127.0.0.11:53 (UDP and TCP) answer in the calling thread's network namespace (loopback must be up): as
    /// Docker does, the sockets take ephemeral ports and a nat table of the namespace's own ("berth-dns") redirects port
    /// 53 to them, so a DNS server the container runs on 0.0.0.0:53 still can bind.
    /// </summary>
    public static (Socket Udp, Socket Tcp) BindInside() => BindInside(freshNamespace: false);

    /// <summary><see cref="BindInside()"/>; in a <paramref name="freshNamespace"/> (no berth-dns table yet) the table is
    /// only added, so the kernel has no old table to destroy.</summary>
    public static (Socket Udp, Socket Tcp) BindInside(bool freshNamespace)
    {
        var endpoint = new IPEndPoint(Address, 0);
        var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            udp.Bind(endpoint);
            tcp.Bind(endpoint);
            tcp.Listen(64);
            var rules = RedirectRules(((IPEndPoint)udp.LocalEndPoint!).Port, ((IPEndPoint)tcp.LocalEndPoint!).Port, replace: !freshNamespace);
            // A context of this thread's own: its netlink socket belongs to the namespace this thread is in.
            var nft = Nftables.Open();
            try { nft.Run(rules); }
            finally { Background.Dispose(nft as IDisposable); }
            return (udp, tcp);
        }
        catch
        {
            udp.Dispose();
            tcp.Dispose();
            throw;
        }
    }

    /// <summary>The container namespace's nat table sending 127.0.0.11:53 to the resolver's real ports.</summary>
    public static string RedirectRules(int udpPort, int tcpPort, bool replace = true) =>
        (replace ? "add table ip berth-dns\ndelete table ip berth-dns\n" : "") + "table ip berth-dns {\n" +
        "\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n" +
        $"\t\tip daddr {Address} udp dport 53 dnat to {Address}:{udpPort}\n" +
        $"\t\tip daddr {Address} tcp dport 53 dnat to {Address}:{tcpPort}\n" +
        "\t}\n}\n";

    public bool IsServing(string containerId) => _listeners.ContainsKey(containerId);

    /// <summary>Serves queries from <paramref name="containerId"/> on sockets bound inside its namespace (takes ownership).</summary>
    public void Serve(string containerId, Socket udp, Socket tcp)
    {
        var listener = new Listener(udp, tcp);
        if (!_listeners.TryAdd(containerId, listener))
        {
            listener.Dispose();
            return;
        }
        _ = ServeUdpAsync(containerId, listener);
        _ = AcceptTcpAsync(containerId, listener);
    }

    public void Stop(string containerId)
    {
        if (_listeners.TryRemove(containerId, out var l)) l.Dispose();
    }

    private async Task ServeUdpAsync(string containerId, Listener listener)
    {
        var buffer = new byte[4096];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        while (!listener.Stopping.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try { received = await listener.Udp.ReceiveFromAsync(buffer, SocketFlags.None, any, listener.Stopping.Token); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { if (listener.Stopping.IsCancellationRequested) return; continue; }
            var query = buffer.AsSpan(0, received.ReceivedBytes).ToArray();
            var client = received.RemoteEndPoint;
            _ = Task.Run(async () =>
            {
                var reply = await AnswerAsync(containerId, query, tcp: false, listener.Stopping.Token);
                if (reply is null) return;
                try { await listener.Udp.SendToAsync(reply, SocketFlags.None, client); }
                catch (ObjectDisposedException) { }
                catch (SocketException) { }
            });
        }
    }

    private async Task AcceptTcpAsync(string containerId, Listener listener)
    {
        while (!listener.Stopping.IsCancellationRequested)
        {
            Socket client;
            try { client = await listener.Tcp.AcceptAsync(listener.Stopping.Token); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { if (listener.Stopping.IsCancellationRequested) return; continue; }
            _ = ServeTcpAsync(containerId, client, listener.Stopping.Token);
        }
    }

    private async Task ServeTcpAsync(string containerId, Socket client, CancellationToken cancel)
    {
        using (client)
        {
            var length = new byte[2];
            try
            {
                while (true)
                {
                    if (!await ReadExactlyAsync(client, length, cancel)) return;
                    var query = new byte[BinaryPrimitives.ReadUInt16BigEndian(length)];
                    if (!await ReadExactlyAsync(client, query, cancel)) return;
                    var reply = await AnswerAsync(containerId, query, tcp: true, cancel);
                    if (reply is null) return;
                    var framed = new byte[reply.Length + 2];
                    BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)reply.Length);
                    reply.CopyTo(framed, 2);
                    await client.SendAsync(framed, SocketFlags.None, cancel);
                }
            }
            catch (OperationCanceledException) { }
            catch (SocketException) { }
            catch (ObjectDisposedException) { }
        }
    }

    private static async Task<bool> ReadExactlyAsync(Socket s, Memory<byte> buffer, CancellationToken cancel)
    {
        var done = 0;
        while (done < buffer.Length)
        {
            var n = await s.ReceiveAsync(buffer[done..], SocketFlags.None, cancel);
            if (n == 0) return false;
            done += n;
        }
        return true;
    }

    /// <summary>The reply to one query: local answers for containers in sight, else the upstream's reply; null to stay silent.</summary>
    internal async Task<byte[]?> AnswerAsync(string containerId, byte[] query, bool tcp, CancellationToken cancel)
    {
        DnsMessage message;
        try { message = DnsMessage.Parse(query); }
        catch (FormatException)
        {
            if (query.Length < 12) return null;
            var formErr = new DnsMessage { Id = BinaryPrimitives.ReadUInt16BigEndian(query), IsResponse = true, Rcode = DnsRcode.FormErr };
            return formErr.ToBytes();
        }
        if (message.IsResponse) return null;
        if (message.Opcode != 0 || message.Questions.Count != 1) return message.CreateResponse(DnsRcode.NotImp).ToBytes();

        var local = AnswerLocally(containerId, message);
        if (local is not null) return local.ToBytes();
        if (!_directory.MayForward(containerId) || _upstreams.Count == 0) return message.CreateResponse(DnsRcode.ServFail).ToBytes();
        return await ForwardAsync(message, query, tcp, cancel) ?? message.CreateResponse(DnsRcode.ServFail).ToBytes();
    }

    private DnsMessage? AnswerLocally(string containerId, DnsMessage query)
    {
        var q = query.Questions[0];
        var name = q.Name.TrimEnd('.').ToLowerInvariant();
        if (q.Type == DnsType.Ptr && ParseReverseName(name) is { } address)
        {
            if (_directory.ReverseLookup(containerId, address) is not { } target) return null;
            var ptr = query.CreateResponse();
            ptr.Authoritative = true;
            ptr.Answers.Add(DnsRecord.Pointer(q.Name, target, Ttl));
            return ptr;
        }
        if (_directory.Resolve(containerId, name) is not { } addresses) return null;
        var response = query.CreateResponse();
        response.Authoritative = true;
        foreach (var a in addresses)
        {
            var type = a.AddressFamily == AddressFamily.InterNetwork ? DnsType.A : DnsType.Aaaa;
            if (q.Type == type || q.Type == DnsType.Any) response.Answers.Add(DnsRecord.Address(q.Name, a, Ttl));
        }
        return response; // a container's name without a record of the asked type: NOERROR, no answers
    }

    /// <summary>"4.3.2.1.in-addr.arpa" → 1.2.3.4 (and ip6.arpa nibbles); null for other names.</summary>
    internal static IPAddress? ParseReverseName(string name)
    {
        if (name.EndsWith(".in-addr.arpa", StringComparison.Ordinal))
        {
            var parts = name[..^".in-addr.arpa".Length].Split('.');
            if (parts.Length != 4) return null;
            Array.Reverse(parts);
            return IPAddress.TryParse(string.Join('.', parts), out var a) ? a : null;
        }
        if (name.EndsWith(".ip6.arpa", StringComparison.Ordinal))
        {
            var nibbles = name[..^".ip6.arpa".Length].Split('.');
            if (nibbles.Length != 32) return null;
            var bytes = new byte[16];
            for (var i = 0; i < 32; i++)
            {
                if (nibbles[i].Length != 1 || !Uri.IsHexDigit(nibbles[i][0])) return null;
                var value = Convert.ToByte(nibbles[i], 16);
                var index = 15 - i / 2;
                bytes[index] |= (byte)(i % 2 == 0 ? value : value << 4);
            }
            return new IPAddress(bytes);
        }
        return null;
    }

    private async Task<byte[]?> ForwardAsync(DnsMessage message, byte[] query, bool tcp, CancellationToken cancel)
    {
        foreach (var upstream in _upstreams)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            timeout.CancelAfter(_upstreamTimeout);
            try
            {
                using var socket = new Socket(upstream.AddressFamily, tcp ? SocketType.Stream : SocketType.Dgram, tcp ? ProtocolType.Tcp : ProtocolType.Udp);
                await socket.ConnectAsync(upstream, timeout.Token);
                if (tcp)
                {
                    var framed = new byte[query.Length + 2];
                    BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)query.Length);
                    query.CopyTo(framed, 2);
                    await socket.SendAsync(framed, SocketFlags.None, timeout.Token);
                    var length = new byte[2];
                    if (!await ReadExactlyAsync(socket, length, timeout.Token)) continue;
                    var reply = new byte[BinaryPrimitives.ReadUInt16BigEndian(length)];
                    if (!await ReadExactlyAsync(socket, reply, timeout.Token)) continue;
                    return reply;
                }
                await socket.SendAsync(query, SocketFlags.None, timeout.Token);
                var buffer = new byte[4096];
                while (true)
                {
                    var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                    if (n >= 12 && BinaryPrimitives.ReadUInt16BigEndian(buffer) == message.Id) return buffer[..n];
                }
            }
            catch (OperationCanceledException) when (!cancel.IsCancellationRequested) { }
            catch (SocketException) { }
        }
        return null;
    }

    public void Dispose()
    {
        foreach (var id in _listeners.Keys) Stop(id);
    }

    private sealed class Listener(Socket udp, Socket tcp) : IDisposable
    {
        private readonly CancellationTokenSource _stopping = new();
        public Socket Udp { get; } = udp;
        public Socket Tcp { get; } = tcp;
        public CancellationTokenSource Stopping => _stopping;

        public void Dispose()
        {
            _stopping.Cancel();
            Udp.Dispose();
            Tcp.Dispose(); // the token source stays undisposed: late queries still read its token
        }
    }
}
