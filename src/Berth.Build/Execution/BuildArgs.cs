namespace Berth.Build.Execution;

/// <summary>
/// Build arguments with Docker's scoping: --build-arg values override declared defaults; ARGs before the
/// first FROM are visible to FROM lines only, until a stage re-declares them (without a value, the
/// stage gets the global default); each stage starts with none; the proxy variables need no
/// declaration (and stay out of cache keys unless declared). Platform ARGs (TARGETPLATFORM, …) are
/// predefined globally as BuildKit defines them.
/// </summary>
public sealed class BuildArgs
{
    public static readonly IReadOnlySet<string> Builtins = new HashSet<string>(StringComparer.Ordinal)
    {
        "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
    };

    private readonly IReadOnlyDictionary<string, string?> _fromOptions;
    private readonly Dictionary<string, string?> _meta = new(StringComparer.Ordinal);
    private readonly HashSet<string> _declared = new(StringComparer.Ordinal);
    private readonly object _lock = new();

    public BuildArgs(IReadOnlyDictionary<string, string?> fromOptions, string platform)
    {
        _fromOptions = fromOptions;
        var (os, arch, variant) = SplitPlatform(platform);
        foreach (var prefix in new[] { "BUILD", "TARGET" })
        {
            _meta[prefix + "PLATFORM"] = platform;
            _meta[prefix + "OS"] = os;
            _meta[prefix + "ARCH"] = arch;
            _meta[prefix + "VARIANT"] = variant;
        }
    }

    private static (string, string, string) SplitPlatform(string platform)
    {
        var parts = platform.Split('/');
        return (parts[0], parts.Length > 1 ? parts[1] : "", parts.Length > 2 ? parts[2] : "");
    }

    /// <summary>Declares a global ARG; its default was expanded by the caller against <see cref="MetaValues"/>.</summary>
    public void AddMeta(string key, string? defaultValue)
    {
        lock (_lock)
        {
            _meta[key] = defaultValue;
            _declared.Add(key);
        }
    }

    public void MarkDeclared(string key)
    {
        lock (_lock) _declared.Add(key);
    }

    public bool TryGetOption(string key, out string? value) => _fromOptions.TryGetValue(key, out value) && value is not null;

    /// <summary>The values FROM lines see: the global ARGs (overridden by --build-arg) and the platform ARGs.</summary>
    public Dictionary<string, string> MetaValues()
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        lock (_lock)
        {
            foreach (var (key, value) in _meta)
            {
                if (TryGetOption(key, out var option)) values[key] = option!;
                else if (value is not null) values[key] = value;
            }
        }
        return values;
    }

    /// <summary>The global default for an ARG a stage re-declares without a value.</summary>
    public string? MetaDefault(string key)
    {
        lock (_lock) return _meta.TryGetValue(key, out var v) ? v : null;
    }

    /// <summary>--build-arg names that no ARG declared (Docker warns about them at the end).</summary>
    public IReadOnlyList<string> Unconsumed()
    {
        lock (_lock)
            return _fromOptions.Keys.Where(k => !_declared.Contains(k) && !Builtins.Contains(k)).Order(StringComparer.Ordinal).ToList();
    }
}

/// <summary>The ARGs one stage has declared so far, with the values they resolve to.</summary>
public sealed class StageArgs(BuildArgs buildArgs)
{
    private readonly List<(string Key, string? Value)> _declared = [];

    public void Declare(string key, string? defaultValue)
    {
        buildArgs.MarkDeclared(key);
        string? value;
        if (buildArgs.TryGetOption(key, out var option)) value = option;
        else value = defaultValue ?? buildArgs.MetaDefault(key);
        _declared.RemoveAll(d => d.Key == key);
        _declared.Add((key, value));
    }

    public bool IsDeclared(string key) => _declared.Any(d => d.Key == key);

    /// <summary>
    /// Declared ARGs with a value, plus proxy variables given with --build-arg, in declaration order;
    /// <paramref name="forCacheKey"/> leaves out undeclared proxy variables, as Docker does.
    /// </summary>
    public List<KeyValuePair<string, string>> Values(bool forCacheKey)
    {
        var result = new List<KeyValuePair<string, string>>();
        foreach (var (key, value) in _declared)
            if (value is not null) result.Add(new(key, value));
        if (!forCacheKey)
            foreach (var builtin in BuildArgs.Builtins)
                if (!IsDeclared(builtin) && buildArgs.TryGetOption(builtin, out var v)) result.Add(new(builtin, v!));
        return result;
    }
}
