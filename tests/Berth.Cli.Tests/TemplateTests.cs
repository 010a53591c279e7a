using System.Text.Json.Nodes;

namespace Berth.Cli.Tests;

public sealed class TemplateTests
{
    private static readonly JsonNode Inspect = JsonNode.Parse("""
        {"Id":"abc","Name":"/web","State":{"Status":"running","Running":true,"ExitCode":0},
         "Config":{"Env":["A=1","B=2"],"Labels":{"com.x":"y","a":"b"},"Cmd":null},
         "NetworkSettings":{"Networks":{"bridge":{"IPAddress":"10.0.0.2"}}},"Count":3,"Ratio":1.5}
        """)!;

    [Theory]
    [InlineData("{{.Id}}", "abc")]
    [InlineData("{{.State.Status}}", "running")]
    [InlineData("{{.State.Running}} {{.State.ExitCode}}", "true 0")]
    [InlineData("{{json .State}}", """{"Status":"running","Running":true,"ExitCode":0}""")]
    [InlineData("{{json .Config.Env}}", """["A=1","B=2"]""")]
    [InlineData("{{index .Config.Labels \"com.x\"}}", "y")]
    [InlineData("{{index .Config.Env 1}}", "B=2")]
    [InlineData("{{range .Config.Env}}[{{.}}]{{end}}", "[A=1][B=2]")]
    [InlineData("{{range $v := .Config.Labels}}{{$v}},{{end}}", "b,y,")]
    [InlineData("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "a=b;com.x=y;")]
    [InlineData("{{range $i, $e := .Config.Env}}{{$i}}:{{$e}} {{end}}", "0:A=1 1:B=2 ")]
    [InlineData("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "10.0.0.2")]
    [InlineData("{{if .State.Running}}up{{else}}down{{end}}", "up")]
    [InlineData("{{if .Config.Cmd}}cmd{{else}}none{{end}}", "none")]
    [InlineData("{{with .State}}{{.Status}}{{end}}", "running")]
    [InlineData("{{.Name | upper}}", "/WEB")]
    [InlineData("{{join .Config.Env \",\"}}", "A=1,B=2")]
    [InlineData("{{.Config.Env}}", "[A=1 B=2]")]
    [InlineData("{{.Config.Labels}}", "map[a:b com.x:y]")]
    [InlineData("{{.Config.Cmd}}", "<no value>")]
    [InlineData("{{.Nope}}", "<no value>")]
    [InlineData("{{len .Config.Env}}", "2")]
    [InlineData("a {{- \" b \" -}} c", "a b c")]
    [InlineData("{{.Count}} {{.Ratio}}", "3 1.5")]
    [InlineData("{{println .Id}}", "abc\n")]
    [InlineData("{{eq .State.Status \"running\"}}", "true")]
    public void Renders_docker_format_strings(string template, string expected)
        => Assert.Equal(expected, GoTemplate.Render(template, Inspect));

    [Theory]
    [InlineData("{{.Id.Nope}}", "can't evaluate field Nope")]
    [InlineData("{{nofunc .Id}}", "function \"nofunc\" not defined")]
    [InlineData("{{if .Id}}x", "unexpected EOF")]
    [InlineData("{{.Id", "unclosed action")]
    // Go's lexer: a field, variable or identifier must end at a space, . , | : ( ) or "}}".
    [InlineData("{{.Id}", "template: :1: bad character U+007D '}'")]
    [InlineData("{{.}", "template: :1: bad character U+007D '}'")]
    [InlineData("{{$x=1}}", "template: :1: bad character U+003D '='")]
    [InlineData("{{json.Id\"x\"}}", "template: :1: bad character U+0022 '\"'")]
    public void Bad_templates_fail_with_a_clear_message(string template, string message)
        => Assert.Contains(message, Assert.Throws<FormatException>(() => GoTemplate.Render(template, Inspect)).Message);
}

public sealed class UnitsTests
{
    [Theory]
    [InlineData(0.5, "Less than a second")]
    [InlineData(1, "1 second")]
    [InlineData(5, "5 seconds")]
    [InlineData(59, "59 seconds")]
    [InlineData(60, "About a minute")]
    [InlineData(150, "2 minutes")]
    [InlineData(3600, "About an hour")]
    [InlineData(3 * 3600, "3 hours")]
    [InlineData(47 * 3600, "47 hours")]
    [InlineData(3 * 86400, "3 days")]
    [InlineData(15 * 86400, "2 weeks")]
    [InlineData(90 * 86400, "3 months")]
    [InlineData(800 * 86400, "2 years")]
    public void Durations_are_humanised_as_go_units(double seconds, string expected)
        => Assert.Equal(expected, Units.HumanDuration(TimeSpan.FromSeconds(seconds)));

    [Theory]
    [InlineData(0, "0B")]
    [InlineData(999, "999B")]
    [InlineData(4_200_000, "4.2MB")]
    [InlineData(1_234_567, "1.23MB")]
    [InlineData(999_999, "1e+03kB")]
    [InlineData(77_800_000_000, "77.8GB")]
    public void Sizes_are_decimal_with_three_digits(double bytes, string expected) => Assert.Equal(expected, Units.HumanSize(bytes));

    [Theory]
    [InlineData(1536, "1.5KiB")]
    [InlineData(1048576, "1MiB")]
    public void Bytes_sizes_are_binary(double bytes, string expected) => Assert.Equal(expected, Units.BytesSize(bytes));

    [Theory]
    [InlineData("100", 100)]
    [InlineData("512m", 512L << 20)]
    [InlineData("1.5g", 3L << 29)]
    [InlineData("64k", 64 << 10)]
    [InlineData("2GB", 2L << 30)]
    [InlineData("10MiB", 10L << 20)]
    public void Memory_sizes_parse_as_RAMInBytes(string text, long expected) => Assert.Equal(expected, Units.RamInBytes(text));

    [Fact]
    public void Bad_memory_size_says_invalid_size()
        => Assert.Equal("invalid size: 'abc'", Assert.Throws<FormatException>(() => Units.RamInBytes("abc")).Message);

    [Fact]
    public void Ellipsis_cuts_with_a_single_character()
    {
        Assert.Equal("sh -c 'sleep 1000'", Units.Ellipsis("sh -c 'sleep 1000'", 20));
        Assert.Equal("/bin/sh -c 'while t…", Units.Ellipsis("/bin/sh -c 'while true; do sleep 1; done'", 20));
    }

    [Fact]
    public void Tables_align_like_gos_tabwriter_with_docker_settings()
    {
        var text = Units.Tabulate(["CONTAINER ID\tIMAGE\tNAMES", "4f1c3b2a9d8e\tbusybox\tweb"]);
        Assert.Equal("CONTAINER ID   IMAGE     NAMES\n4f1c3b2a9d8e   busybox   web\n", text);
    }
}
