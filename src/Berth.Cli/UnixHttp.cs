using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text;

namespace Berth.Cli;

/// <summary>
/// HTTP/1.1 to the daemon over one fresh connection per request, without SocketsHttpHandler: the CLI lives for one
/// command, and the handler's start-up (connection pool, proxy detection, its threads) cost more CPU than the requests
/// themselves (perf: `berth version` 12.4 ms of CPU against 3.5 ms for `berth --version`). Requests carry their
/// content's headers; a body of unknown length goes chunked. The answer is an ordinary <see cref="HttpResponseMessage"/>
/// whose content streams the body (Content-Length, chunked, or to the end of the connection) and owns the connection.
/// </summary>
internal static class UnixHttp
{
    public static async Task<HttpResponseMessage> SendAsync(Stream connection, HttpRequestMessage request, bool headersOnly)
    {
        try { await WriteRequestAsync(connection, request); }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
        return await ReadResponseAsync(connection, request, headersOnly);
    }

    /// <summary>The answer to a request written on the connection; the answer's content owns the connection (disposed on failure).</summary>
    public static async Task<HttpResponseMessage> ReadResponseAsync(Stream connection, HttpRequestMessage request, bool headersOnly)
    {
        var reader = new ConnectionReader(connection);
        try
        {
            var statusLine = await reader.ReadLineAsync() ?? throw new IOException("the daemon closed the connection");
            var parts = statusLine.Split(' ', 3);
            if (parts.Length < 2 || !parts[0].StartsWith("HTTP/", StringComparison.Ordinal)
                || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var status))
                throw new IOException($"malformed status line from the daemon: {statusLine}");
            var response = new HttpResponseMessage((HttpStatusCode)status) { RequestMessage = request, ReasonPhrase = parts.Length > 2 ? parts[2] : null };
            var contentHeaders = new List<(string, string)>();
            long? length = null;
            var chunked = false;
            while (await reader.ReadLineAsync() is { Length: > 0 } line)
            {
                var colon = line.IndexOf(':');
                if (colon <= 0) continue;
                var name = line[..colon].Trim();
                var value = line[(colon + 1)..].Trim();
                if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) length = n;
                else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)) chunked = value.Contains("chunked", StringComparison.OrdinalIgnoreCase);
                if (!response.Headers.TryAddWithoutValidation(name, value)) contentHeaders.Add((name, value));
            }
            var noBody = request.Method == HttpMethod.Head || status is 204 or 304 || (status >= 100 && status < 200);
            Stream body = noBody ? new BodyStream(reader, 0, chunked: false)
                : chunked ? new BodyStream(reader, -1, chunked: true)
                : new BodyStream(reader, length ?? long.MaxValue, chunked: false);
            HttpContent content;
            if (headersOnly) content = new StreamContent(body);
            else
            {
                // Read here into one array of the body's size: HttpContent's own buffering copies through an 80 KiB pooled
                // buffer (a large-object allocation and its page faults, for a few hundred bytes of JSON).
                await using (body) content = new BufferedContent(await ReadToEndAsync(body, noBody ? 0 : chunked ? null : length));
            }
            foreach (var (name, value) in contentHeaders) content.Headers.TryAddWithoutValidation(name, value);
            response.Content = content;
            return response;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>An answer's body read whole; its bytes are there to parse without a copy.</summary>
    internal sealed class BufferedContent : ByteArrayContent
    {
        public BufferedContent(byte[] bytes) : base(bytes) => Bytes = bytes;

        public byte[] Bytes { get; }
    }

    /// <summary>The whole body of an answer: the bytes already read, else read to its end.</summary>
    public static async Task<byte[]> BodyAsync(HttpResponseMessage response)
        => response.Content is BufferedContent buffered ? buffered.Bytes : await ReadToEndAsync(await response.Content.ReadAsStreamAsync(), null);

    private static async Task<byte[]> ReadToEndAsync(Stream body, long? length)
    {
        if (length is { } known and <= 1 << 20)
        {
            var exact = new byte[known];
            await body.ReadExactlyAsync(exact);
            return exact;
        }
        using var collected = new MemoryStream();
        var chunk = new byte[4 * 1024];
        int n;
        while ((n = await body.ReadAsync(chunk)) > 0) collected.Write(chunk, 0, n);
        return collected.ToArray();
    }

    public static async Task WriteRequestAsync(Stream connection, HttpRequestMessage request)
    {
        var head = new StringBuilder(256);
        head.Append(request.Method.Method).Append(' ').Append(request.RequestUri!.OriginalString).Append(" HTTP/1.1\r\nHost: docker\r\nUser-Agent: berth/").Append(BerthCli.Version).Append("\r\n");
        var content = request.Content;
        long? length = null;
        if (content is not null)
        {
            length = content.Headers.ContentLength;
            foreach (var header in content.Headers)
            {
                if (header.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)) continue;
                head.Append(header.Key).Append(": ").AppendJoin(", ", header.Value).Append("\r\n");
            }
            head.Append(length is { } l ? $"Content-Length: {l.ToString(CultureInfo.InvariantCulture)}\r\n" : "Transfer-Encoding: chunked\r\n");
        }
        else if (request.Method == HttpMethod.Post || request.Method == HttpMethod.Put) head.Append("Content-Length: 0\r\n");
        head.Append("\r\n");
        await connection.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()));
        if (content is null) return;
        if (length is not null) await content.CopyToAsync(connection);
        else
        {
            await using (var chunks = new ChunkedWriter(connection)) await content.CopyToAsync(chunks);
            await connection.WriteAsync("0\r\n\r\n"u8.ToArray());
        }
        await connection.FlushAsync();
    }

    /// <summary>The connection with a read-ahead buffer: header lines, then the body's bytes.</summary>
    internal sealed class ConnectionReader(Stream connection)
    {
        private readonly byte[] _buffer = new byte[16 * 1024];
        private int _start, _end;

        public Stream Connection => connection;

        /// <summary>One line without its CRLF (bytes as Latin-1), or null at end of stream.</summary>
        public async ValueTask<string?> ReadLineAsync()
        {
            var line = new StringBuilder();
            while (true)
            {
                if (_start == _end && !await FillAsync()) return line.Length > 0 ? line.ToString() : null;
                var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                var stop = newline < 0 ? _end : newline;
                line.Append(Encoding.Latin1.GetString(_buffer, _start, stop - _start));
                _start = newline < 0 ? _end : newline + 1;
                if (newline < 0) continue;
                if (line.Length > 0 && line[^1] == '\r') line.Length--;
                return line.ToString();
            }
        }

        public async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken)
        {
            if (_start == _end) return await connection.ReadAsync(destination, cancellationToken);
            var n = Math.Min(destination.Length, _end - _start);
            _buffer.AsMemory(_start, n).CopyTo(destination);
            _start += n;
            return n;
        }

        private async ValueTask<bool> FillAsync()
        {
            _start = 0;
            _end = await connection.ReadAsync(_buffer);
            return _end > 0;
        }
    }

    /// <summary>A response body: <paramref name="length"/> bytes (long.MaxValue: to the end of the connection), or chunked.</summary>
    private sealed class BodyStream(ConnectionReader reader, long length, bool chunked) : Berth.Storage.Archive.ReadOnlyStream
    {
        private long _remaining = chunked ? 0 : length;
        private bool _done = !chunked && length == 0;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_done || buffer.Length == 0) return 0;
            if (chunked && _remaining == 0)
            {
                var sizeLine = await reader.ReadLineAsync() ?? throw new IOException("the daemon closed the connection in a chunked body");
                if (sizeLine.Length == 0) sizeLine = await reader.ReadLineAsync() ?? throw new IOException("the daemon closed the connection in a chunked body");
                var semicolon = sizeLine.IndexOf(';');
                if (!long.TryParse(semicolon < 0 ? sizeLine : sizeLine[..semicolon], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out _remaining))
                    throw new IOException($"malformed chunk size from the daemon: {sizeLine}");
                if (_remaining == 0)
                {
                    while (await reader.ReadLineAsync() is { Length: > 0 }) { } // trailers
                    _done = true;
                    return 0;
                }
            }
            var n = await reader.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _remaining)], cancellationToken);
            if (n == 0)
            {
                _done = true;
                if (chunked || length != long.MaxValue) throw new IOException("the daemon closed the connection before the end of its answer");
                return 0;
            }
            _remaining -= n;
            if (!chunked && _remaining == 0) _done = true;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(Span<byte> buffer)
        {
            var rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
            try
            {
                var n = ReadAsync(rented.AsMemory(0, buffer.Length)).AsTask().GetAwaiter().GetResult();
                rented.AsSpan(0, n).CopyTo(buffer);
                return n;
            }
            finally { ArrayPool<byte>.Shared.Return(rented); }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) reader.Connection.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>Writes each buffer it is given as one HTTP chunk (the terminating chunk is the caller's).</summary>
    private sealed class ChunkedWriter(Stream connection) : Stream
    {
        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (buffer.Length == 0) return;
            await connection.WriteAsync(Encoding.ASCII.GetBytes(buffer.Length.ToString("x", CultureInfo.InvariantCulture) + "\r\n"), cancellationToken);
            await connection.WriteAsync(buffer, cancellationToken);
            await connection.WriteAsync("\r\n"u8.ToArray(), cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
