using System.Text.Json;
using System.Text.RegularExpressions;
using Berth.Testing;

namespace Berth.EndToEnd.Tests;

/// <summary>A build context on disk: files written under a fresh directory, for `berth build` and `docker build`.</summary>
public sealed class BuildContextDir
{
    public string Path { get; }

    public BuildContextDir(string path, params (string Name, string Text)[] files)
    {
        Path = path;
        Directory.CreateDirectory(path);
        foreach (var (name, text) in files) Write(name, text);
    }

    public void Write(string name, string text)
    {
        var file = System.IO.Path.Combine(Path, name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(file)!);
        File.WriteAllText(file, text);
    }
}

/// <summary>`berth build` against berthd: RUN steps in real containers on busybox, multi-stage, cache, errors, flags.</summary>
public sealed partial class BuildTests(BerthDaemon daemon) : IClassFixture<BerthDaemon>
{
    private string Name(string what) => $"{daemon.Tag}-{what}";

    private BuildContextDir Context(string name, params (string Name, string Text)[] files)
        => new(daemon.TempPath("ctx-" + name + "-" + Guid.NewGuid().ToString("N")[..6]), files);

    private const string MultiStage = """
        ARG BASE=busybox
        FROM $BASE AS builder
        ARG GREETING=hello
        WORKDIR /src
        COPY . .
        RUN echo "$GREETING from builder" > /out.txt && ls -a /src | sort > /listing.txt

        FROM busybox:latest
        LABEL suite=build
        ENV APP_HOME=/app
        WORKDIR $APP_HOME
        COPY --from=builder /out.txt /listing.txt ./
        COPY app.sh ./
        RUN chmod 0755 app.sh
        EXPOSE 8080/tcp
        CMD ["./app.sh"]
        """;

    private BuildContextDir MultiStageContext() => Context("multi",
        ("Dockerfile", MultiStage),
        (".dockerignore", "secret*\n*.log\n!keep.log\n"),
        ("app.sh", "#!/bin/sh\ncat /app/out.txt /app/listing.txt\n"),
        ("secret.txt", "do not ship\n"),
        ("debug.log", "noise\n"),
        ("keep.log", "kept\n"));

    [GeneratedRegex(@"Successfully built ([0-9a-f]{12})\n")]
    private static partial Regex BuiltLine();

    [RootFact]
    public async Task Multi_stage_build_with_copy_from_dockerignore_build_args_two_tags_and_iidfile_runs()
    {
        await daemon.BusyboxAsync();
        var context = MultiStageContext();
        var iidfile = daemon.TempPath("iid-" + Guid.NewGuid().ToString("N")[..6]);
        var (first, second) = (Name("multi") + ":1", Name("multi") + ":2");
        var build = await daemon.BerthOkAsync("build", "--build-arg", "GREETING=hi", "-t", first, "-t", second, "--iidfile", iidfile, context.Path);
        Assert.Contains("Step 1/15 : ARG BASE=busybox\n", build);
        Assert.Contains(" ---> Running in ", build);
        var built = BuiltLine().Match(build);
        Assert.True(built.Success, build);
        Assert.Contains($"Successfully tagged {first}\n", build);
        Assert.Contains($"Successfully tagged {second}\n", build);

        var id = File.ReadAllText(iidfile);
        Assert.Matches("^sha256:[0-9a-f]{64}$", id);
        Assert.StartsWith("sha256:" + built.Groups[1].Value, id);
        Assert.Equal(id + "\n", await daemon.BerthOkAsync("image", "inspect", "--format", "{{.Id}}", first));
        Assert.Equal(id + "\n", await daemon.BerthOkAsync("image", "inspect", "--format", "{{.Id}}", second));

        var config = JsonDocument.Parse(await daemon.BerthOkAsync("image", "inspect", "--format", "{{json .Config}}", first)).RootElement;
        Assert.Equal("/app", config.GetProperty("WorkingDir").GetString());
        Assert.Equal("./app.sh", config.GetProperty("Cmd")[0].GetString());
        Assert.Contains("APP_HOME=/app", config.GetProperty("Env").EnumerateArray().Select(e => e.GetString()));
        Assert.True(config.GetProperty("ExposedPorts").TryGetProperty("8080/tcp", out _));
        Assert.Equal("build", config.GetProperty("Labels").GetProperty("suite").GetString());

        // The image runs: the builder stage's output (with the build arg) and what .dockerignore let through.
        var run = await daemon.BerthOkAsync("run", "--rm", first);
        var lines = run.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("hi from builder", lines[0]);
        Assert.Contains("app.sh", lines);
        Assert.Contains("keep.log", lines);
        Assert.DoesNotContain("secret.txt", lines);
        Assert.DoesNotContain("debug.log", lines);
        Assert.Equal("-rwxr-xr-x", (await daemon.BerthOkAsync("run", "--rm", first, "stat", "-c", "%A", "/app/app.sh")).Trim());
    }

