using System.Net;
using System.Net.Sockets;

namespace Berth.Distribution;

/// <summary>How the distribution client reaches registries (daemon.json's insecure-registries and registry-mirrors).</summary>
public sealed class DistributionOptions
{
    /// <summary>Registries spoken to over plain HTTP (or HTTPS without verification): "host:port" or a CIDR. Loopback always is.</summary>
    public List<string> InsecureRegistries { get; } = [];

    /// <summary>Mirrors of Docker Hub tried first for pulls, as "https://mirror.example:5000".</summary>
    public List<Uri> Mirrors { get; } = [];

    /// <summary>Layers transferred at once (Docker's max-concurrent-downloads/uploads; three, as the task asks).</summary>
    public int MaxConcurrentDownloads { get; set; } = 3;
    public int MaxConcurrentUploads { get; set; } = 3;

    /// <summary>Chunk size of a chunked upload; 0 streams each layer in one PATCH (what Docker does).</summary>
    public int UploadChunkSize { get; set; }

    public string UserAgent { get; set; } = "berth/0.1 (distribution)";

    /// <summary>Where credentials come from (default: none: anonymous access).</summary>
    public ICredentialProvider Credentials { get; set; } = CredentialProviders.None;

    /// <summary>Test seam: the handler under every request (default: a pooled SocketsHttpHandler).</summary>
    public HttpMessageHandler? Handler { get; set; }

    /// <summary>Whether <paramref name="hostPort"/> is reached without TLS verification (loopback, or listed).</summary>
    public bool IsInsecure(string hostPort)
    {
        var host = HostOf(hostPort);
        if (host == "localhost") return true;
        if (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip)) return true;
        foreach (var entry in InsecureRegistries)
        {
            var e = entry.Contains("://", StringComparison.Ordinal) ? new Uri(entry).Authority : entry.TrimEnd('/');
            if (string.Equals(e, hostPort, StringComparison.OrdinalIgnoreCase) || string.Equals(e, host, StringComparison.OrdinalIgnoreCase)) return true;
            if (ip is not null && e.Contains('/') && InCidr(ip, e)) return true;
        }
        return false;
    }

    private static string HostOf(string hostPort)
    {
        if (hostPort.StartsWith('[')) return hostPort[1..hostPort.IndexOf(']')];
        var colon = hostPort.LastIndexOf(':');
        return colon > 0 && hostPort.IndexOf(':') == colon ? hostPort[..colon] : hostPort;
    }

    private static bool InCidr(IPAddress ip, string cidr)
    {
        var slash = cidr.IndexOf('/');
        if (!IPAddress.TryParse(cidr[..slash], out var network) || !int.TryParse(cidr[(slash + 1)..], out var bits)) return false;
        if (network.AddressFamily != ip.AddressFamily) return false;
        var a = ip.GetAddressBytes();
        var b = network.GetAddressBytes();
        for (var i = 0; i < a.Length && bits > 0; i++, bits -= 8)
        {
            var mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
            if ((a[i] & mask) != (b[i] & mask)) return false;
        }
        return true;
    }

    internal static bool IsLoopbackHost(string host) => host == "localhost" || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip)) || host.EndsWith(".localhost", StringComparison.Ordinal);

    internal static AddressFamily Family => AddressFamily.InterNetwork;
}

/// <summary>Docker Hub's names: the registry "docker.io" is served at registry-1.docker.io; its credentials key is index.docker.io/v1.</summary>
public static class DockerHub
{
    public const string Domain = "docker.io";
    public const string RegistryHost = "registry-1.docker.io";
    public const string IndexServer = "https://index.docker.io/v1/";

    /// <summary>The host:port requests go to for a reference's domain.</summary>
    public static string ApiHost(string domain) => domain is Domain or "index.docker.io" ? RegistryHost : domain;

    /// <summary>The key credentials are stored under (Docker's config.json "auths" key).</summary>
    public static string CredentialKey(string domain) => domain is Domain or "index.docker.io" or RegistryHost ? IndexServer : domain;
}
