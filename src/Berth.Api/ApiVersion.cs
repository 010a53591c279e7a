using System.Globalization;

namespace Berth.Api;

/// <summary>An Engine API version "major.minor", ordered numerically (1.9 &lt; 1.10).</summary>
public readonly record struct ApiVersion(int Major, int Minor) : IComparable<ApiVersion>
{
    /// <summary>The newest version served; its shapes are the ones every route speaks.</summary>
    public static readonly ApiVersion Max = new(1, 47);
    /// <summary>The oldest version accepted, as Docker's MinAPIVersion: older clients are refused with Docker's message.</summary>
    public static readonly ApiVersion Min = new(1, 24);

    public static bool TryParse(string text, out ApiVersion version)
    {
        version = default;
        var dot = text.IndexOf('.');
        if (dot <= 0) return false;
        if (!int.TryParse(text.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out var major)) return false;
        if (!int.TryParse(text.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var minor)) return false;
        version = new ApiVersion(major, minor);
        return true;
    }

    public int CompareTo(ApiVersion other) => Major != other.Major ? Major.CompareTo(other.Major) : Minor.CompareTo(other.Minor);
    public static bool operator <(ApiVersion a, ApiVersion b) => a.CompareTo(b) < 0;
    public static bool operator >(ApiVersion a, ApiVersion b) => a.CompareTo(b) > 0;
    public static bool operator <=(ApiVersion a, ApiVersion b) => a.CompareTo(b) <= 0;
    public static bool operator >=(ApiVersion a, ApiVersion b) => a.CompareTo(b) >= 0;
    public override string ToString() => $"{Major}.{Minor}";

    /// <summary>Docker's refusal of a client version outside [Min, Max], or null when it is served.</summary>
    public static string? Unsupported(string requested)
    {
        if (!TryParse(requested, out var version)) return $"client version {requested} is too new. Maximum supported API version is {Max}";
        if (version < Min) return $"client version {requested} is too old. Minimum supported API version is {Min}, please upgrade your client to a newer version";
        if (version > Max) return $"client version {requested} is too new. Maximum supported API version is {Max}";
        return null;
    }
}
