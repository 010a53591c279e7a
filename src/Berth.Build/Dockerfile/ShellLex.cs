using System.Text;
using System.Text.RegularExpressions;

namespace Berth.Build.Dockerfile;

/// <summary>The result of expanding one word: the text, and the variable names it used that were set or unset.</summary>
public sealed record ExpansionResult(string Result, IReadOnlyList<string> Words, IReadOnlySet<string> Matched, IReadOnlySet<string> Unmatched);

/// <summary>
/// Docker's shell-like word processing for Dockerfile instructions: quotes (' and "), the escape token,
/// <c>$VAR</c>, <c>${VAR}</c> and the modifiers <c>:-</c> <c>-</c> <c>:+</c> <c>+</c> <c>:?</c> <c>?</c>
/// <c>#</c> <c>##</c> <c>%</c> <c>%%</c> <c>/</c> <c>//</c>, and word splitting after substitution. It is not a
/// shell: command substitution and globbing stay literal, as in BuildKit's lexer (frontend/dockerfile/shell).
/// </summary>
public sealed class ShellLex
{
    private const int Eof = -1;
    private readonly char _escape;

    public ShellLex(char escapeToken) => _escape = escapeToken;

    /// <summary>Keep quote characters in the result (heredoc delimiter detection needs them).</summary>
    public bool RawQuotes { get; init; }
    /// <summary>Keep escape characters in the result.</summary>
    public bool RawEscapes { get; init; }
    /// <summary>Leave references to unset variables as written instead of expanding them to "".</summary>
    public bool SkipUnsetEnv { get; init; }
    /// <summary>Treat quotes as ordinary characters.</summary>
    public bool SkipProcessQuotes { get; init; }

    /// <summary>Expands <paramref name="word"/> as one word (spaces between words are kept, quotes removed).</summary>
    public string ProcessWord(string word, IReadOnlyDictionary<string, string> env) => Process(word, env).Result;

    /// <summary>Expands <paramref name="word"/>, then splits it into words as the shell would.</summary>
    public IReadOnlyList<string> ProcessWords(string word, IReadOnlyDictionary<string, string> env) => Process(word, env).Words;

    public ExpansionResult Process(string word, IReadOnlyDictionary<string, string> env)
    {
        var state = new State(this, word, env);
        try
        {
            var (result, words) = state.ProcessStopOn(Eof, RawEscapes);
            return new ExpansionResult(result, words, state.Matched, state.Unmatched);
        }
        catch (ShellSyntaxException e)
        {
            throw new ShellSyntaxException($"failed to process \"{word}\": {e.Message}");
        }
    }

    private sealed class Words
    {
        private readonly StringBuilder _buffer = new();
        private readonly List<string> _words = [];
        private bool _inWord;

        public void AddChar(char c)
        {
            if (char.IsWhiteSpace(c) && _inWord)
            {
                if (_buffer.Length != 0)
                {
                    _words.Add(_buffer.ToString());
                    _buffer.Clear();
                    _inWord = false;
                }
            }
            else if (!char.IsWhiteSpace(c))
                AddRawChar(c);
        }

        public void AddRawChar(char c) { _buffer.Append(c); _inWord = true; }
        public void AddString(string s) { foreach (var c in s) AddChar(c); }
        public void AddRawString(string s) { _buffer.Append(s); _inWord = true; }

        public List<string> Get()
        {
            if (_buffer.Length > 0)
            {
                _words.Add(_buffer.ToString());
                _buffer.Clear();
                _inWord = false;
            }
            return _words;
        }
    }

    private sealed class State(ShellLex lex, string source, IReadOnlyDictionary<string, string> env)
    {
        private int _pos;
        private bool _rawEscapes = lex.RawEscapes;
        public HashSet<string> Matched { get; } = new(StringComparer.Ordinal);
        public HashSet<string> Unmatched { get; } = new(StringComparer.Ordinal);

        private int Peek() => _pos < source.Length ? source[_pos] : Eof;
        private int Next() => _pos < source.Length ? source[_pos++] : Eof;

