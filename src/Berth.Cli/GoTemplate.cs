using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Berth.Cli;

/// <summary>
/// Go's text/template as docker's --format uses it, over JSON values (what the Engine API returns): actions with
/// fields, variables ($, $x := …, $x = …), parenthesised pipelines, chained fields on any operand
/// ((index .M "k").Field), pipes, constants (strings, raw strings, numbers, chars, true/false/nil), comments and
/// trim markers; if/with/range with else, else if, else with, break and continue; Go's builtins (and, or, not,
/// len, index, slice, print, printf, println, eq, ne, lt, le, gt, ge, html, js, urlquery) and docker's functions
/// (json, join, split, lower, upper, title, pad, truncate). "table" is a prefix the commands strip, not a
/// function, as in docker. A missing field or key is Go's "&lt;no value&gt;". A pure function of (template, value).
/// Errors are <see cref="FormatException"/>s worded as docker's inspect prints them: "template parsing error: " and
/// Go's message (parse errors "template: :LINE: …", execution errors "template: :LINE:COL: executing "" at &lt;NODE&gt;: …");
/// commands that word it otherwise (ps: "failed to parse template: ") strip <see cref="ErrorPrefix"/>.
/// </summary>
public sealed class GoTemplate
{
    public const string ErrorPrefix = "template parsing error: ";

    private readonly string text;
    private readonly string name;
    private readonly List<Node> root;

    private GoTemplate(string text, string name, List<Node> root)
    {
        this.text = text;
        this.name = name;
        this.root = root;
    }

    /// <summary>
    /// Parses a template; <paramref name="name"/> is Go's template name, which its messages carry ("template: NAME:1: …",
    /// "executing "NAME" at …"): docker names some ("version"), most are unnamed.
    /// </summary>
    /// <exception cref="FormatException">The template does not parse; the message is docker's.</exception>
    public static GoTemplate Parse(string text, string name = "")
    {
        var parser = new Parser(text, name);
        return new GoTemplate(text, name, parser.ParseTemplate());
    }

    /// <exception cref="FormatException">Executing failed; the message is docker's.</exception>
    public string Execute(JsonNode? value) => new Executor(text, name, value, header: false).Run(root);

    /// <summary>
    /// The header row of a "table" format: the template run on the column titles with docker's header functions,
    /// which give their first argument back (so "{{json .Names}}" heads its column NAMES, not "NAMES" in quotes).
    /// </summary>
    public string ExecuteHeader(JsonNode? titles) => new Executor(text, name, titles, header: true).Run(root);

    public static string Render(string template, JsonNode? value) => Parse(template).Execute(value);

    /// <summary>
    /// A list command's --format as docker's formatter reads it (ps, images, volume ls, network ls…): "table" in front
    /// asks for a table with a header row; the rest is trimmed of spaces and a written \t or \n becomes a tab or a
    /// newline (inspect's --format is taken as it is: use <see cref="Parse"/> there).
    /// </summary>
    public static GoTemplate ParseListFormat(string format, out bool table)
    {
        table = format.StartsWith("table", StringComparison.Ordinal);
        var body = (table ? format[5..] : format).Trim(' ');
        return Parse(body.Replace("\\t", "\t", StringComparison.Ordinal).Replace("\\n", "\n", StringComparison.Ordinal));
    }

    /// <summary>Go's %v of a value (fmt.Sprint of one operand).</summary>
    public static string Print(object? value) => Values.Print(value is JsonNode node ? Values.FromJson(node) : value, topLevel: true);

    // ==== syntax tree ==========================================================================

    private abstract record Node(int Pos);
    private sealed record TextNode(int Pos, string Text) : Node(Pos);
    private sealed record ActionNode(int Pos, Pipe Pipe) : Node(Pos);
    private sealed record BranchNode(int Pos, string Keyword, Pipe Pipe, List<Node> List, List<Node>? Else) : Node(Pos);
    private sealed record BreakNode(int Pos, bool Continue) : Node(Pos);

    private sealed record Pipe(int Pos, bool IsAssign, List<string> Declarations, List<Command> Commands) : Node(Pos)
    {
        public override string ToString()
        {
            var sb = new StringBuilder();
            if (Declarations.Count > 0) sb.Append(string.Join(", ", Declarations)).Append(IsAssign ? " = " : " := ");
            sb.Append(string.Join(" | ", Commands));
            return sb.ToString();
        }
    }

    private sealed record Command(int Pos, List<Node> Args) : Node(Pos)
    {
        public override string ToString() => string.Join(" ", Args.Select(a => a is Pipe p ? "(" + p + ")" : a.ToString()));
    }

    private sealed record FieldNode(int Pos, string[] Names) : Node(Pos)
    {
        public override string ToString() => "." + string.Join(".", Names);
    }

    /// <summary>$name (or $) and the fields after it.</summary>
    private sealed record VariableNode(int Pos, string Name, string[] Fields) : Node(Pos)
    {
        public override string ToString() => Name + string.Concat(Fields.Select(f => "." + f));
    }

    /// <summary>An operand followed by fields: (pipeline).Field, or a constant's.</summary>
    private sealed record ChainNode(int Pos, Node Operand, string[] Fields) : Node(Pos)
    {
        public override string ToString() => (Operand is Pipe p ? "(" + p + ")" : Operand.ToString()) + string.Concat(Fields.Select(f => "." + f));
    }

    private sealed record DotNode(int Pos) : Node(Pos)
    {
        public override string ToString() => ".";
    }

    private sealed record NilNode(int Pos) : Node(Pos)
    {
        public override string ToString() => "nil";
    }

    private sealed record IdentifierNode(int Pos, string Name) : Node(Pos)
    {
        public override string ToString() => Name;
    }

    private sealed record ConstantNode(int Pos, object Value, string Source) : Node(Pos)
    {
        public override string ToString() => Source;
    }

    // ==== lexer ================================================================================

    private enum Kind { Text, LeftDelim, RightDelim, Space, Field, Dot, Variable, Identifier, Keyword, String, Number, Char, Bool, Nil, Pipe, LeftParen, RightParen, Declare, Assign, Comma, Comment, EOF }

    private readonly record struct Token(Kind Kind, string Value, int Pos);

    private static readonly HashSet<string> Keywords = ["if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"];

    private sealed class Lexer(string input, string name)
    {
        private readonly List<Token> tokens = [];
        private int parenDepth;

        public List<Token> Run()
        {
            var i = 0;
            while (i < input.Length)
            {
                var open = input.IndexOf("{{", i, StringComparison.Ordinal);
                if (open < 0) { tokens.Add(new Token(Kind.Text, input[i..], i)); i = input.Length; break; }
                var textEnd = open;
                var trimBefore = open + 2 < input.Length && input[open + 2] == '-' && open + 3 < input.Length && IsSpace(input[open + 3]);
                if (trimBefore) while (textEnd > i && IsSpace(input[textEnd - 1])) textEnd--;
                if (textEnd > i) tokens.Add(new Token(Kind.Text, input[i..textEnd], i));
                i = LexAction(open, trimBefore);
            }
            tokens.Add(new Token(Kind.EOF, "", input.Length));
            return tokens;
        }

        private static bool IsSpace(char c) => c is ' ' or '\t' or '\r' or '\n';

        /// <summary>
        /// Go's atTerminator after a field, variable or identifier: a space, the end, . , | : ( ) or the closing "}}" must
        /// follow, else "bad character U+007D '}'" (so "{{.ID}" fails as in Go, and "$x+2" or "$x=2" need spaces).
        /// </summary>
        private void RequireTerminator(int at)
        {
            if (at >= input.Length) return;
            var c = input[at];
            if (IsSpace(c) || c is '.' or ',' or '|' or ':' or '(' or ')' || input.AsSpan(at).StartsWith("}}")) return;
            var rune = char.IsHighSurrogate(c) && at + 1 < input.Length && char.IsLowSurrogate(input[at + 1]) ? new Rune(c, input[at + 1]) : new Rune(char.IsSurrogate(c) ? '\uFFFD' : c);
            var printable = !Rune.IsControl(rune) && Rune.GetUnicodeCategory(rune) is not (UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator);
            var code = rune.Value.ToString("X4", CultureInfo.InvariantCulture);
            throw Error(at, printable ? $"bad character U+{code} '{rune}'" : $"bad character U+{code}");
        }

