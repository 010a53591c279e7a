using System.Text;
using Berth.Build.Dockerfile;
using Berth.Testing;

namespace Berth.Build.Tests;

/// <summary>
/// Each corpus/NAME/Dockerfile is parsed and its tree, its stages and (where the Dockerfile builds) a fake
/// build's log and image config are compared with corpus/NAME/expected. Set BERTH_UPDATE_CORPUS=1 to
/// write missing expected files (then read them before committing).
/// </summary>
public sealed class CorpusTests
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var dir in Directory.GetDirectories(Path.Combine(AppContext.BaseDirectory, "corpus")).Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(dir));
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Corpus_matches_expected(string name)
    {
        var dir = Path.Combine(AppContext.BaseDirectory, "corpus", name);
        var text = await File.ReadAllTextAsync(Path.Combine(dir, "Dockerfile"));
        var actual = await CorpusDump.DescribeAsync(text, dir);
        var expectedPath = Path.Combine(dir, "expected");
        if (!File.Exists(expectedPath) && Environment.GetEnvironmentVariable("BERTH_UPDATE_CORPUS") == "1")
        {
            var source = Path.Combine(Repo.Root, "tests", "Berth.Build.Tests", "corpus", name, "expected");
            await File.WriteAllTextAsync(source, actual);
            await File.WriteAllTextAsync(expectedPath, actual);
        }
        Assert.Equal(await File.ReadAllTextAsync(expectedPath), actual);
    }
}

internal static partial class CorpusDump
{
    public static async Task<string> DescribeAsync(string text, string directory)
    {
        var parsed = Describe(text);
        var marker = Path.Combine(directory, "build");
        if (!File.Exists(marker)) return parsed;
        return parsed + await BuildAsync(directory, await File.ReadAllLinesAsync(marker));
    }

    /// <summary>Builds the corpus directory as a context with the fake backend; ids and times are replaced by placeholders.</summary>
    private static async Task<string> BuildAsync(string directory, string[] buildArgs)
    {
        using var backend = new FakeBackend();
        backend.AddImage("busybox:latest");
        backend.AddImage("onbuild-parent:latest", new Berth.Oci.Image.ContainerConfig { OnBuild = ["RUN echo parent trigger", "ENV FROM_TRIGGER=1"] });
        var args = new Dictionary<string, string?>();
        foreach (var line in buildArgs.Where(l => l.Contains('=')))
            args[line[..line.IndexOf('=')]] = line[(line.IndexOf('=') + 1)..];
        var log = new StringBuilder();
        using var context = Berth.Build.Context.BuildContext.FromDirectory(directory);
        var result = await new Berth.Build.Execution.DockerfileBuilder(backend, new Berth.Build.Execution.MemoryBuildCache())
            .BuildAsync(context, new Berth.Build.Execution.BuildOptions { BuildArgs = args, Platform = "linux/amd64" }, m =>
            {
                if (m.Stream is not null) log.Append(m.Stream);
                else if (m.Aux is not null) log.Append("aux ").Append(m.Aux.Id).Append('\n');
                else if (m.Error is not null) log.Append("error ").Append(m.ErrorDetail!.Code).Append(": ").Append(m.Error).Append('\n');
                return ValueTask.CompletedTask;
            }, CancellationToken.None);
        var sb = new StringBuilder("--- build");
        foreach (var a in args) sb.Append(' ').Append(a.Key).Append('=').Append(a.Value);
        sb.Append('\n').Append(log);
        // Independent stages run in parallel: list their RUN steps in a stable order.
        foreach (var run in backend.Runs.Select(run => $"run {L(run.Args)} env={L(run.Env.Where(e => !e.StartsWith("PATH=", StringComparison.Ordinal)))} user={Q(run.User)} workdir={Q(run.WorkingDir)}\n").Order(StringComparer.Ordinal))
            sb.Append(run);
        if (result.ImageId is not null)
        {
            var image = backend.Image(result.ImageId).Config;
            var c = image.Config!;
            sb.Append("--- config\n");
            void Field(string name, object? value) { if (value is not null) sb.Append(name).Append(": ").Append(value).Append('\n'); }
            Field("Author", image.Author is null ? null : Q(image.Author));
            Field("Env", c.Env is null ? null : L(c.Env));
            Field("Cmd", c.Cmd is null ? null : L(c.Cmd));
            Field("Entrypoint", c.Entrypoint is null ? null : L(c.Entrypoint));
            Field("WorkingDir", c.WorkingDir is null ? null : Q(c.WorkingDir));
            Field("User", c.User is null ? null : Q(c.User));
            Field("ExposedPorts", c.ExposedPorts is null ? null : L(c.ExposedPorts.Keys));
            Field("Labels", c.Labels is null ? null : string.Join(" ", c.Labels.Select(l => $"{Q(l.Key)}={Q(l.Value)}")));
            Field("Volumes", c.Volumes is null ? null : L(c.Volumes.Keys));
            Field("Shell", c.Shell is null ? null : L(c.Shell));
            Field("StopSignal", c.StopSignal);
            Field("Healthcheck", c.Healthcheck is null ? null : $"{L(c.Healthcheck.Test ?? [])} interval={c.Healthcheck.Interval} timeout={c.Healthcheck.Timeout} retries={c.Healthcheck.Retries}");
            Field("OnBuild", c.OnBuild is null ? null : L(c.OnBuild));
            foreach (var h in image.History ?? []) sb.Append("history: ").Append(h.CreatedBy).Append(h.EmptyLayer == true ? " (empty)" : "").Append('\n');
        }
        return Ids().Replace(sb.ToString(), "<id>");
    }

