using Berth.Oci.Runtime;

namespace Berth.Linux.Cgroups;

/// <summary>
/// linux.resources.devices as a BPF_PROG_TYPE_CGROUP_DEVICE program, cgroup v2's only way to restrict
/// devices. The rules keep their v1 meaning as Berth writes them there: the base is "deny all" unless a
/// type-"a" rule says otherwise (the last such rule resets the list), and among the rules after it the
/// last one that matches decides. An allow rule matches when every requested access is in its set; a
/// deny rule when any requested access is.
/// </summary>
public static class DeviceFilter
{
    // struct bpf_cgroup_dev_ctx { u32 access_type /* (access << 16) | type */; u32 major; u32 minor; }
    public const int TypeBlock = 1, TypeChar = 2;
    public const int AccessMknod = 1, AccessRead = 2, AccessWrite = 4;
    private const int AccessAll = AccessMknod | AccessRead | AccessWrite;

    // eBPF opcodes (class | op | source).
    private const byte LoadWord = 0x61;        // BPF_LDX | BPF_MEM | BPF_W
    private const byte And32Imm = 0x54;        // BPF_ALU | BPF_AND | BPF_K
    private const byte Rsh32Imm = 0x74;        // BPF_ALU | BPF_RSH | BPF_K
    private const byte Mov32Imm = 0xb4;        // BPF_ALU | BPF_MOV | BPF_K
    private const byte Mov32Reg = 0xbc;        // BPF_ALU | BPF_MOV | BPF_X
    private const byte JumpNotEqualImm = 0x55; // BPF_JMP | BPF_JNE | BPF_K
    private const byte JumpNotEqualReg = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
    private const byte JumpEqualImm = 0x15;    // BPF_JMP | BPF_JEQ | BPF_K
    private const byte Exit = 0x95;

    /// <summary>The program as the kernel takes it: one 8-byte instruction per element.</summary>
    public static ulong[] Compile(IReadOnlyList<DeviceCgroup> rules)
    {
        // Rules before the last "a" rule cannot matter; that rule sets the default.
        var defaultAllow = false;
        var start = 0;
        for (var i = 0; i < rules.Count; i++)
            if (IsAll(rules[i])) { defaultAllow = rules[i].Allow; start = i + 1; }

        var program = new List<ulong>
        {
            Insn(LoadWord, dst: 2, src: 1, off: 0),   // r2 = access_type
            Insn(And32Imm, dst: 2, imm: 0xFFFF),      // r2 = type
            Insn(LoadWord, dst: 3, src: 1, off: 0),
            Insn(Rsh32Imm, dst: 3, imm: 16),          // r3 = requested access
            Insn(LoadWord, dst: 4, src: 1, off: 4),   // r4 = major
            Insn(LoadWord, dst: 5, src: 1, off: 8),   // r5 = minor
        };
        // The last rule decides, so it is tested first.
        for (var i = rules.Count - 1; i >= start; i--)
        {
            var rule = rules[i];
            var block = new List<(byte Op, byte Dst, byte Src, int Imm, bool JumpToNext)>();
            if (rule.Type is "b" or "c") block.Add((JumpNotEqualImm, 2, 0, rule.Type == "b" ? TypeBlock : TypeChar, true));
            var access = Access(rule.Access);
            if (access != AccessAll)
            {
                block.Add((Mov32Reg, 1, 3, 0, false));
                block.Add((And32Imm, 1, 0, access, false));
                // allow: requested ⊆ access (r1 == r3); deny: requested ∩ access ≠ ∅ (r1 != 0).
                if (rule.Allow) block.Add((JumpNotEqualReg, 1, 3, 0, true));
                else block.Add((JumpEqualImm, 1, 0, 0, true));
            }
            // Validated to fit: the immediate is sign-extended against the zero-extended u32 field.
            if (rule.Major is { } major and >= 0) block.Add((JumpNotEqualImm, 4, 0, checked((int)major), true));
            if (rule.Minor is { } minor and >= 0) block.Add((JumpNotEqualImm, 5, 0, checked((int)minor), true));
            block.Add((Mov32Imm, 0, 0, rule.Allow ? 1 : 0, false));
            block.Add((Exit, 0, 0, 0, false));
            for (var j = 0; j < block.Count; j++)
            {
                var b = block[j];
                // A failed test skips the rest of this block.
                var off = b.JumpToNext ? (short)(block.Count - j - 1) : (short)0;
                program.Add(Insn(b.Op, b.Dst, b.Src, off, b.Imm));
            }
        }
        program.Add(Insn(Mov32Imm, dst: 0, imm: defaultAllow ? 1 : 0));
        program.Add(Insn(Exit));
        return [.. program];
    }

    private static bool IsAll(DeviceCgroup r)
        => r.Type is null or "a" && r.Major is null or -1 && r.Minor is null or -1 && Access(r.Access) == AccessAll;

    private static int Access(string? access)
    {
        if (access is null) return AccessAll;
        var bits = 0;
        foreach (var c in access)
            bits |= c switch { 'r' => AccessRead, 'w' => AccessWrite, 'm' => AccessMknod, _ => 0 };
        return bits;
    }

    private static ulong Insn(byte op, byte dst = 0, byte src = 0, short off = 0, int imm = 0)
        => op | (ulong)(byte)((src << 4) | dst) << 8 | (ulong)(ushort)off << 16 | (ulong)(uint)imm << 32;
}
