using System.Buffers.Binary;
using Berth.Linux;

namespace Berth.Engine.Supervision;

/// <summary>
/// Wakes log followers when a container's log directory changes: one inotify descriptor for all of berthd and one
/// thread blocked reading it, however many `logs -f` there are. A follower subscribes before it reads to the end, so
/// a write between its read and its wait is not missed (the wake-up is remembered).
/// </summary>
public sealed class LogDirectoryWatcher
{
    private const uint Events = InotifyMask.Modify | InotifyMask.Create | InotifyMask.MovedTo | InotifyMask.MovedFrom | InotifyMask.Delete | InotifyMask.CloseWrite;

    public static LogDirectoryWatcher Shared => SharedInstance.Value;
    private static readonly Lazy<LogDirectoryWatcher> SharedInstance = new(() => new LogDirectoryWatcher(LinuxSyscalls.Instance));

    private readonly IEventLoopCalls _loop;
    private readonly IDescriptorCalls _files;
    private readonly int _fd;
    private readonly Lock _lock = new();
    private readonly Dictionary<int, List<Subscription>> _byWatch = [];

    public LogDirectoryWatcher(ISyscalls sys)
    {
        _loop = sys;
        _files = sys;
        _fd = sys.CreateInotify();
        new Thread(ReadEvents) { IsBackground = true, Name = "berth log watcher" }.Start();
    }

    public Subscription Watch(string directory)
    {
        lock (_lock)
        {
            var watch = _loop.AddInotifyWatch(_fd, directory, Events);
            var subscription = new Subscription(this, watch);
            if (!_byWatch.TryGetValue(watch, out var list)) _byWatch[watch] = list = [];
            list.Add(subscription);
            return subscription;
        }
    }

    private void Unsubscribe(Subscription subscription)
    {
        lock (_lock)
        {
            if (!_byWatch.TryGetValue(subscription.Watch, out var list)) return;
            list.Remove(subscription);
            if (list.Count > 0) return;
            _byWatch.Remove(subscription.Watch);
            _loop.RemoveInotifyWatch(_fd, subscription.Watch);
        }
    }

    private void ReadEvents()
    {
        var buffer = new byte[64 * 1024];
        while (true)
        {
            int n;
            try { n = _files.ReadSome(_fd, buffer); }
            catch (SyscallException) { return; }
            if (n <= 0) return;
            for (var offset = 0; offset + 16 <= n;)
            {
                var watch = BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(offset));
                var nameLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(offset + 12));
                offset += 16 + nameLength;
                Subscription[] targets;
                lock (_lock)
                {
                    if (!_byWatch.TryGetValue(watch, out var list)) continue;
                    targets = [.. list];
                }
                foreach (var s in targets) s.Signal();
            }
        }
    }

    /// <summary>One follower's interest in a directory.</summary>
    public sealed class Subscription : IDisposable
    {
        private readonly LogDirectoryWatcher _owner;
        private readonly SemaphoreSlim _changed = new(0, 1);
        internal int Watch { get; }

        internal Subscription(LogDirectoryWatcher owner, int watch)
        {
            _owner = owner;
            Watch = watch;
        }

        internal void Signal()
        {
            try { if (_changed.CurrentCount == 0) _changed.Release(); }
            catch (SemaphoreFullException) { }
            catch (ObjectDisposedException) { }
        }

        /// <summary>Completes at the next change (or at once when one happened since the last wait).</summary>
        public Task WaitAsync(CancellationToken cancellationToken) => _changed.WaitAsync(cancellationToken);

        public void Dispose() => _owner.Unsubscribe(this);
    }
}