        public (string Result, List<string> Words) ProcessStopOn(int stopChar, bool rawEscapes)
        {
            var result = new StringBuilder();
            var words = new Words();
            var saved = _rawEscapes;
            _rawEscapes = rawEscapes;
            try
            {
                while (Peek() != Eof)
                {
                    var ch = Peek();
                    if (stopChar != Eof && ch == stopChar)
                    {
                        Next();
                        return (result.ToString(), words.Get());
                    }
                    string? special = ch switch
                    {
                        '$' => ProcessDollar(),
                        '<' => ProcessPossibleHeredoc(),
                        '\'' when !lex.SkipProcessQuotes => ProcessSingleQuote(),
                        '"' when !lex.SkipProcessQuotes => ProcessDoubleQuote(),
                        _ => null,
                    };
                    if (special is not null)
                    {
                        result.Append(special);
                        if (ch == '$') words.AddString(special);
                        else words.AddRawString(special);
                        continue;
                    }
                    ch = Next();
                    if (ch == lex._escape)
                    {
                        if (_rawEscapes)
                        {
                            words.AddRawChar((char)ch);
                            result.Append((char)ch);
                        }
                        // The escape token escapes the next character, except at the end of the word.
                        ch = Next();
                        if (ch == Eof) break;
                        words.AddRawChar((char)ch);
                    }
                    else
                        words.AddChar((char)ch);
                    result.Append((char)ch);
                }
                if (stopChar != Eof)
                    throw new ShellSyntaxException($"unexpected end of statement while looking for matching {(char)stopChar}");
                return (result.ToString(), words.Get());
            }
            finally
            {
                _rawEscapes = saved;
            }
        }

        private string ProcessSingleQuote()
        {
            // Everything up to the next ' is literal; a ' cannot be escaped inside.
            var result = new StringBuilder();
            var ch = Next();
            if (lex.RawQuotes) result.Append((char)ch);
            while (true)
            {
                ch = Next();
                if (ch == Eof) throw new ShellSyntaxException("unexpected end of statement while looking for matching single-quote");
                if (ch == '\'')
                {
                    if (lex.RawQuotes) result.Append((char)ch);
                    return result.ToString();
                }
                result.Append((char)ch);
            }
        }

        private string ProcessDoubleQuote()
        {
            // Literal except $ and the escape token, which escapes only " $ and itself.
            var result = new StringBuilder();
            var ch = Next();
            if (lex.RawQuotes) result.Append((char)ch);
            while (true)
            {
                switch (Peek())
                {
                    case Eof:
                        throw new ShellSyntaxException("unexpected end of statement while looking for matching double-quote");
                    case '"':
                        ch = Next();
                        if (lex.RawQuotes) result.Append((char)ch);
                        return result.ToString();
                    case '$':
                        result.Append(ProcessDollar());
                        break;
                    default:
                        ch = Next();
                        if (ch == lex._escape)
                        {
                            if (_rawEscapes) result.Append((char)ch);
                            var following = Peek();
                            if (following == Eof) continue;
                            if (following == '"' || following == '$' || following == lex._escape)
                                ch = Next();
                        }
                        result.Append((char)ch);
                        break;
                }
            }
        }

        private string ProcessPossibleHeredoc()
        {
            Next();
            if (Peek() != '<') return "<";
            Next();
            // A heredoc may have blanks between << and its delimiter: keep them in the same word.
            var start = _pos;
            while (Peek() is '\t' or '\r' or ' ') Next();
            return "<<" + source[start.._pos];
        }

        private bool TryGetEnv(string name, out string value)
        {
            if (env.TryGetValue(name, out var v))
            {
                Matched.Add(name);
                value = v;
                return true;
            }
            Unmatched.Add(name);
            value = "";
            return false;
        }

        private string ProcessName()
        {
            var name = new StringBuilder();
            while (Peek() != Eof)
            {
                var ch = (char)Peek();
                if (name.Length == 0 && char.IsDigit(ch))
                {
                    while (Peek() != Eof && char.IsDigit((char)Peek())) name.Append((char)Next());
                    return name.ToString();
                }
                if (name.Length == 0 && ch is '@' or '*' or '#' or '?' or '-' or '$' or '!' or '0')
                    return ((char)Next()).ToString();
                if (!char.IsLetter(ch) && !char.IsDigit(ch) && ch != '_') break;
                name.Append((char)Next());
            }
            return name.ToString();
        }