    [System.Text.RegularExpressions.GeneratedRegex("(sha256:)?[0-9a-f]{12,64}")]
    private static partial System.Text.RegularExpressions.Regex Ids();

    private static string Describe(string text)
    {
        var sb = new StringBuilder();
        DockerfileAst ast;
        try { ast = DockerfileParser.Parse(text); }
        catch (DockerfileException e)
        {
            return $"parse error (line {e.Line}): {e.Message}\n";
        }
        sb.Append("--- ast\n").Append(ast.Dump());
        sb.Append("--- stages\n");
        try
        {
            var plan = InstructionParser.Parse(ast);
            foreach (var arg in plan.MetaArgs) sb.Append("meta ").Append(Describe(arg)).Append('\n');
            foreach (var stage in plan.Stages)
            {
                sb.Append("stage ").Append(stage.Index).Append(" name=").Append(InstructionNode.Quote(stage.Name))
                  .Append(" base=").Append(InstructionNode.Quote(stage.BaseName));
                if (stage.Platform.Length > 0) sb.Append(" platform=").Append(InstructionNode.Quote(stage.Platform));
                sb.Append(" line ").Append(stage.Line).Append('\n');
                foreach (var i in stage.Commands) sb.Append("  ").Append(Describe(i)).Append('\n');
            }
        }
        catch (DockerfileException e)
        {
            sb.Append("error (line ").Append(e.Line).Append("): ").Append(e.Message).Append('\n');
        }
        return sb.ToString();
    }

    private static string Q(string s) => InstructionNode.Quote(s);
    private static string L(IEnumerable<string> items) => "[" + string.Join(", ", items.Select(Q)) + "]";

    public static string Describe(Instruction instruction)
    {
        var head = $"{instruction.Line}: ";
        return head + instruction switch
        {
            RunInstruction r => $"RUN {Form(r)}{(r.Mounts.Count > 0 ? " mounts=" + L(r.Mounts) : "")}{(r.Network != "default" ? " network=" + r.Network : "")}{Files(r.Files)}",
            CmdInstruction c => $"CMD {Form(c)}",
            EntrypointInstruction e => $"ENTRYPOINT {Form(e)}",
            EnvInstruction e => "ENV " + string.Join(" ", e.Pairs.Select(p => $"{Q(p.Key)}={Q(p.Value)}{(p.LegacyForm ? "(legacy)" : "")}")),
            LabelInstruction l => "LABEL " + string.Join(" ", l.Pairs.Select(p => $"{Q(p.Key)}={Q(p.Value)}")),
            MaintainerInstruction m => $"MAINTAINER {Q(m.Maintainer)}",
            CopyInstruction c => $"{c.Name} src={L(c.Sources)} dst={Q(c.Destination)}"
                + (c.Contents.Count > 0 ? " inline=[" + string.Join(", ", c.Contents.Select(x => $"{Q(x.Path)}:{Q(x.Data)}{(x.Expand ? "" : " noexpand")}")) + "]" : "")
                + (c.From.Length > 0 ? $" from={Q(c.From)}" : "") + (c.Chown.Length > 0 ? $" chown={Q(c.Chown)}" : "")
                + (c.Chmod.Length > 0 ? $" chmod={Q(c.Chmod)}" : "") + (c.Link ? " link" : "")
                + (c.Checksum.Length > 0 ? $" checksum={Q(c.Checksum)}" : "") + (c.KeepGitDir is { } k ? $" keep-git-dir={k}" : ""),
            WorkdirInstruction w => $"WORKDIR {Q(w.Path)}",
            ExposeInstruction e => $"EXPOSE {L(e.Ports)}",
            UserInstruction u => $"USER {Q(u.User)}",
            VolumeInstruction v => $"VOLUME {L(v.Volumes)}",
            StopSignalInstruction s => $"STOPSIGNAL {Q(s.Signal)}",
            ShellInstruction s => $"SHELL {L(s.Shell)}",
            OnbuildInstruction o => $"ONBUILD {Q(o.Expression)}",
            ArgInstruction a => "ARG " + string.Join(" ", a.Args.Select(x => x.Value is null ? Q(x.Key) : $"{Q(x.Key)}={Q(x.Value)}")),
            HealthcheckInstruction h => $"HEALTHCHECK {L(h.Test)} interval={h.Interval} timeout={h.Timeout} start-period={h.StartPeriod} start-interval={h.StartInterval} retries={h.Retries}",
            _ => instruction.Text,
        };
    }

    private static string Form(CommandLineInstruction c) => (c.PrependShell ? "shell " : "exec ") + L(c.CommandLine);
    private static string Files(IReadOnlyList<Heredoc> files) => files.Count == 0 ? "" : " files=[" + string.Join(", ", files.Select(f => Q(f.Name))) + "]";
}
