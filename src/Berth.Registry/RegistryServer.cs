using System.Net;
using System.Security.Cryptography.X509Certificates;
using Berth.Registry.Auth;
using Berth.Registry.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Berth.Registry;

/// <summary>A running registry: where it listens, and how to stop it.</summary>
public sealed class RunningRegistry(WebApplication app, RegistryApp registry, Uri address, IDisposable? signer) : IAsyncDisposable
{
    /// <summary>The base address clients use, e.g. http://127.0.0.1:41234 (the real port when 0 was asked for).</summary>
    public Uri Address { get; } = address;
    public RegistryApp Registry { get; } = registry;
    public string HostPort => $"{Address.Host}:{Address.Port}";

    public Task StopAsync(CancellationToken ct = default) => app.StopAsync(ct);

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
        signer?.Dispose();
    }
}

/// <summary>Wires a <see cref="RegistryConfig"/> into a registry on Kestrel (slim builder: NativeAOT-friendly, no reflection).</summary>
public static class RegistryServer
{
    public static (RegistryApp App, IDisposable? Signer) Build(RegistryConfig config)
    {
        var store = new RegistryStore(new FilesystemDriver(config.RootDirectory));
        IAccessController access = new AllowAll();
        TokenService? tokens = null;
        TokenSigner? signer = null;
        if (config.TokenAuth)
        {
            signer = new TokenSigner(config.TokenIssuer, config.TokenSigningKey);
            var service = config.TokenService ?? "berth-registry";
            access = new TokenAccess(signer, config.TokenRealm, service);
            if (config.TokenHtpasswd is not null || config.TokenRealm is null)
                tokens = new TokenService(signer, service, config.TokenHtpasswd is null ? null : new Htpasswd(config.TokenHtpasswd),
                    config.TokenAccess, TimeSpan.FromSeconds(config.TokenExpirationSeconds));
        }
        else if (config.HtpasswdPath is not null)
        {
            access = new HtpasswdAccess(new Htpasswd(config.HtpasswdPath), config.HtpasswdRealm);
        }
        return (new RegistryApp(store, access, tokens, config.DeleteEnabled), signer);
    }

    public static async Task<RunningRegistry> StartAsync(RegistryConfig config, CancellationToken ct = default)
    {
        var (registry, signer) = Build(config);
        var endpoint = ParseAddress(config.Addr);
        var tls = config.TlsCertificate is not null;
        // The host's defaults read appsettings.json from the working directory and watch it, recursively, with inotify: a
        // daemon started from / would watch the whole tree and lstat on every change under it. Nothing configures us
        // through those files, so the content root is the binary's own directory and nothing is watched.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = ["--hostBuilder:reloadConfigOnChange=false"], ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(config.LogLevel switch { "debug" => LogLevel.Debug, "info" => LogLevel.Information, "error" => LogLevel.Error, _ => LogLevel.Warning });
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null; // layers are as large as they are
            kestrel.Limits.MinRequestBodyDataRate = null;
            kestrel.Limits.KeepAliveTimeout = TimeSpan.FromMinutes(5);
            kestrel.Listen(endpoint, listen =>
            {
                listen.Protocols = tls ? HttpProtocols.Http1AndHttp2 : HttpProtocols.Http1;
                if (tls)
                {
                    var certificate = X509Certificate2.CreateFromPemFile(config.TlsCertificate!, config.TlsKey);
                    // Kestrel on Linux needs an exportable key; a PEM-loaded key is ephemeral.
                    certificate = X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
                    listen.UseHttps(certificate);
                }
            });
        });
        builder.Services.AddSingleton<IHostLifetime, QuietLifetime>();
        var app = builder.Build();
        app.Run(registry.HandleAsync);
        await app.StartAsync(ct);
        var bound = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        var port = bound is not null && Uri.TryCreate(bound.Replace("[::]", "127.0.0.1").Replace("0.0.0.0", "127.0.0.1"), UriKind.Absolute, out var u) ? u.Port : endpoint.Port;
        var host = endpoint.Address.Equals(IPAddress.Any) || endpoint.Address.Equals(IPAddress.IPv6Any) ? "127.0.0.1"
            : endpoint.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{endpoint.Address}]" : endpoint.Address.ToString();
        return new RunningRegistry(app, registry, new Uri($"{(tls ? "https" : "http")}://{host}:{port}"), signer);
    }

    /// <summary>distribution's http.addr: "host:port", ":port" (every address), "localhost:port", "[::1]:port".</summary>
    public static IPEndPoint ParseAddress(string addr)
    {
        var colon = addr.LastIndexOf(':');
        if (colon < 0 || !int.TryParse(addr[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) || port > 65535)
            throw new FormatException($"invalid listen address \"{addr}\": expected host:port");
        var host = addr[..colon].Trim('[', ']');
        var ip = host switch
        {
            "" or "0.0.0.0" => IPAddress.Any,
            "localhost" => IPAddress.Loopback,
            _ => IPAddress.TryParse(host, out var parsed) ? parsed : throw new FormatException($"invalid listen address \"{addr}\": {host} is not an IP address"),
        };
        return new IPEndPoint(ip, port);
    }

    private sealed class QuietLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
