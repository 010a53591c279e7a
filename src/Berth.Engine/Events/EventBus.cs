using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Berth.Engine.Models;

namespace Berth.Engine.Events;

/// <summary>
/// The daemon's one event stream (Docker's daemon/events): every room publishes here, /events subscribes.
/// The last <see cref="Retained"/> events are kept for since/until replay, as dockerd keeps its last 256.
/// Publishing never blocks: a subscriber that cannot keep up loses events rather than stalling the engine.
/// </summary>
public sealed class EventBus
{
    public const int Retained = 256;
    private const int SubscriberBuffer = 1024;

    private readonly Lock gate = new();
    private readonly Queue<EventMessage> recent = new(Retained);
    private readonly List<Channel<EventMessage>> subscribers = [];
    private readonly TimeProvider time;
    private long lastNano;

    public EventBus(TimeProvider? time = null) => this.time = time ?? TimeProvider.System;

    /// <summary>How many clients are listening (Docker's NEventsListener).</summary>
    public int Listeners { get { lock (gate) return subscribers.Count; } }

    /// <summary>Stamps (when unstamped), keeps and delivers an event.</summary>
    public void Publish(EventMessage message)
    {
        lock (gate)
        {
            if (message.TimeNano == 0)
            {
                var nano = (time.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks * 100;
                // Strictly increasing stamps keep replay order and since/until boundaries exact.
                if (nano <= lastNano) nano = lastNano + 1;
                lastNano = nano;
                message.TimeNano = nano;
                message.Time = nano / 1_000_000_000;
            }
            if (message.Type == "container")
            {
                // The pre-1.22 fields the docker CLI still reads for container events.
                message.Status ??= message.Action;
                message.Id ??= message.Actor.ID;
                if (message.From is null && message.Actor.Attributes.TryGetValue("image", out var image)) message.From = image;
            }
            if (recent.Count == Retained) recent.Dequeue();
            recent.Enqueue(message);
            foreach (var subscriber in subscribers) subscriber.Writer.TryWrite(message);
        }
    }

    /// <summary>Publishes an event of <paramref name="type"/> about <paramref name="actorId"/>.</summary>
    public EventMessage Publish(string type, string action, string actorId, Dictionary<string, string>? attributes = null)
    {
        var message = new EventMessage { Type = type, Action = action, Actor = new EventActor { ID = actorId, Attributes = attributes ?? [] } };
        Publish(message);
        return message;
    }

    /// <summary>
    /// Docker's /events: retained events in [since, until] (only when either is given), then live events until
    /// <see cref="EventsOptions.Until"/> passes or the caller cancels. Filters apply to both.
    /// </summary>
    public async IAsyncEnumerable<EventMessage> SubscribeAsync(EventsOptions options, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var filter = EventFilter.Parse(options.Filters);
        var now = time.GetUtcNow();
        if (options.Since is { } s && options.Until is { } u && u < s)
            throw new InvalidParameterException($"`since` time ({s.ToUnixTimeSeconds()}) cannot be after `until` time ({u.ToUnixTimeSeconds()})");
        var sinceNano = options.Since is { } since ? ToNano(since) : long.MinValue;
        var untilNano = options.Until is { } until ? ToNano(until) : long.MaxValue;
        var onlyPast = options.Until is { } end && end <= now;

        var channel = Channel.CreateBounded<EventMessage>(new BoundedChannelOptions(SubscriberBuffer)
        {
            FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true, SingleWriter = false,
        });
        List<EventMessage> replay;
        lock (gate)
        {
            replay = options.Since is null && options.Until is null ? [] : [.. recent.Where(m => m.TimeNano >= sinceNano && m.TimeNano <= untilNano)];
            if (!onlyPast) subscribers.Add(channel);
        }
        try
        {
            long lastReplayed = long.MinValue;
            foreach (var message in replay)
            {
                lastReplayed = message.TimeNano;
                if (filter.Matches(message)) yield return message;
            }
            if (onlyPast) yield break;

            using var window = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (options.Until is { } stop) window.CancelAfter(stop - now);
            while (true)
            {
                EventMessage next;
                try
                {
                    if (!await channel.Reader.WaitToReadAsync(window.Token)) yield break;
                    if (!channel.Reader.TryRead(out next!)) continue;
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { yield break; }
                if (next.TimeNano <= lastReplayed || next.TimeNano > untilNano) continue; // already replayed, or past the window
                if (filter.Matches(next)) yield return next;
            }
        }
        finally
        {
            lock (gate) subscribers.Remove(channel);
        }
    }

    private static long ToNano(DateTimeOffset t) => (t - DateTimeOffset.UnixEpoch).Ticks * 100;
}
