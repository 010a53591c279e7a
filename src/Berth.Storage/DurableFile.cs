using System.Text;
using Berth.Linux;
using Microsoft.Win32.SafeHandles;

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
    public static void WriteAtomic(string path, string tempPath, string text) => WriteAtomic(path, tempPath, text, MetadataSync.Disk, syncDirectory: true);

    /// <summary>
    /// The same through <paramref name="sync"/>: null writes and renames without any fsync (records nothing needs after a
    /// crash); <paramref name="syncDirectory"/> false leaves the rename to the filesystem's own commit (Docker's atomic writes).
    /// </summary>
    public static void WriteAtomic(string path, string tempPath, string text, IMetadataSync? sync, bool syncDirectory)
    {
        Write(tempPath, text, sync);
        File.Move(tempPath, path, overwrite: true);
        if (sync is not null && syncDirectory) sync.SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>Writes a file and fsyncs it: for files a later rename (of them or of their directory) publishes.</summary>
    public static void WriteSynced(string path, string text) => Write(path, text, MetadataSync.Disk);

    /// <summary>Writes a file, fsynced through <paramref name="sync"/> unless it is null.</summary>
    public static void Write(string path, string text, IMetadataSync? sync)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1);
        stream.Write(Encoding.UTF8.GetBytes(text));
        if (sync is not null) sync.SyncFile(stream.SafeFileHandle, path);
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

/// <summary>The fsyncs of metadata writes, behind a seam: tests see which records were made durable.</summary>
public interface IMetadataSync
{
    /// <summary>fsync of a file just written (still open).</summary>
    void SyncFile(SafeFileHandle file, string path);

    /// <summary>fsync of a directory after a rename in it.</summary>
    void SyncDirectory(string directory);
}

/// <summary>The real fsyncs.</summary>
public sealed class MetadataSync : IMetadataSync
{
    public static readonly MetadataSync Disk = new();

    public void SyncFile(SafeFileHandle file, string path) => LinuxSyscalls.Instance.Fsync(file);

    public void SyncDirectory(string directory) => DurableFile.SyncDirectory(directory);
}

/// <summary>What a container layer's metadata must survive.</summary>
public enum Durability
{
    /// <summary>A crash, as Docker's container layers: each record file is fsynced before the rename that publishes it.</summary>
    Durable = 0,

    /// <summary>Nothing: the layer of an AutoRemove (--rm) container, which no daemon start after a crash should keep.
    /// Its records are written and renamed without fsync; what a crash leaves of them, the consistency pass removes.</summary>
    Volatile = 1,
}
