namespace Berth.Oci.Image;

/// <summary>How a layer blob is compressed, as its media type says.</summary>
public enum LayerCompression { None, Gzip, Zstd }

/// <summary>Media types of the OCI image-spec 1.1 and of Docker's schema2 (image-manifest-v2-2).</summary>
public static class MediaTypes
{
    public const string OciDescriptor = "application/vnd.oci.descriptor.v1+json";
    public const string OciLayoutHeader = "application/vnd.oci.layout.header.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string OciEmpty = "application/vnd.oci.empty.v1+json";
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar";
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
    public const string OciLayerNondistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar";
    public const string OciLayerNondistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    public const string OciLayerNondistributableZstd = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerManifestSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
    public const string DockerManifestSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string DockerLayer = "application/vnd.docker.image.rootfs.diff.tar";
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    public const string DockerLayerZstd = "application/vnd.docker.image.rootfs.diff.tar.zstd";
    public const string DockerLayerForeignGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    public const string DockerPluginConfig = "application/vnd.docker.plugin.v1+json";

    public const string InToto = "application/vnd.in-toto+json";

    public static bool IsManifest(string? mediaType) => mediaType is OciManifest or DockerManifest;
    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;
    public static bool IsConfig(string? mediaType) => mediaType is OciConfig or DockerConfig;

    public static bool IsLayer(string? mediaType) => TryGetLayerCompression(mediaType, out _);

    /// <summary>Foreign (Docker) and non-distributable (OCI) layers are not pushed to registries.</summary>
    public static bool IsNondistributable(string? mediaType) => mediaType is DockerLayerForeignGzip
        or OciLayerNondistributable or OciLayerNondistributableGzip or OciLayerNondistributableZstd;

    public static bool TryGetLayerCompression(string? mediaType, out LayerCompression compression)
    {
        compression = mediaType switch
        {
            OciLayer or OciLayerNondistributable or DockerLayer => LayerCompression.None,
            OciLayerGzip or OciLayerNondistributableGzip or DockerLayerGzip or DockerLayerForeignGzip => LayerCompression.Gzip,
            OciLayerZstd or OciLayerNondistributableZstd or DockerLayerZstd => LayerCompression.Zstd,
            _ => (LayerCompression)(-1),
        };
        return compression >= 0;
    }

    /// <summary>The compression of a layer media type; an unknown media type is an error naming it.</summary>
    public static LayerCompression GetLayerCompression(string? mediaType)
        => TryGetLayerCompression(mediaType, out var c) ? c : throw new UnsupportedMediaTypeException(mediaType, "layer");
}

public sealed class UnsupportedMediaTypeException(string? mediaType, string role)
    : FormatException($"unsupported {role} media type \"{mediaType}\"")
{
    public string? MediaType { get; } = mediaType;
}