        /// <summary>One action from its "{{" to after its "}}" (and the space a trim marker removes).</summary>
        private int LexAction(int open, bool trimBefore)
        {
            tokens.Add(new Token(Kind.LeftDelim, "{{", open));
            var i = open + 2 + (trimBefore ? 2 : 0);
            if (input.AsSpan(i).StartsWith("/*"))
            {
                var close = input.IndexOf("*/", i + 2, StringComparison.Ordinal);
                if (close < 0) throw Error(open, "unclosed comment");
                i = close + 2;
                var trimAfter = input.AsSpan(i).StartsWith(" -}}");
                if (trimAfter) i += 2;
                if (!input.AsSpan(i).StartsWith("}}")) throw Error(open, "comment ends before closing delimiter");
                tokens.RemoveAt(tokens.Count - 1);
                tokens.Add(new Token(Kind.Comment, "", open));
                return AfterDelim(i + 2, trimAfter);
            }
            parenDepth = 0;
            while (true)
            {
                if (i >= input.Length) throw Error(open, "unclosed action");
                var c = input[i];
                if (IsSpace(c))
                {
                    var start = i;
                    while (i < input.Length && IsSpace(input[i])) i++;
                    // " -}}" closes with a trim marker.
                    if (input.AsSpan(i).StartsWith("-}}") && i > start)
                    {
                        if (parenDepth > 0) throw Error(start, "unclosed left paren");
                        tokens.Add(new Token(Kind.RightDelim, "}}", i));
                        return AfterDelim(i + 3, trimAfter: true);
                    }
                    tokens.Add(new Token(Kind.Space, input[start..i], start));
                    continue;
                }
                if (input.AsSpan(i).StartsWith("}}"))
                {
                    if (parenDepth > 0) throw Error(i, "unclosed left paren");
                    tokens.Add(new Token(Kind.RightDelim, "}}", i));
                    return AfterDelim(i + 2, trimAfter: false);
                }
                switch (c)
                {
                    case '|': tokens.Add(new Token(Kind.Pipe, "|", i)); i++; continue;
                    case ',': tokens.Add(new Token(Kind.Comma, ",", i)); i++; continue;
                    case '(': parenDepth++; tokens.Add(new Token(Kind.LeftParen, "(", i)); i++; continue;
                    case ')':
                        if (--parenDepth < 0) throw Error(i, "unexpected right paren");
                        tokens.Add(new Token(Kind.RightParen, ")", i)); i++; continue;
                    case ':':
                        if (i + 1 < input.Length && input[i + 1] == '=') { tokens.Add(new Token(Kind.Declare, ":=", i)); i += 2; continue; }
                        throw Error(i, "expected :=");
                    case '=': tokens.Add(new Token(Kind.Assign, "=", i)); i++; continue;
                    case '"': i = LexQuoted(i, '"', Kind.String); continue;
                    case '\'': i = LexQuoted(i, '\'', Kind.Char); continue;
                    case '`':
                    {
                        var close = input.IndexOf('`', i + 1);
                        if (close < 0) throw Error(i, "unterminated raw quoted string");
                        tokens.Add(new Token(Kind.String, input[(i + 1)..close], i));
                        i = close + 1;
                        continue;
                    }
                    case '$':
                    {
                        var end = i + 1;
                        while (end < input.Length && IsAlphaNumeric(input[end])) end++;
                        RequireTerminator(end);
                        tokens.Add(new Token(Kind.Variable, input[i..end], i));
                        i = end;
                        continue;
                    }
                    case '.':
                    {
                        if (i + 1 < input.Length && char.IsAsciiDigit(input[i + 1])) { i = LexNumber(i); continue; }
                        var end = i + 1;
                        while (end < input.Length && IsAlphaNumeric(input[end])) end++;
                        RequireTerminator(end);
                        tokens.Add(end == i + 1 ? new Token(Kind.Dot, ".", i) : new Token(Kind.Field, input[(i + 1)..end], i));
                        i = end;
                        continue;
                    }
                }
                if (char.IsAsciiDigit(c) || ((c is '-' or '+') && i + 1 < input.Length && (char.IsAsciiDigit(input[i + 1]) || input[i + 1] == '.')))
                {
                    i = LexNumber(i);
                    continue;
                }
                if (IsAlphaNumeric(c))
                {
                    var end = i;
                    while (end < input.Length && IsAlphaNumeric(input[end])) end++;
                    RequireTerminator(end);
                    var word = input[i..end];
                    var kind = Keywords.Contains(word) ? Kind.Keyword : word is "true" or "false" ? Kind.Bool : word == "nil" ? Kind.Nil : Kind.Identifier;
                    tokens.Add(new Token(kind, word, i));
                    i = end;
                    continue;
                }
                throw Error(i, $"unexpected {Quote(c)} in {(parenDepth > 0 ? "operand" : "command")}");
            }
        }

        private int AfterDelim(int i, bool trimAfter)
        {
            if (trimAfter) while (i < input.Length && IsSpace(input[i])) i++;
            return i;
        }

        private static string Quote(char c) => c switch
        {
            '\n' => "newline",
            _ => "\"" + c + "\"",
        };

        private static bool IsAlphaNumeric(char c) => c == '_' || char.IsLetterOrDigit(c);

        private int LexQuoted(int start, char quote, Kind kind)
        {
            var i = start + 1;
            while (true)
            {
                if (i >= input.Length || input[i] == '\n')
                    throw Error(start, kind == Kind.Char ? "unterminated character constant" : "unterminated quoted string");
                if (input[i] == '\\') { i += 2; continue; }
                if (input[i] == quote) break;
                i++;
            }
            var source = input[start..(i + 1)];
            tokens.Add(new Token(kind, source, start));
            return i + 1;
        }

        private int LexNumber(int start)
        {
            var i = start;
            if (input[i] is '+' or '-') i++;
            while (i < input.Length && (char.IsAsciiLetterOrDigit(input[i]) || input[i] is '.' or '_'
                || (input[i] is '+' or '-' && i > start && input[i - 1] is 'e' or 'E' or 'p' or 'P'))) i++;
            tokens.Add(new Token(Kind.Number, input[start..i], start));
            return i;
        }

        private FormatException Error(int pos, string message) => ParseError(input, name, pos, message);
    }

    private static FormatException ParseError(string input, string name, int pos, string message)
        => new($"{ErrorPrefix}template: {name}:{Line(input, pos)}: {message}");

    private static int Line(string input, int pos) => 1 + input.AsSpan(0, Math.Min(pos, input.Length)).Count('\n');

    // ==== parser ===============================================================================

    /// <summary>Go's text/template/parse: the same grammar, checks and messages.</summary>
    private sealed class Parser(string input, string name)
    {
        private readonly List<Token> tokens = new Lexer(input, name).Run();
        private int position;
        private readonly List<string> variables = ["$"];
        private int rangeDepth;

        private Token Peek() => tokens[position];
        private Token Next() => tokens[position++];

        private Token PeekNonSpace()
        {
            while (tokens[position].Kind == Kind.Space) position++;
            return tokens[position];
        }

        private Token NextNonSpace()
        {
            var token = PeekNonSpace();
            position++;
            return token;
        }

        private FormatException Error(Token at, string message) => ParseError(input, name, at.Pos, message);

        private FormatException Unexpected(Token token, string context) => Error(token, token.Kind switch
        {
            Kind.EOF => $"unexpected EOF in {context}",
            Kind.RightDelim => $"unexpected \"}}\" in {context}",
            Kind.Keyword or Kind.Identifier or Kind.Field or Kind.Variable => $"unexpected <{Describe(token)}> in {context}",
            _ => $"unexpected {Describe(token)} in {context}",
        });

