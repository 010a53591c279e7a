using System.Buffers.Binary;
using System.Net;
using Berth.Linux;
using Berth.Linux.Netlink;
using Berth.Network.Dns;

namespace Berth.Network.Tests;

/// <summary>A netlink "kernel" that records what is sent and acknowledges (or refuses) each request.</summary>
internal sealed class FakeNetlink : INetlinkCalls
{
    public List<byte[]> Sent { get; } = [];
    public int RefuseWith { get; set; }
    public string? RefusalText { get; set; }
    private readonly Queue<byte[]> _replies = new();
    public bool Closed { get; private set; }

    public int OpenNetlink(int protocol) => 42;
    public void CloseNetlink(int fd) => Closed = true;

    public void NetlinkSend(int fd, ReadOnlySpan<byte> datagram)
    {
        Sent.Add(datagram.ToArray());
        var sequence = BinaryPrimitives.ReadUInt32LittleEndian(datagram[8..]);
        var w = new NetlinkWriter();
        // An unrelated message with an old sequence number first: it must be skipped.
        var stale = w.BeginMessage(Nl.Noop, 0, sequence - 1);
        w.EndMessage(stale);
        var m = w.BeginMessage(Nl.Error, (ushort)(RefusalText is null ? 0x100 : 0x300), sequence);
        w.Struct(-RefuseWith);
        w.Struct(new IfInfoMsg()); // stands for the echoed 16-byte header
        if (RefusalText is not null) w.AttributeString(Nl.ExtAckMessage, RefusalText);
        w.EndMessage(m);
        _replies.Enqueue(w.Written.ToArray());
    }

    public int NetlinkReceive(int fd, Span<byte> buffer)
    {
        var reply = _replies.Dequeue();
        reply.CopyTo(buffer);
        return reply.Length;
    }
}

public sealed class NetlinkCodecTests
{
    [Fact]
    public void Veth_pair_request_nests_the_peer_with_its_namespace_and_name()
    {
        var kernel = new FakeNetlink();
        using (var nl = new RouteNetlink(kernel)) nl.CreateVethPair("vethabc", "eth0", peerNamespaceFd: 7, mtu: 1400, peerMac: [2, 0x42, 1, 2, 3, 4]);
        Assert.True(kernel.Closed);
        var sent = Assert.Single(kernel.Sent);
        var messages = new List<(ushort Type, ushort Flags)>();
        foreach (var m in new MessageReader(sent)) messages.Add((m.Type, m.Flags));
        Assert.Equal(sent.Length, (int)BinaryPrimitives.ReadUInt32LittleEndian(sent));
        Assert.Equal((Nl.NewLink, (ushort)(Nl.FRequest | Nl.FAck | Nl.FCreate | Nl.FExcl)), Assert.Single(messages));

        var enumerator = new MessageReader(sent);
        Assert.True(enumerator.MoveNext());
        string? name = null, kind = null, peerName = null;
        uint? mtu = null, peerNs = null;
        byte[]? peerMac = null;
        foreach (var a in enumerator.Current.Attributes<IfInfoMsg>())
        {
            if (a.Type == 3) name = a.String;
            if (a.Type == 4) mtu = a.U32;
            if (a.Type != 18) continue;
            foreach (var info in a.Nested)
            {
                if (info.Type == 1) kind = info.String;
                if (info.Type != 2) continue;
                foreach (var data in info.Nested)
                {
                    Assert.Equal(1, data.Type); // VETH_INFO_PEER: an ifinfomsg, then attributes
                    foreach (var p in new AttributeReader(data.Value[16..]))
                    {
                        if (p.Type == 3) peerName = p.String;
                        if (p.Type == 28) peerNs = p.U32;
                        if (p.Type == 1) peerMac = p.Value.ToArray();
                    }
                }
            }
        }
        Assert.Equal(("vethabc", "veth", "eth0", 1400u, 7u), (name, kind, peerName, mtu, peerNs));
        Assert.Equal([2, 0x42, 1, 2, 3, 4], peerMac!);
    }

