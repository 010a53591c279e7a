using System.Formats.Tar;
using System.Text;
using Berth.Oci.Content;
using Berth.Oci.Image;

namespace Berth.Images.Tests;

public class ArchiveTests
{
    private static byte[] Save(FakeStore f, ArchiveFormat format, params string[] names)
    {
        using var output = new MemoryStream();
        f.Archive.Save(names, output, format);
        return output.ToArray();
    }

    private static Dictionary<string, byte[]> Entries(byte[] tar)
    {
        var result = new Dictionary<string, byte[]>();
        using var reader = new TarReader(new MemoryStream(tar));
        while (reader.GetNextEntry() is { } e)
        {
            using var data = new MemoryStream();
            e.DataStream?.CopyTo(data);
            result[e.Name] = data.ToArray();
        }
        return result;
    }

    private static FakeStore TwoLayerImage(out Digest id)
    {
        var f = new FakeStore();
        var baseId = f.Creation.Import(new MemoryStream(Tars.Of(("bin/", ""), ("bin/sh", "shell"))), new ImportOptions { Reference = "base:1", Changes = ["CMD [\"sh\"]"] });
        var chain = f.Store.GetConfig(baseId).RootFs.ChainId().ToString();
        id = f.Creation.Commit(new FakeContainerLayer("c", chain, Tars.Of(("etc/", ""), ("etc/motd", "hi"))), new ImageCommitOptions { ParentImage = baseId, Reference = "app:2" });
        f.Store.Tag(id, "localhost:5000/app:latest");
        return f;
    }

    [Theory]
    [InlineData(ArchiveFormat.Docker)]
    [InlineData(ArchiveFormat.Oci)]
    public void SaveLoadSaveGivesIdenticalBytes(ArchiveFormat format)
    {
        using var f = TwoLayerImage(out var id);
        var first = Save(f, format, "app:2", "localhost:5000/app", "base:1");
        using var g = new FakeStore();
        var result = g.Archive.Load(new MemoryStream(first));
        Assert.Contains(id, result.Images);
        Assert.Contains("Loaded image: app:2", result.Lines);
        Assert.Contains("Loaded image: localhost:5000/app:latest", result.Lines);
        Assert.Equal(id, g.Store.Resolve("app:2"));
        Assert.Equal(f.Store.GetConfigBytes(id), g.Store.GetConfigBytes(id));
        var second = Save(g, format, "app:2", "localhost:5000/app", "base:1");
        Assert.Equal(Tars.Sha(first), Tars.Sha(second));
        Assert.Equal(first, second);
    }

    [Fact]
    public void DockerFormatHasManifestRepositoriesAndLayerDirectories()
    {
        using var f = TwoLayerImage(out var id);
        var entries = Entries(Save(f, ArchiveFormat.Docker, "app:2"));
        var manifest = ImageJson.Parse(entries["manifest.json"], ImageJson.DockerArchiveManifest, "manifest.json").Single();
        Assert.Equal($"{id.Hex}.json", manifest.Config);
        Assert.Equal(["app:2"], manifest.RepoTags!);
        Assert.Equal(2, manifest.Layers.Count);
        foreach (var layer in manifest.Layers)
        {
            var dir = layer[..layer.IndexOf('/')];
            Assert.Equal("1.0", Encoding.ASCII.GetString(entries[$"{dir}/VERSION"]));
            Assert.Contains($"\"id\":\"{dir}\"", Encoding.UTF8.GetString(entries[$"{dir}/json"]));
        }
        var config = ImageJson.ParseConfig(entries[manifest.Config]);
        Assert.Equal(config.RootFs.DiffIds.Select(d => d.ToString()), manifest.Layers.Select(l => Tars.Sha(entries[l])));
        var repositories = Encoding.UTF8.GetString(entries["repositories"]);
        Assert.Equal($"{{\"app\":{{\"2\":\"{manifest.Layers[1][..64]}\"}}}}", repositories);
    }

    [Fact]
    public void OciFormatIsAValidLayoutWithRefNames()
    {
        using var f = TwoLayerImage(out var id);
        var entries = Entries(Save(f, ArchiveFormat.Oci, "app:2"));
        Assert.Equal("""{"imageLayoutVersion":"1.0.0"}""", Encoding.UTF8.GetString(entries["oci-layout"]));
        var index = ImageJson.ParseIndex(entries["index.json"]);
        var entry = index.Manifests.Single();
        Assert.Equal("2", entry.Annotation(Annotations.RefName));
        Assert.Equal("docker.io/library/app:2", entry.Annotation(Annotations.ContainerdImageName));
        var manifestBytes = entries[$"blobs/sha256/{entry.Digest.Hex}"];
        Assert.Equal(entry.Digest, Digest.Sha256(manifestBytes));
        var manifest = ImageJson.ParseManifest(manifestBytes);
        Assert.Equal(id, manifest.Config!.Digest);
        foreach (var layer in manifest.Layers)
        {
            Assert.Equal(MediaTypes.OciLayer, layer.MediaType);
            Assert.Equal(layer.Size, entries[$"blobs/sha256/{layer.Digest.Hex}"].Length);
        }
        Assert.Contains("blobs/sha256/", Encoding.UTF8.GetString(entries["manifest.json"]));
    }

