using System.Net;
using Berth.Images;
using Berth.Oci.Content;
using Berth.Registry;
using Berth.Storage;
using Berth.Testing;

namespace Berth.Distribution.Tests;

/// <summary>An image store on a vfs storage root in a temp directory.</summary>
public sealed class TestStore : IDisposable
{
    public TempDir Temp { get; } = new();
    public StorageRoot Storage { get; }
    public ImageStore Images { get; }
    public LayerMetadata Metadata { get; }

    public TestStore()
    {
        Storage = StorageRoot.Open(Temp.Combine("data"), "vfs");
        Images = ImageStore.Open(Temp.Combine("data", "images"), Storage);
        Metadata = new LayerMetadata(Temp.Combine("data", "distribution.json"));
    }

    /// <summary>busybox:latest (or <paramref name="reference"/>) imported from the busybox-static rootfs.</summary>
    public Digest ImportBusybox(string reference = "busybox:latest")
    {
        var rootfs = Temp.Combine("rootfs-" + Guid.NewGuid().ToString("N")[..8]);
        BusyboxRootfs.CopyTo(rootfs);
        var tar = rootfs + ".tar";
        BusyboxRootfs.Run("tar", "-C", rootfs, "--numeric-owner", "-cf", tar, ".");
        using var input = File.OpenRead(tar);
        return new ImageCreation(Images).Import(input, new ImportOptions { Reference = reference, Changes = ["CMD [\"sh\"]"] });
    }

    /// <summary>A small two-layer image made from tar bytes, without root (vfs applies as the current user).</summary>
    public Digest ImportFiles(string reference, params (string Name, string Content)[] files)
    {
        using var tar = new MemoryStream();
        using (var writer = new System.Formats.Tar.TarWriter(tar, System.Formats.Tar.TarEntryFormat.Pax, leaveOpen: true))
            foreach (var (name, content) in files)
            {
                var entry = new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, name) { DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content)) };
                writer.WriteEntry(entry);
            }
        tar.Position = 0;
        return new ImageCreation(Images).Import(tar, new ImportOptions { Reference = reference });
    }

    public void Dispose() => Temp.Dispose();
}

/// <summary>A berth-registry on a free loopback port.</summary>
public sealed class TestRegistry : IAsyncDisposable
{
    public TempDir Temp { get; } = new();
    public RunningRegistry Server { get; private set; } = null!;
    public string Host => Server.HostPort;

    public static async Task<TestRegistry> StartAsync(Action<RegistryConfig, TempDir>? configure = null)
    {
        var r = new TestRegistry();
        var config = new RegistryConfig { Addr = "127.0.0.1:0", RootDirectory = r.Temp.Combine("storage"), DeleteEnabled = true };
        configure?.Invoke(config, r.Temp);
        r.Server = await RegistryServer.StartAsync(config);
        return r;
    }

    public static void WriteHtpasswd(string path, params (string User, string Password)[] users)
        => File.WriteAllLines(path, users.Select(u => $"{u.User}:{BCrypt.Net.BCrypt.HashPassword(u.Password, 5)}"));

    public async ValueTask DisposeAsync()
    {
        if (Server is not null) await Server.DisposeAsync();
        Temp.Dispose();
    }
}

/// <summary>Records requests, and can cut the first blob download short or corrupt blob bytes.</summary>
public sealed class RecordingHandler : DelegatingHandler
{
    public List<string> Requests { get; } = [];
    public int CutFirstBlobAfter { get; set; } = -1;
    public bool CorruptBlobs { get; set; }
    private int _cut;

    public RecordingHandler() : base(new SocketsHttpHandler()) { }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        lock (Requests) Requests.Add($"{request.Method} {request.RequestUri!.PathAndQuery}{(request.Headers.Range is { } r ? " Range:" + r : "")}");
        var response = await base.SendAsync(request, cancellationToken);
        var isLayerBlob = request.Method == HttpMethod.Get && request.RequestUri!.AbsolutePath.Contains("/blobs/sha256:", StringComparison.Ordinal)
            && response.Content.Headers.ContentLength > 4096;
        if (isLayerBlob && CutFirstBlobAfter >= 0 && Interlocked.Exchange(ref _cut, 1) == 0)
        {
            var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            response.Content = new StreamContent(new BrokenStream(bytes[..CutFirstBlobAfter]));
        }
        else if (isLayerBlob && CorruptBlobs)
        {
            var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            bytes[bytes.Length / 2] ^= 0xff;
            var headers = response.Content.Headers.ToList();
            response.Content = new ByteArrayContent(bytes);
            foreach (var h in headers) response.Content.Headers.TryAddWithoutValidation(h.Key, h.Value);
        }
        return response;
    }

    /// <summary>Gives its bytes, then fails as a dropped connection does.</summary>
    private sealed class BrokenStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = base.Read(buffer, offset, count);
            return n > 0 ? n : throw new IOException("connection reset by peer (simulated)");
        }
        public override int Read(Span<byte> buffer)
        {
            var n = base.Read(buffer);
            return n > 0 ? n : throw new IOException("connection reset by peer (simulated)");
        }
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
            => ValueTask.FromResult(Read(buffer.Span));
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => Task.FromResult(Read(buffer, offset, count));
    }

    internal static HttpStatusCode Ok => HttpStatusCode.OK;
}
