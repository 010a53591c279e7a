using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Berth.Cli;

/// <summary>
/// docker's client TLS: --tls encrypts without checking the daemon, --tlsverify (or BERTH_TLS_VERIFY) checks it
/// against --tlscacert; --tlscert/--tlskey are the client's certificate for daemons that require one. Files
/// default to BERTH_CERT_PATH or ~/.berth ({ca,cert,key}.pem), as docker's do to ~/.docker.
/// </summary>
public sealed class TlsSettings
{
    public required bool Verify { get; init; }
    public string? CaCertificate { get; init; }
    public string? Certificate { get; init; }
    public string? Key { get; init; }

    /// <summary>The settings the global flags and environment ask for, or null for a plain connection.</summary>
    public static TlsSettings? From(FlagSet global, Func<string, string?> environment)
    {
        var verify = global.GetBool("tlsverify") || environment("BERTH_TLS_VERIFY") is { Length: > 0 };
        if (!verify && !global.GetBool("tls")) return null;
        var directory = environment("BERTH_CERT_PATH") is { Length: > 0 } path ? path
            : Path.Combine(environment("HOME") ?? "/root", ".berth");
        string? Existing(string? flag, string file) => flag ?? (File.Exists(Path.Combine(directory, file)) ? Path.Combine(directory, file) : null);
        return new TlsSettings
        {
            Verify = verify,
            CaCertificate = Existing(global.Get("tlscacert"), "ca.pem"),
            Certificate = Existing(global.Get("tlscert"), "cert.pem"),
            Key = Existing(global.Get("tlskey"), "key.pem"),
        };
    }

    public SslClientAuthenticationOptions ClientOptions(string targetHost)
    {
        var options = new SslClientAuthenticationOptions { TargetHost = targetHost };
        if (Certificate is not null && Key is not null)
        {
            try { options.ClientCertificates = [X509Certificate2.CreateFromPemFile(Certificate, Key)]; }
            catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException)
            {
                throw new FlagException($"could not load X509 key pair: {e.Message}");
            }
        }
        if (!Verify)
        {
            options.RemoteCertificateValidationCallback = (_, _, _, _) => true;
            return options;
        }
        if (CaCertificate is not null)
        {
            var authority = X509CertificateLoader.LoadCertificateFromFile(CaCertificate);
            options.CertificateChainPolicy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, CustomTrustStore = { authority }, RevocationMode = X509RevocationMode.NoCheck };
        }
        return options;
    }
}