    [Fact]
    public void Address_request_carries_family_prefix_and_nodad_for_ipv6()
    {
        var kernel = new FakeNetlink();
        using var nl = new RouteNetlink(kernel);
        nl.AddAddress(5, IPAddress.Parse("fd00:1::2"), 64);
        var e = new MessageReader(kernel.Sent[0]);
        Assert.True(e.MoveNext());
        var header = e.Current.Struct<IfAddrMsg>();
        Assert.Equal((10, 64, 5), (header.Family, header.PrefixLength, header.Index));
        var flags = 0u;
        foreach (var a in e.Current.Attributes<IfAddrMsg>())
        {
            if (a.Type == 2) Assert.Equal(IPAddress.Parse("fd00:1::2"), new IPAddress(a.Value));
            if (a.Type == 8) flags = a.U32;
        }
        Assert.Equal(2u, flags);
    }

    [Fact]
    public void Refusal_becomes_an_exception_with_errno_and_extended_ack_text()
    {
        var kernel = new FakeNetlink { RefuseWith = Errno.EEXIST, RefusalText = "File exists here" };
        using var nl = new RouteNetlink(kernel);
        var e = Assert.Throws<NetlinkException>(() => nl.CreateBridge("br0"));
        Assert.Equal(Errno.EEXIST, e.ErrorNumber);
        Assert.Equal("File exists here", e.KernelMessage);
        Assert.StartsWith("create bridge br0:", e.Message);
    }

    [Fact]
    public void Truncated_input_stops_the_readers()
    {
        var w = new NetlinkWriter();
        var m = w.BeginMessage(Nl.NewLink, 0, 1);
        w.AttributeString(3, "x");
        w.EndMessage(m);
        var bytes = w.Written.ToArray();
        var count = 0;
        foreach (var _ in new MessageReader(bytes.AsSpan(0, bytes.Length - 1))) count++;
        Assert.Equal(0, count);
        bytes[16] = 200; // an attribute claiming more than there is
        foreach (var _ in new AttributeReader(bytes.AsSpan(16))) count++;
        Assert.Equal(0, count);
    }
}

public sealed class IpamTests
{
    [Fact]
    public void Default_pools_are_dockers_and_skip_what_is_taken()
    {
        Assert.Equal("172.18.0.0/16", AddressPool.Defaults[0].Subnets().First().ToString()); // never docker0's 172.17.0.0/16
        var taken = new List<IPNetwork> { IPNetwork.Parse("172.18.5.0/24") };
        Assert.Equal("172.19.0.0/16", SubnetPicker.Pick(AddressPool.Defaults, taken).ToString());
        var pool = AddressPool.Parse("base=10.10.0.0/16,size=24");
        Assert.Equal("10.10.1.0/24", SubnetPicker.Pick([pool], [IPNetwork.Parse("10.10.0.0/24")]).ToString());
        Assert.Null(SubnetPicker.Pick([new AddressPool(IPNetwork.Parse("10.9.0.0/24"), 24)], [IPNetwork.Parse("10.0.0.0/8")]));
    }

    [Fact]
    public void Host_networks_ignore_default_loopback_and_local_table_routes()
    {
        var routes = new List<RouteInfo>
        {
            new(IPNetwork.Parse("0.0.0.0/0"), IPAddress.Parse("192.0.2.1"), 2, 254),
            new(IPNetwork.Parse("192.0.2.0/24"), null, 2, 254),
            new(IPNetwork.Parse("127.0.0.0/8"), null, 1, 255),
            new(IPNetwork.Parse("192.0.2.2/32"), null, 2, 255),
        };
        var list = SubnetPicker.HostNetworks(routes, [new AddressInfo(3, IPAddress.Parse("10.1.2.3"), 16)]);
        Assert.Equal(["192.0.2.0/24", "10.1.0.0/16"], list.Select(n => n.ToString()));
    }

