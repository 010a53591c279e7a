using Berth.Linux;
using Berth.Runtime.Seccomp;

namespace Berth.Runtime.Tests;

/// <summary>struct seccomp_data, as the kernel hands it to a filter.</summary>
public sealed record SeccompData(int Nr, uint Arch, ulong InstructionPointer = 0, params ulong[] Args)
{
    public const uint AuditArchX86_64 = 0xC000003E, AuditArchI386 = 0x40000003, AuditArchAarch64 = 0xC00000B7,
        AuditArchArm = 0x40000028, AuditArchS390x = 0x80000016;

    public ulong Arg(int i) => i < Args.Length ? Args[i] : 0;

    /// <summary>The 32-bit word at <paramref name="offset"/> (little-endian layout).</summary>
    public uint Word(uint offset) => offset switch
    {
        0 => (uint)Nr,
        4 => Arch,
        8 => (uint)InstructionPointer,
        12 => (uint)(InstructionPointer >> 32),
        >= 16 and < 64 => (offset - 16) % 8 == 0 ? (uint)Arg((int)(offset - 16) / 8) : (uint)(Arg((int)(offset - 16) / 8) >> 32),
        _ => throw new InvalidOperationException($"load outside seccomp_data at {offset}"),
    };
}

/// <summary>
/// A classic-BPF interpreter for seccomp filters: checks the program the way the kernel does before it
/// accepts it (length, jumps inside the program, aligned loads inside seccomp_data, a final return), then
/// runs it and returns the filter's 32-bit verdict.
/// </summary>
public static class SeccompBpfInterpreter
{
    public static void Validate(SockFilter[] program)
    {
        if (program.Length is 0 or > Bpf.MaxInstructions) throw new InvalidOperationException($"bad length {program.Length}");
        for (var pc = 0; pc < program.Length; pc++)
        {
            var insn = program[pc];
            switch (insn.Code)
            {
                case Bpf.LdWAbs:
                    if (insn.K % 4 != 0 || insn.K >= 64) throw new InvalidOperationException($"pc {pc}: bad load offset {insn.K}");
                    break;
                case Bpf.AluAndK or Bpf.RetK:
                    break;
                case Bpf.Ja:
                    if ((long)pc + 1 + insn.K >= program.Length) throw new InvalidOperationException($"pc {pc}: ja out of the program");
                    break;
                case Bpf.JeqK or Bpf.JgtK or Bpf.JgeK or Bpf.JsetK:
                    if (pc + 1 + Math.Max(insn.Jt, insn.Jf) >= program.Length) throw new InvalidOperationException($"pc {pc}: jump out of the program");
                    break;
                default:
                    throw new InvalidOperationException($"pc {pc}: opcode 0x{insn.Code:x} is not expected in a seccomp filter");
            }
        }
        if (program[^1].Code != Bpf.RetK) throw new InvalidOperationException("the last instruction is not a return");
    }

    /// <summary>Runs <paramref name="program"/>; <paramref name="executed"/> counts the instructions run.</summary>
    public static uint Run(SockFilter[] program, SeccompData data, out int executed)
    {
        Validate(program);
        uint a = 0;
        executed = 0;
        for (var pc = 0; pc < program.Length; pc++)
        {
            executed++;
            var insn = program[pc];
            switch (insn.Code)
            {
                case Bpf.LdWAbs: a = data.Word(insn.K); break;
                case Bpf.AluAndK: a &= insn.K; break;
                case Bpf.Ja: pc += (int)insn.K; break;
                case Bpf.JeqK: pc += a == insn.K ? insn.Jt : insn.Jf; break;
                case Bpf.JgtK: pc += a > insn.K ? insn.Jt : insn.Jf; break;
                case Bpf.JgeK: pc += a >= insn.K ? insn.Jt : insn.Jf; break;
                case Bpf.JsetK: pc += (a & insn.K) != 0 ? insn.Jt : insn.Jf; break;
                case Bpf.RetK: return insn.K;
            }
        }
        throw new InvalidOperationException("fell off the end of the program");
    }

    public static uint Run(SockFilter[] program, SeccompData data) => Run(program, data, out _);
}
