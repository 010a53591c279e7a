namespace Berth.Build.Dockerfile;

/// <summary>A typed instruction. <see cref="Text"/> is the source line as Docker prints it in "Step n/m : …".</summary>
public abstract record Instruction
{
    public required int Line { get; init; }
    public required string Text { get; init; }
    public sealed override string ToString() => Text;
}

/// <summary>A shell-or-exec command line (RUN, CMD, ENTRYPOINT): shell form is one string run through SHELL.</summary>
public abstract record CommandLineInstruction : Instruction
{
    public required IReadOnlyList<string> CommandLine { get; init; }
    /// <summary>True for shell form (the command is prefixed with the stage's SHELL).</summary>
    public required bool PrependShell { get; init; }
    public IReadOnlyList<Heredoc> Files { get; init; } = [];
}

public sealed record RunInstruction : CommandLineInstruction
{
    /// <summary>The raw <c>--mount</c> values; expanded and parsed with <see cref="RunMount.Parse"/> when the step runs.</summary>
    public IReadOnlyList<string> Mounts { get; init; } = [];
    /// <summary>default, none or host.</summary>
    public string Network { get; init; } = "default";
    /// <summary>sandbox or insecure.</summary>
    public string Security { get; init; } = "sandbox";
}

public sealed record CmdInstruction : CommandLineInstruction;
public sealed record EntrypointInstruction : CommandLineInstruction;

public sealed record KeyValue(string Key, string Value, bool LegacyForm = false);

public sealed record EnvInstruction : Instruction { public required IReadOnlyList<KeyValue> Pairs { get; init; } }
public sealed record LabelInstruction : Instruction { public required IReadOnlyList<KeyValue> Pairs { get; init; } }
public sealed record MaintainerInstruction : Instruction { public required string Maintainer { get; init; } }

/// <summary>An inline source for COPY/ADD from a heredoc: written as a file named <see cref="Path"/>.</summary>
public sealed record SourceContent(string Path, string Data, bool Expand);

/// <summary>COPY or ADD.</summary>
public sealed record CopyInstruction : Instruction
{
    public required bool IsAdd { get; init; }
    public required IReadOnlyList<string> Sources { get; init; }
    public IReadOnlyList<SourceContent> Contents { get; init; } = [];
    public required string Destination { get; init; }
    public string From { get; init; } = "";
    public string Chown { get; init; } = "";
    public string Chmod { get; init; } = "";
    public bool Link { get; init; }
    public bool Parents { get; init; }
    public IReadOnlyList<string> Excludes { get; init; } = [];
    public string Checksum { get; init; } = "";
    public bool? KeepGitDir { get; init; }
    public bool? Unpack { get; init; }
    public string Name => IsAdd ? "ADD" : "COPY";
}

public sealed record WorkdirInstruction : Instruction { public required string Path { get; init; } }
public sealed record ExposeInstruction : Instruction { public required IReadOnlyList<string> Ports { get; init; } }
public sealed record UserInstruction : Instruction { public required string User { get; init; } }
public sealed record VolumeInstruction : Instruction { public required IReadOnlyList<string> Volumes { get; init; } }
public sealed record StopSignalInstruction : Instruction { public required string Signal { get; init; } }
public sealed record ShellInstruction : Instruction { public required IReadOnlyList<string> Shell { get; init; } }
public sealed record OnbuildInstruction : Instruction { public required string Expression { get; init; } }

public sealed record ArgDefinition(string Key, string? Value);
public sealed record ArgInstruction : Instruction { public required IReadOnlyList<ArgDefinition> Args { get; init; } }

/// <summary>HEALTHCHECK; durations in nanoseconds as Docker stores them, 0 for "not set".</summary>
public sealed record HealthcheckInstruction : Instruction
{
    public required IReadOnlyList<string> Test { get; init; }
    public long Interval { get; init; }
    public long Timeout { get; init; }
    public long StartPeriod { get; init; }
    public long StartInterval { get; init; }
    public int Retries { get; init; }
}

/// <summary>A build stage: its FROM line and the instructions after it.</summary>
public sealed class Stage
{
    public required int Index { get; init; }
    public required string BaseName { get; init; }
    /// <summary>The lower-cased name after AS, or "" when unnamed.</summary>
    public required string Name { get; init; }
    public string Platform { get; init; } = "";
    public required int Line { get; init; }
    public required string Text { get; init; }
    public List<Instruction> Commands { get; } = [];
    public override string ToString() => Text;
}

/// <summary>A Dockerfile as stages: the ARGs before the first FROM, then each stage.</summary>
public sealed class DockerfilePlan
{
    public required IReadOnlyList<ArgInstruction> MetaArgs { get; init; }
    public required IReadOnlyList<Stage> Stages { get; init; }
    public required char EscapeToken { get; init; }
    public required IReadOnlyList<string> Warnings { get; init; }

    public static DockerfilePlan Parse(string text) => InstructionParser.Parse(DockerfileParser.Parse(text));
}
