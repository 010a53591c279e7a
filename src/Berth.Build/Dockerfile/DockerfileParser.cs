using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Berth.Build.Dockerfile;

/// <summary>
/// Dockerfile text → <see cref="DockerfileAst"/>, a pure function. Follows BuildKit's parser rules:
/// parser directives only before anything else; the escape token (\ or `) ends a line to continue it;
/// comment lines and blank lines inside a continuation are dropped (blank ones with a warning); each
/// instruction's arguments are split by its own rule; RUN, COPY and ADD (also as ONBUILD triggers) may
/// carry heredocs whose bodies follow the line.
/// </summary>
public static partial class DockerfileParser
{
    private static readonly HashSet<string> ValidDirectives = ["syntax", "escape", "check"];
    private static readonly HashSet<string> HeredocCommands = ["add", "copy", "run"];

    [GeneratedRegex(@"^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")]
    private static partial Regex DirectiveRegex();

    [GeneratedRegex(@"^(\d*)<<(-?)\s*([^<]*)$")]
    private static partial Regex HeredocRegex();

    [GeneratedRegex("[\t\v\f\r ]+")]
    internal static partial Regex Whitespace();

    private sealed class Directives
    {
        public char Escape = '\\';
        private bool _done;
        private readonly HashSet<string> _seen = [];
        public readonly List<ParserDirective> Found = [];

        /// <summary>Looks for "# name=value" while no other line has been seen; returns whether the line was one.</summary>
        public bool TryParse(string line, int lineNumber)
        {
            if (_done) return false;
            if (!line.StartsWith('#')) { _done = true; return false; }
            var match = DirectiveRegex().Match(line[1..].TrimStart());
            if (!match.Success) { _done = true; return false; }
            var name = match.Groups[1].Value.ToLowerInvariant();
            if (!ValidDirectives.Contains(name)) { _done = true; return false; }
            if (!_seen.Add(name)) throw new DockerfileException($"only one {name} parser directive can be used", lineNumber);
            var value = match.Groups[2].Value;
            if (name == "escape")
            {
                if (value is not ("`" or "\\"))
                    throw new DockerfileException($"invalid escape token '{value}' does not match ` or \\", lineNumber);
                Escape = value[0];
            }
            Found.Add(new ParserDirective(name, value, lineNumber));
            return true;
        }
    }

    /// <summary>Parses a Dockerfile. Throws <see cref="DockerfileException"/> with the line for malformed input.</summary>
    public static DockerfileAst Parse(string text)
    {
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];
        var lines = SplitLines(text);
        var directives = new Directives();
        var instructions = new List<InstructionNode>();
        var warnings = new List<string>();
        var index = 0;
        var currentLine = 0;

        while (index < lines.Count)
        {
            var raw = lines[index++];
            var processed = ProcessLine(directives, raw, currentLine + 1, stripLeft: true);
            currentLine++;
            var startLine = currentLine;
            var isEnd = !TrimContinuation(ref processed, directives.Escape);
            if (isEnd && processed.Length == 0) continue;

            var buffer = new StringBuilder(processed);
            var hasEmptyContinuation = false;
            while (!isEnd && index < lines.Count)
            {
                var next = lines[index++];
                var nextProcessed = ProcessLine(directives, next, currentLine + 1, stripLeft: false);
                currentLine++;
                if (IsComment(next)) continue;
                if (nextProcessed.TrimStart().Length == 0) { hasEmptyContinuation = true; continue; }
                isEnd = !TrimContinuation(ref nextProcessed, directives.Escape);
                buffer.Append(nextProcessed);
            }
            var line = buffer.ToString();
            if (hasEmptyContinuation) warnings.Add($"Empty continuation line found in: {line}");

            InstructionNode node;
            try
            {
                node = NodeFromLine(line, directives.Escape);
            }
            catch (Exception e) when (e is ShellSyntaxException or DockerfileException { Line: 0 })
            {
                throw new DockerfileException(e.Message, startLine);
            }

            if (CanContainHeredoc(node) && line.Contains("<<", StringComparison.Ordinal))
            {
                var heredocs = new List<Heredoc>();
                foreach (var found in HeredocsFromLine(line))
                {
                    var content = new StringBuilder();
                    var terminated = false;
                    while (index < lines.Count)
                    {
                        var bodyLine = lines[index++];
                        currentLine++;
                        var candidate = bodyLine.TrimEnd('\r', '\n');
                        if (found.Chomp) candidate = candidate.TrimStart('\t');
                        if (candidate == found.Name) { terminated = true; break; }
                        content.Append(bodyLine);
                    }
                    if (!terminated) throw new DockerfileException("unterminated heredoc", startLine);
                    heredocs.Add(found with { Content = content.ToString() });
                }
                node.Heredocs = heredocs;
            }
            node.StartLine = startLine;
            node.EndLine = currentLine;
            instructions.Add(node);
        }

