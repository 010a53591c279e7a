using Berth.Linux;

namespace Berth.Runtime.Seccomp;

/// <summary>Classic-BPF opcodes (linux/bpf_common.h) and the seccomp return values (linux/seccomp.h).</summary>
public static class Bpf
{
    public const ushort LdWAbs = 0x00 | 0x00 | 0x20;   // BPF_LD | BPF_W | BPF_ABS
    public const ushort AluAndK = 0x04 | 0x50;         // BPF_ALU | BPF_AND | BPF_K
    public const ushort Ja = 0x05 | 0x00;              // BPF_JMP | BPF_JA
    public const ushort JeqK = 0x05 | 0x10;            // BPF_JMP | BPF_JEQ | BPF_K
    public const ushort JgtK = 0x05 | 0x20;
    public const ushort JgeK = 0x05 | 0x30;
    public const ushort JsetK = 0x05 | 0x40;
    public const ushort RetK = 0x06;                   // BPF_RET | BPF_K

    /// <summary>BPF_MAXINSNS: the kernel refuses longer programs.</summary>
    public const int MaxInstructions = 4096;

    public const uint RetKillProcess = 0x80000000, RetKillThread = 0x00000000, RetTrap = 0x00030000,
        RetErrno = 0x00050000, RetUserNotif = 0x7fc00000, RetTrace = 0x7ff00000, RetLog = 0x7ffc0000,
        RetAllow = 0x7fff0000;

    public const uint RetActionMask = 0xffff0000, RetDataMask = 0x0000ffff;

    /// <summary>Offsets into struct seccomp_data.</summary>
    public const uint OffsetNr = 0, OffsetArch = 4, OffsetInstructionPointer = 8, OffsetArgs = 16;
}

/// <summary>
/// Emits classic BPF with symbolic forward labels, then lays it out: a conditional jump can only skip 255
/// instructions (8-bit jt/jf), so a far one is routed through an unconditional <c>ja</c> (32-bit offset)
/// placed right after it.
/// </summary>
internal sealed class BpfBuilder
{
    private readonly List<Node> _nodes = [];
    private int _labelCount;

    private readonly record struct Node(ushort Code, uint K, int TrueLabel, int FalseLabel, int PlacedLabel)
    {
        public bool IsLabel => PlacedLabel >= 0;
        public bool IsConditional => !IsLabel && (Code & 0x07) == 0x05 && Code != Bpf.Ja;
        public bool IsJa => !IsLabel && Code == Bpf.Ja;
    }

    public int NewLabel() => _labelCount++;

    public void Place(int label) => _nodes.Add(new Node(0, 0, -1, -1, label));

    public void LoadWord(uint offset) => Add(Bpf.LdWAbs, offset);
    public void And(uint mask) => Add(Bpf.AluAndK, mask);
    public void Return(uint value) => Add(Bpf.RetK, value);

    /// <summary>A conditional jump: both targets are labels placed later.</summary>
    public void Jump(ushort condition, uint k, int whenTrue, int whenFalse)
        => _nodes.Add(new Node(condition, k, whenTrue, whenFalse, -1));

    public void JumpAlways(int label) => _nodes.Add(new Node(Bpf.Ja, 0, label, -1, -1));

    private void Add(ushort code, uint k) => _nodes.Add(new Node(code, k, -1, -1, -1));

    /// <summary>
    /// Lays the program out from its end backwards, so every jump's distance is known when it is placed
    /// (all jumps go forward). A conditional jump whose target is more than 255 instructions away goes
    /// through a trampoline right after it: a copy of the target's <c>ret</c> when the target is one, else a
    /// <c>ja</c>. A trampoline still within reach is shared by later (earlier-placed) jumps to the same target.
    /// </summary>
    public SockFilter[] Assemble()
    {
        // For each label, the ret value it stands for, when the label is placed right before a ret.
        var returnAt = new Dictionary<int, uint>();
        for (var i = 0; i + 1 < _nodes.Count; i++)
            if (_nodes[i].IsLabel && _nodes[i + 1].Code == Bpf.RetK && !_nodes[i + 1].IsLabel)
                returnAt[_nodes[i].PlacedLabel] = _nodes[i + 1].K;

        var reversed = new List<SockFilter>(_nodes.Count + 16);
        var remaining = new int[_labelCount];      // instructions from the label to the end; 0 = not placed yet
        var trampoline = new Dictionary<int, int>(); // target label -> "remaining" of its nearest trampoline

        int Distance(int label)
        {
            var r = remaining[label];
            if (r == 0) throw new InvalidOperationException("BPF: jump to a label that is not placed after it");
            return reversed.Count - r;
        }

        byte Near(int label, bool force = false)
        {
            var distance = Distance(label);
            if (distance <= 255 && !force) return (byte)distance;
            if (!force && trampoline.TryGetValue(label, out var t) && reversed.Count - t <= 255) return (byte)(reversed.Count - t);
            reversed.Add(returnAt.TryGetValue(label, out var value)
                ? new SockFilter(Bpf.RetK, 0, 0, value)
                : new SockFilter(Bpf.Ja, 0, 0, (uint)distance));
            trampoline[label] = reversed.Count;
            return 0;
        }

        for (var i = _nodes.Count - 1; i >= 0; i--)
        {
            var node = _nodes[i];
            if (node.IsLabel)
            {
                remaining[node.PlacedLabel] = reversed.Count;
                continue;
            }
            if (node.IsConditional)
            {
                var jf = Near(node.FalseLabel);
                var mark = reversed.Count;
                var jt = Near(node.TrueLabel);
                var falseDistance = jf + reversed.Count - mark; // the true branch's trampoline sits in between
                if (falseDistance > 255)
                {
                    falseDistance = Near(node.FalseLabel, force: true);
                    jt++;
                }
                reversed.Add(new SockFilter(node.Code, jt, (byte)falseDistance, node.K));
            }
            else if (node.IsJa)
            {
                reversed.Add(new SockFilter(Bpf.Ja, 0, 0, (uint)Distance(node.TrueLabel)));
            }
            else
            {
                reversed.Add(new SockFilter(node.Code, 0, 0, node.K));
            }
        }
        if (reversed.Count > Bpf.MaxInstructions)
            throw new SeccompConfigException($"linux.seccomp: the filter needs {reversed.Count} BPF instructions, more than the kernel's {Bpf.MaxInstructions}");
        reversed.Reverse();
        return [.. reversed];
    }
}
