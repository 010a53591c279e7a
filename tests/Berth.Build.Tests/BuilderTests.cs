using System.Text;
using System.Text.Json;
using Berth.Build.Context;
using Berth.Build.Execution;
using Berth.Build.Dockerfile;
using Berth.Oci.Image;

namespace Berth.Build.Tests;

/// <summary>A context directory, a fake backend with busybox, a cache, and a way to build.</summary>
internal sealed class Harness : IDisposable
{
    public string Context { get; } = Path.Combine(Path.GetTempPath(), "berth-build-ctx-" + Guid.NewGuid().ToString("N"));
    public FakeBackend Backend { get; } = new();
    public MemoryBuildCache Cache { get; } = new();
    public string BusyboxId { get; }

    public Harness()
    {
        Directory.CreateDirectory(Context);
        BusyboxId = Backend.AddImage("busybox:latest");
    }

    public void Write(string path, string text)
    {
        var full = Path.Combine(Context, path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllText(full, text);
    }

    public async Task<(BuildResult Result, List<BuildMessage> Messages, string Text)> BuildAsync(string dockerfile, BuildOptions? options = null)
    {
        Write("Dockerfile", dockerfile);
        var messages = new List<BuildMessage>();
        using var context = BuildContext.FromDirectory(Context);
        var builder = new DockerfileBuilder(Backend, Cache);
        var result = await builder.BuildAsync(context, options ?? new BuildOptions(), m => { lock (messages) messages.Add(m); return ValueTask.CompletedTask; }, CancellationToken.None);
        var text = string.Concat(messages.Select(m => m.Stream ?? (m.Error is not null ? "ERROR: " + m.Error + "\n" : "")));
        return (result, messages, text);
    }

    public ContainerConfig ConfigOf(BuildResult result) => Backend.Image(result.ImageId!).Config.Config!;
    public string FileIn(BuildResult result, string path) => File.ReadAllText(Path.Combine(Backend.RootfsOf(result.ImageId!), path.TrimStart('/')));
    public bool ExistsIn(BuildResult result, string path) => Path.Exists(Path.Combine(Backend.RootfsOf(result.ImageId!), path.TrimStart('/')));

    public void Dispose()
    {
        Backend.Dispose();
        if (Directory.Exists(Context)) Directory.Delete(Context, recursive: true);
    }
}

public sealed class BuilderTests
{
    private static string Short(string id) => DockerfileBuilder.ShortId(id);

    [Fact]
    public async Task Single_stage_build_writes_dockers_progress_and_sets_the_config()
    {
        using var h = new Harness();
        h.Write("app.txt", "hello\n");
        var (result, messages, text) = await h.BuildAsync("""
            FROM busybox
            ENV APP=/app
            WORKDIR $APP
            COPY app.txt .
            RUN echo built > /app/built.txt
            EXPOSE 8080
            CMD ["cat", "app.txt"]
            """, new BuildOptions { Tags = ["demo", "demo:v1"] });

        Assert.Null(result.Error);
        var lines = text.Split('\n');
        Assert.Equal("Step 1/7 : FROM busybox", lines[0]);
        Assert.Equal($" ---> {Short(h.BusyboxId)}", lines[1]);
        Assert.Equal("Step 2/7 : ENV APP=/app", lines[2]);
        Assert.Contains("Step 5/7 : RUN echo built > /app/built.txt", lines);
        Assert.Contains(lines, l => l.StartsWith(" ---> Running in ", StringComparison.Ordinal) && l.Length == " ---> Running in ".Length + 12);
        Assert.Contains(lines, l => l.StartsWith("Removing intermediate container ", StringComparison.Ordinal));
        Assert.Contains($"Successfully built {Short(result.ImageId!)}", lines);
        Assert.Contains("Successfully tagged demo:latest", lines);
        Assert.Contains("Successfully tagged demo:v1", lines);
        Assert.Equal(result.ImageId, Assert.Single(messages, m => m.Aux is not null).Aux!.Id);
        Assert.Equal(result.ImageId, h.Backend.Tags["demo:latest"]);

        var config = h.ConfigOf(result);
        Assert.Contains("APP=/app", config.Env!);
        Assert.Equal("/app", config.WorkingDir);
        Assert.Equal(["cat", "app.txt"], config.Cmd);
        Assert.Equal(["8080/tcp"], config.ExposedPorts!.Keys);
        Assert.Equal("hello\n", h.FileIn(result, "/app/app.txt"));
        Assert.Equal("built\n", h.FileIn(result, "/app/built.txt"));
        var run = Assert.Single(h.Backend.Runs);
        Assert.Equal(["/bin/sh", "-c", "echo built > /app/built.txt"], run.Args);
        Assert.Equal("/app", run.WorkingDir);

        var history = h.Backend.Image(result.ImageId!).Config.History!;
        Assert.Equal("/bin/sh -c #(nop)  ENV APP=/app", history[1].CreatedBy);
        Assert.True(history[1].EmptyLayer);
        Assert.StartsWith("/bin/sh -c #(nop) COPY file:", history[3].CreatedBy);
        Assert.Equal("/bin/sh -c echo built > /app/built.txt", history[4].CreatedBy);
        Assert.Equal("/bin/sh -c #(nop)  CMD [\"cat\" \"app.txt\"]", history[6].CreatedBy);
    }

