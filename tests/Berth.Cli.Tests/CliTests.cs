using System.Text;
using Berth.Api;
using Berth.Engine;
using Berth.Engine.Models;
using Berth.Testing;
using Microsoft.AspNetCore.Builder;

namespace Berth.Cli.Tests;

internal sealed class ListingContainers : UnimplementedContainerService
{
    public override Task<IReadOnlyList<ContainerSummary>> ListAsync(ContainerListOptions options, CancellationToken cancellationToken)
    {
        IReadOnlyList<ContainerSummary> list =
        [
            new ContainerSummary
            {
                Id = "4f1c3b2a9d8e7f6a5b4c3d2e1f0a9b8c", Names = ["/web"], Image = "busybox", Command = "/bin/sh -c 'while true; do sleep 1; done'",
                Created = new DateTimeOffset(2026, 11, 30, 11, 55, 0, TimeSpan.Zero).ToUnixTimeSeconds(), State = "running", Status = "Up 5 minutes",
                Ports = [new Port { IP = "0.0.0.0", PrivatePort = 80, PublicPort = 8080, Type = "tcp" }],
            },
            new ContainerSummary
            {
                Id = "aa1c3b2a9d8e7f6a5b4c3d2e1f0a9b8c", Names = ["/done"], Image = "sha256:0123456789abcdef0123", Command = "true",
                Created = new DateTimeOffset(2026, 11, 30, 9, 0, 0, TimeSpan.Zero).ToUnixTimeSeconds(), State = "exited", Status = "Exited (0) 2 hours ago",
            },
        ];
        return Task.FromResult(options.All ? list : [list[0]]);
    }

    public override Task<ContainerInspect> InspectAsync(string idOrName, bool size, CancellationToken cancellationToken)
        => idOrName == "web"
            ? Task.FromResult(new ContainerInspect { Id = "4f1c", Name = "/web", Created = "2026-11-30T11:55:00Z", State = new ContainerState { Status = "running", Running = true } })
            : throw NotFoundException.Container(idOrName);
}

internal sealed class ListingImages : UnimplementedImageService
{
    public override Task<ImageInspect> InspectAsync(string name, CancellationToken cancellationToken) => throw NotFoundException.Image(name);

    public override Task<IReadOnlyList<ImageSummary>> ListAsync(ImageListOptions options, CancellationToken cancellationToken)
    {
        IReadOnlyList<ImageSummary> list = [new ImageSummary { Id = "sha256:e3b0c44298fc1c149afbf4c8996fb924", RepoTags = ["busybox:latest", "localhost:5000/tools/bb:1.36"], Created = new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero).ToUnixTimeSeconds(), Size = 4_261_550 }];
        return Task.FromResult(list);
    }
}

/// <summary>berth (the library) against Berth's API server with a fake engine on a temp socket.</summary>
public sealed class CliTests : IAsyncLifetime
{
    private readonly TempDir dir = new();
    private WebApplication? app;
    private string Socket => dir.Combine("api.sock");

    public async Task InitializeAsync()
    {
        var facts = new DaemonFacts("0.1.0-test", "/var/lib/berth-test", "berth", new Dictionary<string, string>(), LiveRestore: false, Debug: false);
        var api = new DockerApi(new CompositeEngine(new ListingContainers(), images: new ListingImages(), system: new HostSystemService(facts, () => "ID")), "0.1.0-test");
        var options = new ApiServerOptions();
        options.Hosts.Add("unix://" + Socket);
        app = await ApiServer.StartAsync(api, options);
    }

    public async Task DisposeAsync()
    {
        if (app is not null) { await app.StopAsync(); await app.DisposeAsync(); }
        dir.Dispose();
    }

