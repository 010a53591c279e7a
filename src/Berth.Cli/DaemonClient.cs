using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Berth.Engine.Models;

namespace Berth.Cli;

/// <summary>The daemon answered with an error: docker prints "Error response from daemon: MESSAGE".</summary>
public sealed class DaemonException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>The daemon cannot be reached.</summary>
public sealed class ConnectException(string host, string? message = null) : Exception(message ?? $"Cannot connect to the Berth daemon at {host}. Is the berth daemon running?");

/// <summary>A Docker Engine API client over a unix socket or TCP; the API version is negotiated only when the daemon refuses ours.</summary>
public sealed class DaemonClient : IDisposable
{
    public const string DefaultHost = "unix:///run/berth/berth.sock";
    // A property, not a static field: the context's own static set-up runs only for commands that use it.
    private static DockerJsonContext Json => DockerJsonContext.Default;
    private HttpClient? http;
    private readonly string? socketPath;
    private readonly string? tcpHost;
    private readonly int tcpPort;
    private string? version;

    public string Host { get; }

    private readonly TlsSettings? tls;

    public DaemonClient(string host, TlsSettings? tls = null)
    {
        Host = host;
        this.tls = tls;
        if (host.StartsWith("unix://", StringComparison.Ordinal)) socketPath = host[7..];
        else if (host.StartsWith("tcp://", StringComparison.Ordinal))
        {
            var address = host[6..].TrimEnd('/');
            var colon = address.LastIndexOf(':');
            tcpHost = colon < 0 ? address : address[..colon];
            tcpPort = colon < 0 ? (tls is null ? 2375 : 2376) : int.Parse(address[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        }
        else throw new FlagException($"invalid host {host}: unix:// or tcp:// expected");
    }

    /// <summary>
    /// Whether unix-socket connections opened from now on block the calling thread (<see cref="BlockingSocketStream"/>), as
    /// suits a command that waits on one answer at a time; a command that follows several streams at once (live stats)
    /// turns it off first.
    /// </summary>
    public bool BlockingConnections { get; set; } = true;

    /// <summary>TCP (and TLS) go through HttpClient; a unix socket through <see cref="UnixHttp"/>.</summary>
    private HttpClient Http => http ??= new HttpClient(new SocketsHttpHandler { ConnectCallback = async (_, token) => await ConnectAsync(token) })
    {
        BaseAddress = new Uri("http://docker"),
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>One connection to the daemon: a unix socket, TCP, or TCP wrapped in TLS (HTTP runs over it unchanged).</summary>
    private async Task<Stream> ConnectAsync(CancellationToken token)
    {
        Socket? socket = null;
        try
        {
            if (socketPath is not null)
            {
                if (BlockingConnections)
                {
                    try { return BlockingSocketStream.Connect(socketPath); }
                    catch (IOException) { throw new ConnectException(Host); }
                }
                socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), token);
                return new NetworkStream(socket, ownsSocket: true);
            }
            socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(tcpHost!, tcpPort, token);
            var network = new NetworkStream(socket, ownsSocket: true);
            if (tls is null) return network;
            var secure = new System.Net.Security.SslStream(network, leaveInnerStreamOpen: false);
            try
            {
                await secure.AuthenticateAsClientAsync(tls.ClientOptions(tcpHost!), token);
            }
            catch (System.Security.Authentication.AuthenticationException e)
            {
                await secure.DisposeAsync();
                throw new ConnectException(Host, $"error during connect: {e.Message}");
            }
            Sockets.AddOrUpdate(secure, socket);
            return secure;
        }
        catch (SocketException)
        {
            socket?.Dispose();
            throw new ConnectException(Host);
        }
    }

    /// <summary>The socket under a hijacked stream, for half-closing it (TLS streams close both ways).</summary>
    public static void CloseWrite(Stream connection)
    {
        if (connection is HijackedStream hijacked) connection = hijacked.Inner;
        if (connection is BlockingSocketStream blocking)
        {
            blocking.ShutdownWrite();
            return;
        }
        var socket = connection is NetworkStream network ? network.Socket : Sockets.TryGetValue(connection, out var under) ? under : null;
        try { socket?.Shutdown(SocketShutdown.Send); }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Stream, Socket> Sockets = [];

    /// <summary>The newest Engine API version this client speaks.</summary>
    public const string NewestVersion = "1.47";

    /// <summary>
    /// The API version both sides speak: the daemon's (from /_ping), at most ours. Requests do not wait for it: they go
    /// out on <see cref="NewestVersion"/> at once, and only a daemon that refuses that version (an older dockerd says
    /// "client version 1.47 is too new. Maximum supported API version is 1.41") costs a negotiation and a retry.
    /// </summary>
    public async Task<string> VersionAsync()
    {
        if (version is not null) return version;
        using var response = await SendRawAsync(new HttpRequestMessage(HttpMethod.Get, "/_ping"));
        var server = response.Headers.TryGetValues("API-Version", out var v) ? v.First() : "1.24";
        version = Newer(server) ? NewestVersion : server;
        return version;
    }

    private static bool Newer(string server)
    {
        try { return CompareVersions(server, NewestVersion) >= 0; }
        catch (FormatException) { return true; }
        catch (IndexOutOfRangeException) { return true; }
    }

    /// <summary>
    /// Whether an error answer is the daemon refusing the API version of the request (moby's and berthd's "client version
    /// X is too new/old", older moby's "client is newer than server"); <paramref name="maximum"/> is the version the
    /// daemon named as its newest, when it named one we can use.
    /// </summary>
    public static bool IsVersionRefusal(int status, string message, out string? maximum)
    {
        maximum = null;
        if (status != 400) return false;
        if (message.StartsWith("client version ", StringComparison.Ordinal) && message.Contains(" is too ", StringComparison.Ordinal))
        {
            const string marker = "Maximum supported API version is ";
            var at = message.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0)
            {
                var rest = message.AsSpan(at + marker.Length);
                var end = 0;
                while (end < rest.Length && (char.IsAsciiDigit(rest[end]) || rest[end] == '.')) end++;
                var named = rest[..end].TrimEnd('.').ToString();
                if (named.Count(ch => ch == '.') == 1 && !named.StartsWith('.') && !Newer(named)) maximum = named;
            }
            return true;
        }
        return message.StartsWith("client is newer than server", StringComparison.Ordinal);
    }

    /// <summary>After a refusal: the version the daemon named, else the one its /_ping tells.</summary>
    private async Task<string> NegotiateAsync(string? named)
    {
        if (named is not null) return version = named;
        version = null;
        return await VersionAsync();
    }

    public static int CompareVersions(string a, string b)
    {
        var pa = a.Split('.').Select(int.Parse).ToArray();
        var pb = b.Split('.').Select(int.Parse).ToArray();
        return pa[0] != pb[0] ? pa[0].CompareTo(pb[0]) : pa[1].CompareTo(pb[1]);
    }

    private async Task<HttpResponseMessage> SendRawAsync(HttpRequestMessage request, HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        if (socketPath is not null)
        {
            var connection = await ConnectAsync(CancellationToken.None);
            try { return await UnixHttp.SendAsync(connection, request, headersOnly: completion == HttpCompletionOption.ResponseHeadersRead); }
            catch (Exception e) when (e is IOException or SocketException) { throw new ConnectException(Host); }
        }
        try
        {
            return await Http.SendAsync(request, completion);
        }
        catch (HttpRequestException e) when (e.InnerException is ConnectException c)
        {
            throw c;
        }
        catch (HttpRequestException)
        {
            throw new ConnectException(Host);
        }
    }

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, HttpContent? content = null, bool stream = false)
    {
        // A body that cannot be sent twice (a stream: load, import, build, cp) waits for the negotiated version, and so does
        // a HEAD, whose refusal would come without the message that names the version.
        var optimistic = (content is null or ByteArrayContent) && method != HttpMethod.Head;
        var requestVersion = version ?? (optimistic ? NewestVersion : await VersionAsync());
        while (true)
        {
            var request = new HttpRequestMessage(method, $"/v{requestVersion}{path}") { Content = content };
            var response = await SendRawAsync(request, stream ? HttpCompletionOption.ResponseHeadersRead : HttpCompletionOption.ResponseContentRead);
            if ((int)response.StatusCode < 400)
            {
                version ??= requestVersion;
                return response;
            }
            var message = await ErrorMessageAsync(response);
            if (version is null && IsVersionRefusal((int)response.StatusCode, message, out var maximum))
            {
                var negotiated = await NegotiateAsync(maximum);
                if (negotiated != requestVersion) { requestVersion = negotiated; continue; }
            }
            throw new DaemonException((int)response.StatusCode, message);
        }
    }

