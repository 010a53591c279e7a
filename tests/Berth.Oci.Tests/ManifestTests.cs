using System.Text;
using Berth.Oci.Content;
using Berth.Oci.Image;

namespace Berth.Oci.Tests;

public class ManifestTests
{
    private static byte[] U(string s) => Encoding.UTF8.GetBytes(s);

    private const string A = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    private const string B = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    private const string C = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    [Fact]
    public void ReadsADockerSchema2Manifest()
    {
        var json = U($$$"""
        {
           "schemaVersion": 2,
           "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
           "config": { "mediaType": "application/vnd.docker.container.image.v1+json", "size": 1457, "digest": "{{{A}}}" },
           "layers": [ { "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2219949, "digest": "{{{B}}}" },
                       { "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "size": 5, "digest": "{{{C}}}",
                         "urls": ["https://example.invalid/layer"] } ]
        }
        """);
        Assert.Equal(MediaTypes.DockerManifest, ImageJson.DetectMediaType(json));
        var m = ImageJson.ParseManifest(json);
        Assert.Equal(MediaTypes.DockerConfig, m.Config!.MediaType);
        Assert.Equal(Digest.Parse(A), m.Config.Digest);
        Assert.Equal(2219949, m.Layers[0].Size);
        Assert.Equal(LayerCompression.Gzip, MediaTypes.GetLayerCompression(m.Layers[0].MediaType));
        Assert.True(MediaTypes.IsNondistributable(m.Layers[1].MediaType));
        Assert.Equal("https://example.invalid/layer", m.Layers[1].Urls![0]);
    }

    [Fact]
    public void OciManifestWithSubjectAndArtifactTypeRoundTrips()
    {
        var m = new Manifest
        {
            MediaType = MediaTypes.OciManifest,
            ArtifactType = "application/vnd.example.sbom",
            Config = new Descriptor(MediaTypes.OciEmpty, Digest.Parse(A), 2) { Data = "e30=" },
            Layers = [new Descriptor(MediaTypes.OciLayerZstd, Digest.Parse(B), 10) { Annotations = new() { ["k"] = "v" } }],
            Subject = new Descriptor(MediaTypes.OciManifest, Digest.Parse(C), 3),
            Annotations = new() { [Annotations.Created] = "2024-01-01T00:00:00Z" },
        };
        var bytes = ImageJson.Serialize(m, ImageJson.Manifest);
        var text = Encoding.UTF8.GetString(bytes);
        Assert.DoesNotContain("urls", text); // nulls are left out, as Go's omitempty
        Assert.StartsWith("""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":""", text);
        var back = ImageJson.ParseManifest(bytes);
        Assert.Equal(MediaTypes.OciLayerZstd, back.Layers[0].MediaType);
        Assert.Equal(Digest.Parse(C), back.Subject!.Digest);
        Assert.Equal("application/vnd.example.sbom", back.ArtifactType);
        Assert.Equal(bytes, ImageJson.Serialize(back, ImageJson.Manifest));
    }

    [Fact]
    public void ReadsAManifestListAndAnIndexWithoutMediaType()
    {
        var list = U($$$"""
        {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
         "manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":7,"digest":"{{{A}}}",
                       "platform":{"architecture":"arm","os":"linux","variant":"v7"}},
                      {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":7,"digest":"{{{B}}}",
                       "platform":{"architecture":"amd64","os":"windows","os.version":"10.0.17763.1"}}]}
        """);
        Assert.Equal(MediaTypes.DockerManifestList, ImageJson.DetectMediaType(list));
        var index = ImageJson.ParseIndex(list);
        Assert.Equal("linux/arm/v7", index.Manifests[0].Platform!.ToString());
        Assert.Equal("10.0.17763.1", index.Manifests[1].Platform!.OsVersion);
        Assert.Equal(Digest.Parse(A), Platforms.Select(index.Manifests, Platforms.Parse("linux/arm/v7"))!.Digest);

        var bare = U($$$"""{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"{{{C}}}"}]}""");
        Assert.Equal(MediaTypes.OciIndex, ImageJson.DetectMediaType(bare));
        Assert.Equal(MediaTypes.OciManifest, ImageJson.DetectMediaType(U($$$"""{"schemaVersion":2,"config":{"mediaType":"x","size":1,"digest":"{{{C}}}"},"layers":[]}""")));
    }

    [Fact]
    public void RefusesSchema1AndUnknownMediaTypes()
    {
        Assert.Throws<UnsupportedMediaTypeException>(() => ImageJson.DetectMediaType("""{"schemaVersion":1,"fsLayers":[]}"""u8));
        var e = Assert.Throws<UnsupportedMediaTypeException>(() => MediaTypes.GetLayerCompression("application/x-weird"));
        Assert.Equal("unsupported layer media type \"application/x-weird\"", e.Message);
        Assert.Throws<UnsupportedMediaTypeException>(() => ImageJson.ParseManifest(U($$$"""{"schemaVersion":2,"mediaType":"text/plain","config":{"mediaType":"x","size":1,"digest":"{{{C}}}"}}""")));
    }

    [Fact]
    public void AManifestWithoutConfigIsRefused()
    {
        var e = Assert.Throws<FormatException>(() => ImageJson.ParseManifest("""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"""u8));
        Assert.Contains("no config", e.Message);
        Assert.Throws<FormatException>(() => ImageJson.ParseManifest("""{"schemaVersion":2,"config":{"digest":"sha256:zz"}}"""u8));
        Assert.Throws<FormatException>(() => ImageJson.ParseManifest("not json"u8));
    }

    [Fact]
    public void LayerMediaTypesMapToCompression()
    {
        Assert.Equal(LayerCompression.None, MediaTypes.GetLayerCompression(MediaTypes.OciLayer));
        Assert.Equal(LayerCompression.None, MediaTypes.GetLayerCompression(MediaTypes.DockerLayer));
        Assert.Equal(LayerCompression.Gzip, MediaTypes.GetLayerCompression(MediaTypes.OciLayerNondistributableGzip));
        Assert.Equal(LayerCompression.Zstd, MediaTypes.GetLayerCompression(MediaTypes.OciLayerZstd));
        Assert.False(MediaTypes.IsLayer(MediaTypes.OciConfig));
    }

    [Fact]
    public void LayoutHeaderAndDescriptorsSerialiseCompactly()
    {
        Assert.Equal("""{"imageLayoutVersion":"1.0.0"}""", Encoding.UTF8.GetString(ImageJson.Serialize(new OciLayoutHeader(), ImageJson.LayoutHeader)));
        var d = ImageJson.Describe(MediaTypes.OciConfig, "{}"u8);
        Assert.Equal(2, d.Size);
        Assert.Equal("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", d.Digest.ToString());
    }
}
