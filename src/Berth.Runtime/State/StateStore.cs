using System.Text.Json;

namespace Berth.Runtime.State;

/// <summary>Containers' state under --root: ROOT/ID/state.json (written atomically; it ends with the config as created,
/// for later verbs and poststop hooks) and ROOT/ID/exec.fifo while the container waits for `start`. Few files: each new
/// inode costs (on ext4 without a journal, as here, its allocation skips every inode deleted in the last half minute:
/// up to a fifth of the runtime's CPU in a loop of containers). Records of earlier versions keep a ROOT/ID/config.json.</summary>
public sealed class StateStore(string root)
{
    public const string StateFile = "state.json", FifoFile = "exec.fifo", ConfigFile = "config.json", PausedMarker = "paused";

    public string Root { get; } = root;
    public string DirectoryOf(string id) => Path.Combine(Root, id);
    public string FifoOf(string id) => Path.Combine(Root, id, FifoFile);

    /// <summary>Makes ROOT/ID with mkdir(2), which fails when it exists: the atomic claim of the ID.</summary>
    public string Claim(string id, Linux.IFileSystemCalls sys)
    {
        var dir = DirectoryOf(id);
        if (OperatingSystem.IsLinux()) Directory.CreateDirectory(Root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        else Directory.CreateDirectory(Root);
        try { sys.MakeDirectory(dir, 0b111_000_000); }
        catch (Linux.SyscallException e) when (e.ErrorNumber == Linux.Errno.EEXIST) { throw new RuntimeException($"container with id exists: {id}"); }
        return dir;
    }

    /// <summary>Whether the ID is taken: its directory exists (claimed, or left by an aborted create).</summary>
    public bool Exists(string id) => Directory.Exists(DirectoryOf(id));

    /// <summary>The config saved with the container: the end of state.json, or ROOT/ID/config.json of earlier versions.</summary>
    public byte[]? LoadConfig(string id)
    {
        try
        {
            var state = File.ReadAllBytes(Path.Combine(DirectoryOf(id), StateFile));
            if (ContainerRecord.ConfigOf(state) is { } config) return config;
            return File.ReadAllBytes(Path.Combine(DirectoryOf(id), ConfigFile));
        }
        catch (IOException) { return null; }
        catch (JsonException) { return null; }
    }

    public void Save(ContainerRecord record) => Commit(record, WritePending(record));

    /// <summary>Writes the record to a temporary file beside state.json; <see cref="Commit"/> puts it in place.</summary>
    public string WritePending(ContainerRecord record)
    {
        var tmp = Path.Combine(DirectoryOf(record.Id), $".{StateFile}.{Environment.ProcessId}");
        using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 4096))
            record.WriteJson(stream);
        return tmp;
    }

    /// <summary>Renames a record written by <see cref="WritePending"/> over state.json.</summary>
    public void Commit(ContainerRecord record, string pending) => File.Move(pending, Path.Combine(DirectoryOf(record.Id), StateFile), overwrite: true);

    public ContainerRecord Load(string id)
    {
        ContainerId.Validate(id);
        byte[] bytes;
        try { bytes = File.ReadAllBytes(Path.Combine(DirectoryOf(id), StateFile)); }
        catch (FileNotFoundException) { throw new RuntimeException("container does not exist"); }
        catch (DirectoryNotFoundException) { throw new RuntimeException("container does not exist"); }
        try { return ContainerRecord.ReadJson(bytes); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new RuntimeException($"container {id}: state.json is corrupt");
        }
    }

    public IEnumerable<string> Ids()
    {
        if (!Directory.Exists(Root)) yield break;
        foreach (var dir in Directory.EnumerateDirectories(Root))
            if (File.Exists(Path.Combine(dir, StateFile))) yield return Path.GetFileName(dir);
    }

    /// <summary>The status as runtime.md defines it, derived from the init process and the state directory.</summary>
    /// <summary>True while the container's init (the recorded pid with its recorded start time) is alive.</summary>
    public bool IsAlive(ContainerRecord record) => ProcStat.IsSameLiveProcess(record.Pid, record.PidStartTime);

    public string StatusOf(ContainerRecord record)
    {
        if (record.Pid <= 0) return ContainerStatus.Creating;
        if (!ProcStat.IsSameLiveProcess(record.Pid, record.PidStartTime)) return ContainerStatus.Stopped;
        var dir = DirectoryOf(record.Id);
        if (File.Exists(Path.Combine(dir, FifoFile))) return ContainerStatus.Created;
        if (File.Exists(Path.Combine(dir, PausedMarker))) return ContainerStatus.Paused;
        return ContainerStatus.Running;
    }

    public ContainerStateView View(ContainerRecord record)
    {
        var status = StatusOf(record);
        return new ContainerStateView
        {
            Id = record.Id, Pid = status == ContainerStatus.Stopped ? 0 : record.Pid, Status = status, Bundle = record.Bundle,
            Rootfs = record.Rootfs, Created = record.Created, Annotations = record.Annotations, Owner = record.Owner,
        };
    }

    /// <summary>The runtime-spec state (hooks' stdin).</summary>
    public static Oci.Runtime.State SpecState(ContainerRecord record, string status) => new()
    {
        Id = record.Id, Pid = record.Pid, Status = status, Bundle = record.Bundle, Annotations = record.Annotations,
    };

    public void Remove(string id)
    {
        var dir = DirectoryOf(id);
        // The usual content by name, then the directory: no listing. Anything else (an aborted create's temp file, an
        // earlier version's config.json) makes the rmdir fail, and the recursive delete takes it all.
        try
        {
            File.Delete(Path.Combine(dir, StateFile));
            Directory.Delete(dir);
            return;
        }
        catch (DirectoryNotFoundException) { return; }
        catch (IOException) { }
        try { Directory.Delete(dir, recursive: true); } catch (DirectoryNotFoundException) { }
    }
}
