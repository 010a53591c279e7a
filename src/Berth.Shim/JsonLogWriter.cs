using Berth.Linux;

namespace Berth.Shim;

/// <summary>
/// Writes a container's output as dockerd's json-file driver does: one entry per line (the newline kept in "log"),
/// a line longer than 16 KiB cut into 16 KiB entries without a newline (Docker's copier buffer), and when the file
/// has reached max-size before an entry, rotation: ID-json.log → .1 → .2 … up to max-file files (with one file, the
/// file is truncated). Write failures (a full disk) drop entries; they never stop the shim.
/// </summary>
public sealed class JsonLogWriter : IDisposable
{
    /// <summary>dockerd's copier buffer: a line longer than this is logged in pieces of this size.</summary>
    public const int MaxEntry = 16 * 1024;

    private readonly IEventLoopCalls _loop;
    private readonly IDescriptorCalls _files;
    private readonly string _path;
    private readonly long _maxSize;
    private readonly int _maxFiles;
    private int _fd = -1;
    private long _size;
    private byte[] _line = new byte[4096];
    private readonly LineBuffer _stdout = new(), _stderr = new();

    private sealed class LineBuffer
    {
        public byte[]? Bytes;
        public int Length;
    }

    public JsonLogWriter(ISyscalls sys, string path, long maxSize, int maxFiles)
    {
        _loop = sys;
        _files = sys;
        _path = path;
        _maxSize = maxSize;
        _maxFiles = Math.Max(1, maxFiles);
        Open();
    }

    /// <summary>For tests: the current file's size as the writer counts it.</summary>
    public long Size => _size;

    private void Open()
    {
        _fd = _files.OpenFile(_path, OpenFlags.O_WRONLY | OpenFlags.O_CREAT | OpenFlags.O_APPEND, 0b110_100_000);
        try { _size = new FileInfo(_path).Length; } catch (IOException) { _size = 0; }
    }

    /// <summary>Output read from the container: complete lines become entries, the rest waits for its newline.</summary>
    public void Append(bool stderr, ReadOnlySpan<byte> data, long unixNanoseconds)
    {
        var pending = stderr ? _stderr : _stdout;
        while (data.Length > 0)
        {
            var newline = data.IndexOf((byte)'\n');
            if (newline >= 0 && pending.Length == 0 && newline < MaxEntry)
            {
                WriteEntry(stderr, data[..(newline + 1)], unixNanoseconds); // the common case: no copy
                data = data[(newline + 1)..];
                continue;
            }
            var content = newline >= 0 ? newline : data.Length;
            pending.Bytes ??= new byte[MaxEntry + 1];
            var take = Math.Min(content, MaxEntry - pending.Length);
            data[..take].CopyTo(pending.Bytes.AsSpan(pending.Length));
            pending.Length += take;
            data = data[take..];
            if (pending.Length == MaxEntry)
            {
                WriteEntry(stderr, pending.Bytes.AsSpan(0, MaxEntry), unixNanoseconds); // a partial entry: no newline
                pending.Length = 0;
            }
            else if (take == content && newline >= 0)
            {
                pending.Bytes[pending.Length++] = (byte)'\n';
                WriteEntry(stderr, pending.Bytes.AsSpan(0, pending.Length), unixNanoseconds);
                pending.Length = 0;
                data = data[1..];
            }
        }
    }

    /// <summary>End of a stream: what is left without a newline becomes an entry as it is.</summary>
    public void Flush(bool stderr, long unixNanoseconds)
    {
        var pending = stderr ? _stderr : _stdout;
        if (pending.Length == 0 || pending.Bytes is null) return;
        WriteEntry(stderr, pending.Bytes.AsSpan(0, pending.Length), unixNanoseconds);
        pending.Length = 0;
    }

    private void WriteEntry(bool stderr, ReadOnlySpan<byte> log, long unixNanoseconds)
    {
        if (_fd < 0) return;
        var need = JsonLogFormat.MaxLength(log.Length);
        if (_line.Length < need) _line = new byte[Math.Max(need, _line.Length * 2)];
        var length = JsonLogFormat.Format(_line, log, stderr, unixNanoseconds);
        try
        {
            if (_maxSize > 0 && _size >= _maxSize) Rotate();
            _files.WriteAll(_fd, _line.AsSpan(0, length));
            _size += length;
        }
        catch (SyscallException) { } // ENOSPC and friends: the entry is lost, the container goes on
        catch (IOException) { }
        if (_line.Length > 64 * 1024) _line = new byte[4096]; // give a burst's buffer back
    }

    private void Rotate()
    {
        if (_maxFiles <= 1)
        {
            _loop.Truncate(_fd, 0);
            _size = 0;
            return;
        }
        _files.CloseFd(_fd);
        _fd = -1;
        _loop.Unlink($"{_path}.{_maxFiles - 1}");
        for (var i = _maxFiles - 2; i >= 1; i--)
        {
            if (File.Exists($"{_path}.{i}")) _loop.Rename($"{_path}.{i}", $"{_path}.{i + 1}");
        }
        _loop.Rename(_path, _path + ".1");
        Open();
    }

    public void Dispose()
    {
        if (_fd >= 0) _files.CloseFd(_fd);
        _fd = -1;
    }
}