    /// <summary>The message of an error answer (its JSON "message", else its text); the answer is disposed.</summary>
    private static async Task<string> ErrorMessageAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        response.Dispose();
        try { return JsonSerializer.Deserialize(body, Json.ErrorResponse)?.Message ?? body; }
        catch (JsonException) { return body.Trim(); }
    }

    public async Task<T> GetAsync<T>(string path, JsonTypeInfo<T> type)
    {
        using var response = await SendAsync(HttpMethod.Get, path);
        return JsonSerializer.Deserialize(await response.Content.ReadAsStreamAsync(), type)!;
    }

    /// <summary>
    /// The JSON messages of a progress stream (pull, push, load, import, build), one per line as dockerd writes
    /// them; blank lines and lines that are not a message are passed over.
    /// </summary>
    public static async IAsyncEnumerable<JsonMessage> ReadMessagesAsync(HttpResponseMessage response)
    {
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length == 0) continue;
            JsonMessage? message;
            try { message = JsonSerializer.Deserialize(line, Json.JsonMessage); }
            catch (JsonException) { continue; }
            if (message is not null) yield return message;
        }
    }

    public Task<string> GetTextAsync(string path) => GetTextAsync(HttpMethod.Get, path);

    public async Task<string> GetTextAsync(HttpMethod method, string path)
    {
        using var response = await SendAsync(method, path);
        return await response.Content.ReadAsStringAsync();
    }

    public async Task<T> PostAsync<T>(string path, HttpContent? body, JsonTypeInfo<T> type)
    {
        using var response = await SendAsync(HttpMethod.Post, path, body);
        return JsonSerializer.Deserialize(await response.Content.ReadAsStreamAsync(), type)!;
    }

    /// <summary>A POST whose answer is read by <paramref name="read"/> from its bytes (no serializer metadata built).</summary>
    public async Task<T> PostAsync<T>(string path, HttpContent? body, Func<byte[], T> read)
    {
        using var response = await SendAsync(HttpMethod.Post, path, body);
        return read(await UnixHttp.BodyAsync(response));
    }

    public async Task PostAsync(string path, HttpContent? body = null)
    {
        using var response = await SendAsync(HttpMethod.Post, path, body);
    }

    public static HttpContent JsonBody(byte[] json) => new ByteArrayContent(json) { Headers = { ContentType = new("application/json") } };

    public static HttpContent JsonBody<T>(T value, JsonTypeInfo<T> type)
        => new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(value, type)) { Headers = { ContentType = new("application/json") } };

    /// <summary>
    /// A hijacked connection (attach, exec start): sends the request with "Upgrade: tcp" and returns the raw
    /// stream once the daemon answers 101 (or 200, as older daemons do).
    /// </summary>
    public async Task<Stream> HijackAsync(string path, string? jsonBody = null)
    {
        var requestVersion = version ?? NewestVersion;
        while (true)
        {
            try { return await HijackOnceAsync(requestVersion, path, jsonBody); }
            catch (DaemonException e) when (version is null && IsVersionRefusal(e.Status, e.Message, out var maximum))
            {
                var negotiated = await NegotiateAsync(maximum);
                if (negotiated == requestVersion) throw;
                requestVersion = negotiated;
            }
        }
    }

    private async Task<Stream> HijackOnceAsync(string requestVersion, string path, string? jsonBody)
    {
        var stream = await ConnectAsync(CancellationToken.None);
        await WriteHijackRequestAsync(stream, requestVersion, path, jsonBody);
        var hijacked = await ReadHijackAnswerAsync(stream);
        version ??= requestVersion;
        return hijacked;
    }

    private static async Task WriteHijackRequestAsync(Stream stream, string requestVersion, string path, string? jsonBody)
    {
        var body = jsonBody is null ? [] : Encoding.UTF8.GetBytes(jsonBody);
        var head = $"POST /v{requestVersion}{path} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n" +
                   (jsonBody is null ? "" : "Content-Type: application/json\r\n") + $"Content-Length: {body.Length}\r\n\r\n";
        try { await stream.WriteAsync((byte[])[.. Encoding.ASCII.GetBytes(head), .. body]); } // one write: one segment for the daemon to read
        catch
        {
            await stream.DisposeAsync();
            throw;
        }
    }

    /// <summary>The daemon's answer to a hijack request: the raw stream after a 101 (or 200), else its error thrown.</summary>
    private async Task<Stream> ReadHijackAnswerAsync(Stream stream)
    {
        // The answer's head is read through a buffer (not a byte a read); what came after it belongs to the stream.
        var reader = new UnixHttp.ConnectionReader(stream);
        var first = await reader.ReadLineAsync();
        while (await reader.ReadLineAsync() is { Length: > 0 }) { }
        if (first is null) { await stream.DisposeAsync(); throw new ConnectException(Host); }
        var statusLine = first.Split(' ');
        var status = int.Parse(statusLine[1], System.Globalization.CultureInfo.InvariantCulture);
        if (status is not (101 or 200))
        {
            // An error body follows (Content-Length bounded); read what is there.
            var buffer = new byte[64 * 1024];
            var n = await reader.ReadAsync(buffer, CancellationToken.None);
            await stream.DisposeAsync();
            var text = Encoding.UTF8.GetString(buffer, 0, n);
            string message;
            try { message = JsonSerializer.Deserialize(text, Json.ErrorResponse)?.Message ?? text; } catch (JsonException) { message = text; }
            throw new DaemonException(status, message);
        }
        return new HijackedStream(reader);
    }

    /// <summary>
    /// run's attach and wait, side by side: over a unix socket both requests are written before either answer is read (one
    /// round trip for the two, on the calling thread); else the two go out as concurrent requests.
    /// </summary>
    public async Task<(Stream Attach, HttpResponseMessage Wait)> AttachAndWaitAsync(string attachPath, string waitPath)
    {
        if (socketPath is null || !BlockingConnections || version is not { } requestVersion)
        {
            var attaching = HijackAsync(attachPath);
            var waiting = SendAsync(HttpMethod.Post, waitPath, stream: true);
            try { await Task.WhenAll(attaching, waiting); }
            catch
            {
                if (attaching.IsCompletedSuccessfully) await attaching.Result.DisposeAsync();
                if (waiting.IsCompletedSuccessfully) waiting.Result.Dispose();
                throw;
            }
            return (attaching.Result, waiting.Result);
        }
        Stream? attachConnection = null, waitConnection = null;
        Stream? attach = null;
        try
        {
            attachConnection = await ConnectAsync(CancellationToken.None);
            await WriteHijackRequestAsync(attachConnection, requestVersion, attachPath, null);
            waitConnection = await ConnectAsync(CancellationToken.None);
            var waitRequest = new HttpRequestMessage(HttpMethod.Post, $"/v{requestVersion}{waitPath}");
            await UnixHttp.WriteRequestAsync(waitConnection, waitRequest);
            attach = await ReadHijackAnswerAsync(attachConnection);
            var wait = await UnixHttp.ReadResponseAsync(waitConnection, waitRequest, headersOnly: true);
            waitConnection = null; // the answer owns it
            if ((int)wait.StatusCode >= 400) throw new DaemonException((int)wait.StatusCode, await ErrorMessageAsync(wait));
            return (attach, wait);
        }
        catch (Exception e)
        {
            if (attach is not null) await attach.DisposeAsync();
            else if (attachConnection is not null) await attachConnection.DisposeAsync();
            if (waitConnection is not null) await waitConnection.DisposeAsync();
            if (e is IOException or SocketException) throw new ConnectException(Host);
            throw;
        }
    }

    /// <summary>A hijacked connection: reads drain what was read ahead with the answer's head, then the connection.</summary>
    private sealed class HijackedStream(UnixHttp.ConnectionReader reader) : Stream
    {
        public Stream Inner => reader.Connection;
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => reader.ReadAsync(buffer, cancellationToken);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => reader.ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        public override int Read(byte[] buffer, int offset, int count) => reader.ReadAsync(buffer.AsMemory(offset, count), CancellationToken.None).AsTask().GetAwaiter().GetResult();
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => Inner.WriteAsync(buffer, cancellationToken);
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Inner.WriteAsync(buffer, offset, count, cancellationToken);
        public override void Write(byte[] buffer, int offset, int count) => Inner.Write(buffer, offset, count);
        public override Task FlushAsync(CancellationToken cancellationToken) => Inner.FlushAsync(cancellationToken);
        public override void Flush() => Inner.Flush();
        public override ValueTask DisposeAsync() => Inner.DisposeAsync();
        protected override void Dispose(bool disposing)
        {
            if (disposing) Inner.Dispose();
            base.Dispose(disposing);
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>Copies a multiplexed (8-byte framed) stream to stdout/stderr, or a raw one to stdout.</summary>
    public static async Task DemuxAsync(Stream source, Stream stdout, Stream stderr, bool raw)
    {
        if (raw)
        {
            var buffer = new byte[32 * 1024];
            int n;
            while ((n = await source.ReadAsync(buffer)) > 0) { await stdout.WriteAsync(buffer.AsMemory(0, n)); await stdout.FlushAsync(); }
            return;
        }
        var header = new byte[8];
        while (true)
        {
            if (!await ReadFullyAsync(source, header)) return;
            var size = (header[4] << 24) | (header[5] << 16) | (header[6] << 8) | header[7];
            var payload = new byte[size];
            if (!await ReadFullyAsync(source, payload)) return;
            var target = header[0] == 2 ? stderr : stdout;
            await target.WriteAsync(payload);
            await target.FlushAsync();
        }
    }

    private static async Task<bool> ReadFullyAsync(Stream source, byte[] buffer)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await source.ReadAsync(buffer.AsMemory(read));
            if (n == 0) return false;
            read += n;
        }
        return true;
    }

    public void Dispose() => http?.Dispose();
}