    [RootFact]
    public async Task Unchanged_rebuild_is_all_cache_hits_and_a_changed_file_reruns_from_its_copy_on()
    {
        await daemon.BusyboxAsync();
        var context = Context("cache",
            ("Dockerfile", """
                FROM busybox AS base
                RUN echo base > /base.txt
                COPY stable.txt /stable.txt

                FROM busybox
                COPY --from=base /base.txt /
                RUN echo first > /first.txt
                COPY app.txt /app.txt
                RUN cat /app.txt > /copy.txt
                CMD ["cat", "/copy.txt"]
                """),
            ("stable.txt", "stable\n"),
            ("app.txt", "one\n"));
        var tag = Name("cache");
        var cold = await daemon.BerthOkAsync("build", "-t", tag, context.Path);
        Assert.DoesNotContain("Using cache", cold);
        var coldId = BuiltLine().Match(cold).Groups[1].Value;

        var warm = await daemon.BerthOkAsync("build", "-t", tag, context.Path);
        Assert.Equal(7, Regex.Count(warm, " ---> Using cache\n")); // every step but the two FROMs
        Assert.DoesNotContain("Running in", warm);
        Assert.Equal(coldId, BuiltLine().Match(warm).Groups[1].Value);

        context.Write("app.txt", "two\n");
        var changed = await daemon.BerthOkAsync("build", "-t", tag, context.Path);
        // base stage (2), COPY --from and the first RUN are served; COPY app.txt, the RUN after it and CMD run again.
        Assert.Equal(4, Regex.Count(changed, " ---> Using cache\n"));
        var afterCopy = changed[changed.IndexOf("COPY app.txt", StringComparison.Ordinal)..];
        Assert.DoesNotContain("Using cache", afterCopy);
        Assert.Contains("Running in", afterCopy);
        Assert.NotEqual(coldId, BuiltLine().Match(changed).Groups[1].Value);
        Assert.Equal("two\n", await daemon.BerthOkAsync("run", "--rm", tag));

        var nocache = await daemon.BerthOkAsync("build", "--no-cache", context.Path);
        Assert.DoesNotContain("Using cache", nocache);
    }

    [RootFact]
    public async Task Failing_run_reports_its_exit_code_and_output_and_tags_nothing()
    {
        await daemon.BusyboxAsync();
        var context = Context("fail", ("Dockerfile", "FROM busybox\nRUN echo before-failing && exit 3\nRUN echo never\n"));
        var tag = Name("fail");
        var outcome = await daemon.BerthAsync("build", "-t", tag, context.Path);
        Assert.True(outcome.Code == 3, outcome.ToString());
        Assert.Contains("before-failing\n", outcome.Out);
        Assert.DoesNotContain("never", outcome.Out);
        Assert.Equal("The command '/bin/sh -c echo before-failing && exit 3' returned a non-zero code: 3\n", outcome.Err);
        Assert.NotEqual(0, (await daemon.BerthAsync("image", "inspect", tag)).Code);
        Assert.Equal("", await daemon.BerthOkAsync("ps", "-aq", "--filter", "label=berth.build")); // the step's container is gone
    }

