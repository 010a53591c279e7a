using System.Text;

namespace Berth.Build.Dockerfile;

/// <summary>A here-document attached to a RUN, COPY or ADD line (<c>&lt;&lt;EOF</c>, <c>&lt;&lt;-EOF</c>, <c>&lt;&lt;"EOF"</c>).</summary>
/// <param name="Name">The delimiter word without quotes.</param>
/// <param name="FileDescriptor">The number before <c>&lt;&lt;</c> (0 when none).</param>
/// <param name="Expand">False when any part of the delimiter was quoted: the content is then not expanded.</param>
/// <param name="Chomp">True for <c>&lt;&lt;-</c>: leading tabs are stripped from the content and the delimiter line.</param>
/// <param name="Content">The lines between the instruction and the delimiter, with their line endings.</param>
public sealed record Heredoc(string Name, int FileDescriptor, bool Expand, bool Chomp, string Content)
{
    /// <summary>The content as the instruction sees it (leading tabs stripped for <c>&lt;&lt;-</c>).</summary>
    public string EffectiveContent => Chomp ? StripLeadingTabs(Content) : Content;

    private static string StripLeadingTabs(string text)
    {
        var sb = new StringBuilder(text.Length);
        var atLineStart = true;
        foreach (var c in text)
        {
            if (atLineStart && c == '\t') continue;
            atLineStart = c == '\n';
            sb.Append(c);
        }
        return sb.ToString();
    }
}

/// <summary>
/// One instruction as the parser sees it, before any interpretation: the keyword as written, the
/// <c>--flags</c>, the arguments split by the instruction's own rules (JSON array, whitespace, name=value
/// triples for ENV and LABEL, the whole rest of the line), and where it came from.
/// </summary>
public sealed class InstructionNode
{
    /// <summary>The keyword as written ("RUN", "run").</summary>
    public required string Keyword { get; init; }
    /// <summary>The keyword lower-cased, the form used for dispatch.</summary>
    public string Command => Keyword.ToLowerInvariant();
    public IReadOnlyList<string> Flags { get; init; } = [];
    /// <summary>
    /// The arguments. ENV and LABEL give (name, value, separator) triples, the separator being "=" or ""
    /// for the legacy <c>ENV name value</c> form; ONBUILD gives the trigger's keyword and its arguments.
    /// </summary>
    public IReadOnlyList<string> Args { get; init; } = [];
    /// <summary>True when the arguments were a JSON array of strings (exec form).</summary>
    public bool IsJson { get; init; }
    /// <summary>ONBUILD's trigger.</summary>
    public InstructionNode? Trigger { get; init; }
    public IReadOnlyList<Heredoc> Heredocs { get; set; } = [];
    /// <summary>The logical line after joining continuations and dropping comment lines.</summary>
    public required string Original { get; init; }
    /// <summary>1-based first and last physical line, heredoc bodies included.</summary>
    public int StartLine { get; set; }
    public int EndLine { get; set; }

    /// <summary>A compact one-node dump: <c>run ["--network=none"] json "a" "b"</c>; ONBUILD's trigger in parentheses.</summary>
    public string Dump()
    {
        var sb = new StringBuilder(Command);
        if (Flags.Count > 0) sb.Append(" [").AppendJoin(", ", Flags.Select(Quote)).Append(']');
        if (IsJson) sb.Append(" json");
        if (Trigger is not null) sb.Append(" (").Append(Trigger.Dump()).Append(')');
        else foreach (var a in Args) sb.Append(' ').Append(Quote(a));
        foreach (var h in Heredocs)
            sb.Append("\n  heredoc ").Append(Quote(h.Name)).Append(" fd=").Append(h.FileDescriptor)
              .Append(h.Expand ? " expand" : " noexpand").Append(h.Chomp ? " chomp" : "").Append(' ').Append(Quote(h.Content));
        return sb.ToString();
    }

    public static string Quote(string s)
    {
        var sb = new StringBuilder(s.Length + 2).Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < ' ') sb.Append("\\u").Append(((int)c).ToString("x4"));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}

public sealed record ParserDirective(string Name, string Value, int Line);

/// <summary>A parsed Dockerfile: its parser directives, escape token, instructions and warnings.</summary>
public sealed class DockerfileAst
{
    public required IReadOnlyList<ParserDirective> Directives { get; init; }
    public required char EscapeToken { get; init; }
    public required IReadOnlyList<InstructionNode> Instructions { get; init; }
    public required IReadOnlyList<string> Warnings { get; init; }

    /// <summary>The whole tree, one instruction a line prefixed with its line range: the format of the corpus's expected files.</summary>
    public string Dump()
    {
        var sb = new StringBuilder();
        foreach (var d in Directives) sb.Append("# ").Append(d.Name).Append('=').Append(d.Value).Append(" (line ").Append(d.Line).Append(")\n");
        if (EscapeToken != '\\') sb.Append("# escape token ").Append(EscapeToken).Append('\n');
        foreach (var n in Instructions)
            sb.Append(n.StartLine).Append(n.EndLine != n.StartLine ? $"-{n.EndLine}" : "").Append(": ").Append(n.Dump()).Append('\n');
        foreach (var w in Warnings) sb.Append("warning: ").Append(w).Append('\n');
        return sb.ToString();
    }
}

/// <summary>A Dockerfile that cannot be parsed or built, with Docker's message and the line it concerns (0 when none).</summary>
public sealed class DockerfileException(string message, int line = 0) : Exception(message)
{
    public int Line { get; } = line;
}
