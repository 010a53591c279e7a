using System.Diagnostics;
using System.IO.Compression;

namespace Berth.Images;

/// <summary>
/// Opens an archive or layer stream that may be plain tar, gzip, zstd, bzip2 or xz, telling them apart by
/// their first bytes as `docker load` and `docker import` do. gzip and zstd are decoded in process; bzip2 and
/// xz (rare) through the system's bzip2/xz tools.
/// </summary>
public static class Decompression
{
    public enum Kind { None, Gzip, Zstd, Bzip2, Xz }

    public static Kind Detect(ReadOnlySpan<byte> head) => head switch
    {
        [0x1f, 0x8b, ..] => Kind.Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Kind.Zstd,
        [(byte)'B', (byte)'Z', (byte)'h', ..] => Kind.Bzip2,
        [0xfd, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0x00, ..] => Kind.Xz,
        _ => Kind.None,
    };

    /// <summary>The decompressed content of <paramref name="input"/> (which is disposed with the result).</summary>
    public static Stream Open(Stream input, out Kind kind)
    {
        var peek = new PeekStream(input, 6);
        kind = Detect(peek.Head);
        return kind switch
        {
            Kind.Gzip => new GZipStream(peek, CompressionMode.Decompress),
            Kind.Zstd => new ZstdSharp.DecompressionStream(peek),
            Kind.Bzip2 => new ToolStream("bzip2", peek),
            Kind.Xz => new ToolStream("xz", peek),
            _ => peek,
        };
    }

    public static Stream Open(Stream input) => Open(input, out _);

    /// <summary>A read-only stream whose first bytes are known before anyone reads them.</summary>
    private sealed class PeekStream : Berth.Storage.Archive.ReadOnlyStream
    {
        private readonly Stream _inner;
        private readonly byte[] _head;
        private int _headLength, _headPosition;

        public PeekStream(Stream inner, int count)
        {
            _inner = inner;
            _head = new byte[count];
            while (_headLength < count)
            {
                var n = inner.Read(_head, _headLength, count - _headLength);
                if (n == 0) break;
                _headLength += n;
            }
        }

        public ReadOnlySpan<byte> Head => _head.AsSpan(0, _headLength);

        public override int Read(Span<byte> buffer)
        {
            if (_headPosition < _headLength)
            {
                var n = Math.Min(buffer.Length, _headLength - _headPosition);
                _head.AsSpan(_headPosition, n).CopyTo(buffer);
                _headPosition += n;
                return n;
            }
            return _inner.Read(buffer);
        }

        protected override void Dispose(bool disposing) { if (disposing) _inner.Dispose(); base.Dispose(disposing); }
    }

    /// <summary>Decompresses through "TOOL -dc": the input is pumped to its stdin on a task.</summary>
    private sealed class ToolStream : Berth.Storage.Archive.ReadOnlyStream
    {
        private readonly Process _process;
        private readonly Task _pump;
        private readonly Stream _input;
        private readonly Task<string> _stderr;

        public ToolStream(string tool, Stream input)
        {
            _input = input;
            var psi = new ProcessStartInfo(tool) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add("-dc");
            try { _process = Process.Start(psi)!; }
            catch (System.ComponentModel.Win32Exception e) { throw new InvalidArchiveException($"cannot decompress {tool} data: {tool} is not installed", e); }
            _stderr = _process.StandardError.ReadToEndAsync();
            _pump = Task.Run(async () =>
            {
                try { await input.CopyToAsync(_process.StandardInput.BaseStream); }
                catch (IOException) { } // the tool stopped reading: its exit code tells why
                finally { try { _process.StandardInput.Close(); } catch (IOException) { } }
            });
        }

        public override int Read(Span<byte> buffer)
        {
            var n = _process.StandardOutput.BaseStream.Read(buffer);
            if (n == 0 && buffer.Length > 0)
            {
                _process.WaitForExit();
                _pump.Wait();
                if (_process.ExitCode != 0) throw new InvalidDataException($"{_process.StartInfo.FileName}: {_stderr.Result.Trim()}");
            }
            return n;
        }


        private bool _disposed;

        protected override void Dispose(bool disposing)
        {
            if (disposing && !_disposed)
            {
                _disposed = true;
                if (!_process.HasExited) { try { _process.Kill(); } catch (InvalidOperationException) { } }
                _process.WaitForExit();
                _process.Dispose();
                _input.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
