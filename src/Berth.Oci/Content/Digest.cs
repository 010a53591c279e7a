using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Berth.Oci.Content;

/// <summary>
/// A content digest, "algorithm:hex" (image-spec descriptor.md). sha256 is canonical; sha512 is accepted.
/// Parsing validates the algorithm and the hex length, so a Digest in hand is always well-formed and safe
/// to use as a path component.
/// </summary>
[JsonConverter(typeof(DigestJsonConverter))]
public readonly record struct Digest
{
    public string Algorithm { get; }
    public string Hex { get; }

    private Digest(string algorithm, string hex) { Algorithm = algorithm; Hex = hex; }

    public static Digest Parse(string value)
        => TryParse(value, out var d, out var error) ? d : throw new FormatException($"invalid digest \"{value}\": {error}");

    public static bool TryParse(string? value, out Digest digest) => TryParse(value, out digest, out _);

    public static bool TryParse(string? value, out Digest digest, out string error)
    {
        digest = default;
        if (string.IsNullOrEmpty(value)) { error = "empty"; return false; }
        var colon = value.IndexOf(':');
        if (colon <= 0) { error = "missing algorithm"; return false; }
        var algorithm = value[..colon];
        var hex = value[(colon + 1)..];
        var expected = algorithm switch { "sha256" => 64, "sha512" => 128, _ => -1 };
        if (expected < 0) { error = $"unsupported algorithm \"{algorithm}\""; return false; }
        if (hex.Length != expected) { error = $"{algorithm} needs {expected} hex characters"; return false; }
        foreach (var c in hex)
            if (c is not (>= '0' and <= '9' or >= 'a' and <= 'f')) { error = "not lowercase hex"; return false; }
        digest = new Digest(algorithm, hex);
        error = "";
        return true;
    }

    public static Digest Sha256(ReadOnlySpan<byte> data) => FromHash("sha256", SHA256.HashData(data));
    public static Digest Sha256(Stream data) => FromHash("sha256", SHA256.HashData(data));
    public static Digest FromHash(string algorithm, ReadOnlySpan<byte> hash) => new(algorithm, Convert.ToHexStringLower(hash));

    /// <summary>An incremental hasher for this digest's algorithm (to verify content as it streams).</summary>
    public IncrementalHash CreateHasher() => IncrementalHash.CreateHash(Algorithm == "sha512" ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256);

    public bool IsEmpty => Algorithm is null;
    public override string ToString() => IsEmpty ? "" : $"{Algorithm}:{Hex}";
}

public sealed class DigestJsonConverter : JsonConverter<Digest>
{
    public override Digest Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        => Digest.TryParse(reader.GetString(), out var d, out var error) ? d : throw new JsonException($"invalid digest: {error}");

    public override void Write(Utf8JsonWriter writer, Digest value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
}
