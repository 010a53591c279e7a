using Berth.Linux;
using SeccompSpec = Berth.Oci.Runtime.Seccomp;
using SeccompArgSpec = Berth.Oci.Runtime.SeccompArg;

namespace Berth.Runtime.Seccomp;

/// <summary>A seccomp section of config.json that cannot be compiled; the message names the field.</summary>
public sealed class SeccompConfigException(string message) : Exception(message);

/// <summary>
/// Compiles the runtime spec's linux.seccomp into a classic-BPF program, and loads one.
/// </summary>
/// <remarks>
/// Semantics follow runc with libseccomp: the native architecture is always in the filter; an architecture
/// not in the filter gets KILL (libseccomp's default "bad arch" action); a name unknown on an architecture
/// is skipped; a rule whose action equals the default is skipped; the conditions of one rule are ANDed unless
/// two of them test the same argument, in which case each becomes a rule of its own (runc's old behaviour);
/// rules for one syscall are tried in the order given and the first that matches decides. As runc does when
/// the default action denies, a syscall numbered above every syscall the profile names gets ENOSYS, so
/// programs fall back from calls newer than the profile (clone3 and the like) instead of failing hard.
/// </remarks>
public static class SeccompFilter
{
    public const uint FlagTsync = 1, FlagLog = 2, FlagSpecAllow = 4, FlagNewListener = 8, FlagTsyncEsrch = 16,
        FlagWaitKillableRecv = 32;

    private const int EPERM = 1, ENOSYS = 38;

    /// <summary>Unused numbers in runs up to this long are retired calls, not room for new ones.</summary>
    private const int MaxHole = 16;

    private sealed record Condition(int Index, string Op, ulong Value, ulong ValueTwo);

    /// <summary>One rule: the action when every condition holds. Id lets identical rule lists share code.</summary>
    private sealed record Rule(int Id, uint Action, Condition[] Conditions);

    /// <summary>Compiles <paramref name="spec"/> for a machine whose native architecture is
    /// <paramref name="nativeArchitecture"/> (an SCMP_ARCH_ name; the host's when null).</summary>
    public static SockFilter[] Compile(SeccompSpec spec, string? nativeArchitecture = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var defaultAction = ParseAction(spec.DefaultAction, spec.DefaultErrnoRet, spec, "linux.seccomp.defaultAction");
        if ((defaultAction & Bpf.RetActionMask) == Bpf.RetUserNotif)
            throw new SeccompConfigException("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action");
        ParseFlags(spec.Flags);

        var native = SeccompArchitecture.Find(nativeArchitecture ?? SeccompArchitecture.HostName)
            ?? throw new SeccompConfigException($"linux.seccomp: unknown native architecture \"{nativeArchitecture}\"");
        var architectures = new List<SeccompArchitecture> { native };
        for (var i = 0; i < (spec.Architectures?.Count ?? 0); i++)
        {
            var name = spec.Architectures![i];
            var arch = SeccompArchitecture.Find(name)
                ?? throw new SeccompConfigException($"linux.seccomp.architectures[{i}]: unknown architecture \"{name}\"");
            if (!architectures.Contains(arch)) architectures.Add(arch);
        }

        // Rules by architecture and syscall number, in the spec's order; and the largest number named.
        var rules = new Dictionary<uint, Rule[]>[architectures.Count];
        var largest = new long[architectures.Count];
        for (var a = 0; a < architectures.Count; a++)
        {
            rules[a] = [];
            largest[a] = -1;
        }
        var syscalls = spec.Syscalls ?? [];
        var ruleId = 0;
        for (var i = 0; i < syscalls.Count; i++)
        {
            var entry = syscalls[i];
            var field = $"linux.seccomp.syscalls[{i}]";
            if (entry.Names is null || entry.Names.Count == 0)
                throw new SeccompConfigException($"{field}.names: at least one syscall name is required");
            var action = ParseAction(entry.Action, entry.ErrnoRet, spec, field + ".action");
            if ((action & Bpf.RetActionMask) == Bpf.RetUserNotif && entry.Names.Contains("write"))
                throw new SeccompConfigException($"{field}: SCMP_ACT_NOTIFY cannot be used for the write syscall");
            var entryRules = ParseRules(entry.Args, action, field, ref ruleId);
            foreach (var name in entry.Names)
            {
                if (string.IsNullOrEmpty(name)) throw new SeccompConfigException($"{field}.names: empty syscall name");
                for (var a = 0; a < architectures.Count; a++)
                {
                    var nr = architectures[a].Resolve(name);
                    if (nr < 0) continue; // unknown on this architecture: skipped, as libseccomp does
                    if (nr > largest[a]) largest[a] = nr;
                    if (action == defaultAction) continue; // redundant; runc skips it too
                    rules[a][(uint)nr] = rules[a].TryGetValue((uint)nr, out var earlier) ? [.. earlier, .. entryRules] : entryRules;
                }
            }
        }

        return Generate(defaultAction, architectures, rules, largest);
    }

