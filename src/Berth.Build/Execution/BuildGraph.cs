using Berth.Build.Dockerfile;

namespace Berth.Build.Execution;

/// <summary>
/// The stages of a plan as a graph: a stage depends on the earlier stages its FROM, COPY --from and
/// RUN --mount from= name. A build needs the target stage (the last one by default) and what it
/// depends on, transitively; the rest is skipped.
/// </summary>
public static class BuildGraph
{
    public static int TargetIndex(DockerfilePlan plan, string? target)
    {
        if (plan.Stages.Count == 0) throw new BuildException("No image was generated. Is your Dockerfile empty?");
        if (string.IsNullOrEmpty(target)) return plan.Stages.Count - 1;
        var name = target.ToLowerInvariant();
        foreach (var s in plan.Stages)
            if (s.Name == name) return s.Index;
        throw new BuildException($"failed to reach build target {target} in Dockerfile");
    }

    /// <summary>The stage an earlier-stage reference names (a name, or an index for --from), or null for an image.</summary>
    public static Stage? Find(DockerfilePlan plan, string reference, int beforeIndex, bool allowIndex)
    {
        var lower = reference.ToLowerInvariant();
        foreach (var s in plan.Stages)
        {
            if (s.Index >= beforeIndex) break;
            if (s.Name.Length > 0 && s.Name == lower) return s;
        }
        if (allowIndex && int.TryParse(reference, System.Globalization.NumberStyles.None, null, out var index))
        {
            if (index >= beforeIndex) throw new BuildException($"invalid from flag value {reference}: refers to current or future build stage");
            return plan.Stages[index];
        }
        return null;
    }

    /// <summary>The stages <paramref name="stage"/> refers to directly; <paramref name="expand"/> resolves variables in names.</summary>
    public static IEnumerable<Stage> DirectDependencies(DockerfilePlan plan, Stage stage, Func<string, string> expand)
    {
        if (Find(plan, expand(stage.BaseName), stage.Index, allowIndex: false) is { } baseStage) yield return baseStage;
        foreach (var instruction in stage.Commands)
        {
            switch (instruction)
            {
                case CopyInstruction { From.Length: > 0 } copy:
                    if (Find(plan, expand(copy.From), stage.Index, allowIndex: true) is { } source) yield return source;
                    break;
                case RunInstruction run:
                    foreach (var raw in run.Mounts)
                    {
                        var mount = RunMount.Parse(raw, expand);
                        if (mount.From.Length > 0 && Find(plan, mount.From, stage.Index, allowIndex: true) is { } mounted) yield return mounted;
                    }
                    break;
            }
        }
    }

    /// <summary>The stages a build of <paramref name="targetIndex"/> must run, in Dockerfile order.</summary>
    public static IReadOnlyList<Stage> NeededStages(DockerfilePlan plan, int targetIndex, Func<string, string> expand)
    {
        var needed = new SortedSet<int>();
        var pending = new Stack<int>();
        pending.Push(targetIndex);
        while (pending.Count > 0)
        {
            var index = pending.Pop();
            if (!needed.Add(index)) continue;
            foreach (var dep in DirectDependencies(plan, plan.Stages[index], expand)) pending.Push(dep.Index);
        }
        return needed.Select(i => plan.Stages[i]).ToList();
    }
}