    private async Task<(int Code, string Out, string Err)> BerthAsync(params string[] args)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        var cli = new BerthCli(output, errors, name => name == "BERTH_HOST" ? "unix://" + Socket : null)
        {
            Clock = () => new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero),
            RawStdout = new MemoryStream(),
            RawStderr = new MemoryStream(),
        };
        var code = await cli.RunAsync(args);
        return (code, output.ToString(), errors.ToString());
    }

    [Fact]
    public async Task Ps_prints_dockers_columns_truncation_and_humanised_times()
    {
        var (code, output, _) = await BerthAsync("ps", "-a");
        Assert.Equal(0, code);
        var expected = new StringBuilder()
            .Append("CONTAINER ID   IMAGE          COMMAND                  CREATED         STATUS                   PORTS                  NAMES\n")
            .Append("4f1c3b2a9d8e   busybox        \"/bin/sh -c 'while t…\"   5 minutes ago   Up 5 minutes             0.0.0.0:8080->80/tcp   web\n")
            .Append("aa1c3b2a9d8e   0123456789ab   \"true\"                   3 hours ago     Exited (0) 2 hours ago                          done\n")
            .ToString();
        Assert.Equal(expected, output);
    }

    [Fact]
    public async Task Ps_quiet_format_and_table_format()
    {
        Assert.Equal("4f1c3b2a9d8e\n", (await BerthAsync("ps", "-q")).Out);
        Assert.Equal("web running\n", (await BerthAsync("ps", "--format", "{{.Names}} {{.State}}")).Out);
        Assert.Equal("NAMES     STATUS\nweb       Up 5 minutes\n", (await BerthAsync("ps", "--format", "table {{.Names}}\t{{.Status}}")).Out);
    }

    [Fact]
    public async Task Images_lists_each_tag_with_humanised_size()
    {
        var (code, output, _) = await BerthAsync("images");
        Assert.Equal(0, code);
        Assert.Equal(
            "REPOSITORY                TAG       IMAGE ID       CREATED      SIZE\n" +
            "busybox                   latest    e3b0c44298fc   2 days ago   4.26MB\n" +
            "localhost:5000/tools/bb   1.36      e3b0c44298fc   2 days ago   4.26MB\n", output);
    }

    [Fact]
    public async Task Inspect_formats_and_reports_missing_objects()
    {
        Assert.Equal("running /web\n", (await BerthAsync("inspect", "--format", "{{.State.Status}} {{.Name}}", "web")).Out);
        var (code, output, errors) = await BerthAsync("inspect", "web", "ghost");
        Assert.Equal(1, code);
        Assert.StartsWith("[\n    {\n        \"Id\": \"4f1c\",", output);
        Assert.Contains("Error: No such object: ghost", errors);
    }

    [Fact]
    public async Task Version_and_info_show_the_daemons_values()
    {
        var (code, output, _) = await BerthAsync("version");
        Assert.Equal(0, code);
        Assert.Contains("Server: Berth Engine", output);
        Assert.Contains("API version:      1.47 (minimum version 1.24)", output);
        Assert.Equal("0.1.0-test\n", (await BerthAsync("info", "--format", "{{.ServerVersion}}")).Out);
    }

    [Fact]
    public async Task Errors_and_exit_codes_are_dockers()
    {
        var (code, _, errors) = await BerthAsync("run", "--memory", "abc", "busybox");
        Assert.Equal(125, code);
        Assert.Equal("invalid argument \"abc\" for \"-m, --memory\" flag: invalid size: 'abc'\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth run --help' for more information\n", errors);
        (code, _, errors) = await BerthAsync("run", "-p", "99999:80", "busybox");
        Assert.Equal(125, code);
        Assert.Equal("berth: invalid hostPort: 99999\n\nRun 'berth run --help' for more information\n", errors);
        (code, _, errors) = await BerthAsync("container", "rename", "a");
        Assert.Equal(1, code);
        Assert.Equal("berth: 'berth container rename' requires 2 arguments\n\nUsage:  berth container rename CONTAINER NEW_NAME\n\nSee 'berth container rename --help' for more information\n", errors);
        (code, _, errors) = await BerthAsync("run", "--rm", "--restart", "always", "busybox");
        Assert.Equal(125, code);
        Assert.StartsWith("berth: conflicting options: cannot specify both --restart and --rm\n", errors);
        (code, _, errors) = await BerthAsync("run", "--restart", "on-failure:x", "busybox");
        Assert.StartsWith("berth: invalid restart policy format: maximum retry count must be an integer\n", errors);
        (code, _, errors) = await BerthAsync("stop", "ghost");
        Assert.Equal(1, code);
        Assert.Contains("Error response from daemon: stopping containers is not implemented yet", errors);
        (code, _, errors) = await BerthAsync("frobnicate");
        Assert.Equal(1, code);
        Assert.Equal("berth: unknown command: berth frobnicate\n\nRun 'berth --help' for more information\n", errors);
        (code, _, errors) = await BerthAsync("-H", "unix:///nonexistent/berth.sock", "ps");
        Assert.Equal(1, code);
        Assert.Equal("Cannot connect to the Berth daemon at unix:///nonexistent/berth.sock. Is the berth daemon running?\n", errors);
    }

    [Fact]
    public async Task Table_headers_go_through_dockers_header_functions()
    {
        // docker runs the header row with HeaderFunctions: json/upper/… give their argument back, so no quotes.
        var (code, output, _) = await BerthAsync("ps", "--format", "table {{json .Image}}");
        Assert.Equal(0, code);
        Assert.Equal("IMAGE\n\"busybox\"\n", output);
        (code, output, _) = await BerthAsync("images", "--format", "table {{upper .Tag}}\t{{json .ID}}");
        Assert.Equal(0, code);
        Assert.StartsWith("TAG       IMAGE ID\nLATEST    \"e3b0c44298fc\"\n", output);
    }

    [Fact]
    public async Task A_written_backslash_t_or_n_in_a_list_format_is_a_tab_or_a_newline()
    {
        // As typed in a shell in single quotes: a backslash and a t, which docker's formatter turns into a tab.
        Assert.Equal("NAMES     STATUS\nweb       Up 5 minutes\n", (await BerthAsync("ps", "--format", @"table {{.Names}}\t{{.Status}}")).Out);
        Assert.Equal("web\trunning\n", (await BerthAsync("ps", "--format", @"{{.Names}}\t{{.State}}")).Out);
        Assert.Equal("web\nrunning\n", (await BerthAsync("ps", "--format", @"{{.Names}}\n{{.State}}")).Out);
        // Spaces around a list format are trimmed, as docker's formatter does.
        Assert.Equal("web\n", (await BerthAsync("ps", "--format", "  {{.Names}}  ")).Out);
        // inspect takes its format as it is written.
        Assert.Equal(@"running\t/web" + "\n", (await BerthAsync("inspect", "--format", @"{{.State.Status}}\t{{.Name}}", "web")).Out);
    }

    [Fact]
    public async Task Template_errors_are_worded_and_exit_as_dockers()
    {
        // ps validates the format before it asks the daemon: "failed to parse template: …", exit 1.
        var (code, output, errors) = await BerthAsync("-H", "unix:///nonexistent/berth.sock", "ps", "--format", "{{.Names}");
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.StartsWith("failed to parse template: template: :1: ", errors);
        Assert.Single(errors.TrimEnd('\n').Split('\n'));
        // Other list commands go through docker's formatter: "template parsing error: …", exit 1.
        (code, output, errors) = await BerthAsync("images", "--format", "table {{.ID}");
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.StartsWith("template parsing error: template: :1: ", errors);
        // inspect, version and info: cli.StatusError{StatusCode: 64}, before any object is looked up.
        (code, output, errors) = await BerthAsync("inspect", "--format", "{{.Id", "web", "ghost");
        Assert.Equal(64, code);
        Assert.Equal("", output);
        Assert.StartsWith("template parsing error: template: :1: ", errors);
        Assert.DoesNotContain("ghost", errors);
        // docker names version's template: "template: version:1: …".
        (code, _, errors) = await BerthAsync("version", "--format", "{{if}}");
        Assert.Equal(64, code);
        Assert.Equal("template parsing error: template: version:1: missing value for if\n", errors);
        (code, output, errors) = await BerthAsync("-H", "unix:///nonexistent/berth.sock", "version", "--format", "{{foo}}");
        Assert.Equal(64, code);
        Assert.Equal("", output);
        Assert.Equal("template parsing error: template: version:1: function \"foo\" not defined\n", errors);
        // An execution error: Go's message as it is (no parsing prefix), after a newline on stdout, exit 1.
        (code, output, errors) = await BerthAsync("version", "--format", "{{index .Client.Nope 1}}");
        Assert.Equal(1, code);
        Assert.Equal("\n", output);
        Assert.Equal("template: version:1:2: executing \"version\" at <index .Client.Nope 1>: error calling index: index of untyped nil\n", errors);
        (code, _, errors) = await BerthAsync("info", "--format", "{{nofunc .ID}}");
        Assert.Equal(64, code);
        Assert.Equal("template parsing error: template: :1: function \"nofunc\" not defined\n", errors);
        // ps --quiet wins over --format, with docker's warning.
        (code, output, errors) = await BerthAsync("ps", "-q", "--format", "{{.Names}}");
        Assert.Equal(0, code);
        Assert.Equal("4f1c3b2a9d8e\n", output);
        Assert.Equal("WARNING: Ignoring custom format, because both --format and --quiet are set.\n", errors);
    }
}
