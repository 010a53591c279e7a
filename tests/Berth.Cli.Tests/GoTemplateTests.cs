using System.Text.Json.Nodes;

namespace Berth.Cli.Tests;

/// <summary>
/// Go template features of --format beyond the common subset, with what docker 28's CLI printed for the same
/// template on the same container (Debian's dockerd 20.10, `docker inspect --format`).
/// </summary>
public sealed class GoTemplateTests
{
    private static readonly JsonNode Container = JsonNode.Parse("""
        {"Id":"0123456789ab","Name":"/t1","Args":["1000"],"State":{"Status":"running","Running":true,"Pid":30223,"ExitCode":0},
         "Config":{"Env":["FOO=bar"],"Labels":{"a":"1","b":"two"},"Cmd":["sleep","1000"],"Entrypoint":null},
         "NetworkSettings":{"Networks":{"bridge":{"Aliases":["web","w"],"IPAddress":"10.0.0.2"},"none":{"Aliases":null}}},
         "Ratio":1.5,"Big":1234567.5,"Small":0.00001,"Huge":18446744073709551615}
        """)!;

    private static string Render(string template) => GoTemplate.Render(template, Container);

    [Theory]
    // Parenthesised pipelines and calls as arguments.
    [InlineData("{{(index .Config.Labels \"a\")}}", "1")]
    [InlineData("{{printf \"%s:%s\" .Name (index .Args 0)}}", "/t1:1000")]
    [InlineData("{{if (eq .State.Status \"running\")}}yes{{else}}no{{end}}", "yes")]
    [InlineData("{{len (index .NetworkSettings.Networks \"bridge\").Aliases}}", "2")]
    [InlineData("{{(index .NetworkSettings.Networks \"bridge\").IPAddress}}", "10.0.0.2")]
    [InlineData("{{upper (printf \"%s-%s\" (index .Config.Cmd 0) (lower \"X\"))}}", "SLEEP-X")]
    [InlineData("{{len (split (join .Config.Cmd \",\") \",\")}}", "2")]
    // Variables: range with key and value, declaration and assignment, $ as the root.
    [InlineData("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}", "a=1 b=two ")]
    [InlineData("{{$n := .Name}}{{$n}} {{$n = \"z\"}}{{$n}}", "/t1 z")]
    [InlineData("{{range .Config.Cmd}}{{$.Name}}:{{.}} {{end}}", "/t1:sleep /t1:1000 ")]
    [InlineData("{{with $x := .Name}}{{$x}}{{end}}", "/t1")]
    [InlineData("{{range $i, $e := .Args}}{{$i}}{{$e}}{{end}}", "01000")]
    // Pipes into functions: the value is the last argument.
    [InlineData("{{.Name | printf \"%q\"}}", "\"/t1\"")]
    [InlineData("{{json .Config.Env | println}}", "[\"FOO=bar\"]\n")]
    [InlineData("{{.State.Pid | printf \"%v\" | len}}", "5")]
    [InlineData("{{.Config.Labels | len}}", "2")]
    // printf's verbs, widths and flags.
    [InlineData("{{printf \"%d %v %5s|%-5s|%x\" .State.Pid .Config.Labels \"ab\" \"cd\" \"hi\"}}", "30223 map[a:1 b:two]    ab|cd   |6869")]
    [InlineData("{{printf \"%05d|%+d|%x|%X|%o|%t|%c|%%|%q\" 42 7 255 255 8 true 65 \"a\\\"b\"}}", "00042|+7|ff|FF|10|true|A|%|\"a\\\"b\"")]
    [InlineData("{{printf \"%.2f %e %g %v %v %v\" .Ratio .Ratio .Ratio .Ratio .Big .Small}}", "1.50 1.500000e+00 1.5 1.5 1.2345675e+06 1e-05")]
    [InlineData("{{printf \"%s\" 5}}", "%!s(int=5)")]
    [InlineData("{{printf \"%s %s\" \"a\"}}", "a %!s(MISSING)")]
    [InlineData("{{printf \"%T %T %T %T\" .Name .State.Pid .Config.Labels .Args}}", "string int map[string]string []string")]
    // docker's functions.
    [InlineData("{{join .Args \",\"}} {{upper \"ab\"}} {{title \"hello world\"}} {{pad \"x\" 1 2}}| {{truncate \"abcdef\" 3}} {{split \"a,b\" \",\"}} {{lower \"AB\"}}", "1000 AB Hello World  x  | abc [a b] ab")]
    [InlineData("{{pad \"\" 3 3}}|{{truncate \"ab\" 5}}", "|ab")]
    [InlineData("{{json .Name}} {{json .State.Pid}} {{json .Ratio}} {{json .Config.Entrypoint}} {{json .Nope}} {{json .Config.Labels}}", "\"/t1\" 30223 1.5 null null {\"a\":\"1\",\"b\":\"two\"}")]
    // Go's builtins.
    [InlineData("{{eq .State.Pid 30223}} {{lt 1 2}} {{ne \"a\" \"b\"}} {{le 2 2}} {{gt 3.5 1.5}} {{ge \"b\" \"a\"}} {{eq .Name \"x\" \"/t1\"}}", "true true true true true true true")]
    [InlineData("{{and 1 0 2}} {{or 0 \"\" \"x\"}} {{not 0}} {{and .Name .State.Running}} {{or .Nope .Config.Entrypoint}}", "0 x true true <no value>")]
    [InlineData("{{index .Config.Labels \"zzz\"}}|{{.Config.Labels.zzz}}|{{index .NetworkSettings.Networks \"x\"}}", "|<no value>|<nil>")]
    [InlineData("{{slice .Name 1 3}} {{slice .Config.Cmd 1}} {{index \"AB\" 1}}", "t1 [1000] 66")]
    [InlineData("{{print 1 2 \"a\" 3}} {{print \"a\" \"b\"}}", "1 2a3 ab")]
    [InlineData("{{html \"<a&b>\"}} {{urlquery \"a b&c\"}} {{js \"it's\"}}", "&lt;a&amp;b&gt; a+b%26c it\\'s")]
    // Control structures.
    [InlineData("{{if eq .State.Status \"exited\"}}e{{else if .State.Running}}r{{else}}?{{end}}", "r")]
    [InlineData("{{with .Nope}}x{{else with .Name}}{{.}}{{end}}", "/t1")]
    [InlineData("{{range .Config.Cmd}}{{if eq . \"1000\"}}{{break}}{{end}}{{.}}{{end}}", "sleep")]
    [InlineData("{{range .Config.Cmd}}{{if eq . \"sleep\"}}{{continue}}{{end}}{{.}}{{end}}", "1000")]
    [InlineData("{{range .Config.Entrypoint}}x{{else}}none{{end}}", "none")]
    [InlineData("{{range 3}}{{.}}{{end}}", "012")]
    [InlineData("{{range $v := .NetworkSettings.Networks}}{{len $v.Aliases}}{{break}}{{end}}", "2")]
    // Constants, comments, trim markers.
    [InlineData("{{/* c */}}ok {{\"a\\tb\"}} {{`raw`}} {{1.5}} {{0x10}} {{-3}} {{true}} {{'a'}}", "ok a\tb raw 1.5 16 -3 true 97")]
    [InlineData("a  {{- /* trimmed */ -}}  b", "ab")]
    [InlineData("{{- .Name -}} x", "/t1x")]
    [InlineData("{{.Huge}} {{.Big}}", "18446744073709551615 1.2345675e+06")]
    [InlineData("{{.NetworkSettings.Networks.none.Aliases}} {{.Config.Cmd}}", "<no value> [sleep 1000]")]
    public void Renders_as_docker_does(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{foo}}", "template parsing error: template: :1: function \"foo\" not defined")]
    [InlineData("{{.Config.Labels.a", "template parsing error: template: :1: unclosed action")]
    [InlineData("{{if}}x{{end}}", "template parsing error: template: :1: missing value for if")]
    [InlineData("{{table .Args}}", "template parsing error: template: :1: function \"table\" not defined")]
    [InlineData("{{if .Name}}x", "template parsing error: template: :1: unexpected EOF")]
    [InlineData("x\n{{end}}", "template parsing error: template: :2: unexpected {{end}}")]
    [InlineData("{{$x}}", "template parsing error: template: :1: undefined variable \"$x\"")]
    [InlineData("{{(.Name}}", "template parsing error: template: :1: unclosed left paren")]
    [InlineData("{{.Name)}}", "template parsing error: template: :1: unexpected right paren")]
    [InlineData("{{\"abc}}", "template parsing error: template: :1: unterminated quoted string")]
    [InlineData("{{break}}", "template parsing error: template: :1: {{break}} outside {{range}}")]
    [InlineData("{{.Name | \"x\"}}", "template parsing error: template: :1: non executable command in pipeline stage 2")]
    public void Parse_errors_are_dockers(string template, string message)
    {
        Assert.Equal(message, Assert.Throws<FormatException>(() => GoTemplate.Parse(template)).Message);
    }

    [Theory]
    [InlineData("{{index .Args 5}}", "template parsing error: template: :1:2: executing \"\" at <index .Args 5>: error calling index: index out of range: 5")]
    [InlineData("{{.Name.Deeper}}", "template parsing error: template: :1:7: executing \"\" at <.Name.Deeper>: can't evaluate field Deeper in type string")]
    [InlineData("{{ge 2.5 1}}", "template parsing error: template: :1:2: executing \"\" at <ge 2.5 1>: error calling ge: incompatible types for comparison")]
    [InlineData("{{.Name 1}}", "template parsing error: template: :1:2: executing \"\" at <.Name>: Name is not a method but has arguments")]
    [InlineData("{{.Name | .State}}", "template parsing error: template: :1:10: executing \"\" at <.State>: State is not a method but has arguments")]
    [InlineData("x\n  {{upper 5}}", "template parsing error: template: :2:10: executing \"\" at <5>: expected string; found 5")]
    [InlineData("{{upper .State.Pid}}", "template parsing error: template: :1:2: executing \"\" at <upper .State.Pid>: wrong type for value; expected string; got int")]
    [InlineData("{{range .Name}}{{end}}", "template parsing error: template: :1:8: executing \"\" at <.Name>: range can't iterate over /t1")]
    public void Execution_errors_are_dockers(string template, string message)
    {
        var parsed = GoTemplate.Parse(template); // parses: the error is the execution's
        Assert.Equal(message, Assert.Throws<FormatException>(() => parsed.Execute(Container)).Message);
    }

    [Theory]
    [InlineData("table {{.Names}}\\t{{.Image}}", true, "web\tbusybox")]
    [InlineData("  {{.Names}}\\n{{.Image}}  ", false, "web\nbusybox")]
    [InlineData("tablet{{.Names}}", true, "tweb")]
    public void List_formats_are_read_as_dockers_formatter_reads_them(string format, bool table, string row)
    {
        var template = GoTemplate.ParseListFormat(format, out var isTable);
        Assert.Equal(table, isTable);
        Assert.Equal(row, template.Execute(JsonNode.Parse("""{"Names":"web","Image":"busybox"}""")).Trim());
    }

    [Fact]
    public void A_table_header_keeps_the_titles_that_dockers_functions_would_change()
    {
        var template = GoTemplate.Parse("{{json .Names}}\t{{upper .Image}}\t{{truncate .ID 3}}");
        Assert.Equal("NAMES\tIMAGE\tCONTAINER ID", template.ExecuteHeader(JsonNode.Parse("""{"Names":"NAMES","Image":"IMAGE","ID":"CONTAINER ID"}""")));
        Assert.Equal("\"web\"\tBUSYBOX\tabc", template.Execute(JsonNode.Parse("""{"Names":"web","Image":"busybox","ID":"abcdef"}""")));
    }
}
