using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;
using Berth.Oci.Content;

namespace Berth.Oci.Reference;

/// <summary>A reference that does not parse; the message is Docker's wording.</summary>
public sealed class InvalidReferenceException(string message) : FormatException(message);

/// <summary>
/// An image reference, <c>[domain[:port]/]path[:tag][@digest]</c>, with Docker's normalisation:
/// <c>busybox</c> is <c>docker.io/library/busybox</c>, <c>user/repo</c> is <c>docker.io/user/repo</c>; a
/// first component with a dot or a colon, or <c>localhost</c>, or any uppercase letter, is a registry.
/// Immutable; <see cref="ToString"/> gives the full form, <see cref="FamiliarString"/> the short one.
/// </summary>
public sealed partial record class ImageReference
{
    public const string DefaultDomain = "docker.io";
    public const string LegacyDefaultDomain = "index.docker.io";
    public const string OfficialRepositoryPrefix = "library/";
    public const string DefaultTag = "latest";
    public const int NameMaxLength = 255;

    /// <summary>The registry, e.g. "docker.io" or "localhost:5000".</summary>
    public string Domain { get; }
    /// <summary>The repository path within the registry, e.g. "library/busybox".</summary>
    public string Path { get; }
    public string? Tag { get; init; }
    public Digest? Digest { get; init; }

    private ImageReference(string domain, string path) { Domain = domain; Path = path; }

    /// <summary>The repository: domain and path, e.g. "docker.io/library/busybox".</summary>
    public string Name => Domain.Length == 0 ? Path : $"{Domain}/{Path}";

    /// <summary>The repository as Docker shows it: "busybox", "user/repo", "localhost:5000/x".</summary>
    public string FamiliarName
    {
        get
        {
            if (Domain != DefaultDomain) return Name;
            if (Path.StartsWith(OfficialRepositoryPrefix, StringComparison.Ordinal) && Path.IndexOf('/', OfficialRepositoryPrefix.Length) < 0)
                return Path[OfficialRepositoryPrefix.Length..];
            return Path;
        }
    }

    public bool IsNameOnly => Tag is null && Digest is null;

    public override string ToString() => Name + Suffix;
    public string FamiliarString() => FamiliarName + Suffix;
    private string Suffix => (Tag is null ? "" : ":" + Tag) + (Digest is { } d ? "@" + d : "");

    /// <summary>Only the repository, without tag or digest.</summary>
    public ImageReference WithoutTagOrDigest() => this with { Tag = null, Digest = null };
    public ImageReference WithTag(string tag)
        => TagPattern().IsMatch(tag) ? this with { Tag = tag, Digest = null } : throw new InvalidReferenceException("invalid tag format");
    public ImageReference WithDigest(Digest digest) => this with { Tag = null, Digest = digest };

    /// <summary>
    /// Docker's ParseNormalizedNamed: the reference as given (a tag and a digest both kept), normalised.
    /// </summary>
    public static ImageReference ParseNormalized(string text)
        => TryParseNormalized(text, out var r, out var error) ? r : throw new InvalidReferenceException(error);

    /// <summary>
    /// Docker's ParseDockerRef: normalised, ":latest" added to a bare name, and the tag dropped when a digest
    /// is given (the digest is what names the content).
    /// </summary>
    public static ImageReference ParseDockerRef(string text)
    {
        var r = ParseNormalized(text);
        if (r.Digest is not null && r.Tag is not null) return r with { Tag = null };
        return r.IsNameOnly ? r with { Tag = DefaultTag } : r;
    }

    public static bool TryParseNormalized(string? text, [NotNullWhen(true)] out ImageReference? reference, out string error)
    {
        reference = null;
        text ??= "";
        if (AnchoredIdentifier().IsMatch(text))
        {
            error = $"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings";
            return false;
        }
        var (domain, remainder) = SplitDockerDomain(text);
        var tagSeparator = remainder.IndexOf(':');
        var remoteName = tagSeparator >= 0 ? remainder[..tagSeparator] : remainder;
        if (!remoteName.Equals(remoteName.ToLowerInvariant(), StringComparison.Ordinal))
        {
            error = "invalid reference format: repository name must be lowercase";
            return false;
        }
        return TryParse(domain + "/" + remainder, out reference, out error);
    }

