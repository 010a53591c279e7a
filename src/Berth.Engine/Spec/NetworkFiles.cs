using System.Net;
using System.Text;

namespace Berth.Engine.RuntimeSpec;

/// <summary>The text of a container's /etc/hostname, /etc/hosts and /etc/resolv.conf, as Docker writes them.</summary>
public static class NetworkFiles
{
    /// <summary>Docker's fixed lines of /etc/hosts (libnetwork etchosts).</summary>
    public const string DefaultHosts =
        "127.0.0.1\tlocalhost\n" +
        "::1\tlocalhost ip6-localhost ip6-loopback\n" +
        "fe00::0\tip6-localnet\n" +
        "ff00::0\tip6-mcastprefix\n" +
        "ff02::1\tip6-allnodes\n" +
        "ff02::2\tip6-allrouters\n";

    /// <summary>Public resolvers Docker falls back to when the host has only loopback ones.</summary>
    public static readonly IReadOnlyList<string> FallbackNameservers = ["8.8.8.8", "8.8.4.4"];

    public static string Hostname(string hostname) => hostname + "\n";

    /// <summary>
    /// /etc/hosts: Docker's localhost lines (or the host's file on the host network), the ExtraHosts ("name:ip",
    /// also "name=ip"; "host-gateway" stands for <paramref name="hostGatewayIp"/>), then the container's own
    /// addresses with its hostname (and "hostname.domain").
    /// </summary>
    public static string Hosts(string? hostHosts, IEnumerable<string>? extraHosts, IEnumerable<string>? ownAddresses,
        string hostname, string? domainname, string? hostGatewayIp)
    {
        var text = new StringBuilder(hostHosts ?? DefaultHosts);
        if (text.Length > 0 && text[^1] != '\n') text.Append('\n');
        foreach (var (name, ip) in ParseExtraHosts(extraHosts, hostGatewayIp)) text.Append(ip).Append('\t').Append(name).Append('\n');
        var names = string.IsNullOrEmpty(domainname) ? hostname : $"{hostname}.{domainname} {hostname}";
        foreach (var address in ownAddresses ?? []) text.Append(address).Append('\t').Append(names).Append('\n');
        return text.ToString();
    }

    /// <summary>ExtraHosts entries as (name, ip); Docker's "invalid IP address in add-host" for a bad address.</summary>
    public static List<(string Name, string Ip)> ParseExtraHosts(IEnumerable<string>? extraHosts, string? hostGatewayIp)
    {
        var result = new List<(string, string)>();
        foreach (var entry in extraHosts ?? [])
        {
            // "name:ip" is the API's form; the newer CLI sends "name=ip". An IPv6 address has colons itself.
            var separator = entry.IndexOf('=');
            if (separator < 0) separator = entry.IndexOf(':');
            if (separator <= 0) throw new InvalidParameterException($"bad format for add-host: \"{entry}\"");
            var name = entry[..separator];
            var ip = entry[(separator + 1)..];
            if (ip.StartsWith('[') && ip.EndsWith(']')) ip = ip[1..^1];
            if (ip == "host-gateway")
            {
                if (string.IsNullOrEmpty(hostGatewayIp))
                    throw new InvalidParameterException("unable to derive the IP value for host-gateway");
                ip = hostGatewayIp;
            }
            else if (!IPAddress.TryParse(ip, out _))
                throw new InvalidParameterException($"invalid IP address in add-host: \"{ip}\"");
            result.Add((name, ip));
        }
        return result;
    }

    /// <summary>
    /// /etc/resolv.conf. With none of Dns, DnsSearch, DnsOptions and no network nameservers, the host's file
    /// without its loopback nameservers (which a container cannot reach), falling back to Google's resolvers
    /// when none is left; otherwise search, nameserver and options lines built from the overrides, each falling
    /// back to the host's value. On the host network the host's file is used as it is.
    /// </summary>
    public static string ResolvConf(string? hostResolvConf, bool hostNetwork, IReadOnlyList<string>? dns,
        IReadOnlyList<string>? dnsSearch, IReadOnlyList<string>? dnsOptions, IReadOnlyList<string>? networkNameservers = null)
    {
        var host = hostResolvConf ?? "";
        if (hostNetwork && dns is not { Count: > 0 } && dnsSearch is not { Count: > 0 } && dnsOptions is not { Count: > 0 })
            return host;

        var hostNameservers = new List<string>();
        List<string>? hostSearch = null, hostOptions = null;
        var kept = new StringBuilder();
        foreach (var raw in host.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            var fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > 0 && fields[0] == "nameserver")
            {
                if (fields.Length > 1 && IsLoopback(fields[1])) continue;
                if (fields.Length > 1) hostNameservers.Add(fields[1]);
            }
            else if (fields.Length > 0 && fields[0] is "search" or "domain") hostSearch = [.. fields.Skip(1)];
            else if (fields.Length > 0 && fields[0] == "options") hostOptions = [.. fields.Skip(1)];
            kept.Append(line).Append('\n');
        }

        var overridden = dns is { Count: > 0 } || dnsSearch is { Count: > 0 } || dnsOptions is { Count: > 0 } || networkNameservers is { Count: > 0 };
        if (!overridden)
        {
            var text = kept.ToString().TrimEnd('\n');
            text = text.Length == 0 ? "" : text + "\n";
            if (hostNameservers.Count == 0)
                foreach (var ns in FallbackNameservers) text += $"nameserver {ns}\n";
            return text;
        }

        var result = new StringBuilder();
        var search = dnsSearch is { Count: > 0 } ? dnsSearch : hostSearch;
        // "." alone means "no search domains" (Docker's --dns-search=.).
        if (search is { Count: > 0 } && !(search.Count == 1 && search[0] == "."))
            result.Append("search ").AppendJoin(' ', search).Append('\n');
        var nameservers = networkNameservers is { Count: > 0 } ? networkNameservers
            : dns is { Count: > 0 } ? dns
            : hostNameservers.Count > 0 ? hostNameservers : FallbackNameservers;
        foreach (var ns in nameservers) result.Append("nameserver ").Append(ns).Append('\n');
        var options = dnsOptions is { Count: > 0 } ? dnsOptions : hostOptions;
        if (options is { Count: > 0 }) result.Append("options ").AppendJoin(' ', options).Append('\n');
        return result.ToString();
    }

    private static bool IsLoopback(string address)
    {
        var percent = address.IndexOf('%');
        if (percent > 0) address = address[..percent];
        return IPAddress.TryParse(address, out var ip) && IPAddress.IsLoopback(ip);
    }
}