    [Fact]
    public async Task Unchanged_rebuild_is_all_cache_hits_and_a_changed_file_invalidates_from_its_copy_on()
    {
        using var h = new Harness();
        h.Write("a.txt", "a1");
        h.Write("b.txt", "b1");
        const string dockerfile = "FROM busybox\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN echo two > /two\nCOPY b.txt /b.txt\nRUN echo three > /three\n";
        var first = await h.BuildAsync(dockerfile);
        Assert.Equal(0, first.Result.CacheHits);
        Assert.Equal(3, h.Backend.Runs.Count);

        var second = await h.BuildAsync(dockerfile);
        Assert.Equal(first.Result.ImageId, second.Result.ImageId);
        Assert.Equal(5, second.Result.CacheHits);
        Assert.Equal(5, second.Text.Split('\n').Count(l => l == " ---> Using cache"));
        Assert.Equal(3, h.Backend.Runs.Count);

        // Only the time changes: Docker's file hash leaves times out, so still all hits.
        File.SetLastWriteTimeUtc(Path.Combine(h.Context, "a.txt"), DateTime.UtcNow.AddDays(-3));
        var touched = await h.BuildAsync(dockerfile);
        Assert.Equal(first.Result.ImageId, touched.Result.ImageId);

        h.Write("b.txt", "b2");
        var third = await h.BuildAsync(dockerfile);
        Assert.NotEqual(first.Result.ImageId, third.Result.ImageId);
        Assert.Equal(3, third.Result.CacheHits); // RUN one, COPY a, RUN two
        Assert.Equal(4, h.Backend.Runs.Count);   // only RUN three ran again
        Assert.Equal("b2", h.FileIn(third.Result, "/b.txt"));

        // A mode change is a metadata change: it invalidates too.
        File.SetUnixFileMode(Path.Combine(h.Context, "a.txt"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var fourth = await h.BuildAsync(dockerfile);
        Assert.Equal(1, fourth.Result.CacheHits);

        var noCache = await h.BuildAsync(dockerfile, new BuildOptions { NoCache = true });
        Assert.Equal(0, noCache.Result.CacheHits);
        Assert.DoesNotContain(" ---> Using cache", noCache.Text);
    }

    [Fact]
    public async Task Cache_entry_of_a_removed_image_is_not_used()
    {
        using var h = new Harness();
        var first = await h.BuildAsync("FROM busybox\nRUN echo x > /x\n");
        h.Backend.Remove(first.Result.ImageId!);
        var second = await h.BuildAsync("FROM busybox\nRUN echo x > /x\n");
        Assert.Equal(0, second.Result.CacheHits);
        Assert.Equal(2, h.Backend.Runs.Count);
    }

    [Fact]
    public async Task Multi_stage_copies_from_earlier_stages_and_skips_stages_the_target_does_not_need()
    {
        using var h = new Harness();
        var (result, _, text) = await h.BuildAsync("""
            FROM busybox AS unused
            RUN echo never > /never

            FROM busybox AS builder
            WORKDIR /src
            RUN echo artifact > /src/out.bin

            FROM busybox
            COPY --from=builder /src/out.bin /usr/local/bin/
            COPY --from=1 /src/out.bin /copy-by-index
            """);
        Assert.Null(result.Error);
        Assert.Equal("artifact\n", h.FileIn(result, "/usr/local/bin/out.bin"));
        Assert.Equal("artifact\n", h.FileIn(result, "/copy-by-index"));
        Assert.DoesNotContain(h.Backend.Runs, r => r.Args[^1].Contains("never"));
        Assert.DoesNotContain("FROM busybox AS unused", text);
        Assert.Contains("Step 1/6 : FROM busybox AS builder", text);
        Assert.Contains("Step 4/6 : FROM busybox", text);

        var target = await h.BuildAsync(File.ReadAllText(Path.Combine(h.Context, "Dockerfile")), new BuildOptions { Target = "builder" });
        Assert.Equal("/src", h.ConfigOf(target.Result).WorkingDir);
        Assert.False(h.ExistsIn(target.Result, "/usr/local/bin/out.bin"));

        var missing = await h.BuildAsync(File.ReadAllText(Path.Combine(h.Context, "Dockerfile")), new BuildOptions { Target = "nope" });
        Assert.Equal("failed to reach build target nope in Dockerfile", missing.Result.Error);
    }

    [Fact]
    public async Task Independent_stages_keep_their_output_in_dockerfile_order()
    {
        using var h = new Harness();
        var (result, _, text) = await h.BuildAsync("""
            FROM busybox AS a
            RUN echo from-a
            FROM busybox AS b
            RUN echo from-b
            FROM busybox
            COPY --from=a /etc/passwd /a
            COPY --from=b /etc/passwd /b
            """);
        Assert.Null(result.Error);
        var steps = text.Split('\n').Where(l => l.StartsWith("Step ", StringComparison.Ordinal)).ToList();
        Assert.Equal(["Step 1/7 : FROM busybox AS a", "Step 2/7 : RUN echo from-a", "Step 3/7 : FROM busybox AS b", "Step 4/7 : RUN echo from-b",
            "Step 5/7 : FROM busybox", "Step 6/7 : COPY --from=a /etc/passwd /a", "Step 7/7 : COPY --from=b /etc/passwd /b"], steps);
        Assert.True(text.IndexOf("from-a\n", StringComparison.Ordinal) < text.IndexOf("Step 3/7", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Build_args_follow_dockers_scope_and_enter_the_run_cache_key()
    {
        using var h = new Harness();
        const string dockerfile = """
            ARG VERSION=1.0
            ARG BASE=busybox
            FROM $BASE
            RUN echo "before: ${VERSION:-unset}" > /before
            ARG VERSION
            ARG EXTRA=x-$VERSION
            ENV FROM_ARG=$EXTRA
            RUN echo "after: $VERSION" > /after
            """;
        var (result, _, text) = await h.BuildAsync(dockerfile, new BuildOptions { BuildArgs = new Dictionary<string, string?> { ["UNUSED"] = "1", ["HTTP_PROXY"] = "http://proxy" } });
        Assert.Null(result.Error);
        Assert.Contains("Step 1/8 : ARG VERSION=1.0", text);
        Assert.Contains("[Warning] One or more build-args [UNUSED] were not consumed", text);
        Assert.Contains("FROM_ARG=x-1.0", h.ConfigOf(result).Env!);
        var runs = h.Backend.Runs;
        Assert.DoesNotContain(runs[0].Env, e => e.StartsWith("VERSION=", StringComparison.Ordinal));
        Assert.Contains("HTTP_PROXY=http://proxy", runs[0].Env);
        Assert.Contains("VERSION=1.0", runs[1].Env);
        // History (and cache key) names the ARGs the RUN saw, but not an undeclared proxy variable.
        var history = h.Backend.Image(result.ImageId!).Config.History!;
        Assert.Equal("|2 EXTRA=x-1.0 VERSION=1.0 /bin/sh -c echo \"after: $VERSION\" > /after", history[^1].CreatedBy);
        // ARGs are not part of the image.
        Assert.DoesNotContain(h.ConfigOf(result).Env!, e => e.StartsWith("VERSION=", StringComparison.Ordinal));

        var overridden = await h.BuildAsync(dockerfile, new BuildOptions { BuildArgs = new Dictionary<string, string?> { ["VERSION"] = "2.0" } });
        Assert.Contains("FROM_ARG=x-2.0", h.ConfigOf(overridden.Result).Env!);
        Assert.Equal(2, overridden.Result.CacheHits); // ARG VERSION=1.0 is not a step of its own; FROM + first RUN hit, the rest differ
        Assert.Contains("VERSION=2.0", h.Backend.Runs[^1].Env);
    }

    [Fact]
    public async Task Onbuild_triggers_run_in_the_child_build_and_are_not_inherited()
    {
        using var h = new Harness();
        h.Write("src.txt", "source");
        var parent = await h.BuildAsync("FROM busybox\nONBUILD COPY src.txt /from-trigger.txt\nONBUILD RUN echo triggered > /t\n", new BuildOptions { Tags = ["onbuild-base"] });
        Assert.Equal(["COPY src.txt /from-trigger.txt", "RUN echo triggered > /t"], h.ConfigOf(parent.Result).OnBuild);

        var (child, _, text) = await h.BuildAsync("FROM onbuild-base\nRUN echo child > /c\n");
        Assert.Null(child.Error);
        Assert.Contains("# Executing 2 build triggers", text);
        Assert.Equal("source", h.FileIn(child, "/from-trigger.txt"));
        Assert.Equal("triggered\n", h.FileIn(child, "/t"));
        Assert.Null(h.ConfigOf(child).OnBuild);
    }

    [Fact]
    public async Task Failing_run_reports_dockers_error_with_the_exit_code_and_tags_nothing()
    {
        using var h = new Harness();
        var (result, messages, text) = await h.BuildAsync("FROM busybox\nRUN echo partial output && exit 3\nRUN echo never\n", new BuildOptions { Tags = ["broken"] });
        Assert.Null(result.ImageId);
        Assert.Equal("The command '/bin/sh -c echo partial output && exit 3' returned a non-zero code: 3", result.Error);
        Assert.Equal(3, result.ErrorCode);
        Assert.Contains("partial output\n", text);
        Assert.DoesNotContain("Successfully", text);
        Assert.False(h.Backend.Tags.ContainsKey("broken:latest"));
        var error = messages[^1];
        Assert.Equal("{\"errorDetail\":{\"code\":3,\"message\":\"The command '/bin/sh -c echo partial output && exit 3' returned a non-zero code: 3\"},\"error\":\"The command '/bin/sh -c echo partial output && exit 3' returned a non-zero code: 3\"}\n",
            Encoding.UTF8.GetString(error.ToJsonLine()));
    }

    [Fact]
    public async Task Exec_form_failure_names_the_command_as_docker_does()
    {
        using var h = new Harness();
        var (result, _, _) = await h.BuildAsync("FROM busybox\nRUN [\"false\"]\n");
        Assert.Equal("The command 'false' returned a non-zero code: 1", result.Error);
    }

    [Theory]
    [InlineData("FROM busybox\nCOPY missing.txt /\n", "COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist")]
    [InlineData("FROM busybox\nCOPY *.none /\n", "COPY failed: no source files were specified")]
    [InlineData("FROM busybox\nCOPY a.txt b.txt /dest\n", "When using COPY with more than one source file, the destination must be a directory and end with a /")]
    [InlineData("FROM nosuchimage\n", "pull access denied for nosuchimage, repository does not exist or may require 'docker login': denied: requested access to the resource is denied")]
    [InlineData("FROM busybox\nCOPY --chown=nobody a.txt /\n", "unable to convert uid/gid chown string to host mapping: can't find uid for user nobody: no such user: nobody")]
    [InlineData("FROM busybox\nSTOPSIGNAL SIGNOPE\n", "Invalid signal: SIGNOPE")]
    [InlineData("FROM busybox\nEXPOSE 80/xyz\n", "invalid proto: xyz")]
    [InlineData("FROM busybox\nBOGUS x\n", "dockerfile parse error on line 2: unknown instruction: BOGUS")]
    [InlineData("ARG B\nFROM $B\n", "base name ($B) should not be blank")]
    public async Task Bad_input_gives_one_clear_error(string dockerfile, string message)
    {
        using var h = new Harness();
        h.Write("a.txt", "a");
        h.Write("b.txt", "b");
        var (result, _, _) = await h.BuildAsync(dockerfile);
        Assert.Equal(message, result.Error);
        Assert.Null(result.ImageId);
    }

    [Fact]
    public async Task Dockerignore_hides_files_from_copy_and_keeps_exceptions()
    {
        using var h = new Harness();
        h.Write(".dockerignore", "# comment\n*.log\nsecrets/\n!keep.log\n");
        h.Write("app.txt", "app");
        h.Write("debug.log", "noise");
        h.Write("keep.log", "kept");
        h.Write("secrets/key", "k");
        var (result, _, _) = await h.BuildAsync("FROM busybox\nCOPY . /ctx/\n");
        Assert.Null(result.Error);
        Assert.True(h.ExistsIn(result, "/ctx/app.txt"));
        Assert.True(h.ExistsIn(result, "/ctx/keep.log"));
        Assert.False(h.ExistsIn(result, "/ctx/debug.log"));
        Assert.False(h.ExistsIn(result, "/ctx/secrets"));
        Assert.True(h.ExistsIn(result, "/ctx/Dockerfile")); // not excluded, so kept as Docker keeps it

        var excluded = await h.BuildAsync("FROM busybox\nCOPY debug.log /\n");
        Assert.Equal("COPY failed: file not found in build context or excluded by .dockerignore: stat debug.log: file does not exist", excluded.Result.Error);
    }

    [Fact]
    public async Task Symlinks_in_the_context_are_never_followed_out_of_it()
    {
        using var h = new Harness();
        var outside = Path.Combine(Path.GetTempPath(), "berth-outside-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(outside, "host secret");
        try
        {
            File.CreateSymbolicLink(Path.Combine(h.Context, "escape"), outside);
            File.CreateSymbolicLink(Path.Combine(h.Context, "dotdot"), "../../../../../../../etc/hostname");
            var (result, _, _) = await h.BuildAsync("FROM busybox\nCOPY escape /escape\n");
            Assert.StartsWith("COPY failed: file not found in build context", result.Error);
            var dotdot = await h.BuildAsync("FROM busybox\nCOPY dotdot /x\n");
            Assert.StartsWith("COPY failed: file not found in build context", dotdot.Result.Error);
            // Inside a copied directory a symlink is copied as a link, not followed.
            Directory.CreateDirectory(Path.Combine(h.Context, "dir"));
            File.CreateSymbolicLink(Path.Combine(h.Context, "dir", "link"), outside);
            // Dangling, and pointing up out of the context at a directory: still links, neither hashed nor copied through.
            File.CreateSymbolicLink(Path.Combine(h.Context, "dir", "dangling"), "/nonexistent-" + Guid.NewGuid().ToString("N"));
            Directory.CreateSymbolicLink(Path.Combine(h.Context, "dir", "up"), "../../../../../../../etc");
            var copied = await h.BuildAsync("FROM busybox\nCOPY dir /dir\n");
            Assert.Null(copied.Result.Error);
            Assert.Equal(outside, new FileInfo(Path.Combine(h.Backend.RootfsOf(copied.Result.ImageId!), "dir", "link")).LinkTarget);
            Assert.Equal("../../../../../../../etc", new FileInfo(Path.Combine(h.Backend.RootfsOf(copied.Result.ImageId!), "dir", "up")).LinkTarget);
            Assert.NotNull(new FileInfo(Path.Combine(h.Backend.RootfsOf(copied.Result.ImageId!), "dir", "dangling")).LinkTarget);
        }
        finally
        {
            File.Delete(outside);
        }
    }

    [Fact]
    public async Task Copy_follows_dockers_directory_semantics()
    {
        using var h = new Harness();
        h.Write("dir/one.txt", "1");
        h.Write("dir/sub/two.txt", "2");
        h.Write("f.txt", "f");
        var (result, _, _) = await h.BuildAsync("""
            FROM busybox
            COPY dir /contents
            COPY dir/ /contents2/
            COPY f.txt /newname
            COPY f.txt /existing-dir-by-slash/
            COPY f.txt /tmp
            COPY d*/one.txt f.txt /multi/
            WORKDIR /w
            COPY f.txt relative.txt
            """);
        Assert.Null(result.Error);
        Assert.Equal("1", h.FileIn(result, "/contents/one.txt"));
        Assert.Equal("2", h.FileIn(result, "/contents/sub/two.txt"));
        Assert.False(h.ExistsIn(result, "/contents/dir"));
        Assert.Equal("2", h.FileIn(result, "/contents2/sub/two.txt"));
        Assert.Equal("f", h.FileIn(result, "/newname"));
        Assert.Equal("f", h.FileIn(result, "/existing-dir-by-slash/f.txt"));
        Assert.Equal("f", h.FileIn(result, "/tmp/f.txt"));
        Assert.Equal("1", h.FileIn(result, "/multi/one.txt"));
        Assert.Equal("f", h.FileIn(result, "/multi/f.txt"));
        Assert.Equal("f", h.FileIn(result, "/w/relative.txt"));
        var copyLayer = h.Backend.Layers.First(l => l.Entries.Any(e => e.Path == "/newname"));
        Assert.All(copyLayer.Entries, e => Assert.Equal((0, 0), (e.Uid, e.Gid)));
    }

    [Fact]
    public async Task Chown_and_chmod_resolve_names_in_the_image()
    {
        using var h = new Harness();
        h.Write("f.txt", "f");
        var (result, _, _) = await h.BuildAsync("FROM busybox\nCOPY --chown=app:staff --chmod=640 f.txt /owned\nCOPY --chown=1000 f.txt /numeric\n");
        Assert.Null(result.Error);
        var owned = h.Backend.Layers.SelectMany(l => l.Entries).Single(e => e.Path == "/owned");
        Assert.Equal((1000, 50, 0x1A0), (owned.Uid, owned.Gid, owned.Mode));
        var numeric = h.Backend.Layers.SelectMany(l => l.Entries).Single(e => e.Path == "/numeric");
        Assert.Equal((1000, 1000), (numeric.Uid, numeric.Gid));
    }

    [Fact]
    public async Task New_parent_directories_are_owned_as_dockers_classic_builder_makes_them()
    {
        using var h = new Harness();
        h.Write("f.txt", "f");
        h.Write("conf/a.conf", "a");
        var (result, _, _) = await h.BuildAsync("FROM busybox\nCOPY --chown=1500:2000 f.txt /opt/tool/bin/f\nCOPY --chown=1500:2000 conf /new/deep/\nCOPY conf /etc/\n");
        Assert.Null(result.Error);
        var entries = h.Backend.Layers.SelectMany(l => l.Entries).ToList();
        // Above a copied file, new directories take the --chown owner; above a copied directory they stay root's.
        Assert.Equal((1500, 2000, 0x1ED), entries.Where(e => e.Path == "/opt/tool/bin").Select(e => (e.Uid, e.Gid, e.Mode)).Single());
        Assert.Equal((0, 0), entries.Where(e => e.Path == "/new").Select(e => (e.Uid, e.Gid)).Single());
        Assert.Equal((1500, 2000, 0x1ED), entries.Where(e => e.Path == "/new/deep").Select(e => (e.Uid, e.Gid, e.Mode)).Single());
        // An existing destination directory keeps its own mode and owner.
        var etc = entries.Where(e => e.Path == "/etc").ToList();
        Assert.All(etc, e => Assert.Equal((0, 0), (e.Uid, e.Gid)));
    }

    [Fact]
    public async Task Heredocs_become_files_and_scripts()
    {
        using var h = new Harness();
        var (result, _, _) = await h.BuildAsync("FROM busybox\nENV NAME=world\nCOPY <<greeting.txt <<\"raw.txt\" /etc/\nhello $NAME\ngreeting.txt\nraw $NAME\nraw.txt\nRUN <<EOF\necho from heredoc > /h\nEOF\n");
        Assert.Null(result.Error);
        Assert.Equal("hello world\n", h.FileIn(result, "/etc/greeting.txt"));
        Assert.Equal("raw $NAME\n", h.FileIn(result, "/etc/raw.txt"));
        Assert.Equal(["/bin/sh", "-c", "echo from heredoc > /h\n"], h.Backend.Runs[0].Args);
        Assert.Equal("from heredoc\n", h.FileIn(result, "/h"));
    }

    [Fact]
    public async Task Config_instructions_set_what_docker_sets()
    {
        using var h = new Harness();
        var (result, _, _) = await h.BuildAsync("""
            FROM busybox
            MAINTAINER someone
            LABEL a=1 "b c"="d e"
            USER app
            VOLUME /data ["/cache"]
            VOLUME ["/cache2"]
            STOPSIGNAL SIGINT
            HEALTHCHECK --interval=5s --retries=2 CMD true
            SHELL ["/bin/ash", "-c"]
            ENTRYPOINT echo start
            EXPOSE 53/udp 8000-8001
            """, new BuildOptions { Labels = new Dictionary<string, string> { ["from.cli"] = "yes" } });
        Assert.Null(result.Error);
        var config = h.ConfigOf(result);
        Assert.Equal("someone", h.Backend.Image(result.ImageId!).Config.Author);
        Assert.Equal("1", config.Labels!["a"]);
        Assert.Equal("d e", config.Labels!["b c"]);
        Assert.Equal("yes", config.Labels!["from.cli"]);
        Assert.Equal("app", config.User);
        // Shell form splits on blanks and strips quotes, as Docker does: the second word is "[/cache]".
        Assert.Equal(["/cache2", "/data", "[/cache]"], config.Volumes!.Keys);
        Assert.Equal("SIGINT", config.StopSignal);
        Assert.Equal(["CMD-SHELL", "true"], config.Healthcheck!.Test);
        Assert.Equal(5_000_000_000, config.Healthcheck.Interval);
        Assert.Equal(2, config.Healthcheck.Retries);
        Assert.Equal(["/bin/ash", "-c"], config.Shell);
        Assert.Equal(["/bin/ash", "-c", "echo start"], config.Entrypoint);
        Assert.Null(config.Cmd); // ENTRYPOINT resets an inherited CMD
        Assert.Equal(["53/udp", "8000/tcp", "8001/tcp"], config.ExposedPorts!.Keys);
    }

    [Fact]
    public async Task Quiet_build_writes_only_the_image_id()
    {
        using var h = new Harness();
        var (result, messages, _) = await h.BuildAsync("FROM busybox\nRUN echo noisy\n", new BuildOptions { Quiet = true });
        // The aux line with the ID (for --iidfile), then the ID as text.
        Assert.Equal([result.ImageId, null], messages.Select(m => m.Aux?.Id));
        Assert.Equal([null, result.ImageId + "\n"], messages.Select(m => m.Stream));
    }

    [Fact]
    public async Task Pull_option_pulls_the_base_even_when_present()
    {
        using var h = new Harness();
        h.Backend.AddImage("alpine:3", pullOnly: true);
        var (result, messages, _) = await h.BuildAsync("FROM alpine:3\n");
        Assert.Null(result.Error);
        Assert.Contains(messages, m => m.Status == "Pulling from library/alpine");
        await h.BuildAsync("FROM alpine:3\n", new BuildOptions { Pull = true });
        Assert.Equal(2, h.Backend.Pulls.Count);
        await h.BuildAsync("FROM alpine:3\n");
        Assert.Equal(2, h.Backend.Pulls.Count);
    }

    [Fact]
    public async Task Run_steps_get_network_and_mounts()
    {
        using var h = new Harness();
        h.Write("src/main.c", "int main(){}");
        var (result, _, _) = await h.BuildAsync("""
            FROM busybox
            RUN --network=none --mount=type=cache,target=/root/.cache,id=c1 --mount=type=bind,source=src,target=/src true
            RUN true
            """, new BuildOptions { NetworkMode = "host" });
        Assert.Null(result.Error);
        var first = h.Backend.Runs[0];
        Assert.Equal("none", first.Network);
        Assert.Equal([MountType.Cache, MountType.Bind], first.Mounts.Select(m => m.Mount.Type));
        Assert.Equal(Path.Combine(h.Context, "src"), first.Mounts[1].HostSource);
        Assert.True(first.Mounts[1].Mount.ReadOnly);
        Assert.Equal("host", h.Backend.Runs[1].Network);
    }

    [Fact]
    public void Json_lines_have_dockers_shapes()
    {
        Assert.Equal("{\"stream\":\"Step 1/1 : FROM busybox\\n\"}\n", Encoding.UTF8.GetString(BuildMessage.Text("Step 1/1 : FROM busybox\n").ToJsonLine()));
        Assert.Equal("{\"aux\":{\"ID\":\"sha256:abc\"}}\n", Encoding.UTF8.GetString(BuildMessage.ImageId("sha256:abc").ToJsonLine()));
        using var doc = JsonDocument.Parse(BuildMessage.Failure("boom", 2).ToJsonLine());
        Assert.Equal(2, doc.RootElement.GetProperty("errorDetail").GetProperty("code").GetInt32());
        Assert.Equal("boom", doc.RootElement.GetProperty("error").GetString());
    }
}