    [Fact]
    public void SavingARepositoryNameSavesAllItsTagsAndAnIdSavesUntagged()
    {
        using var f = new FakeStore();
        var one = f.Import("repo:1", ("a", "1"));
        var two = f.Import("repo:2", ("a", "2"));
        var manifest = ImageJson.Parse(Entries(Save(f, ArchiveFormat.Docker, "repo"))["manifest.json"], ImageJson.DockerArchiveManifest, "m");
        Assert.Equal([["repo:1"], ["repo:2"]], manifest.Select(m => m.RepoTags!));
        var byId = ImageJson.Parse(Entries(Save(f, ArchiveFormat.Docker, one.Hex[..12]))["manifest.json"], ImageJson.DockerArchiveManifest, "m");
        Assert.Null(byId.Single().RepoTags);
        using var g = new FakeStore();
        Assert.Equal([$"Loaded image ID: {one}"], g.Archive.Load(new MemoryStream(Save(f, ArchiveFormat.Docker, one.Hex))).Lines);
        Assert.Empty(g.Store.RepoTags(one));
        _ = two;
    }

    [Fact]
    public void LoadsGzippedArchivesAndMovesExistingTags()
    {
        using var f = TwoLayerImage(out var id);
        var archive = Tars.Gzip(Save(f, ArchiveFormat.Docker, "app:2"));
        using var g = new FakeStore();
        var old = g.Import("app:2", ("x", "x"));
        var result = g.Archive.Load(new MemoryStream(archive));
        Assert.Equal([$"The image app:2 already exists, renaming the old one with ID {old} to empty string", "Loaded image: app:2"], result.Lines);
        Assert.Equal(id, g.Store.Resolve("app:2"));
    }

    [Fact]
    public void LoadsDocker25ArchivesAndSymlinkedLayers()
    {
        // Docker 25+ writes blobs/ paths in manifest.json; older Docker links a repeated layer.tar to the first copy.
        var layer = Tars.Of(("f", "content"));
        var diffId = Tars.Sha(layer);
        var config = Encoding.UTF8.GetBytes($$$"""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["{{{diffId}}}","{{{diffId}}}"]}}""");
        var configHex = Tars.Sha(config)[7..];
        var manifest = Encoding.UTF8.GetBytes($$$"""[{"Config":"blobs/sha256/{{{configHex}}}","RepoTags":["twice:1"],"Layers":["blobs/sha256/{{{diffId[7..]}}}","dup/layer.tar"]}]""");
        var archive = Tars.Archive(
            ($"blobs/sha256/{diffId[7..]}", layer, null),
            ("dup/layer.tar", null, $"../blobs/sha256/{diffId[7..]}"),
            ($"blobs/sha256/{configHex}", config, null),
            ("manifest.json", manifest, null));
        using var g = new FakeStore();
        var result = g.Archive.Load(new MemoryStream(archive));
        Assert.Equal(["Loaded image: twice:1"], result.Lines);
        Assert.Equal(2, g.Layers.Layers.Count);
    }

