using System.Net;

namespace Berth.Network;

/// <summary>A request to publish a container port: host ports <see cref="HostPortStart"/>–<see cref="HostPortEnd"/>
/// (0 for an ephemeral one), on <see cref="HostIp"/> (every address when null).</summary>
public sealed record PortRequest(string Protocol, int ContainerPort, IPAddress? HostIp = null, int HostPortStart = 0, int HostPortEnd = 0)
{
    public bool Ephemeral => HostPortStart == 0;
}

/// <summary>A port as published: Docker's PortBinding for NetworkSettings.Ports.</summary>
public sealed record PublishedPort(string Protocol, int ContainerPort, IPAddress HostIp, int HostPort);

public static class PortSpec
{
    /// <summary>
    /// Parses docker's -p syntax: <c>[ip:][hostPort[-end]:]containerPort[-end][/tcp|udp|sctp]</c>. A host range with a
    /// single container port means "any free port of the range"; two ranges must be the same length.
    /// </summary>
    public static List<PortRequest> Parse(string spec)
    {
        var protocol = "tcp";
        var body = spec;
        var slash = spec.LastIndexOf('/');
        if (slash >= 0)
        {
            protocol = spec[(slash + 1)..].ToLowerInvariant();
            body = spec[..slash];
            if (protocol is not ("tcp" or "udp" or "sctp")) throw new ArgumentException($"invalid proto: {protocol}");
        }
        IPAddress? hostIp = null;
        string hostPart = "", containerPart;
        if (body.StartsWith('['))
        {
            var close = body.IndexOf(']');
            if (close < 0) throw new ArgumentException($"invalid port specification: \"{spec}\"");
            hostIp = ParseIp(body[1..close], spec);
            body = body[(close + 1)..].TrimStart(':');
            var colon = body.LastIndexOf(':');
            (hostPart, containerPart) = colon < 0 ? ("", body) : (body[..colon], body[(colon + 1)..]);
        }
        else
        {
            var parts = body.Split(':');
            switch (parts.Length)
            {
                case 1: containerPart = parts[0]; break;
                case 2: hostPart = parts[0]; containerPart = parts[1]; break;
                case 3: hostIp = parts[0].Length == 0 ? null : ParseIp(parts[0], spec); hostPart = parts[1]; containerPart = parts[2]; break;
                default: throw new ArgumentException($"invalid port specification: \"{spec}\"");
            }
        }
        var (cStart, cEnd) = ParseRange(containerPart, spec, allowZero: false);
        var (hStart, hEnd) = hostPart.Length == 0 ? (0, 0) : ParseRange(hostPart, spec, allowZero: true);
        var list = new List<PortRequest>();
        if (cStart == cEnd)
        {
            list.Add(new PortRequest(protocol, cStart, hostIp, hStart, hEnd));
            return list;
        }
        if (hStart != 0 && hEnd - hStart != cEnd - cStart)
            throw new ArgumentException($"invalid ranges specified for container and host Ports: {containerPart} and {hostPart}");
        for (var i = 0; i <= cEnd - cStart; i++)
            list.Add(new PortRequest(protocol, cStart + i, hostIp, hStart == 0 ? 0 : hStart + i, hStart == 0 ? 0 : hStart + i));
        return list;
    }

    private static IPAddress ParseIp(string text, string spec)
        => IPAddress.TryParse(text, out var ip) ? ip : throw new ArgumentException($"invalid IP address: {text}");

    /// <summary>"80" or "8000-8010"; Docker's error words.</summary>
    public static (int Start, int End) ParseRange(string text, string spec, bool allowZero)
    {
        var dash = text.IndexOf('-');
        var a = dash < 0 ? text : text[..dash];
        var b = dash < 0 ? text : text[(dash + 1)..];
        if (!int.TryParse(a, out var start) || !int.TryParse(b, out var end) || start < (allowZero ? 0 : 1) || end > 65535 || end < start)
            throw new ArgumentException($"invalid port specification: \"{spec}\"");
        return (start, end);
    }
}
