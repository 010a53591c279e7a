using System.Diagnostics;

namespace Berth.Bench;

/// <summary>A command failed; the message is one line naming the command and its error.</summary>
public class BenchException(string message) : Exception(message);

/// <summary>Berth's side of a scenario is not there yet: shown as "n/a: not built yet" with
/// <see cref="Detail"/> (what berthd or the CLI said) when there is one.</summary>
public sealed class NotBuiltException(string what, string? detail = null) : BenchException(detail is null ? $"{what}: not built yet" : $"{what}: not built yet ({detail})")
{
    public string? Detail { get; } = detail;
}

public sealed record CommandResult(int ExitCode, string Stdout, string Stderr, double Milliseconds);

/// <summary>Runs commands with a deadline and captured output.</summary>
public static class Shell
{
    /// <summary>Cancelled on Ctrl-C or SIGTERM; every wait gives up then, so cleanup can run.</summary>
    public static CancellationToken Stopping { get; set; }

    public static CommandResult Run(IReadOnlyList<string> command, TimeSpan? timeout = null, IReadOnlyDictionary<string, string>? environment = null,
        bool check = true, string? workingDirectory = null, string? label = null)
    {
        var psi = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (var argument in command.Skip(1)) psi.ArgumentList.Add(argument);
        if (environment is not null) foreach (var (key, value) in environment) psi.Environment[key] = value;

        var clock = Stopwatch.StartNew();
        Process process;
        try { process = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e) { throw new BenchException($"{command[0]}: {e.Message}"); }
        using (process)
        {
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Stopping);
            deadline.CancelAfter(timeout ?? TimeSpan.FromMinutes(5));
            try { process.WaitForExitAsync(deadline.Token).GetAwaiter().GetResult(); }
            catch (OperationCanceledException)
            {
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                throw new BenchException($"{label ?? Describe(command)}: {(Stopping.IsCancellationRequested ? "interrupted" : "timed out")}");
            }
            var elapsed = clock.Elapsed.TotalMilliseconds;
            // A daemon the command started may hold the pipes open: don't wait for them past the exit.
            Task.WaitAll([stdout, stderr], TimeSpan.FromSeconds(5));
            var result = new CommandResult(process.ExitCode, stdout.IsCompleted ? stdout.Result : "", stderr.IsCompleted ? stderr.Result : "", elapsed);
            if (check && result.ExitCode != 0) throw Failure(command, result, label);
            return result;
        }
    }

    /// <summary>The exception for a failed command: "not built yet" becomes <see cref="NotBuiltException"/>.</summary>
    public static BenchException Failure(IReadOnlyList<string> command, CommandResult result, string? label = null)
    {
        var output = result.Stderr + "\n" + result.Stdout;
        if (Environment.GetEnvironmentVariable("BENCH_VERBOSE") is { Length: > 0 }) Console.Error.WriteLine($"bench: {string.Join(' ', command)} exited {result.ExitCode}:\n{output.Trim()}");
        if (output.Contains("not built yet", StringComparison.OrdinalIgnoreCase)) return new NotBuiltException(Path.GetFileName(command[0]));
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (NotBuiltDetail(lines) is { } detail) return new NotBuiltException(Path.GetFileName(command[0]), detail);
        // The line that names the error, not a progress line before it.
        var line = lines.FirstOrDefault(l => l.Contains("error", StringComparison.OrdinalIgnoreCase)) ?? lines.FirstOrDefault() ?? $"exit code {result.ExitCode}";
        return new BenchException($"{label ?? Describe(command)}: {Shorten(line, 300)}");
    }

    /// <summary>
    /// What says a feature is missing rather than broken: berthd's 501 ("… is not implemented yet") or a CLI
    /// that lacks the verb ("unknown command: berth network"). Null for any other failure.
    /// </summary>
    public static string? NotBuiltDetail(IEnumerable<string> lines)
    {
        foreach (var line in lines)
        {
            var missing = line.IndexOf("is not implemented yet", StringComparison.OrdinalIgnoreCase);
            if (missing >= 0)
            {
                var start = line.LastIndexOf(": ", missing, StringComparison.Ordinal);
                return line[(start < 0 ? 0 : start + 2)..(missing + "is not implemented yet".Length)];
            }
            var unknown = line.IndexOf("unknown command: ", StringComparison.Ordinal);
            if (unknown >= 0) return "no `" + line[(unknown + "unknown command: ".Length)..].Trim() + "` command";
        }
        return null;
    }

    /// <summary>The program and its first words that are neither options nor paths.</summary>
    public static string Describe(IReadOnlyList<string> command) =>
        string.Join(' ', command.Skip(1).Where(a => !a.StartsWith('-') && !a.StartsWith('/')).Take(2).Prepend(Path.GetFileName(command[0])));

    public static string Shorten(string text, int length = 140) => text.Length <= length ? text : text[..length] + "…";

    public static bool Exists(string file) => File.Exists(file) || (!file.Contains('/') && Which(file) is not null);

    public static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':')
        .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);
}