    [Fact]
    public void Addresses_are_allocated_lowest_first_within_range_and_released()
    {
        var space = new AddressSpace(IPNetwork.Parse("10.5.0.0/24"), null, null);
        Assert.Equal(IPAddress.Parse("10.5.0.1"), space.Gateway);
        Assert.Equal(IPAddress.Parse("10.5.0.2"), space.Allocate());
        Assert.Equal(IPAddress.Parse("10.5.0.3"), space.Allocate());
        space.Release(IPAddress.Parse("10.5.0.2"));
        Assert.Equal(IPAddress.Parse("10.5.0.2"), space.Allocate());
        Assert.Equal(IPAddress.Parse("10.5.0.9"), space.Allocate(IPAddress.Parse("10.5.0.9")));
        Assert.Throws<InvalidOperationException>(() => space.Allocate(IPAddress.Parse("10.5.0.9")));
        Assert.Throws<ArgumentException>(() => space.Allocate(IPAddress.Parse("10.6.0.9")));

        var ranged = new AddressSpace(IPNetwork.Parse("10.5.0.0/24"), IPAddress.Parse("10.5.0.254"), IPNetwork.Parse("10.5.0.128/30"));
        // As Docker's IPAM: only the subnet's own network and broadcast addresses are kept out of a range.
        Assert.Equal([IPAddress.Parse("10.5.0.128"), IPAddress.Parse("10.5.0.129"), IPAddress.Parse("10.5.0.130"), IPAddress.Parse("10.5.0.131")],
            new[] { ranged.Allocate(), ranged.Allocate(), ranged.Allocate(), ranged.Allocate() });
        Assert.Throws<InvalidOperationException>(() => ranged.Allocate());

        var tiny = new AddressSpace(IPNetwork.Parse("10.7.0.0/30"), null, null);
        Assert.Equal(IPAddress.Parse("10.7.0.2"), tiny.Allocate());
        Assert.Throws<InvalidOperationException>(() => tiny.Allocate()); // .3 is the broadcast address

        var v6 = new AddressSpace(IPNetwork.Parse("fd00:9::/64"), null, null);
        Assert.Equal(IPAddress.Parse("fd00:9::2"), v6.Allocate());
    }

    [Fact]
    public void Bad_subnets_and_gateways_are_named()
    {
        Assert.Contains("invalid CIDR", Assert.Throws<ArgumentException>(() => IpMath.ParseSubnet("10.0.0.0")).Message);
        Assert.Contains("it should be 10.0.0.0/8", Assert.Throws<ArgumentException>(() => IpMath.ParseSubnet("10.1.0.0/8")).Message);
        Assert.Contains("gateway", Assert.Throws<ArgumentException>(() => new AddressSpace(IPNetwork.Parse("10.0.0.0/24"), IPAddress.Parse("10.0.1.1"), null)).Message);
        Assert.Contains("ip-range", Assert.Throws<ArgumentException>(() => new AddressSpace(IPNetwork.Parse("10.0.0.0/24"), null, IPNetwork.Parse("10.0.1.0/28"))).Message);
    }
}

public sealed class PortSpecTests
{
    [Theory]
    [InlineData("80", "tcp", 80, null, 0, 0)]
    [InlineData("8080:80", "tcp", 80, null, 8080, 8080)]
    [InlineData("127.0.0.1:8080:80/udp", "udp", 80, "127.0.0.1", 8080, 8080)]
    [InlineData("127.0.0.1::80", "tcp", 80, "127.0.0.1", 0, 0)]
    [InlineData("[::1]:8080:80", "tcp", 80, "::1", 8080, 8080)]
    [InlineData("8000-8010:80", "tcp", 80, null, 8000, 8010)]
    public void Single_container_ports(string spec, string protocol, int containerPort, string? hostIp, int start, int end)
        => Assert.Equal(new PortRequest(protocol, containerPort, hostIp is null ? null : IPAddress.Parse(hostIp), start, end), Assert.Single(PortSpec.Parse(spec)));

    [Fact]
    public void Ranges_expand_pairwise_and_must_match()
    {
        var list = PortSpec.Parse("9000-9002:80-82/udp");
        Assert.Equal([(9000, 80), (9001, 81), (9002, 82)], list.Select(p => (p.HostPortStart, p.ContainerPort)));
        Assert.All(list, p => Assert.Equal("udp", p.Protocol));
        Assert.Contains("invalid ranges", Assert.Throws<ArgumentException>(() => PortSpec.Parse("9000-9001:80-82")).Message);
        Assert.Contains("invalid proto", Assert.Throws<ArgumentException>(() => PortSpec.Parse("80/icmp")).Message);
        Assert.Contains("invalid port", Assert.Throws<ArgumentException>(() => PortSpec.Parse("70000")).Message);
        Assert.Contains("invalid IP", Assert.Throws<ArgumentException>(() => PortSpec.Parse("nope:1:2")).Message);
    }
}