    [Fact]
    public void LoadsAnOciLayoutWithAnIndexPickingThePlatform()
    {
        var layer = Tars.Of(("f", "x"));
        var gz = Tars.Gzip(layer);
        byte[] ConfigFor(string arch) => Encoding.UTF8.GetBytes($$$"""{"architecture":"{{{arch}}}","os":"linux","rootfs":{"type":"layers","diff_ids":["{{{Tars.Sha(layer)}}}"]}}""");
        var entries = new List<(string, byte[]?, string?)> { ("oci-layout", """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray(), null), ($"blobs/sha256/{Tars.Sha(gz)[7..]}", gz, null) };
        var manifests = new List<Descriptor>();
        foreach (var arch in new[] { "s390x", Platforms.Host.Architecture })
        {
            var config = ConfigFor(arch);
            var m = ImageJson.Serialize(new Manifest
            {
                MediaType = MediaTypes.OciManifest,
                Config = ImageJson.Describe(MediaTypes.OciConfig, config),
                Layers = [ImageJson.Describe(MediaTypes.OciLayerGzip, gz)],
            }, ImageJson.Manifest);
            entries.Add(($"blobs/sha256/{Tars.Sha(config)[7..]}", config, null));
            entries.Add(($"blobs/sha256/{Tars.Sha(m)[7..]}", m, null));
            var d = ImageJson.Describe(MediaTypes.OciManifest, m);
            d.Platform = new Platform("linux", arch);
            manifests.Add(d);
        }
        var nested = ImageJson.Serialize(new ImageIndex { MediaType = MediaTypes.OciIndex, Manifests = manifests }, ImageJson.Index);
        entries.Add(($"blobs/sha256/{Tars.Sha(nested)[7..]}", nested, null));
        var top = ImageJson.Describe(MediaTypes.OciIndex, nested);
        top.Annotations = new() { [Annotations.RefName] = "example.com/multi:v1" };
        entries.Add(("index.json", ImageJson.Serialize(new ImageIndex { Manifests = [top] }, ImageJson.Index), null));

        using var g = new FakeStore();
        var result = g.Archive.Load(new MemoryStream(Tars.Archive([.. entries])));
        Assert.Equal(["Loaded image: example.com/multi:v1"], result.Lines);
        Assert.Equal(Platforms.Host.Architecture, g.Store.GetConfig(g.Store.Resolve("example.com/multi:v1")).Architecture);
    }

    // ---- bad input: one clear line, nothing stored, nothing tagged ----

    private static void AssertRefused(byte[] archive, string expected, FakeStore? existing = null)
    {
        using var own = existing is null ? new FakeStore() : null;
        var g = existing ?? own!;
        var layersBefore = g.Layers.Layers.Count;
        var imagesBefore = g.Store.Ids.Count;
        var e = Assert.Throws<InvalidArchiveException>(() => g.Archive.Load(new MemoryStream(archive)));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(layersBefore, g.Layers.Layers.Count);
        Assert.Equal(imagesBefore, g.Store.Ids.Count);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(g.Store.Root, "tmp")));
    }

    private static byte[] DockerArchive(byte[][] layers, string[] diffIds, string? configOverride = null, string[]? tags = null, string? configName = null)
    {
        var config = Encoding.UTF8.GetBytes(configOverride ?? $$$"""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[{{{string.Join(',', diffIds.Select(d => $"\"{d}\""))}}}]}}""");
        configName ??= Tars.Sha(config)[7..] + ".json";
        var entries = new List<(string, byte[]?, string?)>();
        for (var i = 0; i < layers.Length; i++) entries.Add(($"l{i}/layer.tar", layers[i], null));
        entries.Add((configName, config, null));
        var tagJson = string.Join(',', (tags ?? ["bad:1"]).Select(t => $"\"{t}\""));
        entries.Add(("manifest.json", Encoding.UTF8.GetBytes($$$"""[{"Config":"{{{configName}}}","RepoTags":[{{{tagJson}}}],"Layers":[{{{string.Join(',', Enumerable.Range(0, layers.Length).Select(i => $"\"l{i}/layer.tar\""))}}}]}]"""), null));
        return Tars.Archive([.. entries]);
    }

    [Fact]
    public void RefusesALayerWhoseDiffIdDoesNotMatchAndRemovesTheLayersItAdded()
    {
        var good = Tars.Of(("a", "a"));
        var bad = Tars.Of(("b", "b"));
        AssertRefused(DockerArchive([good, bad], [Tars.Sha(good), Tars.Sha(good)]), "digest mismatch");
    }

    [Fact]
    public void RefusesAConfigWhoseNameIsNotItsDigest()
    {
        var layer = Tars.Of(("a", "a"));
        AssertRefused(DockerArchive([layer], [Tars.Sha(layer)], configName: new string('0', 64) + ".json"), "digest mismatch for config");
    }

    [Fact]
    public void RefusesAMissingConfigAndMissingLayers()
    {
        var manifest = Encoding.UTF8.GetBytes($$$"""[{"Config":"{{{new string('1', 64)}}}.json","RepoTags":["x:1"],"Layers":[]}]""");
        AssertRefused(Tars.Archive(("manifest.json", manifest, null)), "is missing");
        var layer = Tars.Of(("a", "a"));
        var archive = DockerArchive([layer], [Tars.Sha(layer), Tars.Sha(layer)]);
        AssertRefused(archive, "manifest lists 1 layers");
    }

    [Fact]
    public void RefusesATruncatedArchive()
    {
        var layer = Tars.Of(("a", new string('a', 5000)));
        var archive = DockerArchive([layer], [Tars.Sha(layer)]);
        AssertRefused(archive[..3000], "invalid archive");
        AssertRefused(Tars.Gzip(archive)[..400], "invalid archive");
    }

    [Fact]
    public void RefusesMembersThatClimbOutOrLinksThatDo()
    {
        AssertRefused(Tars.Archive(("../evil", "x"u8.ToArray(), null)), "climbs out of the archive");
        AssertRefused(Tars.Archive(("/etc/evil", "x"u8.ToArray(), null)), "absolute name");
        var manifest = """[{"Config":"c.json","RepoTags":["x:1"],"Layers":[]}]"""u8.ToArray();
        AssertRefused(Tars.Archive(("c.json", null, "../../etc/passwd"), ("manifest.json", manifest, null)), "is missing");
    }

    [Fact]
    public void RefusesALayerTarWithParentMembers()
    {
        var evil = Tars.Of(("../outside", "x"));
        AssertRefused(DockerArchive([evil], [Tars.Sha(evil)]), "outside the layer root");
    }

    [Fact]
    public void RefusesUnknownMediaTypesAndBadTags()
    {
        var layer = Tars.Of(("a", "a"));
        var config = Encoding.UTF8.GetBytes($$$"""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["{{{Tars.Sha(layer)}}}"]}}""");
        var manifest = Encoding.UTF8.GetBytes($$$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{{Tars.Sha(config)}}}","size":{{{config.Length}}}},"layers":[{"mediaType":"application/x-strange","digest":"{{{Tars.Sha(layer)}}}","size":{{{layer.Length}}}}]}""");
        var index = Encoding.UTF8.GetBytes($$$"""{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{{Tars.Sha(manifest)}}}","size":{{{manifest.Length}}}}]}""");
        AssertRefused(Tars.Archive(("oci-layout", """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray(), null), ("index.json", index, null),
            ($"blobs/sha256/{Tars.Sha(manifest)[7..]}", manifest, null), ($"blobs/sha256/{Tars.Sha(config)[7..]}", config, null),
            ($"blobs/sha256/{Tars.Sha(layer)[7..]}", layer, null)), "unsupported layer media type \"application/x-strange\"");
        AssertRefused(DockerArchive([layer], [Tars.Sha(layer)], tags: ["Bad:1"]), "must be lowercase");
    }

    [Fact]
    public void RefusesAnOciManifestWhoseConfigBlobIsMissingOrWrong()
    {
        var layer = Tars.Of(("a", "a"));
        var config = Encoding.UTF8.GetBytes($$$"""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["{{{Tars.Sha(layer)}}}"]}}""");
        var manifest = Encoding.UTF8.GetBytes($$$"""{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{{Tars.Sha(config)}}}","size":{{{config.Length}}}},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{{{Tars.Sha(layer)}}}","size":{{{layer.Length}}}}]}""");
        var index = Encoding.UTF8.GetBytes($$$"""{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{{Tars.Sha(manifest)}}}","size":{{{manifest.Length}}},"annotations":{"org.opencontainers.image.ref.name":"x:1"}}]}""");
        var layout = ("oci-layout", """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray(), (string?)null);
        AssertRefused(Tars.Archive(layout, ("index.json", index, null), ($"blobs/sha256/{Tars.Sha(manifest)[7..]}", manifest, null),
            ($"blobs/sha256/{Tars.Sha(layer)[7..]}", layer, null)), $"config blob {Tars.Sha(config)} is missing");
        var tampered = (byte[])config.Clone();
        tampered[^3] ^= 1;
        AssertRefused(Tars.Archive(layout, ("index.json", index, null), ($"blobs/sha256/{Tars.Sha(manifest)[7..]}", manifest, null),
            ($"blobs/sha256/{Tars.Sha(config)[7..]}", tampered, null), ($"blobs/sha256/{Tars.Sha(layer)[7..]}", layer, null)), "digest mismatch for config");
    }

    [Fact]
    public void RefusesWhatIsNotAnImageArchive()
    {
        AssertRefused(Tars.Archive(("hello.txt", "hi"u8.ToArray(), null)), "neither manifest.json");
        AssertRefused("this is not a tar archive at all, just text that goes on and on"u8.ToArray(), "invalid archive");
        AssertRefused([], "invalid archive");
    }

    [Fact]
    public void AFailedLoadKeepsLayersThatImagesAlreadyUse()
    {
        using var g = new FakeStore();
        var good = Tars.Of(("a", "a"));
        g.Creation.Import(new MemoryStream(good), new ImportOptions { Reference = "kept" });
        var bad = Tars.Of(("b", "b"));
        AssertRefused(DockerArchive([good, bad], [Tars.Sha(good), Tars.Sha(good)]), "digest mismatch", g);
        Assert.Single(g.Layers.Layers);
        Assert.Equal(["kept:latest"], g.Store.RepoTags(g.Store.Resolve("kept")));
    }
}