        private static string Describe(Token token) => token.Kind switch
        {
            Kind.Field => "." + token.Value,
            Kind.LeftParen => "\"(\"",
            Kind.RightParen => "\")\"",
            Kind.Pipe => "\"|\"",
            Kind.Comma => "\",\"",
            Kind.Declare => "\":=\"",
            Kind.Assign => "\"=\"",
            _ => token.Value,
        };

        public List<Node> ParseTemplate()
        {
            var list = ParseList(out var stop);
            if (stop is { } s) throw Error(s, $"unexpected {{{{{s.Value}}}}}");
            return list;
        }

        /// <summary>Nodes up to an {{end}} or {{else}} (returned in <paramref name="stop"/>, positioned after its keyword) or EOF.</summary>
        private List<Node> ParseList(out Token? stop)
        {
            var list = new List<Node>();
            while (true)
            {
                var token = Next();
                switch (token.Kind)
                {
                    case Kind.EOF:
                        position--;
                        stop = null;
                        return list;
                    case Kind.Text:
                        list.Add(new TextNode(token.Pos, token.Value));
                        continue;
                    case Kind.Comment:
                        continue;
                    case Kind.LeftDelim:
                        var keyword = PeekNonSpace();
                        if (keyword.Kind == Kind.Keyword && keyword.Value is "end" or "else")
                        {
                            position++;
                            stop = keyword;
                            return list;
                        }
                        list.Add(ParseAction());
                        continue;
                    default:
                        throw Unexpected(token, "input");
                }
            }
        }

        private Node ParseAction()
        {
            var token = PeekNonSpace();
            if (token.Kind == Kind.Keyword)
            {
                position++;
                switch (token.Value)
                {
                    case "if" or "with" or "range": return ParseControl(token);
                    case "break" or "continue":
                        if (rangeDepth == 0) throw Error(token, $"{{{{{token.Value}}}}} outside {{{{range}}}}");
                        ExpectRightDelim(token.Value);
                        return new BreakNode(token.Pos, token.Value == "continue");
                    default:
                        throw Error(token, $"{token.Value} is not supported in --format templates");
                }
            }
            return new ActionNode(token.Pos, ParsePipeline("command", Kind.RightDelim));
        }

        private void ExpectRightDelim(string context)
        {
            var token = NextNonSpace();
            if (token.Kind != Kind.RightDelim) throw Unexpected(token, context);
        }

        private Node ParseControl(Token keyword)
        {
            var mark = variables.Count;
            var pipe = ParsePipeline(keyword.Value, Kind.RightDelim);
            if (keyword.Value == "range") rangeDepth++;
            var list = ParseList(out var stop);
            if (keyword.Value == "range") rangeDepth--;
            List<Node>? otherwise = null;
            if (stop is null) throw Error(tokens[position], $"unexpected EOF");
            if (stop.Value.Value == "else")
            {
                // {{else if …}} and {{else with …}}: an if (with) in the else branch that ends at the same {{end}}.
                var next = PeekNonSpace();
                if (next.Kind == Kind.Keyword && next.Value == keyword.Value && keyword.Value is "if" or "with")
                {
                    position++;
                    otherwise = [ParseControl(next)];
                    variables.RemoveRange(mark, variables.Count - mark);
                    return new BranchNode(keyword.Pos, keyword.Value, pipe, list, otherwise);
                }
                ExpectRightDelim("else");
                otherwise = ParseList(out stop);
                if (stop is null) throw Error(tokens[position], "unexpected EOF");
                if (stop.Value.Value != "end") throw Error(stop.Value, "expected end; found {{else}}");
            }
            ExpectRightDelim("end");
            variables.RemoveRange(mark, variables.Count - mark);
            return new BranchNode(keyword.Pos, keyword.Value, pipe, list, otherwise);
        }

        /// <summary>[declarations] command {| command}, up to <paramref name="end"/> (a right delimiter or paren).</summary>
        private Pipe ParsePipeline(string context, Kind end)
        {
            var start = PeekNonSpace();
            var declarations = new List<string>();
            var isAssign = false;
            if (start.Kind == Kind.Variable)
            {
                var save = position;
                position++;
                var after = PeekNonSpace();
                if (after.Kind is Kind.Declare or Kind.Assign)
                {
                    position++;
                    isAssign = after.Kind == Kind.Assign;
                    declarations.Add(start.Value);
                }
                else if (after.Kind == Kind.Comma && context == "range")
                {
                    position++;
                    var second = NextNonSpace();
                    if (second.Kind != Kind.Variable) throw Error(second, $"range can only initialize variables");
                    var op = NextNonSpace();
                    if (op.Kind is not (Kind.Declare or Kind.Assign)) throw Error(op, "range can only initialize variables");
                    isAssign = op.Kind == Kind.Assign;
                    declarations.Add(start.Value);
                    declarations.Add(second.Value);
                }
                else position = save;
                foreach (var name in declarations)
                {
                    if (isAssign) { if (!variables.Contains(name)) throw Error(start, $"undefined variable \"{name}\""); }
                    else variables.Add(name);
                }
            }
            var commands = new List<Command>();
            while (true)
            {
                var token = PeekNonSpace();
                if (token.Kind == end)
                {
                    position++;
                    if (commands.Count == 0) throw Error(token, $"missing value for {context}");
                    break;
                }
                if (token.Kind is Kind.Bool or Kind.Char or Kind.Dot or Kind.Field or Kind.Identifier or Kind.Number or Kind.Nil
                    or Kind.Variable or Kind.String or Kind.LeftParen)
                {
                    commands.Add(ParseCommand());
                    continue;
                }
                throw Unexpected(token, context);
            }
            // Go's checks: only the first command may be a non-function with arguments piped into it.
            for (var i = 1; i < commands.Count; i++)
                if (commands[i].Args[0] is ConstantNode or DotNode or NilNode)
                    throw Error(tokens[position - 1], $"non executable command in pipeline stage {i + 1}");
            return new Pipe(start.Pos, isAssign, declarations, commands);
        }

        private Command ParseCommand()
        {
            var args = new List<Node>();
            var start = PeekNonSpace().Pos;
            while (true)
            {
                PeekNonSpace();
                var operand = ParseOperand();
                if (operand is not null) args.Add(operand);
                var token = Peek();
                switch (token.Kind)
                {
                    case Kind.Space:
                        position++;
                        continue;
                    case Kind.RightDelim or Kind.RightParen:
                        break;
                    case Kind.Pipe:
                        position++;
                        break;
                    default:
                        throw Unexpected(token, "operand");
                }
                break;
            }
            if (args.Count == 0) throw Error(tokens[position], "empty command");
            return new Command(start, args);
        }

        private Node? ParseOperand()
        {
            var term = ParseTerm();
            if (term is null) return null;
            if (Peek().Kind != Kind.Field) return term;
            var fields = new List<string>();
            var chainPos = Peek().Pos;
            while (Peek().Kind == Kind.Field) fields.Add(Next().Value);
            return term switch
            {
                FieldNode f => new FieldNode(chainPos, [.. f.Names, .. fields]),
                VariableNode v => new VariableNode(chainPos, v.Name, [.. v.Fields, .. fields]),
                ConstantNode or NilNode or DotNode => throw Error(tokens[position - 1], $"unexpected . after term {Printf.GoQuote(term.ToString()!)}"),
                _ => new ChainNode(chainPos, term, [.. fields]),
            };
        }

        private Node? ParseTerm()
        {
            var token = Peek();
            switch (token.Kind)
            {
                case Kind.Identifier:
                    position++;
                    if (!Functions.IsDefined(token.Value)) throw Error(token, $"function \"{token.Value}\" not defined");
                    return new IdentifierNode(token.Pos, token.Value);
                case Kind.Dot:
                    position++;
                    return new DotNode(token.Pos);
                case Kind.Nil:
                    position++;
                    return new NilNode(token.Pos);
                case Kind.Variable:
                    position++;
                    if (!variables.Contains(token.Value)) throw Error(token, $"undefined variable \"{token.Value}\"");
                    return new VariableNode(token.Pos, token.Value, []);
                case Kind.Field:
                    position++;
                    return new FieldNode(token.Pos, [token.Value]);
                case Kind.Bool:
                    position++;
                    return new ConstantNode(token.Pos, token.Value == "true", token.Value);
                case Kind.Number or Kind.Char:
                    position++;
                    return new ConstantNode(token.Pos, Number(token), token.Value);
                case Kind.String:
                    position++;
                    return new ConstantNode(token.Pos, token.Value.StartsWith('"') ? Unquote(token) : token.Value, token.Value.StartsWith('"') ? token.Value : "`" + token.Value + "`");
                case Kind.LeftParen:
                    position++;
                    return ParsePipeline("parenthesized pipeline", Kind.RightParen);
                default:
                    return null;
            }
        }

