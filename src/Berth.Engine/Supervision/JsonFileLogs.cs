using System.Runtime.CompilerServices;
using Berth.Linux;
using Berth.Shim;

namespace Berth.Engine.Supervision;

/// <summary>
/// Reads a container's json-file log (ID-json.log and its rotated ID-json.log.1, .2 …) for the logs endpoint:
/// tail N (counted over both streams, as dockerd does), since/until, stdout/stderr selection, and follow — new
/// entries as the shim writes them, across rotations, woken by inotify (never a polling loop), until
/// <c>stopFollowing</c> completes (the container stopped) and the rest has been read.
/// </summary>
public static class JsonFileLogs
{
    private const int Block = 64 * 1024;

    /// <summary>
    /// The entries of the log at <paramref name="logPath"/> as <see cref="OutputChunk"/>s (Time set; Data is the "log"
    /// text with its newline). <paramref name="stopFollowing"/> ends a follow; without it a follow lasts until cancelled.
    /// </summary>
    public static async IAsyncEnumerable<OutputChunk> ReadAsync(string logPath, LogsOptions options, Task? stopFollowing,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        long since = options.Since is { } s ? ToNanoseconds(s) : long.MinValue;
        long until = options.Until is { } u ? ToNanoseconds(u) : long.MaxValue;
        using var watch = options.Follow ? LogDirectoryWatcher.Shared.Watch(Path.GetDirectoryName(Path.GetFullPath(logPath))!) : null;

        // Every file is open before anything is read, the current one first: a rotation while the history is read
        // renames files under us but loses nothing, since the descriptors keep what they were opened on.
        var (history, current) = await OpenAllAsync(logPath, cancellationToken).ConfigureAwait(false);
        try
        {
            var all = current is null ? history : [.. history, current];
            var (startFile, startOffset) = options.Tail is { } tail ? TailStart(all, tail) : (0, 0L);
            if (options.Tail == 0) { startFile = all.Count; startOffset = 0; }
            for (var i = startFile; i < history.Count; i++)
            {
                foreach (var entry in new Tail(history[i], i == startFile ? startOffset : 0).ReadAvailable())
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (entry.UnixNanoseconds > until) yield break;
                    if (entry.UnixNanoseconds < since || !Wanted(entry, options)) continue;
                    yield return ToChunk(entry);
                }
            }
            foreach (var file in history) file.Dispose();
            history.Clear();

            // The current file: read what is there; when following, wait for more.
            if (current is null && !options.Follow) yield break;
            var reader = current is null ? null : new Tail(current, startFile == all.Count - 1 ? startOffset : startFile >= all.Count ? current.Length : 0);
            current = null; // the reader owns it now
            try
            {
                var stopped = false;
                var rotated = false;
                while (true)
                {
                    if (reader is not null)
                    {
                        foreach (var entry in reader.ReadAvailable())
                        {
                            if (entry.UnixNanoseconds > until) yield break;
                            if (entry.UnixNanoseconds < since || !Wanted(entry, options)) continue;
                            yield return ToChunk(entry);
                        }
                    }
                    if (!options.Follow) yield break;
                    if (rotated)
                    {
                        // The rotated file was read to its end after the rotation (nothing is written to it any more):
                        // go on with the file that followed it.
                        rotated = false;
                        var next = NextFile(logPath, reader?.File);
                        if (next is not null)
                        {
                            reader?.File.Dispose();
                            reader = new Tail(next, 0);
                            continue;
                        }
                    }
                    else if (IsRotated(logPath, reader?.File))
                    {
                        rotated = true; // one more read of it first: entries written between the last read and the rename
                        continue;
                    }
                    if (stopped) yield break;
                    if (stopFollowing is { IsCompleted: true }) { stopped = true; continue; } // one last read
                    var changed = watch!.WaitAsync(cancellationToken);
                    if (stopFollowing is null) await changed.ConfigureAwait(false);
                    else if (await Task.WhenAny(changed, stopFollowing).ConfigureAwait(false) == stopFollowing) stopped = true;
                    if (cancellationToken.IsCancellationRequested) yield break;
                }
            }
            finally { reader?.File.Dispose(); }
        }
        finally
        {
            foreach (var file in history) file.Dispose();
            current?.Dispose();
        }
    }

    private static bool Wanted(JsonLogFormat.Entry entry, LogsOptions options) => entry.Stderr ? options.Stderr : options.Stdout;

    private static OutputChunk ToChunk(JsonLogFormat.Entry entry)
        => new(entry.Stderr ? StdStream.Stderr : StdStream.Stdout, entry.Log, DateTimeOffset.UnixEpoch.AddTicks(entry.UnixNanoseconds / 100));

    private static long ToNanoseconds(DateTimeOffset time) => (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;

    /// <summary>The log's files, oldest first: ID-json.log.N … .1, then ID-json.log (also when it does not exist yet).</summary>
    public static List<string> Files(string logPath)
    {
        var rotated = new List<string>();
        for (var i = 1; File.Exists($"{logPath}.{i}"); i++) rotated.Add($"{logPath}.{i}");
        rotated.Reverse();
        rotated.Add(logPath);
        return rotated;
    }

    /// <summary>Where the last <paramref name="lines"/> entries begin: scanning back from the end of the newest file.</summary>
    public static (int File, long Offset) TailStart(List<FileStream> files, int lines)
    {
        var remaining = lines;
        var buffer = new byte[Block];
        for (var f = files.Count - 1; f >= 0; f--)
        {
            var file = files[f];
            var length = file.Length;
            var position = length;
            // A file ends with a newline: the entry count is the newline count; the start of entry k from the end is
            // just after the (k+1)th newline from the end.
            var skippedFinal = false;
            while (position > 0)
            {
                var size = (int)Math.Min(Block, position);
                position -= size;
                file.Seek(position, SeekOrigin.Begin);
                file.ReadExactly(buffer, 0, size);
                for (var i = size - 1; i >= 0; i--)
                {
                    if (buffer[i] != '\n') continue;
                    if (!skippedFinal && position + i == length - 1) { skippedFinal = true; continue; }
                    if (remaining-- == 1) return (f, position + i + 1);
                }
                skippedFinal = true;
            }
            if (length > 0) remaining--; // the first entry of this file
            if (remaining <= 0) return (f, 0);
        }
        return (0, 0);
    }

    private static FileStream? OpenCurrent(string logPath)
    {
        try { return new FileStream(logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1); }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }

    /// <summary>
    /// The log's files, all open: the rotated ones oldest first, and the current one (null before the first write).
    /// The current file is opened first; the set is taken again when any file was renamed while the others were opened
    /// (a rotation under way), so it is one consistent picture.
    /// </summary>
    private static async Task<(List<FileStream> History, FileStream? Current)> OpenAllAsync(string logPath, CancellationToken cancellationToken)
    {
        while (true)
        {
            var current = OpenCurrent(logPath);
            var rotated = new List<(FileStream File, string Name)>();
            var gap = false;
            // Rotation renames .N-1 → .N down to the current → .1, one at a time: mid-way there is one missing index.
            for (int i = 1, missing = 0; missing < 2; i++)
            {
                var name = $"{logPath}.{i}";
                if (OpenCurrent(name) is { } file) { rotated.Add((file, name)); if (missing > 0) gap = true; missing = 0; }
                else missing++;
            }
            var consistent = !gap && (current is null || NameOf(current) == Path.GetFullPath(logPath));
            foreach (var (file, name) in rotated) consistent &= NameOf(file) == Path.GetFullPath(name);
            if (consistent)
            {
                var history = rotated.Select(r => r.File).Reverse().ToList();
                return (history, current);
            }
            current?.Dispose();
            foreach (var (file, _) in rotated) file.Dispose();
            await Task.Delay(1, cancellationToken).ConfigureAwait(false); // the writer is between two renames
        }
    }

    /// <summary>What the kernel calls an open file now: the name follows renames; null once it is deleted.</summary>
    private static string? NameOf(FileStream file)
    {
        try
        {
            var target = new FileInfo($"/proc/self/fd/{file.SafeFileHandle.DangerousGetHandle()}").LinkTarget;
            return target is null || target.EndsWith(" (deleted)", StringComparison.Ordinal) ? null : target;
        }
        catch (IOException) { return null; }
    }

    /// <summary>Whether <paramref name="open"/> is no longer the current file (renamed to .1 or deleted); with nothing open, whether a current file exists now.</summary>
    private static bool IsRotated(string logPath, FileStream? open)
        => open is null ? File.Exists(logPath) : NameOf(open) != Path.GetFullPath(logPath);

    /// <summary>
    /// The file written after <paramref name="open"/>, which has been rotated: its name is now ID-json.log.K, so the next
    /// one is .K-1 (or the current file when K is 1). Opened and then checked that <paramref name="open"/> kept its name,
    /// so a rotation in between cannot hand over a later file. Null when the next file is not there yet.
    /// </summary>
    private static FileStream? NextFile(string logPath, FileStream? open)
    {
        if (open is null) return OpenCurrent(logPath);
        var full = Path.GetFullPath(logPath);
        while (true)
        {
            var name = NameOf(open);
            if (name == full) return null;
            if (name is not null && name.StartsWith(full + ".", StringComparison.Ordinal) && int.TryParse(name.AsSpan(full.Length + 1), out var k) && k >= 1)
            {
                var next = OpenCurrent(k == 1 ? logPath : $"{logPath}.{k - 1}");
                if (NameOf(open) == name) return next;
                next?.Dispose(); // rotated again meanwhile: look again
                continue;
            }
            // Rotated out altogether (deleted): continue with the oldest file still there.
            foreach (var f in JsonFileLogs.Files(logPath)) if (OpenCurrent(f) is { } oldest) return oldest;
            return null;
        }
    }

    /// <summary>Reads whole lines from a file as it grows; keeps a torn last line until its newline arrives.</summary>
    private sealed class Tail(FileStream file, long offset)
    {
        public FileStream File { get; } = file;
        private long _offset = offset;
        private byte[] _pending = [];

        public IEnumerable<JsonLogFormat.Entry> ReadAvailable()
        {
            if (File.Length < _offset) { _offset = 0; _pending = []; } // truncated (max-file 1)
            File.Seek(_offset, SeekOrigin.Begin);
            var buffer = new byte[Block];
            while (true)
            {
                var n = File.Read(buffer, 0, buffer.Length);
                if (n <= 0) yield break;
                _offset += n;
                var data = _pending.Length == 0 ? buffer.AsMemory(0, n) : Concat(_pending, buffer.AsSpan(0, n));
                _pending = [];
                var start = 0;
                while (true)
                {
                    var newline = data.Span[start..].IndexOf((byte)'\n');
                    if (newline < 0) break;
                    if (JsonLogFormat.TryParse(data.Span.Slice(start, newline), out var entry)) yield return entry;
                    start += newline + 1;
                }
                if (start < data.Length) _pending = data[start..].ToArray();
            }
        }

        private static Memory<byte> Concat(byte[] a, ReadOnlySpan<byte> b)
        {
            var joined = new byte[a.Length + b.Length];
            a.CopyTo(joined, 0);
            b.CopyTo(joined.AsSpan(a.Length));
            return joined;
        }
    }
}