    /// <summary>The rules of one syscalls[] entry: one with every condition (ANDed), or, when two conditions
    /// test the same argument, one rule per condition (ORed), as runc does.</summary>
    private static Rule[] ParseRules(List<SeccompArgSpec>? args, uint action, string field, ref int ruleId)
    {
        if (args is null || args.Count == 0) return [new Rule(ruleId++, action, [])];
        var conditions = new Condition[args.Count];
        var seen = 0;
        var repeated = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg.Index > 5) throw new SeccompConfigException($"{field}.args[{i}].index: {arg.Index} is not an argument index (0-5)");
            if (arg.Op is not ("SCMP_CMP_NE" or "SCMP_CMP_LT" or "SCMP_CMP_LE" or "SCMP_CMP_EQ" or "SCMP_CMP_GE" or "SCMP_CMP_GT" or "SCMP_CMP_MASKED_EQ"))
                throw new SeccompConfigException($"{field}.args[{i}].op: unknown operator \"{arg.Op}\"");
            conditions[i] = new Condition((int)arg.Index, arg.Op, arg.Value, arg.ValueTwo);
            if ((seen & (1 << (int)arg.Index)) != 0) repeated = true;
            seen |= 1 << (int)arg.Index;
        }
        if (!repeated) return [new Rule(ruleId++, action, conditions)];
        var rules = new Rule[conditions.Length];
        for (var i = 0; i < conditions.Length; i++) rules[i] = new Rule(ruleId++, action, [conditions[i]]);
        return rules;
    }

    private static bool IsPermissive(uint action) => (action & Bpf.RetActionMask) is Bpf.RetAllow or Bpf.RetLog or Bpf.RetTrace;

    private static SockFilter[] Generate(uint defaultAction, List<SeccompArchitecture> architectures,
        Dictionary<uint, Rule[]>[] rules, long[] largest)
    {
        var b = new BpfBuilder();
        var returns = new Dictionary<uint, int>();
        int Ret(uint action) => returns.TryGetValue(action, out var label) ? label : returns[action] = b.NewLabel();
        var badArch = Ret(Bpf.RetKillThread);
        var deny = Ret(defaultAction);
        // runc's -ENOSYS stub: calls newer than the profile fail as "not implemented" rather than denied.
        var enosys = IsPermissive(defaultAction) || defaultAction == (Bpf.RetErrno | ENOSYS) ? -1 : Ret(Bpf.RetErrno | ENOSYS);

        // 1. Dispatch on seccomp_data.arch. x86_64 and x32 share an AUDIT_ARCH value.
        var groups = architectures.GroupBy(a => a.AuditArch).Select(g => g.ToList()).ToList();
        var sections = new int[groups.Count];
        b.LoadWord(Bpf.OffsetArch);
        for (var g = 0; g < groups.Count; g++)
        {
            sections[g] = groups[g].Any(a => a.Table is not null) ? b.NewLabel() : deny;
            var next = g == groups.Count - 1 ? badArch : b.NewLabel();
            b.Jump(Bpf.JeqK, groups[g][0].AuditArch, sections[g], next);
            if (next != badArch) b.Place(next);
        }

        // 2. Per architecture, a binary search on the syscall number over intervals of equal verdict.
        var chains = new Dictionary<string, (int Label, Rule[] Rules)>();
        int Target(Rule[] list)
        {
            if (list[0].Conditions.Length == 0) return Ret(list[0].Action);
            var key = string.Join(',', list.Select(r => r.Id));
            if (!chains.TryGetValue(key, out var chain)) chains[key] = chain = (b.NewLabel(), list);
            return chain.Label;
        }
        // Intervals [Low, next Low) of syscall numbers with one verdict. Numbers the architecture does not have
        // (holes in its table) take whichever verdict is next to them, which keeps the search tree small: the
        // kernel answers ENOSYS for them whatever the filter allows.
        List<(uint Low, int Target)> Intervals(SeccompArchitecture arch)
        {
            var offset = arch.IsX32 ? SeccompArchitecture.X32SyscallBit : 0u;
            var index = architectures.IndexOf(arch);
            var named = rules[index];
            var last = largest[index];
            var beyond = enosys >= 0 && last >= 0 ? enosys : deny; // runc's ENOSYS past the profile
            var intervals = new List<(uint Low, int Target)>();
            void Add(uint nr, int target)
            {
                if (intervals.Count == 0) intervals.Add((offset, target));
                else if (intervals[^1].Target != target) intervals.Add((nr, target));
            }
            var previous = -1;
            foreach (var number in arch.Numbers)
            {
                // A long run of unused numbers may be where the kernel adds calls newer than the table
                // (x86_64's 335..423): it gets the default, not a neighbour's verdict.
                if (number - previous > MaxHole) Add(offset + (uint)previous + 1, offset + previous + 1 > last ? beyond : deny);
                previous = number;
                var nr = offset + number;
                Add(nr, nr > last ? beyond : named.TryGetValue(nr, out var list) ? Target(list) : deny);
            }
            var end = offset + (uint)arch.Numbers[^1] + 1;
            if (intervals[^1].Target != beyond) intervals.Add((end, beyond));
            return intervals;
        }

        // A binary search tree in pre-order: a node's lower half follows it directly, so only jumps near the
        // root are long.
        void EmitTree(int label, List<(uint Low, int Target)> intervals, int from, int to)
        {
            b.Place(label);
            var middle = (from + to + 1) / 2;
            var below = from == middle - 1 ? intervals[from].Target : b.NewLabel();
            var above = middle == to ? intervals[middle].Target : b.NewLabel();
            b.Jump(Bpf.JgeK, intervals[middle].Low, above, below);
            if (from != middle - 1) EmitTree(below, intervals, from, middle - 1);
            if (middle != to) EmitTree(above, intervals, middle, to);
        }
        int Root(SeccompArchitecture arch, List<(int Label, List<(uint Low, int Target)> Intervals)> trees)
        {
            var intervals = Intervals(arch);
            if (intervals.Count == 1) return intervals[0].Target;
            var label = b.NewLabel();
            trees.Add((label, intervals));
            return label;
        }
        for (var g = 0; g < groups.Count; g++)
        {
            if (sections[g] == deny) continue;
            b.Place(sections[g]);
            b.LoadWord(Bpf.OffsetNr);
            var trees = new List<(int Label, List<(uint Low, int Target)> Intervals)>();
            var wide = groups[g].FirstOrDefault(a => !a.IsX32 && a.Table is not null);
            var x32 = groups[g].FirstOrDefault(a => a.IsX32);
            if (x32 is not null || groups[g][0].AuditArch == SeccompArchitecture.X86_64.AuditArch)
            {
                // x86_64's audit arch: numbers with bit 30 are x32 calls; libseccomp sends them to "bad arch"
                // unless x32 is in the filter, and likewise x86_64 calls when only x32 is.
                var wideRoot = wide is null ? badArch : Root(wide, trees);
                var x32Root = x32 is null ? badArch : Root(x32, trees);
                b.Jump(Bpf.JgeK, SeccompArchitecture.X32SyscallBit, x32Root, wideRoot);
            }
            else
            {
                var root = Root(wide!, trees);
                if (trees.Count == 0) b.JumpAlways(root);
            }
            foreach (var (label, intervals) in trees) EmitTree(label, intervals, 0, intervals.Count - 1);
        }

        // 3. Argument conditions: the rules for one syscall, tried in order; none matching means the default.
        foreach (var (label, list) in chains.Values)
        {
            b.Place(label);
            for (var r = 0; r < list.Length; r++)
            {
                var rule = list[r];
                if (rule.Conditions.Length == 0)
                {
                    b.JumpAlways(Ret(rule.Action)); // later rules for this call can never match
                    break;
                }
                var fail = r == list.Length - 1 ? deny : b.NewLabel();
                for (var c = 0; c < rule.Conditions.Length; c++)
                {
                    var pass = c == rule.Conditions.Length - 1 ? Ret(rule.Action) : b.NewLabel();
                    EmitCondition(b, rule.Conditions[c], pass, fail);
                    if (pass != Ret(rule.Action)) b.Place(pass);
                }
                if (fail != deny) b.Place(fail);
            }
        }

        // 4. The verdicts, each once.
        foreach (var (action, label) in returns)
        {
            b.Place(label);
            b.Return(action);
        }
        return b.Assemble();
    }

    /// <summary>Jumps to <paramref name="pass"/> when the 64-bit argument satisfies the condition, else to
    /// <paramref name="fail"/>. Classic BPF sees 32 bits at a time: the high halves decide unless equal.</summary>
    private static void EmitCondition(BpfBuilder b, Condition condition, int pass, int fail)
    {
        // Every architecture with a table is little-endian: the low half comes first.
        var low = Bpf.OffsetArgs + 8 * (uint)condition.Index;
        var high = low + 4;
        var valueHigh = (uint)(condition.Value >> 32);
        var valueLow = (uint)condition.Value;
        switch (condition.Op)
        {
            case "SCMP_CMP_EQ" or "SCMP_CMP_NE":
            {
                var (equal, different) = condition.Op == "SCMP_CMP_EQ" ? (pass, fail) : (fail, pass);
                var next = b.NewLabel();
                b.LoadWord(high);
                b.Jump(Bpf.JeqK, valueHigh, next, different);
                b.Place(next);
                b.LoadWord(low);
                b.Jump(Bpf.JeqK, valueLow, equal, different);
                break;
            }
            case "SCMP_CMP_GT" or "SCMP_CMP_GE" or "SCMP_CMP_LT" or "SCMP_CMP_LE":
            {
                // GT and GE test "above"; LT is "not GE" and LE is "not GT".
                var lowTest = condition.Op is "SCMP_CMP_GT" or "SCMP_CMP_LE" ? Bpf.JgtK : Bpf.JgeK;
                var (above, below) = condition.Op is "SCMP_CMP_GT" or "SCMP_CMP_GE" ? (pass, fail) : (fail, pass);
                var notAbove = b.NewLabel();
                var sameHigh = b.NewLabel();
                b.LoadWord(high);
                b.Jump(Bpf.JgtK, valueHigh, above, notAbove);
                b.Place(notAbove);
                b.Jump(Bpf.JeqK, valueHigh, sameHigh, below);
                b.Place(sameHigh);
                b.LoadWord(low);
                b.Jump(lowTest, valueLow, above, below);
                break;
            }
            case "SCMP_CMP_MASKED_EQ":
            {
                // (arg & value) == valueTwo
                var datumHigh = (uint)(condition.ValueTwo >> 32);
                var datumLow = (uint)condition.ValueTwo;
                if (valueHigh == 0 && datumHigh != 0)
                {
                    b.JumpAlways(fail);
                    break;
                }
                if (valueHigh != 0)
                {
                    var next = b.NewLabel();
                    b.LoadWord(high);
                    if (valueHigh != uint.MaxValue) b.And(valueHigh);
                    b.Jump(Bpf.JeqK, datumHigh, next, fail);
                    b.Place(next);
                }
                b.LoadWord(low);
                if (valueLow != uint.MaxValue) b.And(valueLow);
                b.Jump(Bpf.JeqK, datumLow, pass, fail);
                break;
            }
            default:
                throw new InvalidOperationException($"unreachable: operator {condition.Op}");
        }
    }

    /// <summary>What the filter compiler accepts (`features`).</summary>
    public static readonly string[] KnownActions =
        ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
         "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"];
    public static readonly string[] KnownOperators =
        ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"];
    public static readonly string[] KnownFlags =
        ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"];

    private static uint ParseAction(string action, uint? errnoRet, SeccompSpec spec, string field) => action switch
    {
        "SCMP_ACT_KILL" or "SCMP_ACT_KILL_THREAD" => Bpf.RetKillThread,
        "SCMP_ACT_KILL_PROCESS" => Bpf.RetKillProcess,
        "SCMP_ACT_TRAP" => Bpf.RetTrap,
        "SCMP_ACT_ERRNO" => Bpf.RetErrno | Data(errnoRet ?? EPERM, field),
        "SCMP_ACT_TRACE" => Bpf.RetTrace | Data(errnoRet ?? EPERM, field),
        "SCMP_ACT_ALLOW" => Bpf.RetAllow,
        "SCMP_ACT_LOG" => Bpf.RetLog,
        "SCMP_ACT_NOTIFY" => string.IsNullOrEmpty(spec.ListenerPath)
            ? throw new SeccompConfigException($"{field}: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath")
            : Bpf.RetUserNotif,
        "" => throw new SeccompConfigException($"{field}: missing action"),
        _ => throw new SeccompConfigException($"{field}: unknown action \"{action}\""),
    };

    private static uint Data(uint value, string field)
        => value <= Bpf.RetDataMask ? value : throw new SeccompConfigException($"{field}: errnoRet {value} does not fit in 16 bits");

    /// <summary>
    /// Installs <paramref name="program"/> on the calling thread (all threads with TSYNC). The caller has set
    /// no_new_privs or holds CAP_SYS_ADMIN. Returns the user-notification listener's fd when the program
    /// has SCMP_ACT_NOTIFY verdicts, else -1.
    /// </summary>
    public static int Load(ISeccompCalls sys, SockFilter[] program, IEnumerable<string>? flags)
    {
        ArgumentNullException.ThrowIfNull(sys);
        ArgumentNullException.ThrowIfNull(program);
        if (program.Length == 0) throw new ArgumentException("seccomp: empty BPF program", nameof(program));
        var bits = ParseFlags(flags);
        foreach (var instruction in program)
        {
            if (instruction.Code == Bpf.RetK && (instruction.K & Bpf.RetActionMask) == Bpf.RetUserNotif)
            {
                bits |= FlagNewListener;
                break;
            }
        }
        // The kernel refuses TSYNC with a listener unless a TSYNC failure reports ESRCH instead of a thread id.
        if ((bits & (FlagTsync | FlagNewListener)) == (FlagTsync | FlagNewListener)) bits |= FlagTsyncEsrch;
        if (bits != 0)
        {
            var fd = sys.SeccompSetModeFilter(bits, program);
            return (bits & FlagNewListener) != 0 ? fd : -1;
        }
        try
        {
            sys.SeccompSetModeFilter(0, program);
        }
        catch (SyscallException e) when (e.ErrorNumber == ENOSYS)
        {
            sys.PrctlSetSeccompFilter(program); // kernels before 3.17 have no seccomp(2)
        }
        return -1;
    }

    /// <summary>The SECCOMP_FILTER_FLAG_* bits of the spec's flags.</summary>
    public static uint ParseFlags(IEnumerable<string>? flags)
    {
        uint bits = 0;
        var i = 0;
        foreach (var flag in flags ?? [])
        {
            bits |= flag switch
            {
                "SECCOMP_FILTER_FLAG_TSYNC" => FlagTsync,
                "SECCOMP_FILTER_FLAG_LOG" => FlagLog,
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => FlagSpecAllow,
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => FlagWaitKillableRecv,
                _ => throw new SeccompConfigException($"linux.seccomp.flags[{i}]: unknown flag \"{flag}\""),
            };
            i++;
        }
        return bits;
    }
}
