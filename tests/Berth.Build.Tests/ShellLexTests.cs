using Berth.Build.Dockerfile;

namespace Berth.Build.Tests;

public sealed class ShellLexTests
{
    private static readonly Dictionary<string, string> Env = new()
    {
        ["HOME"] = "/root", ["EMPTY"] = "", ["PATHLIKE"] = "a/b/c.tar.gz", ["SPACED"] = "x  y",
    };

    [Theory]
    [InlineData("$HOME", "/root")]
    [InlineData("${HOME}/x", "/root/x")]
    [InlineData("$UNSET", "")]
    [InlineData("${UNSET:-dflt}", "dflt")]
    [InlineData("${EMPTY:-dflt}", "dflt")]
    [InlineData("${EMPTY-dflt}", "")]
    [InlineData("${UNSET-dflt}", "dflt")]
    [InlineData("${HOME:+alt}", "alt")]
    [InlineData("${EMPTY:+alt}", "")]
    [InlineData("${EMPTY+alt}", "alt")]
    [InlineData("${UNSET+alt}", "")]
    [InlineData("${UNSET:-$HOME}", "/root")]
    [InlineData("\\$HOME", "$HOME")]
    [InlineData("'$HOME'", "$HOME")]
    [InlineData("\"$HOME\"", "/root")]
    [InlineData("\"\\$HOME\"", "$HOME")]
    [InlineData("a\\ b", "a b")]
    [InlineData("$", "$")]
    [InlineData("${PATHLIKE#*/}", "b/c.tar.gz")]
    [InlineData("${PATHLIKE##*/}", "c.tar.gz")]
    [InlineData("${PATHLIKE%.*}", "a/b/c.tar")]
    [InlineData("${PATHLIKE%%.*}", "a/b/c")]
    [InlineData("${PATHLIKE/\\//-}", "a-b/c.tar.gz")]
    [InlineData("${PATHLIKE//\\//-}", "a-b-c.tar.gz")]
    [InlineData("$1x", "x")]
    public void Expands_like_docker(string word, string expected)
        => Assert.Equal(expected, new ShellLex('\\').ProcessWord(word, Env));

    [Theory]
    [InlineData("${HOME")]
    [InlineData("${}")]
    [InlineData("${:x}")]
    [InlineData("'open")]
    [InlineData("\"open")]
    [InlineData("${UNSET?must be set}")]
    [InlineData("${EMPTY:?}")]
    public void Rejects_bad_substitutions(string word)
        => Assert.Throws<ShellSyntaxException>(() => new ShellLex('\\').ProcessWord(word, Env));

    [Fact]
    public void Backtick_escape_leaves_backslashes_alone()
        => Assert.Equal("C:\\dir a\"b", new ShellLex('`').ProcessWord("C:\\dir` a`\"b", Env));

    [Fact]
    public void Words_split_after_substitution_unless_quoted()
    {
        var lex = new ShellLex('\\');
        Assert.Equal(["x", "y", "z"], lex.ProcessWords("$SPACED z", Env));
        Assert.Equal(["x  y", "z"], lex.ProcessWords("\"$SPACED\" z", Env));
    }

    [Fact]
    public void Reports_unset_names_it_used()
    {
        var result = new ShellLex('\\').Process("$HOME ${NOPE:-x} $ALSO_NOPE", Env);
        Assert.Equal(["HOME"], result.Matched);
        Assert.Equal(["ALSO_NOPE", "NOPE"], result.Unmatched.Order());
    }
}