public sealed class RulesetTests
{
    [Fact]
    public void Table_is_replaced_whole_with_masquerade_isolation_and_dnat()
    {
        var text = NftRuleset.Render("berth-x",
            [new BridgeRules("br-a", [IPNetwork.Parse("10.1.0.0/24")], false), new BridgeRules("br-b", [IPNetwork.Parse("10.2.0.0/24"), IPNetwork.Parse("fd00:2::/64")], true)],
            [new PortRule("tcp", null, 8080, IPAddress.Parse("10.1.0.2"), 80), new PortRule("udp", IPAddress.Parse("127.0.0.1"), 53, IPAddress.Parse("10.1.0.3"), 5353)]);
        var lines = text.Split('\n').Select(l => l.Trim()).ToList();
        Assert.Equal(["add table inet berth-x", "delete table inet berth-x", "table inet berth-x {"], lines.Take(3));
        Assert.Contains("meta nfproto ipv4 tcp dport 8080 dnat ip to 10.1.0.2:80", lines);
        Assert.Contains("ip daddr 127.0.0.1 udp dport 53 dnat ip to 10.1.0.3:5353", lines);
        Assert.Contains("ip saddr 10.1.0.0/24 oifname != \"br-a\" masquerade", lines);
        Assert.DoesNotContain("ip saddr 10.2.0.0/24 oifname != \"br-b\" masquerade", lines); // internal: no way out
        Assert.Contains("iifname \"br-b\" oifname != \"br-b\" drop", lines);
        Assert.Contains("iifname \"br-a\" oifname { \"br-b\" } drop", lines);
        Assert.Contains("oifname \"br-b\" ip6 saddr fd00:2::/64 ct status dnat masquerade", lines);
        Assert.Equal(2, lines.Count(l => l == "fib daddr type local jump published"));
        Assert.Equal("add table inet t\ndelete table inet t\n", NftRuleset.Delete("t"));
    }

    [Fact]
    public void Without_ports_nothing_jumps_to_the_published_chain()
    {
        var text = NftRuleset.Render("t", [new BridgeRules("b", [IPNetwork.Parse("10.1.0.0/24")], false)], []);
        Assert.DoesNotContain("jump published", text);
        Assert.DoesNotContain("ct status dnat accept", text);
    }

    [Fact]
    public void Interface_names_that_could_break_the_rules_are_refused()
    {
        Assert.Throws<NetworkException>(() => NetworkManager.ValidateInterfaceName("bad\"name"));
        Assert.Throws<NetworkException>(() => NetworkManager.ValidateInterfaceName("sixteen-chars-xx"));
        NetworkManager.ValidateInterfaceName("br-0123456789a");
    }

    [Fact]
    public void Macs_follow_dockers_scheme_and_are_validated()
    {
        Assert.Equal("02:42:0a:01:00:02", NetworkManager.MacFromAddress(IPAddress.Parse("10.1.0.2")));
        Assert.Equal("02:42:ac:11:00:02", NetworkManager.NormalizeMac("02-42-AC-11-00-02"));
        Assert.Throws<NetworkException>(() => NetworkManager.NormalizeMac("01:00:5e:00:00:01"));
        Assert.Throws<NetworkException>(() => NetworkManager.NormalizeMac("zz:00:5e:00:00:01"));
    }
}

public sealed class DnsCodecTests
{
    [Fact]
    public void Query_round_trips_and_compressed_names_are_followed()
    {
        var q = new DnsMessage { Id = 0xbeef, RecursionDesired = true, Questions = { new DnsQuestion("web.example", DnsType.Aaaa) } };
        var parsed = DnsMessage.Parse(q.ToBytes());
        Assert.Equal((0xbeef, true, false), (parsed.Id, parsed.RecursionDesired, parsed.IsResponse));
        Assert.Equal(new DnsQuestion("web.example", DnsType.Aaaa), Assert.Single(parsed.Questions));

        // A response whose answer names the question by a pointer (0xc00c), as real servers write it.
        var r = q.CreateResponse();
        r.Answers.Add(DnsRecord.Address("web.example", IPAddress.Parse("fd00::5")));
        var bytes = r.ToBytes().ToList();
        var answerStart = 12 + DnsMessage.EncodeName("web.example").Length + 4;
        bytes.RemoveRange(answerStart, DnsMessage.EncodeName("web.example").Length);
        bytes.InsertRange(answerStart, [0xc0, 0x0c]);
        var compressed = DnsMessage.Parse(bytes.ToArray());
        var answer = Assert.Single(compressed.Answers);
        Assert.Equal(("web.example", DnsType.Aaaa, 600u), (answer.Name, answer.Type, answer.Ttl));
        Assert.Equal(IPAddress.Parse("fd00::5"), new IPAddress(answer.Data));
        Assert.True(compressed.IsResponse && compressed.RecursionAvailable);
    }

