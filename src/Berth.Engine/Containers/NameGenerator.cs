using System.Text.RegularExpressions;

namespace Berth.Engine.Containers;

/// <summary>Docker-style container names: "adjective_surname", with a digit appended on retries.</summary>
public static partial class NameGenerator
{
    private static readonly string[] Adjectives =
    [
        "agile", "amazing", "bold", "brave", "bright", "busy", "calm", "careful", "charming", "cheerful",
        "clever", "cool", "curious", "daring", "dazzling", "eager", "elated", "epic", "fervent", "fond",
        "friendly", "gallant", "gentle", "happy", "hopeful", "jolly", "keen", "kind", "lucid", "merry",
        "modest", "nifty", "noble", "patient", "peaceful", "quiet", "quirky", "relaxed", "serene", "sharp",
        "steady", "sweet", "tender", "upbeat", "vibrant", "vigilant", "wizardly", "youthful", "zealous", "zen",
    ];

    private static readonly string[] Surnames =
    [
        "agnesi", "archimedes", "babbage", "bardeen", "bohr", "boole", "cannon", "curie", "darwin", "dijkstra",
        "einstein", "euclid", "euler", "faraday", "fermat", "fermi", "feynman", "franklin", "galileo", "gauss",
        "goodall", "hamilton", "hawking", "hodgkin", "hopper", "hypatia", "johnson", "kepler", "knuth", "lamarr",
        "leakey", "lovelace", "maxwell", "meitner", "mendel", "mirzakhani", "newton", "noether", "pascal", "pasteur",
        "planck", "ramanujan", "ritchie", "sammet", "shannon", "tesla", "thompson", "torvalds", "turing", "wozniak",
    ];

    /// <summary>A random name; from the second try on, a digit is appended (as Docker does) so collisions thin out.</summary>
    public static string Next(int retry = 0)
    {
        var name = Adjectives[Random.Shared.Next(Adjectives.Length)] + "_" + Surnames[Random.Shared.Next(Surnames.Length)];
        return retry > 0 ? name + Random.Shared.Next(10) : name;
    }

    /// <summary>Docker's rule for user-given names (a leading '/' allowed).</summary>
    [GeneratedRegex("^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")]
    public static partial Regex Valid();
}
