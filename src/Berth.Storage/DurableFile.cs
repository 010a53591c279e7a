using System.Text;
using Berth.Linux;

namespace Berth.Storage;

/// <summary>
/// Crash-safe metadata writes, for every record the stores publish: write a temp file (or a file in a staging
/// directory), fsync it, rename it into place, fsync the directory that holds the new name. After a crash a reader
/// sees the old record or the whole new one, and a record that was published stays published.
/// </summary>
public static class DurableFile
{
    /// <summary>Replaces <paramref name="path"/> with <paramref name="text"/> atomically and durably, through
    /// <paramref name="tempPath"/> (same directory; a name the store's consistency pass recognises as a leftover).</summary>
    public static void WriteAtomic(string path, string tempPath, string text)
    {
        WriteSynced(tempPath, text);
        File.Move(tempPath, path, overwrite: true);
        SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>Writes a file and fsyncs it: for files a later rename (of them or of their directory) publishes.</summary>
    public static void WriteSynced(string path, string text)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1);
        stream.Write(Encoding.UTF8.GetBytes(text));
        stream.Flush(flushToDisk: true);
    }

    /// <summary>fsync of an existing file or directory (read-only descriptors can be fsynced on Linux).</summary>
    public static void Sync(string path)
    {
        using var handle = LinuxSyscalls.Instance.OpenAt(null, path, OpenFlags.O_RDONLY);
        LinuxSyscalls.Instance.Fsync(handle);
    }

    /// <summary>fsync of a directory: makes the names created, renamed or removed in it durable.</summary>
    public static void SyncDirectory(string directory)
    {
        using var handle = LinuxSyscalls.Instance.OpenAt(null, directory, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY);
        LinuxSyscalls.Instance.Fsync(handle);
    }
}
