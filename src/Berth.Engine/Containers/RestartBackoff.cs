using Berth.Engine.Models;

namespace Berth.Engine.Containers;

/// <summary>
/// A container's restart policy and Docker's back-off (moby's restartmanager): the first restart waits
/// 100 ms, each next one twice as long, at most a minute; a run of ten seconds or more resets it.
/// </summary>
public sealed class RestartBackoff(RestartPolicy? policy)
{
    public static readonly TimeSpan Initial = TimeSpan.FromMilliseconds(100);
    public static readonly TimeSpan Maximum = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan ResetAfter = TimeSpan.FromSeconds(10);

    private readonly Lock gate = new();
    private TimeSpan delay;

    public RestartPolicy? Policy { get; private set; } = policy;

    /// <summary>Restarts made under this policy (on-failure's count).</summary>
    public int Count { get; private set; }

    /// <summary>Set by stop/remove: the exit that follows is not restarted.</summary>
    public bool Canceled { get; private set; }

    public static string PolicyName(RestartPolicy? p) => string.IsNullOrEmpty(p?.Name) ? "no" : p.Name;

    /// <summary>
    /// Decides on an exit. Returns the delay before restarting, or null for no restart. Time spent running
    /// (<paramref name="ranFor"/>) of ten seconds or more resets the back-off.
    /// </summary>
    public TimeSpan? ShouldRestart(int exitCode, bool manuallyStopped, TimeSpan ranFor)
    {
        lock (gate)
        {
            var name = PolicyName(Policy);
            if (name == "no" || Canceled) return null;
            if (ranFor >= ResetAfter) delay = TimeSpan.Zero;
            delay = delay == TimeSpan.Zero ? Initial : delay < Maximum ? delay * 2 : delay;
            if (delay > Maximum) delay = Maximum;
            var restart = name switch
            {
                "always" => true,
                "unless-stopped" => !manuallyStopped,
                "on-failure" => exitCode != 0 && (Policy!.MaximumRetryCount == 0 || Count < Policy.MaximumRetryCount),
                _ => false,
            };
            if (!restart) return null;
            Count++;
            return delay;
        }
    }

    /// <summary>Stop, kill by the user, remove: the coming exit is final.</summary>
    public void Cancel() { lock (gate) Canceled = true; }

    /// <summary>A start by the user (or the daemon) re-arms the policy; the back-off and count begin again.</summary>
    public void Reset()
    {
        lock (gate) { Canceled = false; delay = TimeSpan.Zero; Count = 0; }
    }

    /// <summary>`docker update --restart`: the new policy applies from the next exit on.</summary>
    public void SetPolicy(RestartPolicy? p) { lock (gate) Policy = p; }

    /// <summary>Validates a policy as dockerd does at create and update.</summary>
    public static void Validate(RestartPolicy? p, bool autoRemove)
    {
        var name = PolicyName(p);
        switch (name)
        {
            case "no" or "always" or "unless-stopped":
                if (p is { MaximumRetryCount: not 0 })
                    throw new InvalidParameterException($"invalid restart policy: maximum retry count can only be used with 'on-failure'");
                break;
            case "on-failure":
                if (p!.MaximumRetryCount < 0) throw new InvalidParameterException("invalid restart policy: maximum retry count cannot be negative");
                break;
            default:
                throw new InvalidParameterException($"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'");
        }
        if (autoRemove && name != "no")
            throw new InvalidParameterException("can't create 'AutoRemove' container with restart policy");
    }
}
