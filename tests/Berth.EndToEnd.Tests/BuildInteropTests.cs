using System.Formats.Tar;
using System.Text.Json;
using Berth.Testing;

namespace Berth.EndToEnd.Tests;

/// <summary>
/// The same multi-stage Dockerfile built by Berth and by Debian's dockerd (docker.io 20.10, classic builder)
/// from the same busybox image: equal configs, equal file trees, as many layers and history entries.
/// Needs docker.io (dockerd) beside the preinstalled docker CLI.
/// </summary>
public sealed class BuildInteropTests(BerthDaemon daemon) : IClassFixture<BerthDaemon>
{
    private const string Dockerfile = """
        FROM busybox AS build
        ARG VERSION=1.0
        WORKDIR /work
        COPY src/ ./src/
        RUN mkdir -p out && cat src/*.txt > out/all.txt && echo "$VERSION" > out/version && chmod 0640 out/version

        FROM busybox
        LABEL org.example.name=compare org.example.version=1.0
        ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin APP=compare
        RUN echo 'appgrp:x:2000:' >> /etc/group && echo 'app:x:1500:2000::/home/app:/bin/sh' >> /etc/passwd
        WORKDIR /opt/app
        COPY --from=build /work/out/ ./data/
        COPY --chown=1500:2000 run.sh /usr/local/bin/run.sh
        COPY conf /etc/app/
        RUN ln -s /opt/app/data/all.txt /opt/app/current && mkdir -p /var/lib/app && chown app:appgrp /var/lib/app && chmod 0750 /var/lib/app
        VOLUME ["/var/lib/app"]
        EXPOSE 8080/tcp 53/udp
        USER app
        STOPSIGNAL SIGTERM
        ENTRYPOINT ["/usr/local/bin/run.sh"]
        CMD ["--serve"]
        """;

    private static readonly string[] ComparedConfig = ["Cmd", "Entrypoint", "Env", "WorkingDir", "User", "ExposedPorts", "Labels", "Volumes", "StopSignal"];

    private BuildContextDir Context() => new(daemon.TempPath("interop-ctx-" + Guid.NewGuid().ToString("N")[..6]),
        ("Dockerfile", Dockerfile),
        ("src/a.txt", "alpha\n"),
        ("src/b.txt", "beta\n"),
        ("run.sh", "#!/bin/sh\necho run \"$@\"\n"),
        ("conf/app.conf", "listen=8080\n"),
        ("conf/nested/extra.conf", "x=1\n"));

