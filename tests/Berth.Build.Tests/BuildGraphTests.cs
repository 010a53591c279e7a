using Berth.Build.Dockerfile;
using Berth.Build.Execution;

namespace Berth.Build.Tests;

public sealed class BuildGraphTests
{
    private const string Dockerfile = """
        ARG TOOLS=tools
        FROM busybox AS base
        FROM base AS tools
        FROM busybox AS docs
        FROM busybox AS assets
        FROM base AS app
        COPY --from=${TOOLS} /x /x
        RUN --mount=type=bind,from=assets,target=/assets true
        FROM app AS test
        """;

    private static IReadOnlyList<string> Needed(string? target)
    {
        var plan = DockerfilePlan.Parse(Dockerfile);
        var env = new Dictionary<string, string> { ["TOOLS"] = "tools" };
        var lex = new ShellLex('\\');
        return BuildGraph.NeededStages(plan, BuildGraph.TargetIndex(plan, target), w => lex.ProcessWord(w, env)).Select(s => s.Name).ToList();
    }

    [Fact]
    public void Target_needs_only_its_transitive_dependencies()
    {
        Assert.Equal(["base", "tools", "assets", "app", "test"], Needed(null));
        Assert.Equal(["base", "tools", "assets", "app"], Needed("app"));
        Assert.Equal(["docs"], Needed("DOCS"));
        Assert.Equal(["base"], Needed("base"));
    }

    [Fact]
    public void A_stage_can_only_name_earlier_stages()
    {
        var plan = DockerfilePlan.Parse("FROM busybox AS a\nCOPY --from=1 /x /x\nFROM busybox AS b\n");
        var error = Assert.Throws<BuildException>(() => BuildGraph.NeededStages(plan, 0, w => w));
        Assert.Equal("invalid from flag value 1: refers to current or future build stage", error.Message);
        // A later stage's name in FROM is an image name, as in Docker.
        var forward = DockerfilePlan.Parse("FROM later\nFROM busybox AS later\n");
        Assert.Null(BuildGraph.Find(forward, "later", 0, allowIndex: false));
    }
}
