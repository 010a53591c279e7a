using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Berth.Api;

/// <summary>Where and how berthd listens: dockerd's -H, --tlsverify, --tlscacert, --tlscert, --tlskey.</summary>
public sealed class ApiServerOptions
{
    /// <summary>unix:///path or tcp://host:port (dockerd's -H syntax).</summary>
    public List<string> Hosts { get; } = [];
    public bool TlsVerify { get; set; }
    public string? TlsCaCert { get; set; }
    public string? TlsCert { get; set; }
    public string? TlsKey { get; set; }
    /// <summary>Called with each unix socket's path once it listens (berthd sets its mode and group).</summary>
    public Action<string>? SocketListening { get; set; }
    public LogLevel LogLevel { get; set; } = LogLevel.Warning;
}

/// <summary>Hosts a <see cref="DockerApi"/> on Kestrel (slim builder: NativeAOT-friendly, no reflection).</summary>
public static class ApiServer
{
    public static async Task<WebApplication> StartAsync(DockerApi api, ApiServerOptions options, CancellationToken cancellationToken = default)
    {
        if (options.Hosts.Count == 0) throw new ArgumentException("no host to listen on");
        var sockets = new List<string>();
        // The host's defaults read appsettings.json from the working directory and watch it, recursively, with inotify: a
        // daemon started from / would watch the whole tree and lstat on every change under it. Nothing configures us
        // through those files, so the content root is the binary's own directory and nothing is watched.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = ["--hostBuilder:reloadConfigOnChange=false"], ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(options.LogLevel);
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null; // image load and docker cp upload whole trees
            kestrel.Limits.MinRequestBodyDataRate = null; // stdin of an attached container may idle for hours
            kestrel.Limits.MinResponseDataRate = null;
            kestrel.Limits.KeepAliveTimeout = TimeSpan.FromMinutes(10);
            kestrel.Limits.MaxRequestHeadersTotalSize = 64 * 1024;
            foreach (var host in options.Hosts)
            {
                var (scheme, address) = SplitHost(host);
                switch (scheme)
                {
                    case "unix":
                        if (File.Exists(address) || Directory.Exists(Path.GetDirectoryName(address)) is false)
                        {
                            var dir = Path.GetDirectoryName(address);
                            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
                            if (File.Exists(address)) File.Delete(address); // a stale socket of a previous run
                        }
                        kestrel.ListenUnixSocket(address, listen =>
                        {
                            listen.Protocols = HttpProtocols.Http1;
                            listen.Use(HalfClose);
                        });
                        sockets.Add(address);
                        break;
                    case "tcp":
                        var endpoint = ParseTcp(address, options.TlsCert is not null);
                        kestrel.Listen(endpoint, listen =>
                        {
                            listen.Protocols = HttpProtocols.Http1;
                            if (options.TlsCert is not null) UseTls(listen, options);
                            listen.Use(HalfClose);
                        });
                        break;
                    default:
                        throw new ArgumentException($"invalid host {host}: only unix:// and tcp:// are supported");
                }
            }
        });
        // berthd handles its own signals; the console lifetime would hold process exit until the host is gone.
        builder.Services.AddSingleton<IHostLifetime, EmbeddedLifetime>();
        var app = builder.Build();
        app.Run(api.HandleAsync);
        await app.StartAsync(cancellationToken);
        foreach (var socket in sockets) options.SocketListening?.Invoke(socket);
        return app;
    }

    private static ConnectionDelegate HalfClose(ConnectionDelegate next) => async connection =>
    {
        using var feature = new HalfCloseFeature();
        using var registration = connection.ConnectionClosed.Register(feature.OnTransportClosed);
        connection.ConnectionClosed = feature.Closed;
        connection.Features.Set(feature);
        // Under TLS the socket carries ciphertext: a hijack then writes through the transport only.
        var tls = connection.Features.Get<ITlsHandshakeFeature>() is not null;
        var plainSocket = tls ? null : connection.Features.Get<IConnectionSocketFeature>()?.Socket;
        connection.Features.Set(new RawConnectionFeature(connection.Transport, plainSocket));
        await next(tls ? new TlsHijackConnection(connection, feature) : connection);
    };

    public static (string Scheme, string Address) SplitHost(string host)
    {
        var separator = host.IndexOf("://", StringComparison.Ordinal);
        if (separator < 0) return host.StartsWith('/') ? ("unix", host) : ("tcp", host);
        return (host[..separator], host[(separator + 3)..]);
    }

    private static IPEndPoint ParseTcp(string address, bool tls)
    {
        var colon = address.LastIndexOf(':');
        var hostPart = colon < 0 ? address : address[..colon];
        var port = colon < 0 ? (tls ? 2376 : 2375) : int.Parse(address[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        hostPart = hostPart.Trim('[', ']');
        var ip = hostPart is "" or "0.0.0.0" ? IPAddress.Any : hostPart == "localhost" ? IPAddress.Loopback : IPAddress.Parse(hostPart);
        return new IPEndPoint(ip, port);
    }

    private static void UseTls(ListenOptions listen, ApiServerOptions options)
    {
        var certificate = X509Certificate2.CreateFromPemFile(options.TlsCert!, options.TlsKey);
        // Kestrel on Linux needs an exportable key (an ephemeral PEM key cannot be used for TLS directly).
        certificate = X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
        X509Certificate2Collection? trusted = null;
        if (options.TlsCaCert is not null)
        {
            trusted = [];
            trusted.ImportFromPemFile(options.TlsCaCert);
        }
        listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = certificate,
            ClientCertificateMode = options.TlsVerify ? ClientCertificateMode.RequireCertificate : ClientCertificateMode.NoCertificate,
            ClientCertificateValidation = (clientCertificate, _, _) =>
            {
                if (!options.TlsVerify) return true;
                if (trusted is null) return false;
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.AddRange(trusted);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(clientCertificate);
            },
        });
    }
}

internal sealed class EmbeddedLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
