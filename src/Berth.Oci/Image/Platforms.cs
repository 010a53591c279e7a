using System.Runtime.InteropServices;

namespace Berth.Oci.Image;

/// <summary>
/// Platform parsing, normalisation and matching, with the rules of containerd's platforms package:
/// aliases (x86_64 → amd64, aarch64 → arm64, armhf → arm/v7…) fold to one spelling, arm64's v8 is its
/// default, and a host also runs its older variants (arm/v7 runs v6 and v5, arm64 runs arm/v8…v5,
/// amd64 runs 386).
/// </summary>
public static class Platforms
{
    private static readonly string[] KnownOs =
        ["aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux", "nacl",
         "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos"];

    private static readonly string[] KnownArch =
        ["386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le", "loong64", "mips",
         "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "riscv", "riscv64", "s390", "s390x",
         "sparc", "sparc64", "wasm"];

    /// <summary>The platform this process runs on, normalised (linux/amd64, linux/arm64, linux/arm/v7…).</summary>
    public static Platform Host { get; } = Normalize(new Platform("linux", RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => "amd64",
        Architecture.Arm64 => "arm64",
        Architecture.Arm or Architecture.Armv6 => "arm",
        Architecture.X86 => "386",
        Architecture.S390x => "s390x",
        Architecture.Ppc64le => "ppc64le",
        Architecture.RiscV64 => "riscv64",
        Architecture.LoongArch64 => "loong64",
        var other => other.ToString().ToLowerInvariant(),
    }, RuntimeInformation.OSArchitecture == Architecture.Armv6 ? "v6" : null));

    /// <summary>
    /// Parses "os", "arch", "os/arch" or "os/arch/variant" (a lone word is an OS if it names one, else an
    /// architecture of the host's OS) and normalises it.
    /// </summary>
    public static Platform Parse(string specifier)
    {
        if (string.IsNullOrWhiteSpace(specifier)) throw new FormatException("invalid platform: empty");
        var parts = specifier.Split('/');
        foreach (var part in parts)
            if (part.Length == 0 || !part.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
                throw new FormatException($"invalid platform \"{specifier}\": must be os[/arch[/variant]]");
        switch (parts.Length)
        {
            case 1:
                var word = parts[0].ToLowerInvariant();
                if (IsKnownOs(NormalizeOs(word))) return Normalize(new Platform(word, Host.Architecture, Host.Variant));
                if (IsKnownArch(NormalizeArch(word, "").Architecture)) return Normalize(new Platform(Host.Os, word));
                throw new FormatException($"invalid platform \"{specifier}\": unknown operating system or architecture");
            case 2:
            {
                var (arch, variant) = NormalizeArch(parts[1], "");
                // "linux/arm64" means the default variant; the alias's implied variant (armhf → v7) stays.
                return new Platform(NormalizeOs(parts[0]), arch, arch == "arm64" ? null : variant);
            }
            case 3:
            {
                var (arch, variant) = NormalizeArch(parts[1], parts[2]);
                return new Platform(NormalizeOs(parts[0]), arch, variant);
            }
            default:
                throw new FormatException($"invalid platform \"{specifier}\": must be os[/arch[/variant]]");
        }
    }

    public static bool IsKnownOs(string os) => KnownOs.Contains(os);
    public static bool IsKnownArch(string arch) => KnownArch.Contains(arch);

    public static Platform Normalize(Platform p)
    {
        var (arch, variant) = NormalizeArch(p.Architecture, p.Variant ?? "");
        return p with { Os = NormalizeOs(p.Os), Architecture = arch, Variant = string.IsNullOrEmpty(variant) ? null : variant };
    }

    public static string NormalizeOs(string os)
    {
        if (string.IsNullOrEmpty(os)) return Host.Os;
        os = os.ToLowerInvariant();
        return os == "macos" ? "darwin" : os;
    }

    public static (string Architecture, string Variant) NormalizeArch(string arch, string variant)
    {
        arch = arch.ToLowerInvariant();
        variant = variant.ToLowerInvariant();
        switch (arch)
        {
            case "i386": return ("386", "");
            case "x86_64" or "x86-64" or "amd64": return ("amd64", variant == "v1" ? "" : variant);
            case "aarch64" or "arm64":
                return ("arm64", variant switch { "8" or "v8" or "v8.0" => "", "9" or "9.0" or "v9.0" => "v9", _ => variant });
            case "armhf": return ("arm", "v7");
            case "armel": return ("arm", "v6");
            case "arm":
                return ("arm", variant switch { "" or "7" => "v7", "5" or "6" or "8" => "v" + variant, _ => variant });
            default: return (arch, variant);
        }
    }

    /// <summary>Whether two platforms are the same once normalised (os.version and features are not compared).</summary>
    public static bool Matches(Platform wanted, Platform candidate)
    {
        var a = Normalize(wanted);
        var b = Normalize(candidate);
        return a.Os == b.Os && a.Architecture == b.Architecture && (a.Variant ?? "") == (b.Variant ?? "");
    }

    /// <summary>
    /// The platforms a host of <paramref name="wanted"/> runs, best first: itself, then older variants
    /// (containerd's platform vector).
    /// </summary>
    public static List<Platform> Compatible(Platform wanted)
    {
        var p = Normalize(wanted);
        var vector = new List<Platform> { p };
        switch (p.Architecture)
        {
            case "amd64":
                if (TryVariantNumber(p.Variant, out var amd64) && amd64 > 1)
                    for (var v = amd64 - 1; v >= 1; v--) vector.Add(p with { Variant = v == 1 ? null : "v" + v });
                vector.Add(p with { Architecture = "386", Variant = null });
                break;
            case "arm":
                if (TryVariantNumber(p.Variant, out var arm) && arm > 5)
                    for (var v = arm - 1; v >= 5; v--) vector.Add(p with { Variant = "v" + v });
                break;
            case "arm64":
                vector.AddRange(Compatible(p with { Architecture = "arm", Variant = string.IsNullOrEmpty(p.Variant) ? "v8" : p.Variant }));
                break;
        }
        return vector;
    }

    private static bool TryVariantNumber(string? variant, out int number)
    {
        number = 0;
        return variant is { Length: > 1 } && variant[0] == 'v' && int.TryParse(variant.AsSpan(1), out number);
    }

    /// <summary>
    /// The entry of an index or manifest list that suits <paramref name="wanted"/> best: the closest
    /// compatible platform, and among equals the first listed. Entries without a platform or marked as
    /// attestations are skipped. Null if none fits.
    /// </summary>
    public static Descriptor? Select(IEnumerable<Descriptor> manifests, Platform wanted)
    {
        var vector = Compatible(wanted);
        Descriptor? best = null;
        var bestRank = int.MaxValue;
        foreach (var d in manifests)
        {
            if (d.Platform is null || d.Annotation(Annotations.DockerReferenceType) is not null) continue;
            for (var rank = 0; rank < vector.Count && rank < bestRank; rank++)
            {
                if (!Matches(vector[rank], d.Platform)) continue;
                best = d;
                bestRank = rank;
                break;
            }
        }
        return best;
    }
}
