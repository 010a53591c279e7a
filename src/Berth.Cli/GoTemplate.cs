using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Berth.Cli;

/// <summary>
/// The subset of Go's text/template that docker's --format uses: {{.Field.Sub}}, {{.}}, {{json .}},
/// {{index .Map "key"}}, {{range}}…{{end}}, {{if}}…{{else}}…{{end}}, {{with}}, pipes, trim markers, and
/// docker's helpers (join, upper, lower, title, split, truncate, len, println). Values are JSON nodes.
/// A pure function of (template, value).
/// </summary>
public sealed class GoTemplate
{
    private readonly List<Node> nodes;

    private GoTemplate(List<Node> nodes) => this.nodes = nodes;

    public static GoTemplate Parse(string text)
    {
        var tokens = Tokenize(text);
        var position = 0;
        var nodes = ParseList(tokens, ref position, out var end);
        if (end is not null) throw new FormatException($"template: unexpected {{{{{end}}}}}");
        return new GoTemplate(nodes);
    }

    public string Execute(JsonNode? value)
    {
        var output = new StringBuilder();
        Run(nodes, value, new Scope(value, []), output);
        return output.ToString();
    }

    public static string Render(string template, JsonNode? value) => Parse(template).Execute(value);

    // ---- parsing ------------------------------------------------------------------------------

    private abstract record Node;
    private sealed record TextNode(string Text) : Node;
    private sealed record ActionNode(string Pipeline) : Node;
    private sealed record RangeNode(string Pipeline, List<Node> Body, List<Node>? Else) : Node;
    private sealed record IfNode(string Pipeline, List<Node> Then, List<Node>? Else, bool With) : Node;

    private readonly record struct Token(bool IsAction, string Text);

