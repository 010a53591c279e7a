using System.Diagnostics;
using System.Text.Json;

namespace Berth.Engine.Supervision;

/// <summary>
/// The OCI runtime's short verbs (start, kill, pause, resume, update, delete), run by berthd itself: they need no
/// parent that outlives berthd, so the shim does not carry them. Errors come from the runtime's --log (JSON lines,
/// as runc and berth-runtime write them), else its stderr.
/// </summary>
internal sealed class RuntimeCommand(string runtimePath, string runtimeRoot, string stateDirectory)
{
    public string RuntimePath => runtimePath;
    public string RuntimeRoot => runtimeRoot;
    public string LogPath => Path.Combine(stateDirectory, Berth.Shim.ShimProtocol.RuntimeLogFile);

    public List<string> Arguments(params IEnumerable<string> verb) => ["--root", runtimeRoot, "--log", LogPath, "--log-format", "json", .. verb];

    public async Task RunAsync(CancellationToken cancellationToken, params string[] verb)
    {
        var psi = new ProcessStartInfo(runtimePath)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in Arguments(verb)) psi.ArgumentList.Add(a);
        var logLength = LogLength();
        using var process = Process.Start(psi) ?? throw new EngineFailureException($"cannot run {runtimePath}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false); // never abandon a half-done verb
        await stdout.ConfigureAwait(false);
        var errors = await stderr.ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            var message = LastError(logLength) ?? LastLine(errors) ?? $"{Path.GetFileName(runtimePath)} {verb[0]} exited with status {process.ExitCode}";
            throw new RuntimeCommandException(verb[0], message);
        }
        cancellationToken.ThrowIfCancellationRequested();
    }

    private long LogLength()
    {
        try { return new FileInfo(LogPath).Length; }
        catch (IOException) { return 0; }
    }

    /// <summary>The last error line the runtime added to its log after <paramref name="from"/>.</summary>
    public string? LastError(long from)
    {
        string text;
        try
        {
            using var file = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            if (from > file.Length) from = 0;
            file.Seek(from, SeekOrigin.Begin);
            text = new StreamReader(file).ReadToEnd();
        }
        catch (IOException) { return null; }
        string? last = null;
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.TryGetProperty("level", out var level) && level.GetString() is "error" or "fatal"
                    && doc.RootElement.TryGetProperty("msg", out var msg) && msg.GetString() is { Length: > 0 } m) last = m;
            }
            catch (JsonException) { }
        }
        return last;
    }

    private static string? LastLine(string text)
    {
        text = text.Trim();
        if (text.Length == 0) return null;
        var i = text.LastIndexOf('\n');
        return i < 0 ? text : text[(i + 1)..];
    }
}

/// <summary>A runtime verb failed; the message is the runtime's. 409 when the container is not in a state for it.</summary>
public sealed class RuntimeCommandException(string verb, string message) : EngineException(message)
{
    public string Verb { get; } = verb;
    public override int StatusCode => Message.Contains("not running", StringComparison.OrdinalIgnoreCase)
        || Message.Contains("paused", StringComparison.OrdinalIgnoreCase) || Message.Contains("stopped", StringComparison.OrdinalIgnoreCase) ? 409 : 500;
}