    [RootFact]
    public async Task Target_builds_only_the_stages_it_needs()
    {
        await daemon.BusyboxAsync();
        var context = Context("target", ("Dockerfile", """
            FROM busybox AS one
            RUN echo one > /one.txt

            FROM busybox AS broken
            RUN exit 9

            FROM one AS two
            RUN cat /one.txt > /two.txt

            FROM two AS three
            RUN exit 1
            """));
        var tag = Name("target");
        var build = await daemon.BerthOkAsync("build", "--target", "two", "-t", tag, context.Path);
        Assert.Contains("Step 4/4 : RUN cat /one.txt > /two.txt\n", build);
        Assert.DoesNotContain("exit 9", build);
        Assert.DoesNotContain("exit 1", build);
        Assert.Equal("one\n", await daemon.BerthOkAsync("run", "--rm", tag, "cat", "/two.txt"));

        var unknown = await daemon.BerthAsync("build", "--target", "nosuch", context.Path);
        Assert.Equal(1, unknown.Code);
        Assert.Equal("Error response from daemon: failed to reach build target nosuch in Dockerfile\n", unknown.Err);
    }

    [RootFact]
    public async Task Symlinks_in_the_context_are_copied_as_links_and_never_followed_out()
    {
        await daemon.BusyboxAsync();
        var context = Context("links", ("Dockerfile", "FROM busybox\nCOPY dir /dir\nRUN readlink /dir/escape; readlink /dir/up; test ! -e /dir/escape\n"), ("dir/file", "inside\n"));
        File.CreateSymbolicLink(Path.Combine(context.Path, "dir", "escape"), "/etc/shadow");
        Directory.CreateSymbolicLink(Path.Combine(context.Path, "dir", "up"), "../../../../../../etc");
        File.CreateSymbolicLink(Path.Combine(context.Path, "escape"), "/etc/shadow");
        var build = await daemon.BerthOkAsync("build", "-t", Name("links"), context.Path);
        Assert.Contains("/etc/shadow\n../../../../../../etc\n", build);

        context.Write("Dockerfile", "FROM busybox\nCOPY escape /x\n");
        var escape = await daemon.BerthAsync("build", context.Path);
        Assert.Equal(1, escape.Code);
        Assert.Equal("COPY failed: file not found in build context or excluded by .dockerignore: stat escape: file does not exist\n", escape.Err);
    }

    [RootFact]
    public async Task Network_none_leaves_run_steps_only_loopback()
    {
        await daemon.BusyboxAsync();
        var context = Context("net", ("Dockerfile", "FROM busybox\nRUN ls /sys/class/net > /nets\nCMD [\"cat\", \"/nets\"]\n"));
        var tag = Name("net");
        await daemon.BerthOkAsync("build", "--network", "none", "-t", tag, context.Path);
        Assert.Equal("lo\n", await daemon.BerthOkAsync("run", "--rm", "--network", "none", tag));
    }

    // The real docker CLI (28.2) with its classic builder against berthd.

    private Task<Outcome> ClassicDockerAsync(params string[] args)
    {
        var environment = daemon.Environment();
        environment["DOCKER_BUILDKIT"] = "0";
        return Programs.RunAsync("/usr/local/bin/docker", args, environment, timeout: TimeSpan.FromSeconds(120));
    }

    /// <summary>stderr without the CLI's notice that the classic builder is deprecated.</summary>
    private static string WithoutDeprecation(string stderr)
        => Regex.Replace(stderr, @"DEPRECATED: The legacy builder is deprecated.*?environment-variable\.\n\n", "", RegexOptions.Singleline);