        private string ProcessDollar()
        {
            Next();
            if (Peek() != '{')
            {
                var plain = ProcessName();
                if (plain.Length == 0) return "$";
                var found = TryGetEnv(plain, out var plainValue);
                return !found && lex.SkipUnsetEnv ? "$" + plain : plainValue;
            }

            Next();
            switch (Peek())
            {
                case Eof: throw new ShellSyntaxException("syntax error: missing '}'");
                case '{' or '}' or ':': throw new ShellSyntaxException("syntax error: bad substitution");
            }
            var name = ProcessName();
            var op = Next();
            var ops = op == Eof ? "" : ((char)op).ToString();
            var nullIsUnset = false;
            switch (op)
            {
                case '}':
                {
                    var set = TryGetEnv(name, out var value);
                    return !set && lex.SkipUnsetEnv ? "${" + name + "}" : value;
                }
                case ':' or '+' or '-' or '?' or '#' or '%':
                {
                    if (op == ':')
                    {
                        nullIsUnset = true;
                        op = Next();
                        ops += op == Eof ? "" : ((char)op).ToString();
                    }
                    var raw = op is '#' or '%';
                    if (nullIsUnset && raw) throw new ShellSyntaxException($"unsupported modifier ({ops}) in substitution");
                    if (op is not ('+' or '-' or '?' or '#' or '%'))
                        throw new ShellSyntaxException($"unsupported modifier ({ops}) in substitution");
                    string word;
                    try { word = ProcessStopOn('}', raw).Result; }
                    catch (ShellSyntaxException) when (Peek() == Eof) { throw new ShellSyntaxException("syntax error: missing '}'"); }

                    var set = TryGetEnv(name, out var value);
                    if (lex.SkipUnsetEnv && !set) return "${" + name + ops + word + "}";
                    switch (op)
                    {
                        case '-':
                            return !set || (nullIsUnset && value.Length == 0) ? word : value;
                        case '+':
                            return !set || (nullIsUnset && value.Length == 0) ? "" : word;
                        case '?':
                            if (!set) throw new ShellSyntaxException($"{name}: {(word.Length > 0 ? word : "is not allowed to be unset")}");
                            if (nullIsUnset && value.Length == 0) throw new ShellSyntaxException($"{name}: {(word.Length > 0 ? word : "is not allowed to be empty")}");
                            return value;
                        default:
                        {
                            var greedy = word.Length > 0 && word[0] == op;
                            if (greedy) word = word[1..];
                            return op == '%' ? TrimSuffix(word, value, greedy) : TrimPrefix(word, value, greedy);
                        }
                    }
                }
                case '/':
                {
                    var all = Peek() == '/';
                    if (all) Next();
                    string pattern, replacement;
                    try { pattern = ProcessStopOn('/', true).Result; }
                    catch (ShellSyntaxException) when (Peek() == Eof) { throw new ShellSyntaxException("syntax error: missing '/' in ${}"); }
                    try { replacement = ProcessStopOn('}', true).Result; }
                    catch (ShellSyntaxException) when (Peek() == Eof) { throw new ShellSyntaxException("syntax error: missing '}'"); }
                    var set = TryGetEnv(name, out var value);
                    if (lex.SkipUnsetEnv && !set) return "${" + name + "/" + pattern + "/" + replacement + "}";
                    var regex = PatternToRegex(pattern, greedy: true, anchored: false);
                    if (all) return regex.Replace(value, replacement.Replace("$", "$$"));
                    var m = regex.Match(value);
                    return m.Success ? value[..m.Index] + replacement + value[(m.Index + m.Length)..] : value;
                }
                default:
                    throw new ShellSyntaxException($"unsupported modifier ({ops}) in substitution");
            }
        }
    }

    /// <summary>A shell wildcard pattern (* and ?, no brackets) as a regular expression.</summary>
    private static Regex PatternToRegex(string pattern, bool greedy, bool anchored)
    {
        var sb = new StringBuilder(pattern.Length + 4);
        if (anchored) sb.Append('^');
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '*': sb.Append(greedy ? ".*" : ".*?"); continue;
                case '?': sb.Append('.'); continue;
                case '\\':
                    if (i + 1 < pattern.Length && pattern[i + 1] is '}' or '/') continue;
                    if (i + 1 >= pattern.Length || pattern[i + 1] is not ('*' or '?' or '\\'))
                        throw new ShellSyntaxException($"invalid pattern ({pattern}) in substitution: invalid escape '\\{(i + 1 < pattern.Length ? pattern[i + 1] : ' ')}'");
                    sb.Append('\\').Append(pattern[++i]);
                    continue;
                case '[' or ']' or '{' or '}' or '.' or '+' or '(' or ')' or '|' or '^' or '$':
                    sb.Append('\\');
                    break;
            }
            sb.Append(c);
        }
        return new Regex(sb.ToString(), RegexOptions.CultureInvariant | RegexOptions.Singleline);
    }

    private static string TrimPrefix(string pattern, string value, bool greedy)
    {
        var m = PatternToRegex(pattern, greedy, anchored: true).Match(value);
        return m.Success ? value[(m.Index + m.Length)..] : value;
    }

    private static string TrimSuffix(string pattern, string value, bool greedy)
    {
        // A regex finds the leftmost match only, so reverse both pattern and value to find the rightmost.
        var reversedPattern = ReversePattern(pattern);
        var reversed = new string(value.Reverse().ToArray());
        return new string(TrimPrefix(reversedPattern, reversed, greedy).Reverse().ToArray());
    }

    private static string ReversePattern(string pattern)
    {
        var output = new char[pattern.Length];
        var last = pattern.Length - 1;
        for (var i = 0; i <= last;)
        {
            if (pattern[i] == '\\' && i != last)
            {
                // Keep an escape in front of the character it escapes.
                output[last - i - 1] = '\\';
                output[last - i] = pattern[i + 1];
                i += 2;
            }
            else
            {
                output[last - i] = pattern[i];
                i++;
            }
        }
        return new string(output);
    }
}

public sealed class ShellSyntaxException(string message) : Exception(message);
