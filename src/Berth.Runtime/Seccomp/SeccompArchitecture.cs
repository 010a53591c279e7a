namespace Berth.Runtime.Seccomp;

/// <summary>
/// An architecture a filter can name (the spec's SCMP_ARCH_*): the AUDIT_ARCH_* value the kernel puts in
/// seccomp_data.arch, and the system call table Berth has for it, if any.
/// </summary>
public sealed class SeccompArchitecture
{
    /// <summary>x32 system calls arrive with AUDIT_ARCH_X86_64 and this bit set in the number.</summary>
    public const uint X32SyscallBit = 0x40000000;

    private const uint Arch64 = 0x80000000, ArchLittleEndian = 0x40000000;

    public string Name { get; }
    public uint AuditArch { get; }

    /// <summary>Resolves a system call name to its number (-1 if unknown); null when Berth has no table.</summary>
    internal Func<string, int>? Table { get; }

    /// <summary>Every syscall number the table has (for x32 without bit 30), ascending; empty without a table.</summary>
    internal ushort[] Numbers { get; }

    /// <summary>True for x32, whose numbers live in the upper half of x86_64's (bit 30 set).</summary>
    public bool IsX32 => Name == "SCMP_ARCH_X32";

    private SeccompArchitecture(string name, uint auditArch, Func<string, int>? table = null, ushort[]? numbers = null)
        => (Name, AuditArch, Table, Numbers) = (name, auditArch, table, numbers ?? []);

    public static readonly SeccompArchitecture X86_64 = new("SCMP_ARCH_X86_64", Arch64 | ArchLittleEndian | 62, SyscallTables.X86_64, SyscallTables.X86_64Numbers.ToArray());
    public static readonly SeccompArchitecture X86 = new("SCMP_ARCH_X86", ArchLittleEndian | 3, SyscallTables.X86, SyscallTables.X86Numbers.ToArray());
    public static readonly SeccompArchitecture X32 = new("SCMP_ARCH_X32", Arch64 | ArchLittleEndian | 62, SyscallTables.X32, SyscallTables.X32Numbers.ToArray());
    public static readonly SeccompArchitecture Aarch64 = new("SCMP_ARCH_AARCH64", Arch64 | ArchLittleEndian | 183, SyscallTables.Aarch64, SyscallTables.Aarch64Numbers.ToArray());

    /// <summary>Every name the runtime spec lists; those without a table compile to the default action.</summary>
    public static readonly IReadOnlyList<SeccompArchitecture> All =
    [
        X86_64, X86, X32, Aarch64,
        new("SCMP_ARCH_ARM", ArchLittleEndian | 40),
        new("SCMP_ARCH_MIPS", 8),
        new("SCMP_ARCH_MIPS64", Arch64 | 8),
        new("SCMP_ARCH_MIPS64N32", Arch64 | 0x20000000 | 8),
        new("SCMP_ARCH_MIPSEL", ArchLittleEndian | 8),
        new("SCMP_ARCH_MIPSEL64", Arch64 | ArchLittleEndian | 8),
        new("SCMP_ARCH_MIPSEL64N32", Arch64 | ArchLittleEndian | 0x20000000 | 8),
        new("SCMP_ARCH_PPC", 20),
        new("SCMP_ARCH_PPC64", Arch64 | 21),
        new("SCMP_ARCH_PPC64LE", Arch64 | ArchLittleEndian | 21),
        new("SCMP_ARCH_S390", 22),
        new("SCMP_ARCH_S390X", Arch64 | 22),
        new("SCMP_ARCH_PARISC", 15),
        new("SCMP_ARCH_PARISC64", Arch64 | 15),
        new("SCMP_ARCH_RISCV64", Arch64 | ArchLittleEndian | 243),
        new("SCMP_ARCH_LOONGARCH64", Arch64 | ArchLittleEndian | 258),
        new("SCMP_ARCH_M68K", 4),
        new("SCMP_ARCH_SH", ArchLittleEndian | 42),
        new("SCMP_ARCH_SHEB", 42),
    ];

    public static SeccompArchitecture? Find(string name)
    {
        foreach (var arch in All)
            if (arch.Name == name) return arch;
        return null;
    }

    /// <summary>The architecture this process runs on, as the spec names it.</summary>
    public static string HostName => Berth.Oci.Runtime.DefaultSeccompProfile.HostArchitecture;

    /// <summary>The number of <paramref name="syscall"/> on this architecture, or -1 (unknown, or no table).</summary>
    public int Resolve(string syscall) => Table?.Invoke(syscall) ?? -1;

    public override string ToString() => Name;
}