    [RootFact]
    public async Task Docker_cli_classic_builder_builds_tags_and_runs()
    {
        await daemon.BusyboxAsync();
        var context = MultiStageContext();
        var tag = Name("dockercli");
        var iidfile = daemon.TempPath("docker-iid-" + Guid.NewGuid().ToString("N")[..6]);
        var build = await ClassicDockerAsync("build", "--build-arg", "GREETING=hey", "-t", tag, "--iidfile", iidfile, context.Path);
        Assert.True(build.Code == 0, build.ToString());
        Assert.StartsWith("Sending build context to Docker daemon", build.Out);
        Assert.Contains("Step 15/15 : CMD [\"./app.sh\"]\n", build.Out);
        var built = BuiltLine().Match(build.Out);
        Assert.True(built.Success, build.ToString());
        Assert.Contains($"Successfully tagged {tag}:latest\n", build.Out);
        Assert.Equal("", WithoutDeprecation(build.Err));
        var id = File.ReadAllText(iidfile);
        Assert.StartsWith("sha256:" + built.Groups[1].Value, id);
        Assert.Equal(id + "\n", await daemon.DockerOkAsync("image", "inspect", "--format", "{{.Id}}", tag));
        Assert.StartsWith("hey from builder\n", await daemon.DockerOkAsync("run", "--rm", tag));

        // Unchanged: every step from the cache; -q prints the ID alone.
        var again = await ClassicDockerAsync("build", "--build-arg", "GREETING=hey", "-t", tag, context.Path);
        Assert.Equal(12, Regex.Count(again.Out, " ---> Using cache\n"));
        var quietIid = iidfile + "-quiet";
        var quiet = await ClassicDockerAsync("build", "-q", "--iidfile", quietIid, "--build-arg", "GREETING=hey", context.Path);
        Assert.Equal(id + "\n", quiet.Out);
        Assert.Equal(id + "\n", File.ReadAllText(quietIid)); // the CLI writes what -q printed
    }

    [RootFact]
    public async Task Docker_cli_classic_builder_shows_errors_as_docker_does()
    {
        await daemon.BusyboxAsync();
        var failing = await ClassicDockerAsync("build", Context("dfail", ("Dockerfile", "FROM busybox\nRUN echo before-failing && exit 3\n")).Path);
        Assert.Equal(3, failing.Code);
        Assert.Contains("before-failing\n", failing.Out);
        Assert.Equal("The command '/bin/sh -c echo before-failing && exit 3' returned a non-zero code: 3\n", WithoutDeprecation(failing.Err));

        var unknown = await ClassicDockerAsync("build", Context("dparse", ("Dockerfile", "FROM busybox\nFOO bar\n")).Path);
        Assert.Equal(1, unknown.Code);
        Assert.DoesNotContain("Step 1/", unknown.Out);
        Assert.Equal("Error response from daemon: dockerfile parse error on line 2: unknown instruction: FOO\n", WithoutDeprecation(unknown.Err));

        var missing = await ClassicDockerAsync("build", Context("dmissing", ("Dockerfile", "FROM busybox\nCOPY nothere /\n")).Path);
        Assert.Equal(1, missing.Code);
        Assert.Contains("Step 2/2 : COPY nothere /\n", missing.Out);
        Assert.Equal("COPY failed: file not found in build context or excluded by .dockerignore: stat nothere: file does not exist\n", WithoutDeprecation(missing.Err));

        var target = await ClassicDockerAsync("build", "--target", "nosuch", Context("dtarget", ("Dockerfile", "FROM busybox AS a\n")).Path);
        Assert.Equal(1, target.Code);
        Assert.Equal("Error response from daemon: failed to reach build target nosuch in Dockerfile\n", WithoutDeprecation(target.Err));
    }