    /// <summary>
    /// distribution's Parse: the grammar alone, no normalisation (a name without a domain has none: use
    /// <see cref="ParseNormalized"/> for what users type).
    /// </summary>
    private static bool TryParse(string text, [NotNullWhen(true)] out ImageReference? reference, out string error)
    {
        reference = null;
        var match = ReferencePattern().Match(text);
        if (!match.Success)
        {
            if (text.Length == 0) error = "repository name must have at least one component";
            else if (ReferencePattern().IsMatch(text.ToLowerInvariant())) error = "repository name must be lowercase";
            else error = "invalid reference format";
            return false;
        }
        var name = match.Groups["name"].Value;
        if (name.Length > NameMaxLength)
        {
            error = $"repository name must not be more than {NameMaxLength} characters";
            return false;
        }
        var nameMatch = AnchoredName().Match(name);
        var domain = nameMatch.Groups["domain"].Value;
        var path = nameMatch.Groups["path"].Value;
        Digest? digest = null;
        if (match.Groups["digest"] is { Success: true } digestGroup)
        {
            if (!Content.Digest.TryParse(digestGroup.Value, out var d, out var digestError))
            {
                error = digestError.StartsWith("unsupported", StringComparison.Ordinal) ? "unsupported digest algorithm"
                    : digestError.Contains("hex characters", StringComparison.Ordinal) ? "invalid checksum digest length"
                    : "invalid checksum digest format";
                return false;
            }
            digest = d;
        }
        reference = new ImageReference(domain, path)
        {
            Tag = match.Groups["tag"] is { Success: true } t ? t.Value : null,
            Digest = digest,
        };
        error = "";
        return true;
    }

    /// <summary>Docker's splitDockerDomain: which part of a name is the registry.</summary>
    private static (string Domain, string Remainder) SplitDockerDomain(string name)
    {
        string domain, remainder;
        var slash = name.IndexOf('/');
        if (slash < 0 || (name.AsSpan(0, slash).IndexOfAny('.', ':') < 0 && name[..slash] != "localhost"
                          && name[..slash].Equals(name[..slash].ToLowerInvariant(), StringComparison.Ordinal)))
        {
            domain = DefaultDomain;
            remainder = name;
        }
        else
        {
            domain = name[..slash];
            remainder = name[(slash + 1)..];
        }
        if (domain == LegacyDefaultDomain) domain = DefaultDomain;
        if (domain == DefaultDomain && !remainder.Contains('/')) remainder = OfficialRepositoryPrefix + remainder;
        return (domain, remainder);
    }

    /// <summary>Whether <paramref name="text"/> is a valid tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.</summary>
    public static bool IsValidTag(string text) => TagPattern().IsMatch(text);

    /// <summary>A full 64-hex image ID, which can never be a repository name.</summary>
    public static bool IsFullIdentifier(string text) => AnchoredIdentifier().IsMatch(text);

    // The grammar of distribution/reference (regexp.go), spelled out once.
    private const string AlphaNumeric = "[a-z0-9]+";
    private const string Separator = "(?:[._]|__|[-]+)";
    private const string PathComponent = AlphaNumeric + "(?:" + Separator + AlphaNumeric + ")*";
    private const string DomainNameComponent = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    private const string Ipv6Address = @"\[(?:[a-fA-F0-9:]+)\]";
    private const string DomainName = DomainNameComponent + @"(?:\." + DomainNameComponent + ")*";
    private const string DomainAndPort = "(?:" + DomainName + "|" + Ipv6Address + ")(?::[0-9]+)?";
    private const string Tag_ = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
    private const string DigestPattern = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    private const string RemoteName = PathComponent + "(?:/" + PathComponent + ")*";
    private const string NamePattern = "(?:" + DomainAndPort + "/)?" + RemoteName;

    [GeneratedRegex("^(?<name>" + NamePattern + ")(?::(?<tag>" + Tag_ + "))?(?:@(?<digest>" + DigestPattern + "))?\\z", RegexOptions.CultureInvariant)]
    private static partial Regex ReferencePattern();

    [GeneratedRegex("^(?:(?<domain>" + DomainAndPort + ")/)?(?<path>" + RemoteName + ")\\z", RegexOptions.CultureInvariant)]
    private static partial Regex AnchoredName();

    [GeneratedRegex("^" + Tag_ + @"\z", RegexOptions.CultureInvariant)]
    private static partial Regex TagPattern();

    [GeneratedRegex("^[a-f0-9]{64}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex AnchoredIdentifier();
}
