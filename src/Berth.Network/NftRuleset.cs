using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Berth.Network;

/// <summary>A bridge network as the firewall sees it.</summary>
public sealed record BridgeRules(string Bridge, IReadOnlyList<IPNetwork> Subnets, bool Internal);

/// <summary>One published port: traffic to <see cref="HostIp"/> (any local address when null) on
/// <see cref="HostPort"/> goes to <see cref="ContainerIp"/>:<see cref="ContainerPort"/>.</summary>
public sealed record PortRule(string Protocol, IPAddress? HostIp, int HostPort, IPAddress ContainerIp, int ContainerPort);

/// <summary>
/// Renders Berth's whole nftables table from the networks and published ports. The table is always replaced whole,
/// in one transaction ("add table; delete table; table {...}"), so a rule set is never half-applied and nothing
/// outside the table is touched. Chains:
/// <list type="bullet">
/// <item>prerouting/output (nat): traffic to a local address jumps to "published", which DNATs published ports — from
/// other hosts and namespaces (prerouting) and from the host itself, 127.0.0.1 included (output; the bridge has
/// route_localnet so a loopback source may leave through it).</item>
/// <item>postrouting (nat): masquerade of each bridge subnet leaving through another interface; masquerade of
/// loopback-sourced and DNATed traffic entering a bridge from its own subnet (hairpin: a container reaching its own
/// or a neighbour's published port through a host address gets replies through the host).</item>
/// <item>forward (filter): DNATed traffic is let through; otherwise no traffic between two Berth bridges, and none
/// into or out of an internal network.</item>
/// </list>
/// </summary>
public static class NftRuleset
{
    public static string Render(string table, IReadOnlyList<BridgeRules> bridges, IReadOnlyList<PortRule> ports)
    {
        var s = new StringBuilder(1024 + 96 * ports.Count);
        s.Append("add table inet ").Append(table).Append('\n');
        s.Append("delete table inet ").Append(table).Append('\n');
        s.Append("table inet ").Append(table).Append(" {\n");

        s.Append("\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
        if (ports.Count > 0) s.Append("\t\tfib daddr type local jump published\n");
        s.Append("\t}\n");

        s.Append("\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n");
        if (ports.Count > 0) s.Append("\t\tfib daddr type local jump published\n");
        s.Append("\t}\n");

        s.Append("\tchain published {\n");
        foreach (var p in ports) AppendDnat(s, p);
        s.Append("\t}\n");

        s.Append("\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
        foreach (var b in bridges)
        {
            foreach (var subnet in b.Subnets)
            {
                var ip = Family(subnet.BaseAddress);
                if (!b.Internal) s.Append("\t\t").Append(ip).Append(" saddr ").Append(subnet).Append(" oifname != ").Append(Quote(b.Bridge)).Append(" masquerade\n");
                s.Append("\t\toifname ").Append(Quote(b.Bridge)).Append(' ').Append(ip).Append(" saddr ").Append(subnet).Append(" ct status dnat masquerade\n");
            }
            s.Append("\t\toifname ").Append(Quote(b.Bridge)).Append(" ip saddr 127.0.0.0/8 masquerade\n");
        }
        s.Append("\t}\n");

        s.Append("\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n");
        if (ports.Count > 0) s.Append("\t\tct status dnat accept\n");
        foreach (var b in bridges)
        {
            if (b.Internal)
            {
                s.Append("\t\tiifname ").Append(Quote(b.Bridge)).Append(" oifname != ").Append(Quote(b.Bridge)).Append(" drop\n");
                s.Append("\t\toifname ").Append(Quote(b.Bridge)).Append(" iifname != ").Append(Quote(b.Bridge)).Append(" drop\n");
            }
            var others = bridges.Where(o => o.Bridge != b.Bridge).Select(o => Quote(o.Bridge)).ToList();
            if (others.Count > 0) s.Append("\t\tiifname ").Append(Quote(b.Bridge)).Append(" oifname { ").AppendJoin(", ", others).Append(" } drop\n");
        }
        s.Append("\t}\n");
        s.Append("}\n");
        return s.ToString();
    }

    private static void AppendDnat(StringBuilder s, PortRule p)
    {
        var ip = Family(p.ContainerIp);
        s.Append("\t\t");
        if (p.HostIp is { } host && !host.Equals(IPAddress.Any) && !host.Equals(IPAddress.IPv6Any))
        {
            if (Family(host) != ip) return; // a v4 host address cannot lead to a v6 container address
            s.Append(ip).Append(" daddr ").Append(host).Append(' ');
        }
        else s.Append("meta nfproto ").Append(ip == "ip" ? "ipv4" : "ipv6").Append(' ');
        s.Append(p.Protocol).Append(" dport ").Append(p.HostPort).Append(" dnat ").Append(ip).Append(" to ");
        if (ip == "ip6") s.Append('[').Append(p.ContainerIp).Append(']');
        else s.Append(p.ContainerIp);
        s.Append(':').Append(p.ContainerPort).Append('\n');
    }

    private static string Family(IPAddress a) => a.AddressFamily == AddressFamily.InterNetwork ? "ip" : "ip6";

    /// <summary>Interface names are at most 15 characters of a restricted set (checked by the caller); quoted for nft.</summary>
    private static string Quote(string name) => "\"" + name + "\"";

    /// <summary>The commands that remove the table (nothing when it is absent).</summary>
    public static string Delete(string table) => $"add table inet {table}\ndelete table inet {table}\n";
}