    private static List<Token> Tokenize(string text)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (i < text.Length)
        {
            var open = text.IndexOf("{{", i, StringComparison.Ordinal);
            if (open < 0) { tokens.Add(new Token(false, text[i..])); break; }
            var literal = text[i..open];
            var close = text.IndexOf("}}", open + 2, StringComparison.Ordinal);
            if (close < 0) throw new FormatException("template: unclosed action");
            var inner = text[(open + 2)..close];
            if (inner.StartsWith("- ", StringComparison.Ordinal) || inner == "-") { literal = literal.TrimEnd(); inner = inner[1..]; }
            var trimAfter = false;
            if (inner.EndsWith(" -", StringComparison.Ordinal)) { trimAfter = true; inner = inner[..^1]; }
            if (literal.Length > 0) tokens.Add(new Token(false, literal));
            tokens.Add(new Token(true, inner.Trim()));
            i = close + 2;
            if (trimAfter) while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
        }
        return tokens;
    }

    private static List<Node> ParseList(List<Token> tokens, ref int position, out string? end)
    {
        var nodes = new List<Node>();
        while (position < tokens.Count)
        {
            var token = tokens[position++];
            if (!token.IsAction) { nodes.Add(new TextNode(token.Text)); continue; }
            var text = token.Text;
            if (text.StartsWith("/*", StringComparison.Ordinal)) continue;
            if (text is "end" or "else") { end = text; return nodes; }
            var keyword = text.Split(' ', 2)[0];
            if (keyword is "range" or "if" or "with")
            {
                var pipeline = text[keyword.Length..].Trim();
                var body = ParseList(tokens, ref position, out var stop);
                List<Node>? otherwise = null;
                if (stop == "else")
                {
                    otherwise = ParseList(tokens, ref position, out stop);
                }
                if (stop != "end") throw new FormatException($"template: unexpected EOF in {keyword}");
                nodes.Add(keyword == "range" ? new RangeNode(pipeline, body, otherwise) : new IfNode(pipeline, body, otherwise, keyword == "with"));
                continue;
            }
            nodes.Add(new ActionNode(text));
        }
        end = null;
        return nodes;
    }

    // ---- execution ----------------------------------------------------------------------------

    /// <summary>$ and the variables a range declared ($k, $v).</summary>
    private sealed record Scope(JsonNode? Root, Dictionary<string, JsonNode?> Variables)
    {
        public Scope With(params (string Name, JsonNode? Value)[] bindings)
        {
            var variables = new Dictionary<string, JsonNode?>(Variables);
            foreach (var (name, value) in bindings) variables[name] = value;
            return this with { Variables = variables };
        }
    }

    private static void Run(List<Node> nodes, JsonNode? dot, Scope root, StringBuilder output)
    {
        foreach (var node in nodes)
        {
            switch (node)
            {
                case TextNode text: output.Append(text.Text); break;
                case ActionNode action:
                    var value = EvaluatePipeline(action.Pipeline, dot, root);
                    if (value is not Nothing) output.Append(Print(value));
                    break;
                case IfNode branch:
                    var condition = EvaluatePipeline(branch.Pipeline, dot, root);
                    if (Truthy(condition)) Run(branch.Then, branch.With ? condition as JsonNode : dot, root, output);
                    else if (branch.Else is not null) Run(branch.Else, dot, root, output);
                    break;
                case RangeNode range:
                    // {{range $k, $v := pipeline}} or {{range $v := pipeline}} or {{range pipeline}}
                    var pipeline = range.Pipeline;
                    string[] names = [];
                    var declaration = pipeline.IndexOf(":=", StringComparison.Ordinal);
                    if (declaration > 0)
                    {
                        names = pipeline[..declaration].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
                        pipeline = pipeline[(declaration + 2)..].Trim();
                    }
                    var items = EvaluatePipeline(pipeline, dot, root);
                    var any = false;
                    Scope Bind(JsonNode? key, JsonNode? item) => names.Length switch
                    {
                        0 => root,
                        1 => root.With((names[0], item)),
                        _ => root.With((names[0], key), (names[1], item)),
                    };
                    if (items is JsonArray array)
                        for (var index = 0; index < array.Count; index++) { any = true; Run(range.Body, array[index], Bind(JsonValue.Create(index), array[index]), output); }
                    else if (items is JsonObject map)
                        foreach (var pair in map.OrderBy(p => p.Key, StringComparer.Ordinal)) { any = true; Run(range.Body, pair.Value, Bind(JsonValue.Create(pair.Key), pair.Value), output); }
                    if (!any && range.Else is not null) Run(range.Else, dot, root, output);
                    break;
            }
        }
    }

    /// <summary>Marks "no output" (println's value is already text).</summary>
    private sealed class Nothing
    {
        public static readonly Nothing Instance = new();
    }

    private static object? EvaluatePipeline(string pipeline, JsonNode? dot, Scope root)
    {
        object? result = null;
        var first = true;
        foreach (var stage in SplitOutside(pipeline, '|'))
        {
            var words = Words(stage.Trim());
            if (words.Count == 0) throw new FormatException("template: missing value for command");
            if (!first) words.Add("\u0000piped");
            result = EvaluateCommand(words, dot, root, first ? null : result);
            first = false;
        }
        return result;
    }

    private static object? EvaluateCommand(List<string> words, JsonNode? dot, Scope root, object? piped)
    {
        var args = words.Skip(1).Select(w => w == "\u0000piped" ? piped : Operand(w, dot, root)).ToList();
        var name = words[0];
        if (words.Count == 1 || name.StartsWith('.') || name.StartsWith('"') || name.StartsWith('$') || char.IsAsciiDigit(name[0]))
        {
            if (words.Count > 1 && words[1] != "\u0000piped") throw new FormatException($"template: can't give argument to non-function {name}");
            return words.Count == 1 ? Operand(name, dot, root) : Operand(name, dot, root);
        }
        string S(int i) => args.Count > i ? Print(args[i]) : throw new FormatException($"template: wrong number of args for {name}");
        switch (name)
        {
            case "json":
                return args.Count == 1 ? (args[0] is JsonNode n ? n.ToJsonString(CompactJson) : args[0] is null ? "null" : JsonSerializer.Serialize(Print(args[0]), Berth.Engine.Models.DockerJsonContext.Default.String)) : throw new FormatException("template: wrong number of args for json");
            case "index":
                object? current = args[0];
                foreach (var key in args.Skip(1))
                {
                    current = current switch
                    {
                        JsonObject o => o.TryGetPropertyValue(Print(key), out var v) ? v : null,
                        JsonArray a => int.TryParse(Print(key), out var i) && i >= 0 && i < a.Count ? a[i] : throw new FormatException($"template: error calling index: index out of range: {Print(key)}"),
                        _ => null,
                    };
                }
                return current;
            case "join":
                return args[0] is JsonArray items ? string.Join(S(1), items.Select(x => Print(x))) : Print(args[0]);
            case "split":
                return new JsonArray(S(0).Split(S(1)).Select(x => (JsonNode?)JsonValue.Create(x)).ToArray());
            case "upper": return S(0).ToUpperInvariant();
            case "lower": return S(0).ToLowerInvariant();
            case "title": var t = S(0); return t.Length == 0 ? t : char.ToUpperInvariant(t[0]) + t[1..];
            case "truncate":
                var text = S(0);
                var length = int.Parse(S(1), CultureInfo.InvariantCulture);
                return text.Length > length ? text[..length] : text;
            case "pad": return new string(' ', int.Parse(S(1), CultureInfo.InvariantCulture)) + S(0) + new string(' ', int.Parse(S(2), CultureInfo.InvariantCulture));
            case "len":
                return args[0] switch { JsonArray a => a.Count, JsonObject o => o.Count, var v => Print(v).Length };
            case "println": return string.Join(" ", args.Select(Print)) + "\n";
            case "print": return string.Concat(args.Select(Print));
            case "printf":
                var format = S(0);
                var values = args.Skip(1).Select(Print).ToArray();
                var k = 0;
                var sb = new StringBuilder();
                for (var i = 0; i < format.Length; i++)
                {
                    if (format[i] == '%' && i + 1 < format.Length)
                    {
                        var verb = format[++i];
                        sb.Append(verb == '%' ? "%" : k < values.Length ? values[k++] : "%!" + verb + "(MISSING)");
                    }
                    else sb.Append(format[i]);
                }
                return sb.ToString();
            case "not": return !Truthy(args[0]);
            case "and": return args.All(Truthy);
            case "or": return args.Any(Truthy);
            case "eq": return args.Skip(1).Any(a => Print(a) == Print(args[0]));
            case "ne": return Print(args[0]) != Print(args[1]);
            default: throw new FormatException($"template: function \"{name}\" not defined");
        }
    }

    private static readonly JsonSerializerOptions CompactJson = new() { TypeInfoResolver = Berth.Engine.Models.DockerJsonContext.Default, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static object? Operand(string word, JsonNode? dot, Scope scope)
    {
        if (word.StartsWith('"')) return JsonSerializer.Deserialize(word, Berth.Engine.Models.DockerJsonContext.Default.String);
        if (word.StartsWith('`')) return word.Trim('`');
        if (word is "true" or "false") return word == "true";
        if (char.IsAsciiDigit(word[0]) || word[0] == '-') return long.Parse(word, CultureInfo.InvariantCulture);
        JsonNode? current;
        string path;
        if (word == "$") return scope.Root;
        if (word.StartsWith("$.", StringComparison.Ordinal)) { current = scope.Root; path = word[1..]; }
        else if (word.StartsWith('$'))
        {
            var dotAt = word.IndexOf('.');
            var name = dotAt < 0 ? word : word[..dotAt];
            if (!scope.Variables.TryGetValue(name, out current)) throw new FormatException($"template: undefined variable \"{name}\"");
            if (dotAt < 0) return current;
            path = word[dotAt..];
        }
        else if (word == ".") return dot;
        else if (word.StartsWith('.')) { current = dot; path = word; }
        else throw new FormatException($"template: function \"{word}\" not defined");
        foreach (var field in path.Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            if (current is not JsonObject obj)
                throw new FormatException($"template: can't evaluate field {field} in type {TypeName(current)}");
            // docker formats decoded JSON (Go maps): a missing key is <no value>, as is a null.
            if (!obj.TryGetPropertyValue(field, out current)) return null;
        }
        return current;
    }

    private static string TypeName(JsonNode? node) => node switch
    {
        JsonObject => "struct",
        JsonArray => "[]interface {}",
        null => "interface {}",
        _ => "string",
    };

    private static bool Truthy(object? value) => value switch
    {
        null => false,
        bool b => b,
        string s => s.Length > 0,
        long n => n != 0,
        int n => n != 0,
        JsonArray a => a.Count > 0,
        JsonObject o => o.Count > 0,
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.False or JsonValueKind.Null => false,
            JsonValueKind.String => v.GetValue<string>().Length > 0,
            JsonValueKind.Number => v.ToJsonString() != "0",
            _ => true,
        },
        _ => true,
    };

    /// <summary>Go's %v of a value.</summary>
    public static string Print(object? value) => value switch
    {
        null => "<no value>",
        string s => s,
        bool b => b ? "true" : "false",
        long or int => Convert.ToString(value, CultureInfo.InvariantCulture)!,
        JsonArray a => "[" + string.Join(" ", a.Select(x => Print(x))) + "]",
        JsonObject o => "map[" + string.Join(" ", o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + ":" + Print(p.Value))) + "]",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>(),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            JsonValueKind.Null => "<nil>",
            _ => v.ToJsonString(),
        },
        Nothing => "",
        _ => value.ToString() ?? "",
    };

    private static List<string> SplitOutside(string text, char separator)
    {
        var parts = new List<string>();
        var quoted = false;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '"' && (i == 0 || text[i - 1] != '\\')) quoted = !quoted;
            else if (text[i] == separator && !quoted) { parts.Add(text[start..i]); start = i + 1; }
        }
        parts.Add(text[start..]);
        return parts;
    }

    private static List<string> Words(string text)
    {
        var words = new List<string>();
        var i = 0;
        while (i < text.Length)
        {
            if (char.IsWhiteSpace(text[i])) { i++; continue; }
            var start = i;
            if (text[i] == '"')
            {
                i++;
                while (i < text.Length && (text[i] != '"' || text[i - 1] == '\\')) i++;
                i++;
            }
            else if (text[i] == '(') throw new FormatException("template: parenthesised pipelines are not supported");
            else while (i < text.Length && !char.IsWhiteSpace(text[i])) i++;
            words.Add(text[start..Math.Min(i, text.Length)]);
        }
        return words;
    }
}
