using System.Text;
using System.Text.RegularExpressions;
using Berth.Oci;

namespace Berth.Build.Context;

/// <summary>
/// A .dockerignore file as Docker reads it: one pattern a line; lines starting with # are comments;
/// blanks trimmed; a leading ! makes an exception; each pattern is cleaned like Go's filepath.Clean and
/// a leading / dropped. A path is excluded when the last pattern matching it or one of its parent
/// directories is not an exception. Patterns follow Go's filepath.Match plus ** for any number of
/// directories.
/// </summary>
public sealed class DockerIgnore
{
    private readonly List<IgnorePattern> _patterns;

    public static readonly DockerIgnore Empty = new([]);

    private DockerIgnore(List<IgnorePattern> patterns) => _patterns = patterns;

    public IReadOnlyList<string> Patterns => _patterns.Select(p => (p.Exclusion ? "!" : "") + p.Cleaned).ToList();
    public bool HasExceptions => _patterns.Any(p => p.Exclusion);

    public static DockerIgnore Parse(string text)
    {
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];
        var patterns = new List<string>();
        foreach (var raw in text.Split('\n'))
        {
            if (raw.StartsWith('#')) continue;
            var pattern = raw.Trim();
            if (pattern.Length == 0) continue;
            var invert = pattern[0] == '!';
            if (invert) pattern = pattern[1..].Trim();
            if (pattern.Length > 0)
            {
                pattern = SlashPath.Clean(pattern);
                if (pattern.Length > 1 && pattern[0] == '/') pattern = pattern[1..];
            }
            patterns.Add(invert ? "!" + pattern : pattern);
        }
        return FromPatterns(patterns);
    }

    public static DockerIgnore FromPatterns(IEnumerable<string> patterns)
    {
        var list = new List<IgnorePattern>();
        foreach (var p in patterns)
        {
            var exclusion = p.StartsWith('!');
            var body = exclusion ? p[1..] : p;
            if (body.Length == 0) throw new FormatException("illegal exclusion pattern: \"!\"");
            body = SlashPath.Clean(body);
            list.Add(new IgnorePattern(body, exclusion));
        }
        return new DockerIgnore(list);
    }

    /// <summary>Reads &lt;root&gt;/.dockerignore, or <see cref="Empty"/> when there is none.</summary>
    public static DockerIgnore Load(string contextRoot)
    {
        var path = Path.Combine(contextRoot, ".dockerignore");
        return File.Exists(path) ? Parse(File.ReadAllText(path)) : Empty;
    }

    /// <summary>Whether the context path (relative, / separated) or one of its parents is excluded.</summary>
    public bool IsExcluded(string relativePath)
    {
        if (_patterns.Count == 0) return false;
        var file = SlashPath.Clean(relativePath);
        var parent = ParentOf(file);
        var matched = false;
        foreach (var pattern in _patterns)
        {
            // An exception only matters once something matched, an exclusion only while nothing has.
            if (pattern.Exclusion != matched) continue;
            var match = pattern.Matches(file);
            if (!match && parent != ".")
            {
                var dirs = parent.Split('/');
                for (var i = 0; i < dirs.Length && !match; i++)
                    match = pattern.Matches(string.Join('/', dirs, 0, i + 1));
            }
            if (match) matched = !pattern.Exclusion;
        }
        return matched;
    }

    /// <summary>
    /// Whether a walk may skip an excluded directory entirely: true unless an exception pattern could
    /// re-include something below it (Docker's CLI makes the same test before descending).
    /// </summary>
    public bool CanSkipDirectory(string relativeDir)
    {
        var dir = SlashPath.Clean(relativeDir) + "/";
        foreach (var p in _patterns)
        {
            if (!p.Exclusion) continue;
            if (p.Cleaned.StartsWith(dir, StringComparison.Ordinal) || p.Cleaned.Contains('*') || p.Cleaned.Contains('?') || p.Cleaned.Contains('['))
                return false;
        }
        return true;
    }

    private static string ParentOf(string path)
    {
        var slash = path.LastIndexOf('/');
        return slash < 0 ? "." : slash == 0 ? "/" : path[..slash];
    }

    private enum MatchKind { Exact, Prefix, Suffix, Regex }

    private sealed class IgnorePattern
    {
        public string Cleaned { get; }
        public bool Exclusion { get; }
        private readonly MatchKind _kind;
        private readonly Regex? _regex;

        public IgnorePattern(string cleaned, bool exclusion)
        {
            Cleaned = cleaned;
            Exclusion = exclusion;
            var sb = new StringBuilder("^");
            var kind = MatchKind.Exact;
            for (var i = 0; i < cleaned.Length; i++)
            {
                var c = cleaned[i];
                if (c == '*')
                {
                    if (i + 1 < cleaned.Length && cleaned[i + 1] == '*')
                    {
                        var first = i == 0;
                        i++;
                        if (i + 1 < cleaned.Length && cleaned[i + 1] == '/') i++;
                        if (i + 1 >= cleaned.Length)
                        {
                            // "**" at the end accepts everything below, as .gitignore does.
                            if (kind == MatchKind.Exact) kind = MatchKind.Prefix;
                            else { sb.Append(".*"); kind = MatchKind.Regex; }
                        }
                        else
                        {
                            sb.Append("(.*/)?");
                            kind = MatchKind.Regex;
                        }
                        if (first) kind = MatchKind.Suffix;
                    }
                    else
                    {
                        sb.Append("[^/]*");
                        kind = MatchKind.Regex;
                    }
                }
                else if (c == '?')
                {
                    sb.Append("[^/]");
                    kind = MatchKind.Regex;
                }
                else if (c == '^' && i > 0 && cleaned[i - 1] == '[')
                    sb.Append(c); // a negated class, as in filepath.Match
                else if (c is '.' or '$' or '+' or '(' or ')' or '{' or '}' or '|' or '^')
                    sb.Append('\\').Append(c);
                else if (c == '\\')
                {
                    // An escaped metacharacter is literal (filepath.Match), so compare through the regex.
                    if (i + 1 < cleaned.Length) sb.Append('\\').Append(cleaned[++i]);
                    else sb.Append("\\\\");
                    kind = MatchKind.Regex;
                }
                else if (c is '[' or ']')
                {
                    sb.Append(c);
                    kind = MatchKind.Regex;
                }
                else sb.Append(c);
            }
            sb.Append('$');
            _kind = kind;
            if (kind == MatchKind.Regex)
            {
                var regex = sb.ToString();
                try { _regex = new Regex(regex, RegexOptions.CultureInvariant | RegexOptions.Singleline); }
                catch (ArgumentException) { throw new FormatException($"syntax error in pattern: {cleaned}"); }
            }
        }

        public bool Matches(string path) => _kind switch
        {
            MatchKind.Exact => path == Cleaned,
            MatchKind.Prefix => path.StartsWith(Cleaned[..^2], StringComparison.Ordinal),
            MatchKind.Suffix => SuffixMatches(path),
            _ => _regex!.IsMatch(path),
        };

        /// <summary>A pattern that starts with ** and is otherwise literal: "**/foo" matches "foo" and "a/b/foo".</summary>
        private bool SuffixMatches(string path)
        {
            var suffix = Cleaned[2..];
            return path.EndsWith(suffix, StringComparison.Ordinal) || (suffix.StartsWith('/') && path == suffix[1..]);
        }
    }
}