    [RootFact]
    public async Task Same_dockerfile_gives_the_same_image_as_dockers_classic_builder()
    {
        using var dir = new TempDir();
        await using var dockerd = await PrivateDockerd.StartAsync(dir, "bb" + daemon.Tag);
        Assert.True(dockerd is not null, "needs docker.io (dockerd) and root");
        await daemon.BusyboxAsync();

        // The very busybox image of berthd, loaded into dockerd.
        var saved = dir.Combine("busybox.tar");
        await daemon.BerthOkAsync("save", "-o", saved, "busybox:latest");
        await DockerdOkAsync(dockerd!, "load", "-i", saved);
        Assert.Equal(await daemon.BerthOkAsync("image", "inspect", "--format", "{{.Id}}", "busybox"),
            await DockerdOkAsync(dockerd, "image", "inspect", "--format", "{{.Id}}", "busybox"));

        var context = Context();
        var tag = daemon.Tag + "-interop";
        await daemon.BerthOkAsync("build", "--build-arg", "VERSION=2.5", "-t", tag, context.Path);
        await DockerdOkAsync(dockerd, "build", "--build-arg", "VERSION=2.5", "-t", tag, context.Path);

        var berthImage = JsonDocument.Parse(await daemon.BerthOkAsync("image", "inspect", tag)).RootElement[0];
        var dockerImage = JsonDocument.Parse(await DockerdOkAsync(dockerd, "image", "inspect", tag)).RootElement[0];
        foreach (var field in ComparedConfig)
            Assert.Equal(Canonical(dockerImage.GetProperty("Config"), field), Canonical(berthImage.GetProperty("Config"), field));
        Assert.Equal(dockerImage.GetProperty("RootFS").GetProperty("Layers").GetArrayLength(), berthImage.GetProperty("RootFS").GetProperty("Layers").GetArrayLength());
        // The base layer is the same bytes in both.
        Assert.Equal(dockerImage.GetProperty("RootFS").GetProperty("Layers")[0].GetString(), berthImage.GetProperty("RootFS").GetProperty("Layers")[0].GetString());
        var berthHistory = (await daemon.BerthOkAsync("history", "-q", "--no-trunc", tag)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var dockerHistory = (await DockerdOkAsync(dockerd, "history", "-q", "--no-trunc", tag)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(dockerHistory.Length, berthHistory.Length);
        Assert.Equal(
            (await DockerdOkAsync(dockerd, "history", "--format", "{{.CreatedBy}}|{{.Size}}", "--no-trunc", tag)).Split('\n').Select(EmptyOrNot),
            (await daemon.BerthOkAsync("history", "--format", "{{.CreatedBy}}|{{.Size}}", "--no-trunc", tag)).Split('\n').Select(EmptyOrNot));

        // The file trees: every path with its type, mode, owner, size and link target.
        var berthTree = await TreeAsync(dir.Combine("berth.tar"), (file, id) => daemon.BerthOkAsync("export", "-o", file, id), () => CreateAsync(daemon.BerthOkAsync, tag));
        var dockerTree = await TreeAsync(dir.Combine("docker.tar"), (file, id) => DockerdOkAsync(dockerd, "export", "-o", file, id), () => CreateAsync(a => DockerdOkAsync(dockerd, a), tag));
        // Listed as differences, so a failure names the entries.
        Assert.Equal("", string.Join('\n', dockerTree.Except(berthTree).Select(l => "docker only: " + l).Concat(berthTree.Except(dockerTree).Select(l => "berth only:  " + l))));
        Assert.Contains("opt/app/data/version file 0640 0:0 4", berthTree);
        Assert.Contains("usr/local/bin/run.sh file 0644 1500:2000 24", berthTree);
        Assert.Contains("var/lib/app/ dir 0750 1500:2000", berthTree);
    }

    /// <summary>A history line reduced to whether its step made a layer (sizes differ with file times; emptiness does not).</summary>
    private static string EmptyOrNot(string line) => line.Length == 0 ? "" : line.EndsWith("|0B", StringComparison.Ordinal) ? "empty" : "layer";

    private static string Canonical(JsonElement config, string field)
    {
        if (!config.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null) return field + "=null";
        return field + "=" + value.GetRawText();
    }

    private static async Task<string> CreateAsync(Func<string[], Task<string>> cli, string image) => (await cli(["create", image])).Trim();

    /// <summary>A container's exported tree, one sorted line per entry, without what the engine itself puts in a container.</summary>
    private static async Task<List<string>> TreeAsync(string tarPath, Func<string, string, Task<string>> export, Func<Task<string>> create)
    {
        var container = await create();
        await export(tarPath, container);
        var lines = new List<string>();
        await using var file = File.OpenRead(tarPath);
        using var reader = new TarReader(file);
        while (reader.GetNextEntry() is { } entry)
        {
            var name = entry.Name.StartsWith("./", StringComparison.Ordinal) ? entry.Name[2..] : entry.Name.TrimStart('/');
            if (name.Length == 0 || EngineOwned(name)) continue;
            var type = entry.EntryType switch
            {
                TarEntryType.Directory => "dir",
                TarEntryType.SymbolicLink => "symlink " + entry.LinkName,
                TarEntryType.HardLink => "hardlink " + entry.LinkName,
                TarEntryType.CharacterDevice or TarEntryType.BlockDevice => "device",
                _ => "file",
            };
            var size = entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile ? " " + entry.Length : "";
            if (entry.EntryType == TarEntryType.Directory && !name.EndsWith('/')) name += "/";
            lines.Add($"{name} {type} {Convert.ToString((int)entry.Mode & 0xFFF, 8).PadLeft(4, '0')} {entry.Uid}:{entry.Gid}{size}");
        }
        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    /// <summary>Files an engine adds to every container (mount points for hosts, resolv.conf, /dev, /proc), not part of the image.</summary>
    private static bool EngineOwned(string name)
        => name is ".dockerenv" or "etc/hosts" or "etc/hostname" or "etc/resolv.conf" or "etc/mtab"
           || name.StartsWith("dev/", StringComparison.Ordinal) || name.StartsWith("proc/", StringComparison.Ordinal) || name.StartsWith("sys/", StringComparison.Ordinal);

    private static async Task<string> DockerdOkAsync(PrivateDockerd dockerd, params string[] args)
    {
        var outcome = await Programs.RunAsync(PrivateDockerd.DockerCli, ["-H", dockerd.Host, .. args], new Dictionary<string, string> { ["DOCKER_BUILDKIT"] = "0" },
            timeout: TimeSpan.FromSeconds(180));
        Assert.True(outcome.Code == 0, $"docker {string.Join(' ', args)}: {outcome}");
        return outcome.Out;
    }
}