    [Fact]
    public void Malformed_messages_are_format_errors_not_hangs()
    {
        Assert.Throws<FormatException>(() => DnsMessage.Parse([1, 2, 3]));
        // One question whose name is a pointer to itself.
        byte[] loop = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1];
        Assert.Throws<FormatException>(() => DnsMessage.Parse(loop));
        byte[] truncated = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, (byte)'a'];
        Assert.Throws<FormatException>(() => DnsMessage.Parse(truncated));
    }

    [Fact]
    public async Task Server_answers_from_its_directory_and_fails_softly_without_upstreams()
    {
        var directory = new Directory();
        using var server = new EmbeddedDnsServer(directory, []);
        var query = new DnsMessage { Id = 7, Questions = { new DnsQuestion("Web", DnsType.A) } }.ToBytes();
        var reply = DnsMessage.Parse((await server.AnswerAsync("c1", query, tcp: false, default))!);
        Assert.Equal((7, DnsRcode.NoError, true), (reply.Id, reply.Rcode, reply.Authoritative));
        Assert.Equal(IPAddress.Parse("10.0.0.5"), new IPAddress(Assert.Single(reply.Answers).Data));

        var aaaa = DnsMessage.Parse((await server.AnswerAsync("c1", new DnsMessage { Id = 8, Questions = { new DnsQuestion("web", DnsType.Aaaa) } }.ToBytes(), false, default))!);
        Assert.Equal(DnsRcode.NoError, aaaa.Rcode);
        Assert.Empty(aaaa.Answers);

        var ptr = DnsMessage.Parse((await server.AnswerAsync("c1", new DnsMessage { Id = 9, Questions = { new DnsQuestion("5.0.0.10.in-addr.arpa", DnsType.Ptr) } }.ToBytes(), false, default))!);
        Assert.Equal("web.net", DnsMessage.ReadName(Assert.Single(ptr.Answers).Data, ref Unsafe.AsRef(0)));

        var unknown = DnsMessage.Parse((await server.AnswerAsync("c1", new DnsMessage { Id = 10, Questions = { new DnsQuestion("elsewhere", DnsType.A) } }.ToBytes(), false, default))!);
        Assert.Equal(DnsRcode.ServFail, unknown.Rcode);
        Assert.Null(await server.AnswerAsync("c1", new DnsMessage { Id = 11, IsResponse = true }.ToBytes(), false, default));
    }

    [Fact]
    public void Reverse_names_parse_for_both_families()
    {
        Assert.Equal(IPAddress.Parse("10.0.0.5"), EmbeddedDnsServer.ParseReverseName("5.0.0.10.in-addr.arpa"));
        var v6 = string.Join('.', "fd000000000000000000000000000001".Reverse()) + ".ip6.arpa";
        Assert.Equal(IPAddress.Parse("fd00::1"), EmbeddedDnsServer.ParseReverseName(v6));
        Assert.Null(EmbeddedDnsServer.ParseReverseName("example.com"));
    }

    [Fact]
    public void Redirect_rules_send_port_53_to_the_resolvers_ports()
    {
        var rules = EmbeddedDnsServer.RedirectRules(40001, 40002);
        Assert.Contains("ip daddr 127.0.0.11 udp dport 53 dnat to 127.0.0.11:40001", rules);
        Assert.Contains("ip daddr 127.0.0.11 tcp dport 53 dnat to 127.0.0.11:40002", rules);
    }

    private sealed class Directory : IDnsDirectory
    {
        public IReadOnlyList<IPAddress>? Resolve(string containerId, string name) => name == "web" ? [IPAddress.Parse("10.0.0.5")] : null;
        public string? ReverseLookup(string containerId, IPAddress address) => address.Equals(IPAddress.Parse("10.0.0.5")) ? "web.net" : null;
        public bool MayForward(string containerId) => true;
    }
}

internal static class Unsafe
{
    public static ref int AsRef(int value) => ref new int[] { value }[0];
}
