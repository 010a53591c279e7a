using Berth.Oci.Runtime;

namespace Berth.Linux.Tests;

using Berth.Linux.Cgroups;

/// <summary>The compiled device filter, run through a small eBPF interpreter: verdicts without root.</summary>
public sealed class DeviceFilterTests
{
    private static DeviceCgroup Rule(bool allow, string? type, long? major, long? minor, string access)
        => new() { Allow = allow, Type = type, Major = major, Minor = minor, Access = access };

    /// <summary>What Docker puts in every container's config.json.</summary>
    private static readonly List<DeviceCgroup> DockerDefaults =
    [
        Rule(false, null, null, null, "rwm"),
        Rule(true, "c", null, null, "m"),
        Rule(true, "b", null, null, "m"),
        Rule(true, "c", 1, 3, "rwm"),
        Rule(true, "c", 1, 8, "rwm"),
        Rule(true, "c", 1, 7, "rwm"),
        Rule(true, "c", 5, 0, "rwm"),
        Rule(true, "c", 1, 5, "rwm"),
        Rule(true, "c", 1, 9, "rwm"),
        Rule(true, "c", 136, null, "rwm"),
        Rule(true, "c", 5, 2, "rwm"),
        Rule(true, "c", 10, 200, "rwm"),
    ];

    [Theory]
    [InlineData('c', 1, 3, "rw", true)]     // /dev/null
    [InlineData('c', 1, 5, "r", true)]      // /dev/zero
    [InlineData('c', 136, 7, "rw", true)]   // a pty
    [InlineData('c', 10, 200, "rw", true)]  // /dev/net/tun
    [InlineData('c', 4, 1, "rw", false)]    // a host tty
    [InlineData('c', 1, 1, "r", false)]     // /dev/mem
    [InlineData('b', 8, 0, "r", false)]     // the host's disk
    [InlineData('b', 8, 0, "m", true)]      // mknod of any node is allowed; opening it is not
    [InlineData('c', 4, 1, "m", true)]
    [InlineData('c', 4, 1, "rm", false)]
    public void Docker_default_rules(char type, int major, int minor, string access, bool allowed)
        => Assert.Equal(allowed, Run(DeviceFilter.Compile(DockerDefaults), type, major, minor, access));

    [Fact]
    public void The_last_matching_rule_wins_and_a_deny_matches_any_requested_access()
    {
        var program = DeviceFilter.Compile([Rule(true, "c", null, null, "rwm"), Rule(false, "c", 5, 1, "w")]);
        Assert.True(Run(program, 'c', 5, 1, "r"));
        Assert.False(Run(program, 'c', 5, 1, "w"));
        Assert.False(Run(program, 'c', 5, 1, "rw"));
        Assert.True(Run(program, 'c', 4, 0, "rw"));
        Assert.False(Run(program, 'b', 8, 0, "r")); // no "a" rule: the base is deny
    }

    [Fact]
    public void An_allow_rule_covers_only_the_access_it_lists()
    {
        var program = DeviceFilter.Compile([Rule(true, "c", 1, 3, "r")]);
        Assert.True(Run(program, 'c', 1, 3, "r"));
        Assert.False(Run(program, 'c', 1, 3, "rw"));
        Assert.False(Run(program, 'c', 1, 3, "w"));
    }

    [Fact]
    public void Allow_all_resets_the_list_and_later_rules_carve_exceptions()
    {
        var program = DeviceFilter.Compile([Rule(true, "c", 1, 3, "rwm"), Rule(true, "a", null, null, "rwm"), Rule(false, "b", 8, null, "rwm")]);
        Assert.True(Run(program, 'c', 4, 1, "rw"));
        Assert.False(Run(program, 'b', 8, 16, "r"));
        Assert.True(Run(program, 'b', 9, 0, "r"));
    }

    /// <summary>Runs the program on a bpf_cgroup_dev_ctx; returns the verdict (r0 == 1).</summary>
    private static bool Run(ulong[] program, char type, int major, int minor, string access)
    {
        var acc = (access.Contains('m') ? DeviceFilter.AccessMknod : 0) | (access.Contains('r') ? DeviceFilter.AccessRead : 0) | (access.Contains('w') ? DeviceFilter.AccessWrite : 0);
        uint[] ctx = [(uint)(acc << 16 | (type == 'b' ? DeviceFilter.TypeBlock : DeviceFilter.TypeChar)), (uint)major, (uint)minor];
        var r = new ulong[11];
        for (var pc = 0; pc < program.Length; pc++)
        {
            var insn = program[pc];
            var op = (byte)insn;
            var dst = (int)(insn >> 8) & 0xF;
            var src = (int)(insn >> 12) & 0xF;
            var off = (short)(insn >> 16);
            var imm = (int)(insn >> 32);
            switch (op)
            {
                case 0x61: Assert.Equal(1, src); r[dst] = ctx[off / 4]; break;
                case 0x54: r[dst] = (uint)r[dst] & (uint)imm; break;
                case 0x74: r[dst] = (uint)r[dst] >> imm; break;
                case 0xb4: r[dst] = (uint)imm; break;
                case 0xbc: r[dst] = (uint)r[src]; break;
                case 0x55: if (r[dst] != (ulong)(long)imm) pc += off; break;
                case 0x5d: if (r[dst] != r[src]) pc += off; break;
                case 0x15: if (r[dst] == (ulong)(long)imm) pc += off; break;
                case 0x95: return r[0] == 1;
                default: Assert.Fail($"unexpected opcode 0x{op:x2} at {pc}"); break;
            }
            Assert.InRange(pc, 0, program.Length - 1);
        }
        Assert.Fail("the program ran off its end");
        return false;
    }
}
