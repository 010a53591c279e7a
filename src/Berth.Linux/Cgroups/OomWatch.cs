using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Berth.Linux
{
    public partial interface ISyscalls : IOomEventCalls;

    /// <summary>The kernel calls behind <see cref="Cgroups.OomWatch"/>.</summary>
    public interface IOomEventCalls
    {
        /// <summary>eventfd(0, EFD_CLOEXEC).</summary>
        int CreateEventFd();
        /// <summary>Reads an eventfd's 8-byte counter (and resets it).</summary>
        ulong ReadEventFd(int fd);
    }

    public sealed unsafe partial class LinuxSyscalls
    {
        private const int EFD_CLOEXEC = 0x80000;

        public int CreateEventFd() => (int)Errno.Check(eventfd(0, EFD_CLOEXEC), "eventfd");

        public ulong ReadEventFd(int fd)
        {
            ulong value;
            while (read_eventfd(fd, &value, 8) != 8)
            {
                var e = Errno.Last;
                if (e != Errno.EINTR) throw new SyscallException("read(eventfd)", e);
            }
            return value;
        }

        [LibraryImport("libc", SetLastError = true)] private static partial int eventfd(uint initval, int flags);
        [LibraryImport("libc", EntryPoint = "read", SetLastError = true)] private static partial nint read_eventfd(int fd, ulong* buffer, nint count);
    }
}

namespace Berth.Linux.Cgroups
{
    /// <summary>
    /// Out-of-memory events of a cgroup as a descriptor to poll, for `events`: on v1 an eventfd registered for
    /// memory.oom_control through cgroup.event_control (the kernel signals it on every OOM in the cgroup); on v2
    /// inotify on memory.events, whose oom_kill counter is compared on each change.
    /// </summary>
    public sealed class OomWatch : IDisposable
    {
        private readonly ISyscalls _sys;
        private readonly int _fd;
        private readonly string? _eventsFile;
        private ulong _seenKills;

        private OomWatch(ISyscalls sys, int fd, string? eventsFile, ulong seenKills)
            => (_sys, _fd, _eventsFile, _seenKills) = (sys, fd, eventsFile, seenKills);

        /// <summary>The descriptor that becomes readable on an OOM event.</summary>
        public int Fd => _fd;

        /// <summary>A watch on <paramref name="cgroup"/>, or null when it has no memory controller.</summary>
        public static OomWatch? Open(ISyscalls sys, ICgroup cgroup)
        {
            if (cgroup.Version == CgroupVersion.V1)
            {
                if (!cgroup.Directories.TryGetValue("memory", out var dir)) return null;
                var efd = sys.CreateEventFd();
                var control = -1;
                try
                {
                    control = sys.OpenFile(dir + "/memory.oom_control", OpenFlags.O_RDONLY);
                    var registration = sys.OpenFile(dir + "/cgroup.event_control", OpenFlags.O_WRONLY);
                    try { sys.WriteAll(registration, Encoding.ASCII.GetBytes($"{efd} {control}")); }
                    finally { sys.CloseFd(registration); }
                }
                catch
                {
                    sys.CloseFd(efd);
                    throw;
                }
                finally
                {
                    // The registration holds its own reference to the control file.
                    if (control >= 0) sys.CloseFd(control);
                }
                return new OomWatch(sys, efd, null, 0);
            }
            var events = cgroup.Directories.Values.First() + "/memory.events";
            if (!File.Exists(events)) return null;
            var inotify = sys.CreateInotify();
            try { sys.AddInotifyWatch(inotify, events, InModify); }
            catch { sys.CloseFd(inotify); throw; }
            return new OomWatch(sys, inotify, events, OomKills(events));
        }

        private const uint InModify = 0x2;

        private static ulong OomKills(string eventsFile)
        {
            try
            {
                foreach (var line in File.ReadAllLines(eventsFile))
                    if (line.StartsWith("oom_kill ", StringComparison.Ordinal)
                        && ulong.TryParse(line.AsSpan(9), NumberStyles.None, CultureInfo.InvariantCulture, out var n)) return n;
            }
            catch (IOException) { }
            return 0;
        }

        /// <summary>After <see cref="Fd"/> became readable: how many OOM events happened since the last call (may be 0
        /// on v2, when memory.events changed for another reason).</summary>
        public int Consume()
        {
            if (_eventsFile is null) return (int)Math.Min(int.MaxValue, _sys.ReadEventFd(_fd));
            Span<byte> drain = stackalloc byte[4096];
            _sys.ReadSome(_fd, drain);
            var kills = OomKills(_eventsFile);
            var fresh = kills > _seenKills ? (int)(kills - _seenKills) : 0;
            _seenKills = Math.Max(kills, _seenKills);
            return fresh;
        }

        public void Dispose() => _sys.CloseFd(_fd);
    }
}
