using System.Text.RegularExpressions;
using Berth.Oci.Content;

namespace Berth.Registry;

/// <summary>
/// The storage layout, as distribution lays it out: shared blobs by digest, and per repository links (a
/// repository sees a blob only through its link), manifest revisions, tags, uploads and referrers. Every
/// component comes from a validated repository name, tag, digest or upload ID, so no path escapes the root.
/// </summary>
public static partial class RegistryPaths
{
    public const string Repositories = "repositories";
    public const string Blobs = "blobs";

    public static string Blob(Digest d) => $"{Blobs}/{d.Algorithm}/{d.Hex[..2]}/{d.Hex}/data";
    public static string BlobDirectory(Digest d) => $"{Blobs}/{d.Algorithm}/{d.Hex[..2]}/{d.Hex}";
    public static string Repository(string name) => $"{Repositories}/{name}";
    public static string LayerLink(string name, Digest d) => $"{Repositories}/{name}/_layers/{d.Algorithm}/{d.Hex}/link";
    public static string LayerLinks(string name, string algorithm) => $"{Repositories}/{name}/_layers/{algorithm}";
    public static string RevisionLink(string name, Digest d) => $"{Repositories}/{name}/_manifests/revisions/{d.Algorithm}/{d.Hex}/link";
    public static string Revisions(string name, string algorithm) => $"{Repositories}/{name}/_manifests/revisions/{algorithm}";
    public static string RevisionDirectory(string name, Digest d) => $"{Repositories}/{name}/_manifests/revisions/{d.Algorithm}/{d.Hex}";
    public static string Tags(string name) => $"{Repositories}/{name}/_manifests/tags";
    public static string TagLink(string name, string tag) => $"{Repositories}/{name}/_manifests/tags/{tag}/current/link";
    public static string TagDirectory(string name, string tag) => $"{Repositories}/{name}/_manifests/tags/{tag}";
    public static string Uploads(string name) => $"{Repositories}/{name}/_uploads";
    public static string UploadData(string name, string id) => $"{Repositories}/{name}/_uploads/{id}/data";
    public static string UploadStarted(string name, string id) => $"{Repositories}/{name}/_uploads/{id}/startedat";
    public static string UploadDirectory(string name, string id) => $"{Repositories}/{name}/_uploads/{id}";
    public static string Referrers(string name, Digest subject) => $"{Repositories}/{name}/_referrers/{subject.Algorithm}/{subject.Hex}";
    public static string Referrer(string name, Digest subject, Digest referrer) => $"{Referrers(name, subject)}/{referrer.Algorithm}-{referrer.Hex}";

    /// <summary>distribution's repository name grammar: lowercase path components joined by '/', at most 255 characters.</summary>
    public static bool IsValidName(string name) => name.Length is > 0 and <= 255 && NamePattern().IsMatch(name);

    public static bool IsValidTag(string tag) => TagPattern().IsMatch(tag);

    public static bool IsValidUploadId(string id) => id.Length == 32 && id.All(char.IsAsciiHexDigitLower);

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*\z", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\z", RegexOptions.CultureInvariant)]
    private static partial Regex TagPattern();
}
