using Berth.Engine.Models;

namespace Berth.Engine.Containers;

/// <summary>Docker's health check rules (daemon/health.go), as pure functions over State.Health.</summary>
public static class HealthRules
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan DefaultStartInterval = TimeSpan.FromSeconds(5);
    public const int DefaultRetries = 3;
    public const int MaxLogEntries = 5;
    public const int MaxOutputLength = 4096;

    /// <summary>Whether the container has a health check at all (absent, empty, or ["NONE"] have none).</summary>
    public static bool Enabled(HealthConfig? config)
        => config?.Test is { Count: > 0 } test && test[0] != "NONE";

    public static TimeSpan Interval(HealthConfig c) => c.Interval > 0 ? TimeSpan.FromTicks(c.Interval / 100) : DefaultInterval;
    public static TimeSpan Timeout(HealthConfig c) => c.Timeout > 0 ? TimeSpan.FromTicks(c.Timeout / 100) : DefaultTimeout;
    public static TimeSpan StartPeriod(HealthConfig c) => c.StartPeriod > 0 ? TimeSpan.FromTicks(c.StartPeriod / 100) : TimeSpan.Zero;
    public static int Retries(HealthConfig c) => c.Retries > 0 ? c.Retries : DefaultRetries;

    /// <summary>The probe's command: CMD args as they are, CMD-SHELL through the container's shell.</summary>
    public static List<string> ProbeCommand(HealthConfig c, IReadOnlyList<string>? shell)
    {
        var test = c.Test!;
        return test[0] switch
        {
            "CMD" => [.. test.Skip(1)],
            "CMD-SHELL" => [.. shell is { Count: > 0 } ? shell : ["/bin/sh", "-c"], string.Join(' ', test.Skip(1))],
            _ => throw new InvalidParameterException($"unknown health check type \"{test[0]}\""),
        };
    }

    /// <summary>How long to wait before the next probe.</summary>
    public static TimeSpan NextDelay(HealthConfig c, Health h, DateTimeOffset startedAt, DateTimeOffset now)
        => h.Status == "starting" && c.StartInterval > 0 && now - startedAt < StartPeriod(c)
            ? TimeSpan.FromTicks(c.StartInterval / 100)
            : Interval(c);

    /// <summary>
    /// Records one probe result: success makes the container healthy; a failure counts toward Retries unless
    /// the container has never been healthy and is still within its start period. Returns whether Status changed.
    /// </summary>
    public static bool Record(Health h, HealthConfig c, HealthcheckResult result, DateTimeOffset startedAt, DateTimeOffset probeStarted)
    {
        var before = h.Status;
        h.Log ??= [];
        h.Log.Add(result);
        if (h.Log.Count > MaxLogEntries) h.Log.RemoveRange(0, h.Log.Count - MaxLogEntries);
        if (result.ExitCode == 0)
        {
            h.FailingStreak = 0;
            h.Status = "healthy";
        }
        else
        {
            var counts = !(h.Status == "starting" && probeStarted - startedAt < StartPeriod(c));
            if (counts)
            {
                h.FailingStreak++;
                if (h.FailingStreak >= Retries(c)) h.Status = "unhealthy";
            }
        }
        return h.Status != before;
    }
}

/// <summary>Runs a running container's health probes until cancelled (the container stops or is removed).</summary>
internal sealed class HealthMonitor : IDisposable
{
    /// <summary>Runs the probe command in the container; returns its exit code and (truncated) output.</summary>
    public delegate Task<(int ExitCode, string Output)> Probe(List<string> command, CancellationToken cancellationToken);

    private readonly CancellationTokenSource stop = new();

    public HealthMonitor(Container container, HealthConfig config, Probe probe, Action<string> statusChanged, TimeProvider time)
    {
        _ = RunAsync(container, config, probe, statusChanged, time, stop.Token);
    }

    private static async Task RunAsync(Container container, HealthConfig config, Probe probe, Action<string> statusChanged, TimeProvider time, CancellationToken cancellationToken)
    {
        DateTimeOffset startedAt;
        lock (container.Gate) startedAt = DockerTime.Parse(container.State.StartedAt) ?? time.GetUtcNow();
        var command = HealthRules.ProbeCommand(config, container.Record.Config.Shell);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                Health snapshot;
                lock (container.Gate) snapshot = container.State.Health ?? new Health { Status = "starting" };
                await Task.Delay(HealthRules.NextDelay(config, snapshot, startedAt, time.GetUtcNow()), time, cancellationToken);
                var began = time.GetUtcNow();
                int exitCode;
                string output;
                using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    var limit = HealthRules.Timeout(config);
                    timeout.CancelAfter(limit);
                    try { (exitCode, output) = await probe(command, timeout.Token); }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        (exitCode, output) = (-1, $"Health check exceeded timeout ({FormatGo(limit)})");
                    }
                    catch (EngineException e)
                    {
                        (exitCode, output) = (-1, e.Message);
                    }
                }
                if (cancellationToken.IsCancellationRequested) return;
                var result = new HealthcheckResult
                {
                    Start = DockerTime.Format(began), End = DockerTime.Format(time.GetUtcNow()), ExitCode = exitCode,
                    Output = output.Length > HealthRules.MaxOutputLength ? output[..HealthRules.MaxOutputLength] : output,
                };
                string? changedTo = null;
                lock (container.Gate)
                {
                    var health = container.State.Health ??= new Health { Status = "starting" };
                    if (HealthRules.Record(health, config, result, startedAt, began)) changedTo = health.Status;
                }
                statusChanged(changedTo ?? "");
            }
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>Go's Duration.String for whole and fractional seconds ("30s", "1.5s", "500ms").</summary>
    internal static string FormatGo(TimeSpan t)
        => t.TotalSeconds >= 1 ? $"{t.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}s" : $"{t.TotalMilliseconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}ms";

    public void Dispose()
    {
        stop.Cancel();
        stop.Dispose();
    }
}