        private object Number(Token token)
        {
            var s = token.Value;
            if (token.Kind == Kind.Char)
            {
                var text = Unquote(token with { Value = "\"" + s[1..^1] + "\"" });
                return (long)char.ConvertToUtf32(text, 0);
            }
            var negative = s.StartsWith('-');
            var body = s.TrimStart('+', '-').Replace("_", "", StringComparison.Ordinal);
            try
            {
                long? integer = body switch
                {
                    _ when body.StartsWith("0x", StringComparison.OrdinalIgnoreCase) && !body.Contains('.') && !body.Contains('p', StringComparison.OrdinalIgnoreCase)
                        => long.Parse(body[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture),
                    _ when body.StartsWith("0b", StringComparison.OrdinalIgnoreCase) => Convert.ToInt64(body[2..], 2),
                    _ when body.StartsWith("0o", StringComparison.OrdinalIgnoreCase) => Convert.ToInt64(body[2..], 8),
                    _ when body.Length > 1 && body[0] == '0' && body.All(char.IsAsciiDigit) => Convert.ToInt64(body, 8),
                    _ when body.All(char.IsAsciiDigit) => long.Parse(body, CultureInfo.InvariantCulture),
                    _ => null,
                };
                if (integer is { } n) return negative ? -n : n;
                if (double.TryParse(body, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && !body.Contains(',')) return negative ? -d : d;
            }
            catch (Exception e) when (e is FormatException or OverflowException or ArgumentException) { }
            throw Error(token, $"illegal number syntax: \"{s}\"");
        }

        /// <summary>Go's strconv.Unquote of a "…" literal.</summary>
        private string Unquote(Token token)
        {
            var s = token.Value;
            var sb = new StringBuilder();
            for (var i = 1; i < s.Length - 1; i++)
            {
                if (s[i] != '\\') { sb.Append(s[i]); continue; }
                var c = s[++i];
                switch (c)
                {
                    case 'n': sb.Append('\n'); break;
                    case 't': sb.Append('\t'); break;
                    case 'r': sb.Append('\r'); break;
                    case 'a': sb.Append('\a'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'v': sb.Append('\v'); break;
                    case '\\' or '"' or '\'': sb.Append(c); break;
                    case 'x' or 'u' or 'U':
                    {
                        var length = c switch { 'x' => 2, 'u' => 4, _ => 8 };
                        if (i + length >= s.Length || !int.TryParse(s.AsSpan(i + 1, length), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
                            throw Error(token, $"invalid syntax");
                        if (c == 'x') sb.Append((char)code); else sb.Append(char.ConvertFromUtf32(code));
                        i += length;
                        break;
                    }
                    case >= '0' and <= '7':
                        if (i + 2 >= s.Length) throw Error(token, "invalid syntax");
                        sb.Append((char)Convert.ToInt32(s.Substring(i, 3), 8));
                        i += 2;
                        break;
                    default: throw Error(token, "invalid syntax");
                }
            }
            return sb.ToString();
        }
    }

    // ==== execution ============================================================================

    /// <summary>Go's "break"/"continue" inside a range.</summary>
    private sealed class LoopControl(bool isContinue) : Exception
    {
        public bool IsContinue { get; } = isContinue;
    }

    private sealed class Executor(string text, string name, JsonNode? data, bool header)
    {
        private readonly StringBuilder output = new();
        private readonly List<(string Name, object? Value)> variables = [("$", Values.FromJson(data))];

        public string Run(List<Node> list)
        {
            Walk(Values.FromJson(data), list);
            return output.ToString();
        }

        private FormatException Fail(Node at, string message)
        {
            var prefix = text[..Math.Min(at.Pos, text.Length)];
            var lastNewline = prefix.LastIndexOf('\n');
            var column = lastNewline < 0 ? at.Pos : at.Pos - lastNewline - 1;
            return new FormatException($"{ErrorPrefix}template: {name}:{Line(text, at.Pos)}:{column}: executing \"{name}\" at <{at}>: {message}");
        }

        private void Walk(object? dot, List<Node> list)
        {
            foreach (var node in list) Walk(dot, node);
        }

        private void Walk(object? dot, Node node)
        {
            switch (node)
            {
                case TextNode t:
                    output.Append(t.Text);
                    break;
                case ActionNode a:
                    var value = EvalPipeline(dot, a.Pipe);
                    if (a.Pipe.Declarations.Count == 0) output.Append(Values.Print(value, topLevel: true));
                    break;
                case BreakNode b:
                    throw new LoopControl(b.Continue);
                case BranchNode { Keyword: "range" } r:
                    Range(dot, r);
                    break;
                case BranchNode branch:
                {
                    var mark = variables.Count;
                    var condition = EvalPipeline(dot, branch.Pipe);
                    if (Values.IsTrue(condition)) Walk(branch.Keyword == "with" ? condition : dot, branch.List);
                    else if (branch.Else is not null) Walk(dot, branch.Else);
                    Pop(mark);
                    break;
                }
            }
        }

        private void Pop(int mark) => variables.RemoveRange(mark, variables.Count - mark);

        private void Range(object? dot, BranchNode r)
        {
            var mark = variables.Count;
            var declarations = r.Pipe.Declarations;
            // The range's variables are bound per element, not to the pipeline's value.
            var items = EvalPipeline(dot, r.Pipe with { Declarations = [] });
            var any = false;
            void One(object? key, object? element)
            {
                any = true;
                var inner = variables.Count;
                if (declarations.Count == 1) SetVariable(declarations[0], element, r.Pipe.IsAssign);
                else if (declarations.Count == 2)
                {
                    SetVariable(declarations[0], key, r.Pipe.IsAssign);
                    SetVariable(declarations[1], element, r.Pipe.IsAssign);
                }
                try { Walk(element, r.List); }
                finally { Pop(inner); }
            }
            try
            {
                switch (items)
                {
                    case JsonArray array:
                        for (var i = 0; i < array.Count; i++)
                            if (!Step(() => One((long)i, Values.FromJson(array[i])))) break;
                        break;
                    case JsonObject map:
                        foreach (var pair in map.OrderBy(p => p.Key, StringComparer.Ordinal))
                            if (!Step(() => One(pair.Key, Values.FromJson(pair.Value)))) break;
                        break;
                    case long count:
                        if (declarations.Count > 1) throw Fail(r.Pipe, "can't use " + count + " to iterate over more than one variable");
                        for (long i = 0; i < count; i++)
                            if (!Step(() => One(i, i))) break;
                        break;
                    case null:
                        break;
                    default:
                        throw Fail(r.Pipe, $"range can't iterate over {Values.Print(items, topLevel: true)}");
                }
                if (!any && r.Else is not null) Walk(dot, r.Else);
            }
            finally { Pop(mark); }
        }

        /// <summary>Runs one iteration; false after a {{break}}.</summary>
        private static bool Step(Action iteration)
        {
            try { iteration(); return true; }
            catch (LoopControl control) { return control.IsContinue; }
        }

        /// <summary>$x := value declares (in the current scope), $x = value assigns the innermost $x.</summary>
        private void SetVariable(string name, object? value, bool assign)
        {
            if (!assign)
            {
                variables.Add((name, value));
                return;
            }
            for (var i = variables.Count - 1; i >= 0; i--)
                if (variables[i].Name == name) { variables[i] = (name, value); return; }
        }

        private object? Variable(Node at, string name)
        {
            for (var i = variables.Count - 1; i >= 0; i--)
                if (variables[i].Name == name) return variables[i].Value;
            throw Fail(at, $"undefined variable: {name}");
        }

        private object? EvalPipeline(object? dot, Pipe pipe)
        {
            object? value = null;
            var hasValue = false;
            foreach (var command in pipe.Commands)
            {
                value = EvalCommand(dot, command, hasValue ? new Piped(value) : null);
                hasValue = true;
            }
            foreach (var name in pipe.Declarations) SetVariable(name, value, pipe.IsAssign);
            return value;
        }

        /// <summary>The previous command's value, passed as the last argument of the next.</summary>
        private sealed record Piped(object? Value);

        private object? EvalCommand(object? dot, Command command, Piped? piped)
        {
            var first = command.Args[0];
            switch (first)
            {
                case IdentifierNode function:
                    return Call(dot, command, function.Name, command.Args.Skip(1).ToList(), piped);
                case FieldNode or VariableNode { Fields.Length: > 0 } or ChainNode:
                    // Go's words for a field given arguments (a method would take them).
                    if (command.Args.Count > 1 || piped is not null)
                        throw Fail(first, $"{LastField(first)} is not a method but has arguments");
                    return EvalArg(dot, first);
                case NilNode:
                    throw Fail(command, "nil is not a command");
            }
            if (command.Args.Count > 1 || piped is not null) throw Fail(first, $"can't give argument to non-function {first}");
            return EvalArg(dot, first);
        }

        private static string LastField(Node node) => node switch
        {
            FieldNode f => f.Names[^1],
            VariableNode v => v.Fields[^1],
            ChainNode c => c.Fields[^1],
            _ => node.ToString()!,
        };

        private object? EvalArg(object? dot, Node node) => node switch
        {
            DotNode => dot,
            NilNode => null,
            ConstantNode c => c.Value,
            FieldNode f => Fields(f, dot, f.Names),
            VariableNode v => Fields(v, Variable(v, v.Name), v.Fields),
            ChainNode c => Fields(c, EvalArg(dot, c.Operand), c.Fields),
            Pipe p => EvalPipelineScoped(dot, p),
            IdentifierNode i => Call(dot, new Command(i.Pos, [i]), i.Name, [], null),
            _ => throw Fail(node, $"can't evaluate {node}"),
        };

        private object? EvalPipelineScoped(object? dot, Pipe pipe)
        {
            var mark = variables.Count;
            try { return EvalPipeline(dot, pipe); }
            finally { Pop(mark); }
        }

        /// <summary>Field after field: a JSON object's key (missing: Go's &lt;no value&gt;), nil stays nil.</summary>
        private object? Fields(Node at, object? receiver, string[] names)
        {
            var current = receiver;
            foreach (var name in names)
            {
                current = current switch
                {
                    JsonObject o => o.TryGetPropertyValue(name, out var v) ? Values.FromJson(v) : null,
                    null or NilPointer => null,
                    _ => throw Fail(at, $"can't evaluate field {name} in type {Values.GoType(current)}"),
                };
            }
            return current;
        }

        // ---- functions ----

        private object? Call(object? dot, Command command, string name, List<Node> argNodes, Piped? piped)
        {
            // and/or evaluate their arguments only as far as needed, as Go's do.
            if (name is "and" or "or")
            {
                var count = argNodes.Count + (piped is null ? 0 : 1);
                if (count == 0) throw Fail(command, $"wrong number of args for {name}: want at least 1 got 0");
                object? last = null;
                for (var i = 0; i < count; i++)
                {
                    last = i < argNodes.Count ? EvalArg(dot, argNodes[i]) : piped!.Value;
                    var truth = Values.IsTrue(last);
                    if (name == "and" ? !truth : truth) return last;
                }
                return last;
            }
            var args = new List<object?>(argNodes.Count + 1);
            for (var i = 0; i < argNodes.Count; i++)
            {
                // A constant of the wrong type is Go's error at the constant itself.
                if (argNodes[i] is ConstantNode constant && Functions.Parameter(name, i) is { } wanted && !Functions.Fits(wanted, constant.Value))
                    throw Fail(constant, $"expected {wanted}; found {constant}");
                args.Add(EvalArg(dot, argNodes[i]));
            }
            if (piped is not null) args.Add(piped.Value);
            try { return header && Functions.HeaderPassThrough(name, args, out var title) ? title : Functions.Invoke(name, args); }
            catch (FunctionException e) { throw Fail(command, e.Message); }
        }
    }

    private sealed class FunctionException(string message) : Exception(message);

    /// <summary>Go's builtins and docker's template functions over template values.</summary>
    private static class Functions
    {
        private static readonly HashSet<string> Names =
        [
            "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt", "le", "gt", "ge", "html", "js", "urlquery", "call",
            "json", "split", "join", "title", "lower", "upper", "pad", "truncate",
        ];

        private static readonly HashSet<string> DockerFunctions = ["json", "split", "join", "title", "lower", "upper", "pad", "truncate"];

        public static bool IsDefined(string name) => Names.Contains(name);

        /// <summary>The Go kind ("string", "integer") of a function's parameter, where it has one.</summary>
        public static string? Parameter(string name, int index) => (name, index) switch
        {
            ("split" or "join" or "truncate" or "pad", 0) or ("split" or "join", 1) or ("printf", 0) => "string",
            ("title" or "lower" or "upper", 0) => "string",
            ("truncate", 1) or ("pad", 1 or 2) => "integer",
            _ => null,
        };

        public static bool Fits(string kind, object? value) => kind switch
        {
            "string" => value is string,
            "integer" => value is long,
            _ => true,
        };

        /// <summary>docker's HeaderFunctions: its own functions give the column title back in a table's header row.</summary>
        public static bool HeaderPassThrough(string name, List<object?> args, out object? title)
        {
            title = args.Count > 0 ? args[0] : null;
            return DockerFunctions.Contains(name) && args.Count > 0 && args[0] is string;
        }

        public static object? Invoke(string name, List<object?> args)
        {
            switch (name)
            {
                case "not": Count(name, args, 1); return !Values.IsTrue(args[0]);
                case "len": Count(name, args, 1); return Length(args[0]);
                case "index": return Index(args);
                case "slice": return Slice(args);
                case "print": return Values.Sprint(args);
                case "println": return string.Join(" ", args.Select(a => Values.Print(a, topLevel: false))) + "\n";
                case "printf":
                    if (args.Count == 0) throw new FunctionException("wrong number of args for printf: want at least 1 got 0");
                    return Printf.Format(String(args[0]), args.Skip(1).ToList());
                case "eq": return Compare.Eq(args);
                case "ne": Count(name, args, 2); return !Compare.Eq(args, name);
                case "lt": Count(name, args, 2); return Compare.Less(name, args[0], args[1]);
                case "le": Count(name, args, 2); return Compare.Less(name, args[0], args[1]) || Compare.Eq(args, name);
                case "gt": Count(name, args, 2); return !Compare.Less(name, args[0], args[1]) && !Compare.Eq(args, name);
                case "ge": Count(name, args, 2); return !Compare.Less(name, args[0], args[1]);
                case "html": return Escape.Html(Values.Sprint(args));
                case "js": return Escape.Js(Values.Sprint(args));
                case "urlquery": return Uri.EscapeDataString(Values.Sprint(args)).Replace("%20", "+", StringComparison.Ordinal);
                case "call": throw new FunctionException("error calling call: call of nil");
                case "json": Count(name, args, 1); return Values.Json(args[0]);
                case "split": Count(name, args, 2); return new JsonArray([.. Split(String(args[0]), String(args[1])).Select(s => (JsonNode?)JsonValue.Create(s))]);
                case "join":
                    Count(name, args, 2);
                    if (args[0] is not JsonArray items || items.Any(i => Values.FromJson(i) is not string))
                        throw new FunctionException($"wrong type for value; expected []string; got {Values.GoType(args[0])}");
                    return string.Join(String(args[1]), items.Select(i => (string)Values.FromJson(i)!));
                case "title": Count(name, args, 1); return Title(String(args[0]));
                case "lower": Count(name, args, 1); return String(args[0]).ToLowerInvariant();
                case "upper": Count(name, args, 1); return String(args[0]).ToUpperInvariant();
                case "pad":
                {
                    Count(name, args, 3);
                    var source = String(args[0]);
                    return source.Length == 0 ? source : new string(' ', Int(args[1])) + source + new string(' ', Int(args[2]));
                }
                case "truncate":
                {
                    Count(name, args, 2);
                    var source = String(args[0]);
                    var length = Int(args[1]);
                    var bytes = Encoding.UTF8.GetBytes(source);
                    return bytes.Length < length ? source : Encoding.UTF8.GetString(bytes, 0, Math.Max(0, length));
                }
                default: throw new FunctionException($"function \"{name}\" not defined");
            }
        }

        private static void Count(string name, List<object?> args, int want)
        {
            if (args.Count != want) throw new FunctionException($"wrong number of args for {name}: want {want} got {args.Count}");
        }

        private static string String(object? value) => value as string
            ?? throw new FunctionException(value is null ? "invalid value; expected string" : $"wrong type for value; expected string; got {Values.GoType(value)}");

        private static int Int(object? value) => value switch
        {
            long n when n is >= int.MinValue and <= int.MaxValue => (int)n,
            double d when d == Math.Floor(d) && Math.Abs(d) < int.MaxValue => (int)d,
            null => throw new FunctionException("invalid value; expected int"),
            _ => throw new FunctionException($"wrong type for value; expected int; got {Values.GoType(value)}"),
        };

        /// <summary>Go's strings.Split: an empty separator splits after each character.</summary>
        private static string[] Split(string s, string separator)
            => separator.Length == 0 ? [.. s.Select(c => c.ToString())] : s.Split(separator);

        /// <summary>docker's title (cases.Title, no lowering): each word's first letter upper-cased.</summary>
        private static string Title(string s)
        {
            var chars = s.ToCharArray();
            var atWordStart = true;
            for (var i = 0; i < chars.Length; i++)
            {
                var letter = char.IsLetterOrDigit(chars[i]) || chars[i] is '\'' or '_';
                if (letter && atWordStart) chars[i] = char.ToUpperInvariant(chars[i]);
                atWordStart = !letter;
            }
            return new string(chars);
        }

        private static long Length(object? value) => value switch
        {
            string s => Encoding.UTF8.GetByteCount(s),
            JsonArray a => a.Count,
            JsonObject o => o.Count,
            null => throw new FunctionException("error calling len: len of nil pointer"),
            _ => throw new FunctionException($"error calling len: len of type {Values.GoType(value)}"),
        };

        private static object? Index(List<object?> args)
        {
            if (args.Count == 0) throw new FunctionException("wrong number of args for index: want at least 1 got 0");
            var current = args[0];
            if (current is null) throw new FunctionException("error calling index: index of untyped nil");
            foreach (var key in args.Skip(1))
            {
                current = current switch
                {
                    JsonArray a => key is long i
                        ? i >= 0 && i < a.Count ? Values.FromJson(a[(int)i]) : throw new FunctionException($"error calling index: index out of range: {i}")
                        : throw new FunctionException($"error calling index: cannot index slice/array with type {Values.GoType(key)}"),
                    string s => key is long i
                        ? i >= 0 && i < s.Length ? (long)s[(int)i] : throw new FunctionException($"error calling index: index out of range: {i}")
                        : throw new FunctionException($"error calling index: cannot index slice/array with type {Values.GoType(key)}"),
                    // A missing key is the zero value of the map's element: "" in docker's string maps (labels, options), a
                    // nil pointer in its maps of structs (networks).
                    JsonObject o => key is string k
                        ? o.TryGetPropertyValue(k, out var v) ? Values.FromJson(v) : Values.IsStringMap(o) ? "" : NilPointer.Instance
                        : throw new FunctionException($"error calling index: value has type {Values.GoType(key)}; should be string"),
                    null => throw new FunctionException("error calling index: index of nil pointer"),
                    _ => throw new FunctionException($"error calling index: can't index item of type {Values.GoType(current)}"),
                };
            }
            return current;
        }

        private static object? Slice(List<object?> args)
        {
            if (args.Count == 0) throw new FunctionException("wrong number of args for slice: want at least 1 got 0");
            var item = args[0];
            var length = item switch
            {
                string s => s.Length,
                JsonArray a => a.Count,
                null => throw new FunctionException("error calling slice: slice of untyped nil"),
                _ => throw new FunctionException($"error calling slice: can't slice item of type {Values.GoType(item)}"),
            };
            if (args.Count > 4 || (args.Count > 3 && item is string)) throw new FunctionException("error calling slice: too many slice indexes: " + (args.Count - 1));
            var bounds = args.Skip(1).Select(a => a is long n ? n : throw new FunctionException($"error calling slice: cannot index slice/array with type {Values.GoType(a)}")).ToList();
            var from = bounds.Count > 0 ? bounds[0] : 0;
            var to = bounds.Count > 1 ? bounds[1] : length;
            if (from < 0 || to < from || to > length) throw new FunctionException($"error calling slice: index out of range: {(from < 0 || from > length ? from : to)}");
            return item is string str ? str[(int)from..(int)to] : new JsonArray([.. ((JsonArray)item).Skip((int)from).Take((int)(to - from)).Select(n => n?.DeepClone())]);
        }
    }

    /// <summary>Go's eq/lt over basic kinds: bool, integer, float, string; nil compares only to nil.</summary>
    private static class Compare
    {
        private enum BasicKind { Invalid, Bool, Int, Float, String, Other }

        private static BasicKind KindOf(object? v) => v switch
        {
            null or NilPointer => BasicKind.Invalid,
            bool => BasicKind.Bool,
            long or ulong => BasicKind.Int,
            double => BasicKind.Float,
            string => BasicKind.String,
            _ => BasicKind.Other,
        };

        public static bool Eq(List<object?> args, string name = "eq")
        {
            if (args.Count < 2) throw new FunctionException($"error calling {name}: missing argument for comparison");
            var first = args[0];
            var k1 = KindOf(first);
            foreach (var arg in args.Skip(1))
            {
                var k2 = KindOf(arg);
                if (k1 != k2)
                {
                    if (k1 != BasicKind.Invalid && k2 != BasicKind.Invalid) throw new FunctionException($"error calling {name}: incompatible types for comparison");
                    continue;
                }
                var equal = k1 switch
                {
                    BasicKind.Invalid => true,
                    BasicKind.Other => throw new FunctionException($"error calling {name}: non-comparable type {Values.Print(arg, topLevel: false)}: {Values.GoType(arg)}"),
                    BasicKind.Int => Convert.ToDecimal(first, CultureInfo.InvariantCulture) == Convert.ToDecimal(arg, CultureInfo.InvariantCulture),
                    _ => Equals(first, arg),
                };
                if (equal) return true;
            }
            return false;
        }

        public static bool Less(string name, object? a, object? b)
        {
            var k1 = KindOf(a);
            var k2 = KindOf(b);
            if (k1 is BasicKind.Invalid or BasicKind.Bool or BasicKind.Other || k2 is BasicKind.Invalid or BasicKind.Bool or BasicKind.Other)
                throw new FunctionException($"error calling {name}: invalid type for comparison");
            if (k1 != k2) throw new FunctionException($"error calling {name}: incompatible types for comparison");
            return k1 switch
            {
                BasicKind.Int => Convert.ToDecimal(a, CultureInfo.InvariantCulture) < Convert.ToDecimal(b, CultureInfo.InvariantCulture),
                BasicKind.Float => (double)a! < (double)b!,
                _ => string.CompareOrdinal((string)a!, (string)b!) < 0,
            };
        }
    }

    /// <summary>A nil pointer of a typed value (what index gives for a missing key of a map of structs): prints &lt;nil&gt;.</summary>
    private sealed class NilPointer
    {
        public static readonly NilPointer Instance = new();
        public override string ToString() => "<nil>";
    }

    /// <summary>Template values: JSON objects and arrays as they are, scalars as string, long (ulong beyond it), double, bool; nil is null.</summary>
    private static class Values
    {
        public static object? FromJson(JsonNode? node) => node switch
        {
            null => null,
            // Typed as object: JsonNode's implicit conversions from string, bool and numbers would otherwise wrap them again.
            JsonObject or JsonArray => (object)node,
            JsonValue v => v.GetValueKind() switch
            {
                JsonValueKind.String => (object)v.GetValue<string>(),
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                JsonValueKind.Number => v.TryGetValue<long>(out var l) ? l : v.TryGetValue<ulong>(out var u) ? (object)u : v.GetValue<double>(),
                JsonValueKind.Null => null,
                _ => v.ToJsonString(),
            },
            _ => null,
        };

        /// <summary>Go's truth: false, 0, "", nil and empty collections are false.</summary>
        public static bool IsTrue(object? value) => value switch
        {
            null or NilPointer => false,
            bool b => b,
            string s => s.Length > 0,
            long n => n != 0,
            ulong n => n != 0,
            double d => d != 0,
            JsonArray a => a.Count > 0,
            JsonObject o => o.Count > 0,
            JsonNode n => IsTrue(FromJson(n)),
            _ => true,
        };

        /// <summary>The Go type the docker CLI's raw-JSON fallback would see (encoding/json's decoding of the value).</summary>
        public static string GoType(object? value) => value switch
        {
            null => "<nil>",
            string => "string",
            long => "int",
            ulong => "uint64",
            double => "float64",
            bool => "bool",
            JsonArray a => a.All(e => e is JsonValue v && v.GetValueKind() == JsonValueKind.String) ? "[]string" : "[]interface {}",
            JsonObject o => IsStringMap(o) ? "map[string]string" : "map[string]interface {}",
            NilPointer => "*struct {}",
            _ => "interface {}",
        };

        /// <summary>A JSON object of strings only: one of docker's map[string]string (labels, options, annotations).</summary>
        public static bool IsStringMap(JsonObject o) => o.All(p => p.Value is JsonValue v && v.GetValueKind() == JsonValueKind.String);

        /// <summary>fmt's %v; at the top level nil is &lt;no value&gt; (the template's), inside a collection &lt;nil&gt;.</summary>
        public static string Print(object? value, bool topLevel) => value switch
        {
            null => topLevel ? "<no value>" : "<nil>",
            string s => s,
            bool b => b ? "true" : "false",
            long n => n.ToString(CultureInfo.InvariantCulture),
            ulong n => n.ToString(CultureInfo.InvariantCulture),
            double d => FormatFloat(d, 'g', -1),
            JsonArray a => "[" + string.Join(" ", a.Select(x => Print(FromJson(x), topLevel: false))) + "]",
            JsonObject o => "map[" + string.Join(" ", o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + ":" + Print(FromJson(p.Value), topLevel: false))) + "]",
            JsonNode n => Print(FromJson(n), topLevel),
            _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
        };

        /// <summary>fmt.Sprint: operands printed with %v, a space between two when neither is a string.</summary>
        public static string Sprint(List<object?> args)
        {
            var sb = new StringBuilder();
            for (var i = 0; i < args.Count; i++)
            {
                if (i > 0 && args[i] is not string && args[i - 1] is not string) sb.Append(' ');
                sb.Append(Print(args[i], topLevel: false));
            }
            return sb.ToString();
        }

        /// <summary>docker's json: encoding/json without HTML escaping, JSON objects in the order the API sent them.</summary>
        public static string Json(object? value) => value switch
        {
            null or NilPointer => "null",
            JsonNode node => node.ToJsonString(CompactJson),
            string s => JsonSerializer.Serialize(s, Berth.Engine.Models.DockerJsonContext.Default.String),
            bool b => b ? "true" : "false",
            long n => n.ToString(CultureInfo.InvariantCulture),
            ulong n => n.ToString(CultureInfo.InvariantCulture),
            double d => JsonFloat(d),
            _ => "null",
        };

        private static readonly JsonSerializerOptions CompactJson = new()
        {
            TypeInfoResolver = Berth.Engine.Models.DockerJsonContext.Default,
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };

        /// <summary>encoding/json's float64: shortest digits, an exponent only below 1e-6 or from 1e21 ("1e-7", not "1e-07").</summary>
        private static string JsonFloat(double d)
        {
            var abs = Math.Abs(d);
            if (abs == 0 || (abs >= 1e-6 && abs < 1e21)) return FormatFloat(d, 'f', -1);
            var e = FormatFloat(d, 'e', -1);
            return e.Contains("e-0", StringComparison.Ordinal) ? e.Replace("e-0", "e-", StringComparison.Ordinal) : e;
        }

        /// <summary>
        /// Go's strconv.FormatFloat(d, verb, precision, 64) for 'e', 'f' and 'g'; precision -1 is the shortest digits that
        /// read back (then 'g' switches to an exponent below 1e-4 or from 1e6 on, as %v does: 1e+06, 123456).
        /// </summary>
        public static string FormatFloat(double d, char verb, int precision)
        {
            if (double.IsNaN(d)) return "NaN";
            if (double.IsInfinity(d)) return d > 0 ? "+Inf" : "-Inf";
            var sign = d < 0 || (d == 0 && double.IsNegative(d)) ? "-" : "";
            d = Math.Abs(d);
            if (verb == 'f' && precision >= 0) return sign + d.ToString("F" + precision, CultureInfo.InvariantCulture);
            var (digits, exponent) = Decompose(precision < 0 ? d.ToString("R", CultureInfo.InvariantCulture)
                : d.ToString("E" + (verb == 'g' ? Math.Max(precision - 1, 0) : precision), CultureInfo.InvariantCulture));
            switch (verb)
            {
                case 'e':
                    return sign + Exponential(digits, exponent, precision < 0 ? digits.Length - 1 : precision);
                case 'g':
                {
                    var eprec = precision < 0 ? 6 : Math.Max(precision, 1);
                    if (precision >= 0 && eprec > digits.Length && digits.Length >= exponent + 1) eprec = digits.Length;
                    return sign + (exponent < -4 || exponent >= eprec
                        ? Exponential(digits, exponent, digits.Length - 1)
                        : Fixed(digits, exponent, Math.Max(digits.Length - exponent - 1, 0)));
                }
                default:
                    return sign + Fixed(digits, exponent, Math.Max(digits.Length - exponent - 1, 0));
            }
        }

        private static string Exponential(string digits, int exponent, int fractionDigits)
        {
            var fraction = digits.Length > 1 ? digits[1..] : "";
            fraction = fraction.Length >= fractionDigits ? fraction[..fractionDigits] : fraction.PadRight(fractionDigits, '0');
            return digits[0] + (fractionDigits > 0 ? "." + fraction : "") + "e" + (exponent < 0 ? "-" : "+")
                + Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture);
        }

        private static string Fixed(string digits, int exponent, int fractionDigits)
        {
            var integer = exponent < 0 ? "0" : digits.Length > exponent + 1 ? digits[..(exponent + 1)] : digits.PadRight(exponent + 1, '0');
            var fraction = exponent < 0 ? new string('0', -exponent - 1) + digits : digits.Length > exponent + 1 ? digits[(exponent + 1)..] : "";
            fraction = fraction.Length >= fractionDigits ? fraction[..fractionDigits] : fraction.PadRight(fractionDigits, '0');
            return fractionDigits > 0 ? integer + "." + fraction : integer;
        }

        /// <summary>"1.5E+021", "1.2345E-005" or "123.45" → the significant digits without trailing zeros ("15", "12345") and the power of ten of the first.</summary>
        private static (string Digits, int Exponent) Decompose(string text)
        {
            var exponent = 0;
            var e = text.IndexOfAny(['E', 'e']);
            if (e >= 0)
            {
                exponent = int.Parse(text[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
                text = text[..e];
            }
            var point = text.IndexOf('.');
            var integerPart = point < 0 ? text : text[..point];
            var all = integerPart + (point < 0 ? "" : text[(point + 1)..]);
            var leading = all.Length - all.TrimStart('0').Length;
            var digits = all.Trim('0');
            if (digits.Length == 0) return ("0", 0);
            return (digits, exponent + integerPart.Length - 1 - leading);
        }
    }

    /// <summary>Go's fmt.Sprintf for the verbs --format strings use: %v %s %q %d %x %X %o %b %c %t %f %e %g %T %%, with flags, width and precision.</summary>
    private static class Printf
    {
        public static string Format(string format, List<object?> args)
        {
            var sb = new StringBuilder();
            var next = 0;
            for (var i = 0; i < format.Length; i++)
            {
                var c = format[i];
                if (c != '%') { sb.Append(c); continue; }
                if (++i >= format.Length) { sb.Append("%!(NOVERB)"); break; }
                bool minus = false, plus = false, zero = false, space = false, sharp = false;
                for (; i < format.Length; i++)
                {
                    switch (format[i])
                    {
                        case '-': minus = true; continue;
                        case '+': plus = true; continue;
                        case '0': zero = !minus; continue;
                        case ' ': space = true; continue;
                        case '#': sharp = true; continue;
                    }
                    break;
                }
                int? width = null, precision = null;
                if (i < format.Length && format[i] == '*') { width = next < args.Count && args[next] is long w ? (int)w : 0; next++; i++; }
                else width = ReadNumber(format, ref i);
                if (i < format.Length && format[i] == '.')
                {
                    i++;
                    if (i < format.Length && format[i] == '*') { precision = next < args.Count && args[next] is long p ? (int)p : 0; next++; i++; }
                    else precision = ReadNumber(format, ref i) ?? 0;
                }
                if (i >= format.Length) { sb.Append("%!(NOVERB)"); break; }
                var verb = format[i];
                if (verb == '%') { sb.Append('%'); continue; }
                if (next >= args.Count) { sb.Append("%!").Append(verb).Append("(MISSING)"); continue; }
                var arg = args[next++];
                var body = Verb(verb, arg, plus, space, sharp, precision);
                if (width is { } wd && body.Length < wd)
                {
                    var pad = wd - body.Length;
                    if (minus) body += new string(' ', pad);
                    else if (zero && verb is not ('s' or 'q' or 'v' or 'T' or 't') && arg is long or double or ulong)
                    {
                        var signed = body.StartsWith('-') || body.StartsWith('+');
                        body = signed ? body[0] + new string('0', pad) + body[1..] : new string('0', pad) + body;
                    }
                    else body = new string(' ', pad) + body;
                }
                sb.Append(body);
            }
            if (next < args.Count)
                sb.Append("%!(EXTRA ").Append(string.Join(", ", args.Skip(next).Select(a => Values.GoType(a) + "=" + Values.Print(a, topLevel: false)))).Append(')');
            return sb.ToString();
        }

        private static int? ReadNumber(string format, ref int i)
        {
            var start = i;
            while (i < format.Length && char.IsAsciiDigit(format[i])) i++;
            return i > start ? int.Parse(format.AsSpan(start, i - start), CultureInfo.InvariantCulture) : null;
        }

        private static string Verb(char verb, object? arg, bool plus, bool space, bool sharp, int? precision)
        {
            string Bad() => "%!" + verb + "(" + Values.GoType(arg) + "=" + Values.Print(arg, topLevel: false) + ")";
            string Signed(string s, bool negative) => negative ? s : plus ? "+" + s : space ? " " + s : s;
            switch (verb)
            {
                case 'v':
                    if (arg is double dv) return Signed(Values.FormatFloat(dv, 'g', precision ?? -1), dv < 0);
                    if (arg is JsonNode node && sharp) return node.ToJsonString();
                    return arg is null ? "<nil>" : Values.Print(arg, topLevel: false);
                case 'T': return arg is null ? "<nil>" : Values.GoType(arg);
                case 's':
                {
                    if (arg is long or ulong or double or bool) return Bad();
                    var s = Values.Print(arg, topLevel: false);
                    return precision is { } p && p < s.Length ? s[..p] : s;
                }
                case 'q':
                    return arg switch
                    {
                        string s => sharp && !s.Contains('`') ? "`" + s + "`" : GoQuote(s),
                        long r => "'" + char.ConvertFromUtf32((int)r) + "'",
                        _ => Bad(),
                    };
                case 't': return arg is bool b ? (b ? "true" : "false") : Bad();
                case 'd':
                    return arg switch
                    {
                        long n => Signed(n.ToString(CultureInfo.InvariantCulture), n < 0),
                        ulong u => Signed(u.ToString(CultureInfo.InvariantCulture), false),
                        _ => Bad(),
                    };
                case 'x' or 'X' or 'o' or 'b':
                {
                    string Digits(ulong magnitude) => verb switch
                    {
                        'x' => magnitude.ToString("x", CultureInfo.InvariantCulture),
                        'X' => magnitude.ToString("X", CultureInfo.InvariantCulture),
                        'o' => Convert.ToString((long)magnitude, 8),
                        _ => Convert.ToString((long)magnitude, 2),
                    };
                    string Prefix() => !sharp ? "" : verb switch { 'x' => "0x", 'X' => "0X", 'o' => "0", _ => "" };
                    return arg switch
                    {
                        long n => Signed((n < 0 ? "-" : "") + Prefix() + Digits(n == long.MinValue ? 1UL << 63 : (ulong)Math.Abs(n)), n < 0),
                        ulong u => Prefix() + Digits(u),
                        string s when verb is 'x' or 'X' => string.Concat(Encoding.UTF8.GetBytes(s).Select(by => by.ToString(verb == 'x' ? "x2" : "X2", CultureInfo.InvariantCulture))),
                        _ => Bad(),
                    };
                }
                case 'c': return arg is long code ? char.ConvertFromUtf32((int)code) : Bad();
                case 'f' or 'F' or 'e' or 'E' or 'g' or 'G':
                {
                    double? value = arg switch { double d => d, _ => null };
                    if (value is not { } v) return Bad();
                    var lower = char.ToLowerInvariant(verb);
                    var text = lower == 'g' ? Values.FormatFloat(v, 'g', precision ?? -1) : Values.FormatFloat(v, lower, precision ?? 6);
                    if (char.IsUpper(verb)) text = text.ToUpperInvariant();
                    return Signed(text, v < 0);
                }
                default:
                    return "%!" + verb + "(" + Values.GoType(arg) + "=" + Values.Print(arg, topLevel: false) + ")";
            }
        }

        /// <summary>Go's strconv.Quote.</summary>
        public static string GoQuote(string s)
        {
            var sb = new StringBuilder("\"");
            foreach (var rune in s.EnumerateRunes())
            {
                switch (rune.Value)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\t': sb.Append("\\t"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\a': sb.Append("\\a"); break;
                    case '\b': sb.Append("\\b"); break;
                    case '\f': sb.Append("\\f"); break;
                    case '\v': sb.Append("\\v"); break;
                    default:
                        if (rune.Value < 0x20 || rune.Value == 0x7F) sb.Append("\\x").Append(rune.Value.ToString("x2", CultureInfo.InvariantCulture));
                        else sb.Append(rune.ToString());
                        break;
                }
            }
            return sb.Append('"').ToString();
        }
    }

    /// <summary>text/template's html and js escapers.</summary>
    private static class Escape
    {
        public static string Html(string s)
        {
            var sb = new StringBuilder(s.Length);
            foreach (var c in s)
                sb.Append(c switch { '"' => "&#34;", '\'' => "&#39;", '&' => "&amp;", '<' => "&lt;", '>' => "&gt;", '\0' => "\uFFFD", _ => c.ToString() });
            return sb.ToString();
        }

        public static string Js(string s)
        {
            var sb = new StringBuilder(s.Length);
            foreach (var c in s)
            {
                sb.Append(c switch
                {
                    '\\' => "\\\\", '\'' => "\\'", '"' => "\\\"", '<' => "\\u003C", '>' => "\\u003E", '&' => "\\u0026", '=' => "\\u003D",
                    '\n' => "\\n", '\r' => "\\r", '\t' => "\\t",
                    < ' ' => "\\u" + ((int)c).ToString("X4", CultureInfo.InvariantCulture),
                    _ => c.ToString(),
                });
            }
            return sb.ToString();
        }
    }
}
