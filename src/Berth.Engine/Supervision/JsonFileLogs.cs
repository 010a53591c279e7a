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

        // History: from the start position tail asks for, through the rotated files into the current one.
        var files = Files(logPath);
        var (startFile, startOffset) = options.Tail is { } tail ? TailStart(files, tail) : (0, 0L);
        if (options.Tail == 0) { startFile = files.Count; startOffset = 0; }
        for (var i = startFile; i < files.Count - 1; i++)
        {
            await foreach (var chunk in ReadFileAsync(files[i], i == startFile ? startOffset : 0, options, since, until, cancellationToken).ConfigureAwait(false))
            {
                if (chunk.Time == default) yield break; // past until
                yield return chunk;
            }
        }

        // The current file: read what is there; when following, wait for more.
        using var current = OpenCurrent(logPath);
        if (current is null && !options.Follow) yield break;
        var reader = current is null ? null : new Tail(current, startFile == files.Count - 1 ? startOffset : startFile >= files.Count ? current.Length : 0);
        var stopped = false;
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

            // Rotated away (renamed to .1, a new file in its place)? What was in it has been read: go on with the next.
            var next = NextFileIfRotated(logPath, reader?.File);
            if (next is not null)
            {
                reader?.File.Dispose();
                reader = new Tail(next, 0);
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
    public static (int File, long Offset) TailStart(List<string> files, int lines)
    {
        var remaining = lines;
        for (var f = files.Count - 1; f >= 0; f--)
        {
            long length;
            try { length = new FileInfo(files[f]).Length; } catch (IOException) { continue; }
            if (!File.Exists(files[f])) continue;
            using var file = new FileStream(files[f], FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1);
            var buffer = new byte[Block];
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

    private static async IAsyncEnumerable<OutputChunk> ReadFileAsync(string path, long offset, LogsOptions options, long since, long until,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        FileStream file;
        try { file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1); }
        catch (FileNotFoundException) { yield break; }
        using (file)
        {
            var tail = new Tail(file, offset);
            foreach (var entry in tail.ReadAvailable())
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (entry.UnixNanoseconds > until) { yield return default; yield break; }
                if (entry.UnixNanoseconds < since || !Wanted(entry, options)) continue;
                yield return ToChunk(entry);
            }
        }
        await Task.CompletedTask.ConfigureAwait(false);
    }

    private static FileStream? OpenCurrent(string logPath)
    {
        try { return new FileStream(logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1); }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }

    /// <summary>
    /// The file written after <paramref name="open"/>, when <paramref name="open"/> is no longer the current file: the
    /// kernel's name for its descriptor follows renames, so ID-json.log.K means the next one is .K-1 (or the current
    /// file when K is 1). Null while <paramref name="open"/> is still current (or nothing exists yet).
    /// </summary>
    private static FileStream? NextFileIfRotated(string logPath, FileStream? open)
    {
        if (open is null) return OpenCurrent(logPath);
        var full = Path.GetFullPath(logPath);
        string? name;
        try { name = new FileInfo($"/proc/self/fd/{open.SafeFileHandle.DangerousGetHandle()}").LinkTarget; }
        catch (IOException) { return null; }
        if (name is null || name == full) return null;
        if (name.StartsWith(full + ".", StringComparison.Ordinal) && int.TryParse(name.AsSpan(full.Length + 1), out var k) && k >= 1)
            return k == 1 ? OpenCurrent(logPath) : OpenCurrent($"{logPath}.{k - 1}");
        // Rotated out altogether (deleted): continue with the oldest file still there.
        var files = Files(logPath);
        foreach (var f in files) if (OpenCurrent(f) is { } oldest) return oldest;
        return null;
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
