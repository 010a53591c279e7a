using System.Formats.Tar;
using Berth.Build.Execution;
using Berth.Engine.Build;
using Berth.Engine.Tests.Containers;
using Berth.Images;
using Berth.Oci.Content;
using Berth.Testing;

namespace Berth.Engine.Tests.Build;

/// <summary>
/// The builder over a real engine (image store, layer store, tags; fake supervisor): busybox imported from
/// its Debian rootfs, a Dockerfile built from a context tar as POST /build receives it.
/// </summary>
public sealed class EngineBuildTests
{
    private static async Task<BerthEngine> OpenEngineAsync(TempDir temp, string driver)
    {
        var engine = await BerthEngine.OpenAsync(new BerthEngineOptions
        {
            DataRoot = temp.Combine("data"),
            ExecRoot = temp.Combine("exec"),
            StorageDriver = driver,
            Runtimes = new Dictionary<string, string>(),
            Supervisor = new FakeSupervisor(),
            Specs = new FakeSpecs(),
        });
        var rootfs = temp.Combine("busybox");
        BusyboxRootfs.CopyTo(rootfs);
        var tar = new MemoryStream();
        await TarFile.CreateFromDirectoryAsync(rootfs, tar, includeBaseDirectory: false);
        tar.Position = 0;
        new ImageCreation(engine.ImageStore).Import(tar, new ImportOptions { Reference = "busybox:latest" });
        return engine;
    }

    private static MemoryStream ContextTar(params (string Name, string Text)[] files)
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, leaveOpen: true))
            foreach (var (name, text) in files)
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text)) });
        tar.Position = 0;
        return tar;
    }

    private const string Dockerfile = """
        FROM busybox AS assets
        COPY site/ /srv/site/

        FROM busybox
        ENV GREETING=hello
        WORKDIR /app
        COPY app.conf ./
        COPY --from=assets /srv/site /app/site
        EXPOSE 8080
        CMD ["httpd", "-f", "-h", "/app/site"]
        """;

    [RootFact]
    public async Task Builds_into_the_image_store_tags_it_and_rebuilds_from_cache()
    {
        using var temp = new TempDir();
        await using var engine = await OpenEngineAsync(temp, "overlay2");
        var files = new[] { ("Dockerfile", Dockerfile), ("app.conf", "port=8080\n"), ("site/index.html", "<h1>hi</h1>\n") };
        var lines = new List<string>();
        var result = await ((IEngine)engine).Build.BuildAsync(ContextTar(files), new BuildOptions { Tags = ["site:1"] },
            m => { lines.Add(m.Stream ?? m.Error ?? ""); return ValueTask.CompletedTask; }, CancellationToken.None);
        Assert.True(result.Error is null, string.Concat(lines));

        var id = engine.ImageStore.Resolve("site:1");
        Assert.Equal(result.ImageId, id.ToString());
        var config = engine.ImageStore.GetConfig(id);
        Assert.Equal("/app", config.Config!.WorkingDir);
        Assert.Contains("GREETING=hello", config.Config.Env!);
        Assert.Equal(["httpd", "-f", "-h", "/app/site"], config.Config.Cmd);
        // busybox's layer + WORKDIR + two COPY layers; the config steps are empty layers.
        Assert.Equal(4, config.RootFs.DiffIds.Count);
        Assert.Equal(config.History!.Count(h => h.EmptyLayer != true), config.RootFs.DiffIds.Count);

        var backend = new EngineBuildBackend(engine);
        await using (var view = await backend.OpenRootfsAsync(result.ImageId, CancellationToken.None))
        {
            Assert.Equal("port=8080\n", File.ReadAllText(Path.Combine(view.Path, "app/app.conf")));
            Assert.Equal("<h1>hi</h1>\n", File.ReadAllText(Path.Combine(view.Path, "app/site/index.html")));
            Assert.True(File.Exists(Path.Combine(view.Path, "bin/busybox")));
        }

        var again = await ((IEngine)engine).Build.BuildAsync(ContextTar(files), new BuildOptions(), _ => ValueTask.CompletedTask, CancellationToken.None);
        Assert.Equal(result.ImageId, again.ImageId);
        Assert.Equal(again.Steps, again.CacheHits);

        files[1] = ("app.conf", "port=9090\n");
        var changed = await ((IEngine)engine).Build.BuildAsync(ContextTar(files), new BuildOptions(), _ => ValueTask.CompletedTask, CancellationToken.None);
        Assert.NotEqual(result.ImageId, changed.ImageId);
        Assert.Equal(again.Steps - 4, changed.CacheHits); // COPY app.conf and every step after it ran again
        Assert.Empty(engine.Storage.Layers.ListContainerLayers()); // no view or container left behind
    }

    [RootFact]
    public async Task Bad_context_and_missing_sources_are_one_error_line_and_leave_nothing()
    {
        using var temp = new TempDir();
        await using var engine = await OpenEngineAsync(temp, "overlay2");
        var before = engine.ImageStore.Ids.Count;
        var lines = new List<BuildMessage>();
        var result = await ((IEngine)engine).Build.BuildAsync(ContextTar(("Dockerfile", "FROM busybox\nCOPY nothere /\n")), new BuildOptions { Tags = ["nope"] },
            m => { lines.Add(m); return ValueTask.CompletedTask; }, CancellationToken.None);
        Assert.Equal("COPY failed: file not found in build context or excluded by .dockerignore: stat nothere: file does not exist", result.Error);
        Assert.Equal(result.Error, lines[^1].ErrorDetail!.Message);
        Assert.Equal(before, engine.ImageStore.Ids.Count);
        Assert.False(engine.ImageStore.TryResolve("nope", out _));
        Assert.Empty(Directory.GetDirectories(Path.Combine(temp.Combine("data"), "builder", "tmp")));
    }
}
