using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Berth.Distribution;

/// <summary>Credentials for one registry: a username and password (or an identity token, OAuth's refresh token).</summary>
public sealed record RegistryCredential(string Username, string Password, string? IdentityToken = null);

/// <summary>Where the client finds credentials for a registry (keyed as <see cref="DockerHub.CredentialKey"/>).</summary>
public interface ICredentialProvider
{
    RegistryCredential? Get(string registry);
}

public static class CredentialProviders
{
    public static ICredentialProvider None { get; } = new Fixed(new Dictionary<string, RegistryCredential>());

    public static ICredentialProvider FromDictionary(IReadOnlyDictionary<string, RegistryCredential> credentials) => new Fixed(credentials);

    private sealed class Fixed(IReadOnlyDictionary<string, RegistryCredential> credentials) : ICredentialProvider
    {
        public RegistryCredential? Get(string registry)
            => credentials.TryGetValue(registry, out var c) ? c : credentials.TryGetValue(DockerHub.CredentialKey(registry), out c) ? c : null;
    }
}

/// <summary>
/// Docker's config.json (~/.docker/config.json; Berth's ~/.berth/config.json): "auths" entries with base64
/// "user:password", a "credsStore" helper for every registry and "credHelpers" per registry; helpers are the
/// docker-credential-NAME programs (get/store/erase over stdin/stdout, as Docker runs them). Unknown fields
/// are kept when the file is rewritten.
/// </summary>
public sealed class DockerConfigFile : ICredentialProvider
{
    public string Path { get; }

    public DockerConfigFile(string path) { Path = path; }

    /// <summary>The default file: $DOCKER_CONFIG/config.json, else ~/.docker/config.json.</summary>
    public static DockerConfigFile Default(string? directory = null)
    {
        directory ??= Environment.GetEnvironmentVariable("DOCKER_CONFIG") is { Length: > 0 } d ? d
            : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".docker");
        return new DockerConfigFile(System.IO.Path.Combine(directory, "config.json"));
    }

    private JsonObject Load()
    {
        if (!File.Exists(Path)) return [];
        try { return JsonNode.Parse(File.ReadAllText(Path)) as JsonObject ?? []; }
        catch (JsonException e) { throw new DistributionException($"{Path}: invalid JSON: {e.Message}"); }
    }

    private string? HelperFor(JsonObject config, string registry)
    {
        if (config["credHelpers"] is JsonObject helpers && helpers[registry] is JsonValue h && h.GetValue<string>() is { Length: > 0 } name) return name;
        return config["credsStore"] is JsonValue s && s.GetValue<string>() is { Length: > 0 } store ? store : null;
    }

    public RegistryCredential? Get(string registry)
    {
        var key = DockerHub.CredentialKey(registry);
        var config = Load();
        if (HelperFor(config, key) is { } helper) return CredentialHelper.Get(helper, key);
        if (config["auths"] is not JsonObject auths) return null;
        var entry = auths[key] as JsonObject ?? auths["https://" + key] as JsonObject ?? auths["http://" + key] as JsonObject;
        if (entry is null) return null;
        string? user = entry["username"]?.GetValue<string>(), password = entry["password"]?.GetValue<string>();
        if (entry["auth"]?.GetValue<string>() is { Length: > 0 } auth)
        {
            string decoded;
            try { decoded = Encoding.UTF8.GetString(Convert.FromBase64String(auth)); }
            catch (FormatException) { throw new DistributionException($"{Path}: invalid auth entry for {key}"); }
            var colon = decoded.IndexOf(':');
            if (colon < 0) throw new DistributionException($"{Path}: invalid auth entry for {key}");
            user = decoded[..colon];
            password = decoded[(colon + 1)..];
        }
        var identity = entry["identitytoken"]?.GetValue<string>();
        return user is null && identity is null ? null : new RegistryCredential(user ?? "", password ?? "", string.IsNullOrEmpty(identity) ? null : identity);
    }

    /// <summary>Saves credentials (docker login): into the helper when one is configured, else as a base64 "auths" entry.</summary>
    public void Store(string registry, RegistryCredential credential)
    {
        var key = DockerHub.CredentialKey(registry);
        var config = Load();
        if (HelperFor(config, key) is { } helper)
        {
            CredentialHelper.Store(helper, key, credential);
            var helperAuths = config["auths"] as JsonObject ?? [];
            helperAuths[key] = new JsonObject();
            config["auths"] = helperAuths;
        }
        else
        {
            var auths = config["auths"] as JsonObject ?? [];
            var entry = new JsonObject { ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.Username}:{credential.Password}")) };
            if (credential.IdentityToken is not null) entry["identitytoken"] = credential.IdentityToken;
            auths[key] = entry;
            config["auths"] = auths;
        }
        Save(config);
    }

    /// <summary>Forgets a registry's credentials (docker logout); false when there were none.</summary>
    public bool Erase(string registry)
    {
        var key = DockerHub.CredentialKey(registry);
        var config = Load();
        var found = false;
        if (HelperFor(config, key) is { } helper) found = CredentialHelper.Erase(helper, key);
        if (config["auths"] is JsonObject auths && auths.Remove(key)) found = true;
        if (found) Save(config);
        return found;
    }

    private void Save(JsonObject config)
    {
        var dir = System.IO.Path.GetDirectoryName(Path)!;
        Directory.CreateDirectory(dir);
        var temp = Path + ".tmp-" + Environment.ProcessId;
        using (var file = File.Create(temp))
        using (var writer = new Utf8JsonWriter(file, new JsonWriterOptions { Indented = true }))
            config.WriteTo(writer);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, Path, overwrite: true);
    }
}

