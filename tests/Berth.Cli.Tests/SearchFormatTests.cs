namespace Berth.Cli.Tests;

/// <summary>
/// berth search through docker's search formatter: the default table, --format with the fields .Name .Description
/// .StarCount .IsOfficial .IsAutomated (strings, "[OK]" for true), "table", {{json .}} and a bad template's error;
/// against a scripted daemon on a unix socket that answers /images/search.
/// </summary>
public sealed class SearchFormatTests : IDisposable
{
    private readonly ScriptedDaemon daemon = new();

    private const string Results = """
        [{"name":"busybox","description":"Busybox base image.\nSmall.","star_count":3000,"is_official":true,"is_automated":false},
         {"name":"me/tool","description":"A tool whose description goes on for longer than forty-five characters","star_count":1,"is_official":false,"is_automated":true}]
        """;

    public SearchFormatTests() => daemon.Serve(line => line.Contains(" /v1.47/images/search?term=", StringComparison.Ordinal)
        ? (200, "", Results)
        : (404, "", """{"message":"page not found"}"""));

    public void Dispose() => daemon.Dispose();

    private Task<(int Code, string Out, string Err)> BerthAsync(params string[] args) => daemon.BerthAsync(args);

    [Fact]
    public async Task Default_table_has_dockers_columns_one_line_descriptions_cut_at_45()
    {
        var (code, output, errors) = await BerthAsync("search", "busybox");
        Assert.True(code == 0, errors);
        var lines = output.Split('\n');
        Assert.Equal("NAME      DESCRIPTION                                     STARS     OFFICIAL", lines[0]);
        Assert.Equal("busybox   Busybox base image. Small.                      3000      [OK]", lines[1]);
        Assert.Equal("me/tool   A tool whose description goes on for longer …   1         ", lines[2]); // Go's Ellipsis: 44 characters and "…"
        Assert.Equal("", lines[3]);
    }

    [Fact]
    public async Task Format_takes_dockers_search_fields()
    {
        var (code, output, errors) = await BerthAsync("search", "--format", "{{.Name}}: {{.StarCount}} {{.IsOfficial}} {{.IsAutomated}}", "busybox");
        Assert.True(code == 0, errors);
        Assert.Equal("busybox: 3000 [OK] \nme/tool: 1  [OK]\n", output);

        (code, output, errors) = await BerthAsync("search", "--no-trunc", "--format", "table {{.Name}}\t{{.IsAutomated}}\t{{.Description}}", "busybox");
        Assert.True(code == 0, errors);
        Assert.Equal(
            "NAME      AUTOMATED   DESCRIPTION\n" +
            "busybox               Busybox base image. Small.\n" +
            "me/tool   [OK]        A tool whose description goes on for longer than forty-five characters\n", output);

        (code, output, errors) = await BerthAsync("search", "--format", "{{json .}}", "busybox");
        Assert.True(code == 0, errors);
        Assert.StartsWith("""{"Description":"Busybox base image. Small.","IsAutomated":"","IsOfficial":"[OK]","Name":"busybox","StarCount":"3000"}""" + "\n", output);
    }

    [Fact]
    public async Task A_bad_format_is_a_template_parsing_error()
    {
        var (code, output, errors) = await BerthAsync("search", "--format", "{{.Name", "busybox");
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Equal("template parsing error: template: :1: unclosed action\n", errors);
    }
}
