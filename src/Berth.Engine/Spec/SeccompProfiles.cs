using System.Runtime.InteropServices;
using System.Text.Json;
using Berth.Oci.Runtime;

namespace Berth.Engine.RuntimeSpec;

/// <summary>
/// Docker's seccomp profile format (moby profiles/seccomp: "archMap", and per syscall "name"/"names",
/// "includes"/"excludes" by capability, architecture and minimum kernel) turned into the OCI seccomp section for
/// one container, as dockerd's setupSeccomp does.
/// </summary>
public static class SeccompProfiles
{
    /// <summary>
    /// The OCI seccomp for <paramref name="json"/> and a container with <paramref name="bounding"/> capabilities on
    /// this host; null for a profile with neither a default action nor syscalls (Docker's "no filter").
    /// </summary>
    public static Seccomp? FromDocker(string json, IReadOnlyCollection<string> bounding)
        => FromDocker(json, bounding, GoArch(RuntimeInformation.ProcessArchitecture), Environment.OSVersion.Version);

    public static Seccomp? FromDocker(string json, IReadOnlyCollection<string> bounding, string goArch, Version kernel)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip }); }
        catch (JsonException e) { throw Invalid($"Decoding seccomp profile failed: {e.Message}"); }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Invalid("Decoding seccomp profile failed: the profile is not a JSON object");
            var defaultAction = String(root, "defaultAction") ?? "";
            var syscallsElement = root.TryGetProperty("syscalls", out var s) && s.ValueKind == JsonValueKind.Array ? s : default;
            var syscallCount = syscallsElement.ValueKind == JsonValueKind.Array ? syscallsElement.GetArrayLength() : 0;
            if (defaultAction.Length == 0 && syscallCount == 0) return null;

            var architectures = Strings(root, "architectures");
            var hasArchMap = root.TryGetProperty("archMap", out var archMap) && archMap.ValueKind == JsonValueKind.Array && archMap.GetArrayLength() > 0;
            if (architectures.Count > 0 && hasArchMap)
                throw Invalid("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'");
            if (hasArchMap && NativeToSeccomp(goArch) is { } native)
                foreach (var entry in archMap.EnumerateArray())
                    if (String(entry, "architecture") == native)
                    {
                        architectures.Add(native);
                        architectures.AddRange(Strings(entry, "subArchitectures"));
                        break;
                    }

            var result = new Seccomp
            {
                DefaultAction = defaultAction,
                DefaultErrnoRet = UInt(root, "defaultErrnoRet"),
                Architectures = architectures.Count > 0 ? architectures : null,
                Flags = Strings(root, "flags") is { Count: > 0 } flags ? flags : null,
                ListenerPath = String(root, "listenerPath"),
                ListenerMetadata = String(root, "listenerMetadata"),
                Syscalls = [],
            };
            var nativeArch = GoToNative(goArch);
            if (syscallCount > 0)
                foreach (var call in syscallsElement.EnumerateArray())
                {
                    var names = Strings(call, "names");
                    if (String(call, "name") is { Length: > 0 } name)
                    {
                        if (names.Count > 0) throw Invalid("both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'");
                        names = [name];
                    }
                    if (call.TryGetProperty("excludes", out var excludes) && excludes.ValueKind == JsonValueKind.Object)
                    {
                        if (Strings(excludes, "arches").Contains(nativeArch)) continue;
                        if (Strings(excludes, "caps").Any(bounding.Contains)) continue;
                        if (String(excludes, "minKernel") is { Length: > 0 } min && kernel >= ParseKernel(min)) continue;
                    }
                    if (call.TryGetProperty("includes", out var includes) && includes.ValueKind == JsonValueKind.Object)
                    {
                        if (Strings(includes, "arches") is { Count: > 0 } arches && !arches.Contains(nativeArch)) continue;
                        if (Strings(includes, "caps") is { Count: > 0 } caps && !caps.All(bounding.Contains)) continue;
                        if (String(includes, "minKernel") is { Length: > 0 } min && kernel < ParseKernel(min)) continue;
                    }
                    var syscall = new SeccompSyscall
                    {
                        Names = names,
                        Action = String(call, "action") ?? "",
                        ErrnoRet = UInt(call, "errnoRet"),
                    };
                    if (call.TryGetProperty("args", out var args) && args.ValueKind == JsonValueKind.Array && args.GetArrayLength() > 0)
                        syscall.Args = [.. args.EnumerateArray().Select(a => new SeccompArg
                        {
                            Index = UInt(a, "index") ?? 0, Value = ULong(a, "value"), ValueTwo = ULong(a, "valueTwo"), Op = String(a, "op") ?? "",
                        })];
                    result.Syscalls.Add(syscall);
                }
            return result;
        }
    }

    private static InvalidParameterException Invalid(string message) => new(message);

    private static Version ParseKernel(string text)
    {
        var parts = text.Split('.');
        if (parts.Length < 2 || !int.TryParse(parts[0], out var major) || !int.TryParse(parts[1], out var minor))
            throw Invalid($"invalid kernel version: {text}");
        return new Version(major, minor);
    }

    private static string? String(JsonElement e, string name)
        => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static uint? UInt(JsonElement e, string name)
        => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetUInt32(out var n) ? n : null;

    private static ulong ULong(JsonElement e, string name)
        => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetUInt64(out var n) ? n : 0;

    private static List<string> Strings(JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Array) return [];
        return [.. v.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!)];
    }

    /// <summary>Go's GOARCH for this machine.</summary>
    public static string GoArch(Architecture architecture) => architecture switch
    {
        Architecture.X64 => "amd64",
        Architecture.Arm64 => "arm64",
        Architecture.X86 => "386",
        Architecture.Arm => "arm",
        Architecture.RiscV64 => "riscv64",
        Architecture.LoongArch64 => "loong64",
        Architecture.S390x => "s390x",
        Architecture.Ppc64le => "ppc64le",
        _ => architecture.ToString().ToLowerInvariant(),
    };

    /// <summary>The architecture name Docker's profiles use in includes/excludes ("amd64", "x86", "arm64"…).</summary>
    private static string GoToNative(string goArch) => goArch switch
    {
        "386" => "x86",
        "loong64" => "loongarch64",
        "mips64p32" => "mips64n32",
        "mips64le" => "mipsel64",
        "mips64p32le" => "mips3l64n32",
        "mipsle" => "mipsel",
        _ => goArch,
    };

    private static string? NativeToSeccomp(string goArch) => GoToNative(goArch) switch
    {
        "x86" => "SCMP_ARCH_X86",
        "amd64" => "SCMP_ARCH_X86_64",
        "arm" => "SCMP_ARCH_ARM",
        "arm64" => "SCMP_ARCH_AARCH64",
        "loongarch64" => "SCMP_ARCH_LOONGARCH64",
        "mips64" => "SCMP_ARCH_MIPS64",
        "mips64n32" => "SCMP_ARCH_MIPS64N32",
        "mipsel64" => "SCMP_ARCH_MIPSEL64",
        "mips3l64n32" => "SCMP_ARCH_MIPSEL64N32",
        "mipsel" => "SCMP_ARCH_MIPSEL",
        "ppc" => "SCMP_ARCH_PPC",
        "ppc64" => "SCMP_ARCH_PPC64",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "s390" => "SCMP_ARCH_S390",
        "s390x" => "SCMP_ARCH_S390X",
        _ => null,
    };
}