        if (instructions.Count == 0) throw new DockerfileException("file with no instructions", currentLine);
        return new DockerfileAst
        {
            Directives = directives.Found,
            EscapeToken = directives.Escape,
            Instructions = instructions,
            Warnings = warnings,
        };
    }

    /// <summary>Lines with their endings kept (a heredoc body keeps them).</summary>
    private static List<string> SplitLines(string text)
    {
        var lines = new List<string>();
        var start = 0;
        while (start < text.Length)
        {
            var nl = text.IndexOf('\n', start);
            if (nl < 0) { lines.Add(text[start..]); break; }
            lines.Add(text[start..(nl + 1)]);
            start = nl + 1;
        }
        return lines;
    }

    private static string ProcessLine(Directives directives, string raw, int lineNumber, bool stripLeft)
    {
        var line = raw.TrimEnd('\r', '\n');
        if (stripLeft) line = line.TrimStart();
        directives.TryParse(line, lineNumber);
        return IsComment(line) ? "" : line;
    }

    private static bool IsComment(string line)
    {
        foreach (var c in line)
        {
            if (char.IsWhiteSpace(c)) continue;
            return c == '#';
        }
        return false;
    }

    /// <summary>
    /// Removes a trailing escape token (and blanks after it) that continues the line; returns whether it
    /// did. An escape token preceded by another one is an escaped character, not a continuation.
    /// </summary>
    private static bool TrimContinuation(ref string line, char escape)
    {
        var end = line.Length;
        while (end > 0 && line[end - 1] is ' ' or '\t') end--;
        if (end == 0 || line[end - 1] != escape) return false;
        var at = end - 1;
        if (at > 0 && line[at - 1] == escape) return false;
        line = line[..at];
        return true;
    }

    private static bool CanContainHeredoc(InstructionNode node)
    {
        if (node.Command == "onbuild" && node.Trigger is not null) node = node.Trigger;
        return HeredocCommands.Contains(node.Command) && !node.IsJson;
    }

    private static IEnumerable<Heredoc> HeredocsFromLine(string line)
    {
        var lex = new ShellLex('\\') { RawQuotes = true, RawEscapes = true, SkipUnsetEnv = true };
        IReadOnlyList<string> words;
        try { words = lex.ProcessWords(line, EmptyEnv); }
        catch (ShellSyntaxException) { yield break; }
        foreach (var word in words)
            if (ParseHeredoc(word) is { } heredoc) yield return heredoc;
    }

    private static readonly IReadOnlyDictionary<string, string> EmptyEnv = new Dictionary<string, string>();

    /// <summary>The heredoc a word such as <c>&lt;&lt;EOF</c>, <c>2&lt;&lt;-"EOF"</c> starts, or null when it is not one.</summary>
    public static Heredoc? ParseHeredoc(string word)
    {
        var match = HeredocRegex().Match(word);
        if (!match.Success) return null;
        var rest = match.Groups[3].Value;
        if (rest.Length == 0) return null;
        var plain = new ShellLex('\\') { SkipUnsetEnv = true }.ProcessWords(rest, EmptyEnv);
        if (plain.Count != 1) return null;
        var raw = new ShellLex('\\') { SkipUnsetEnv = true, RawQuotes = true }.ProcessWords(rest, EmptyEnv);
        if (raw.Count != plain.Count) throw new DockerfileException($"internal lexing of heredoc produced inconsistent results: {rest}");
        // Quotes anywhere in the delimiter turn expansion off: the raw form then has more quote characters.
        static int Quotes(string s) => s.Count(c => c is '\'' or '"');
        var fd = match.Groups[1].Value.Length > 0 && int.TryParse(match.Groups[1].Value, out var n) ? n : 0;
        return new Heredoc(plain[0], fd, Quotes(plain[0]) == Quotes(raw[0]), match.Groups[2].Value == "-", "");
    }

    private static InstructionNode NodeFromLine(string line, char escape)
    {
        var (keyword, flags, rest) = SplitCommand(line, escape);
        var command = keyword.ToLowerInvariant();
        IReadOnlyList<string> args = [];
        var json = false;
        InstructionNode? trigger = null;
        switch (command)
        {
            case "add" or "copy" or "volume":
                (args, json) = ParseMaybeJsonToList(rest);
                break;
            case "cmd" or "entrypoint" or "run" or "shell":
                (args, json) = ParseMaybeJson(rest);
                break;
            case "arg":
                args = ParseWords(rest, escape);
                break;
            case "env":
                args = ParseNameValue(rest, "ENV", escape);
                break;
            case "label":
                args = ParseNameValue(rest, "LABEL", escape);
                break;
            case "expose" or "from":
                args = SplitWhitespace(rest);
                break;
            case "maintainer" or "stopsignal" or "user" or "workdir":
                args = rest.Length == 0 ? [] : [rest];
                break;
            case "healthcheck":
                (args, json) = ParseHealthcheck(rest);
                break;
            case "onbuild":
                if (rest.Length > 0)
                {
                    trigger = NodeFromLine(rest, escape);
                    args = [trigger.Keyword, .. trigger.Args];
                }
                break;
            default:
                // Unknown instructions parse; the instruction layer reports them with their line.
                break;
        }
        return new InstructionNode { Keyword = keyword, Flags = flags, Args = args, IsJson = json, Trigger = trigger, Original = line };
    }

    private static (string Keyword, List<string> Flags, string Remainder) SplitCommand(string line, char escape)
    {
        var parts = Whitespace().Split(line.Trim(), 2);
        if (parts.Length < 2) return (parts[0], [], "");
        var (rest, flags) = ExtractFlags(parts[1], escape);
        return (parts[0], flags, rest.Trim());
    }

    /// <summary>Leading <c>--name=value</c> words (quotes and escapes resolved) and the rest of the line.</summary>
    private static (string Remainder, List<string> Flags) ExtractFlags(string line, char escape)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        var quote = '\0';
        var blankOk = false;
        for (var pos = 0; pos <= line.Length; pos++)
        {
            if (!inWord && quote == '\0')
            {
                if (pos == line.Length) break;
                if (char.IsWhiteSpace(line[pos])) continue;
                if (line[pos] != '-' || pos + 1 == line.Length || line[pos + 1] != '-') return (line[pos..], words);
                inWord = true;
            }
            if (pos == line.Length)
            {
                var last = word.ToString();
                if (last != "--" && (blankOk || last.Length > 0)) words.Add(last);
                break;
            }
            var c = line[pos];
            if (quote == '\0')
            {
                if (char.IsWhiteSpace(c))
                {
                    var done = word.ToString();
                    inWord = false;
                    if (done == "--") return (line[pos..], words);
                    if (blankOk || done.Length > 0) words.Add(done);
                    word.Clear();
                    blankOk = false;
                    continue;
                }
                if (c is '\'' or '"') { quote = c; blankOk = true; continue; }
                if (c == escape)
                {
                    if (pos + 1 == line.Length) continue;
                    c = line[++pos];
                }
                word.Append(c);
            }
            else
            {
                if (c == quote) { quote = '\0'; continue; }
                if (c == escape)
                {
                    if (pos + 1 == line.Length) { quote = '\0'; continue; }
                    c = line[++pos];
                }
                word.Append(c);
            }
        }
        return ("", words);
    }

    private static List<string> SplitWhitespace(string rest)
        => rest.Length == 0 ? [] : [.. Whitespace().Split(rest)];

    /// <summary>Words separated by blanks; quotes and escapes are kept for the later expansion step to resolve.</summary>
    private static List<string> ParseWords(string rest, char escape)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var phase = 0; // 0 between words, 1 in a word, 2 in quotes
        var quote = '\0';
        var blankOk = false;
        for (var pos = 0; pos <= rest.Length; pos++)
        {
            if (phase == 0)
            {
                if (pos == rest.Length) break;
                if (char.IsWhiteSpace(rest[pos])) continue;
                phase = 1;
            }
            if (pos == rest.Length)
            {
                if (blankOk || word.Length > 0) words.Add(word.ToString());
                break;
            }
            var c = rest[pos];
            if (phase == 1)
            {
                if (char.IsWhiteSpace(c))
                {
                    phase = 0;
                    if (blankOk || word.Length > 0) words.Add(word.ToString());
                    word.Clear();
                    blankOk = false;
                    continue;
                }
                if (c is '\'' or '"') { quote = c; blankOk = true; phase = 2; }
                if (c == escape)
                {
                    if (pos + 1 == rest.Length) continue;
                    word.Append(c);
                    c = rest[++pos];
                }
                word.Append(c);
                continue;
            }
            // In quotes: the escape token is special except inside single quotes.
            if (c == quote) phase = 1;
            if (c == escape && quote != '\'')
            {
                if (pos + 1 == rest.Length) { phase = 1; continue; }
                word.Append(c);
                c = rest[++pos];
            }
            word.Append(c);
        }
        return words;
    }

    private static List<string> ParseNameValue(string rest, string instruction, char escape)
    {
        var words = ParseWords(rest, escape);
        if (words.Count == 0) return [];
        if (!words[0].Contains('='))
        {
            // Legacy form: "ENV name the rest of the line".
            var parts = Whitespace().Split(rest, 2);
            if (parts.Length < 2) throw new DockerfileException($"{instruction} must have two arguments");
            return [parts[0], parts[1], ""];
        }
        var result = new List<string>(words.Count * 3);
        foreach (var w in words)
        {
            var eq = w.IndexOf('=');
            if (eq < 0) throw new DockerfileException($"Syntax error - can't find = in \"{w}\". Must be of the form: name=value");
            result.Add(w[..eq]);
            result.Add(w[(eq + 1)..]);
            result.Add("=");
        }
        return result;
    }

    private static (List<string>? Args, bool Ok) TryParseJson(string rest)
    {
        rest = rest.TrimStart();
        if (!rest.StartsWith('[')) return (null, false);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(rest); }
        catch (JsonException) { return (null, false); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Array) return (null, false);
            var list = new List<string>();
            foreach (var e in doc.RootElement.EnumerateArray())
            {
                if (e.ValueKind != JsonValueKind.String)
                    throw new DockerfileException("when using JSON array syntax, arrays must be comprised of strings only");
                list.Add(e.GetString()!);
            }
            return (list, true);
        }
    }

    private static (IReadOnlyList<string>, bool) ParseMaybeJson(string rest)
    {
        if (rest.Length == 0) return ([], false);
        var (list, ok) = TryParseJson(rest);
        return ok ? (list!, true) : ([rest], false);
    }

    private static (IReadOnlyList<string>, bool) ParseMaybeJsonToList(string rest)
    {
        var (list, ok) = TryParseJson(rest);
        return ok ? (list!, true) : (SplitWhitespace(rest), false);
    }

    private static (IReadOnlyList<string>, bool) ParseHealthcheck(string rest)
    {
        var sep = 0;
        while (sep < rest.Length && !char.IsWhiteSpace(rest[sep])) sep++;
        if (sep == 0) return ([], false);
        var next = sep;
        while (next < rest.Length && char.IsWhiteSpace(rest[next])) next++;
        var (command, json) = ParseMaybeJson(rest[next..]);
        return ([rest[..sep], .. command], json);
    }
}
