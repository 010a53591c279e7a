namespace Berth.Registry;

/// <summary>The error codes of the OCI Distribution Specification (and distribution's few extras), with their HTTP statuses.</summary>
public sealed record ErrorCode(string Code, int Status, string Message)
{
    public static readonly ErrorCode BlobUnknown = new("BLOB_UNKNOWN", 404, "blob unknown to registry");
    public static readonly ErrorCode BlobUploadInvalid = new("BLOB_UPLOAD_INVALID", 400, "blob upload invalid");
    public static readonly ErrorCode BlobUploadUnknown = new("BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry");
    public static readonly ErrorCode DigestInvalid = new("DIGEST_INVALID", 400, "provided digest did not match uploaded content");
    public static readonly ErrorCode ManifestBlobUnknown = new("MANIFEST_BLOB_UNKNOWN", 400, "manifest references a manifest or blob unknown to registry");
    public static readonly ErrorCode ManifestInvalid = new("MANIFEST_INVALID", 400, "manifest invalid");
    public static readonly ErrorCode ManifestUnknown = new("MANIFEST_UNKNOWN", 404, "manifest unknown");
    public static readonly ErrorCode NameInvalid = new("NAME_INVALID", 400, "invalid repository name");
    public static readonly ErrorCode NameUnknown = new("NAME_UNKNOWN", 404, "repository name not known to registry");
    public static readonly ErrorCode SizeInvalid = new("SIZE_INVALID", 400, "provided length did not match content length");
    public static readonly ErrorCode ManifestTooLarge = new("SIZE_INVALID", 413, "manifest too large");
    public static readonly ErrorCode TagInvalid = new("TAG_INVALID", 400, "manifest tag did not match URI");
    public static readonly ErrorCode Unauthorized = new("UNAUTHORIZED", 401, "authentication required");
    public static readonly ErrorCode Denied = new("DENIED", 403, "requested access to the resource is denied");
    public static readonly ErrorCode Unsupported = new("UNSUPPORTED", 405, "The operation is unsupported.");
    public static readonly ErrorCode TooManyRequests = new("TOOMANYREQUESTS", 429, "too many requests");
    public static readonly ErrorCode RangeInvalid = new("BLOB_UPLOAD_INVALID", 416, "invalid content range");
    public static readonly ErrorCode PaginationNumberInvalid = new("PAGINATION_NUMBER_INVALID", 400, "invalid number of results requested");
    public static readonly ErrorCode Unknown = new("UNKNOWN", 500, "unknown error");
    public static readonly ErrorCode NotFound = new("NOT_FOUND", 404, "not found");
}

/// <summary>An error the registry answers with: a spec code, and a detail naming the problem.</summary>
public sealed class RegistryException(ErrorCode code, string? detail = null, string? message = null)
    : Exception(message ?? (detail is null ? code.Message : $"{code.Message}: {detail}"))
{
    public ErrorCode Code { get; } = code;
    public string? Detail { get; } = detail;
    public string SpecMessage { get; } = message ?? code.Message;
}