/// <summary>The docker-credential-NAME protocol: "get" reads a server URL on stdin and prints {"ServerURL","Username","Secret"}.</summary>
public static class CredentialHelper
{
    public static RegistryCredential? Get(string helper, string serverUrl)
    {
        var (code, stdout, stderr) = Run(helper, "get", serverUrl);
        if (code != 0)
        {
            if ((stdout + stderr).Contains("credentials not found", StringComparison.OrdinalIgnoreCase)) return null;
            throw new DistributionException($"error getting credentials - docker-credential-{helper}: {(stderr + stdout).Trim()}");
        }
        try
        {
            using var doc = JsonDocument.Parse(stdout);
            var root = doc.RootElement;
            var user = root.TryGetProperty("Username", out var u) ? u.GetString() ?? "" : "";
            var secret = root.TryGetProperty("Secret", out var s) ? s.GetString() ?? "" : "";
            // Docker's convention: the username "<token>" means the secret is an identity token.
            return user == "<token>" ? new RegistryCredential("", "", secret) : new RegistryCredential(user, secret);
        }
        catch (JsonException e) { throw new DistributionException($"docker-credential-{helper}: invalid output: {e.Message}"); }
    }

    public static void Store(string helper, string serverUrl, RegistryCredential credential)
    {
        var payload = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(payload))
        {
            w.WriteStartObject();
            w.WriteString("ServerURL", serverUrl);
            w.WriteString("Username", credential.IdentityToken is null ? credential.Username : "<token>");
            w.WriteString("Secret", credential.IdentityToken ?? credential.Password);
            w.WriteEndObject();
        }
        var (code, stdout, stderr) = Run(helper, "store", Encoding.UTF8.GetString(payload.WrittenSpan));
        if (code != 0) throw new DistributionException($"error storing credentials - docker-credential-{helper}: {(stderr + stdout).Trim()}");
    }

    public static bool Erase(string helper, string serverUrl)
    {
        var (code, stdout, stderr) = Run(helper, "erase", serverUrl);
        if (code == 0) return true;
        if ((stdout + stderr).Contains("not found", StringComparison.OrdinalIgnoreCase)) return false;
        throw new DistributionException($"error erasing credentials - docker-credential-{helper}: {(stderr + stdout).Trim()}");
    }

    private static (int Code, string Stdout, string Stderr) Run(string helper, string verb, string input)
    {
        var psi = new ProcessStartInfo("docker-credential-" + helper)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add(verb);
        Process process;
        try { process = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new DistributionException($"docker-credential-{helper}: executable file not found in $PATH");
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardInput.Write(input);
            process.StandardInput.Close();
            process.WaitForExit();
            return (process.ExitCode, stdout.Result, stderr.Result);
        }
    }
}