    [RootFact]
    public async Task Build_endpoint_streams_dockers_json_progress_lines()
    {
        await daemon.BusyboxAsync();
        var context = Context("json", ("Dockerfile", "FROM busybox\nRUN echo from-run\n"));
        var tar = daemon.TempPath("json-context-" + Guid.NewGuid().ToString("N")[..6] + ".tar");
        BusyboxRootfs.Run("tar", "-C", context.Path, "-cf", tar, "Dockerfile");
        var response = await Programs.RunAsync("curl", ["-s", "--unix-socket", daemon.Socket, "-X", "POST", "-H", "Content-Type: application/x-tar",
            "--data-binary", "@" + tar, "http://berth/v1.41/build?t=" + Name("json") + "&nocache=1"]);
        Assert.True(response.Code == 0, response.ToString());
        var lines = response.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        string? Stream(JsonElement e) => e.TryGetProperty("stream", out var s) ? s.GetString() : null;
        Assert.Equal("Step 1/2 : FROM busybox\n", Stream(lines[0]));
        Assert.Contains(lines, l => Stream(l) == "from-run\n");
        var aux = lines.Single(l => l.TryGetProperty("aux", out _)).GetProperty("aux").GetProperty("ID").GetString();
        Assert.Matches("^sha256:[0-9a-f]{64}$", aux);
        Assert.Equal($"Successfully built {aux![7..19]}\n", Stream(lines[^2]));
        Assert.Equal($"Successfully tagged {Name("json")}:latest\n", Stream(lines[^1]));
    }

    [RootFact]
    public async Task From_an_image_not_present_pulls_it_from_a_registry()
    {
        await daemon.BusyboxAsync();
        await using var registry = await LocalRegistry.StartAsync(daemon.TempPath("registry-" + Guid.NewGuid().ToString("N")[..6]));
        // An image with a layer of its own, pushed and then removed here, so the build has to fetch that layer.
        var remote = $"{registry.Address}/base/app:1";
        var baseContext = Context("pullbase", ("Dockerfile", "FROM busybox\nRUN echo from-registry > /marker\n"));
        await daemon.BerthOkAsync("build", "-t", remote, baseContext.Path);
        await daemon.BerthOkAsync("push", remote);
        await daemon.BerthOkAsync("rmi", remote);
        Assert.NotEqual(0, (await daemon.BerthAsync("image", "inspect", remote)).Code);

        var context = Context("pull", ("Dockerfile", $"FROM {remote}\nRUN cat /marker > /seen\nCMD [\"cat\", \"/seen\"]\n"));
        var tag = Name("pulled");
        var build = await daemon.BerthOkAsync("build", "-t", tag, context.Path);
        Assert.Contains("Pulling from base/app", build);
        Assert.Contains("Pull complete", build);
        Assert.Equal("from-registry\n", await daemon.BerthOkAsync("run", "--rm", tag));
        Assert.Equal(0, (await daemon.BerthAsync("image", "inspect", remote)).Code); // the base is kept, as docker does

        var missing = await daemon.BerthAsync("build", Context("pullmissing", ("Dockerfile", $"FROM {registry.Address}/no/such:1\n")).Path);
        Assert.Equal(1, missing.Code);
        Assert.Contains($"{registry.Address}/no/such", missing.Err);
    }
}

/// <summary>berth-registry serving a private directory on a free loopback port.</summary>
public sealed class LocalRegistry : IAsyncDisposable
{
    private readonly System.Diagnostics.Process process;
    public string Address { get; }

    private LocalRegistry(System.Diagnostics.Process process, string address) { this.process = process; Address = address; }

    public static async Task<LocalRegistry> StartAsync(string storage)
    {
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }
        var address = $"127.0.0.1:{port}";
        var psi = new System.Diagnostics.ProcessStartInfo(Path.Combine(BerthDaemon.Bin, "berth-registry")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "serve", "--addr", address, "--storage", storage }) psi.ArgumentList.Add(a);
        var process = System.Diagnostics.Process.Start(psi)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var registry = new LocalRegistry(process, address);
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                if ((await http.GetAsync($"http://{address}/v2/")).IsSuccessStatusCode) return registry;
            }
            catch (HttpRequestException) { }
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                await registry.DisposeAsync();
                throw new InvalidOperationException($"berth-registry did not answer on {address}");
            }
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
        process.Dispose();
    }
}
