using System.Security.Cryptography;
using System.Text.Json;
using Berth.Engine.Models;

namespace Berth.Engine.Containers;

/// <summary>
/// Every container the daemon knows, by ID and by name, persisted one directory each under
/// data-root/containers/ID (config.v2.json, written atomically). Lookup as Docker's: full ID, exact name,
/// then unique ID prefix. Names are reserved atomically, so two creates cannot take the same name.
/// </summary>
public sealed class ContainerStore
{
    public const string RecordFile = "config.v2.json";

    private readonly Lock gate = new();
    private readonly Dictionary<string, Container> byId = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> names = new(StringComparer.Ordinal); // "/name" → ID

    public string Root { get; }

    public ContainerStore(string root)
    {
        Root = root;
        Directory.CreateDirectory(root);
    }

    /// <summary>Reads every container directory; unreadable or half-written ones are skipped and reported.</summary>
    public IReadOnlyList<string> Load()
    {
        var problems = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories(Root))
        {
            if (Path.GetFileName(dir).StartsWith(RemovedPrefix, StringComparison.Ordinal))
            {
                // A removed container's directory whose background delete a crash cut short.
                try { Directory.Delete(dir, recursive: true); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
                continue;
            }
            var path = Path.Combine(dir, RecordFile);
            foreach (var stale in Directory.EnumerateFiles(dir, RecordFile + ".tmp*")) File.Delete(stale);
            if (!File.Exists(path)) { problems.Add($"{dir}: no {RecordFile}"); continue; }
            try
            {
                var record = JsonSerializer.Deserialize(File.ReadAllBytes(path), ContainerRecordJsonContext.Default.ContainerRecord);
                if (record is null || record.ID != Path.GetFileName(dir)) { problems.Add($"{path}: not a container record"); continue; }
                var container = new Container(record, dir);
                lock (gate)
                {
                    byId[record.ID] = container;
                    names[record.Name] = record.ID;
                }
            }
            catch (JsonException e) { problems.Add($"{path}: {e.Message}"); }
        }
        return problems;
    }

    /// <summary>A new 64-hex ID that is not a prefix-ambiguous number-only string (Docker's rule) and not in use.</summary>
    public string NewId()
    {
        Span<byte> bytes = stackalloc byte[32];
        while (true)
        {
            RandomNumberGenerator.Fill(bytes);
            var id = Convert.ToHexStringLower(bytes);
            // Docker avoids IDs whose short form is all digits (it would read as a number in scripts).
            if (id.AsSpan(0, 12).IndexOfAnyExcept("0123456789") < 0) continue;
            lock (gate) if (!byId.ContainsKey(id)) return id;
        }
    }

    /// <summary>Reserves "/name" for <paramref name="id"/>; throws Docker's conflict when another container has it.</summary>
    public void ReserveName(string name, string id)
    {
        var key = Canonical(name);
        lock (gate)
        {
            if (names.TryGetValue(key, out var holder) && holder != id)
                throw new ConflictException($"Conflict. The container name \"{key}\" is already in use by container \"{holder}\". You have to remove (or rename) that container to be able to reuse that name.");
            names[key] = id;
        }
    }

    /// <summary>Reserves a generated name (adjective_surname, then with digits, then the short ID).</summary>
    public string ReserveGeneratedName(string id)
    {
        for (var retry = 0; retry < 10; retry++)
        {
            var name = "/" + NameGenerator.Next(retry);
            lock (gate)
                if (names.TryAdd(name, id)) return name;
        }
        var fallback = "/" + id[..12];
        ReserveName(fallback, id);
        return fallback;
    }

    public void ReleaseName(string name, string id)
    {
        var key = Canonical(name);
        lock (gate)
            if (names.TryGetValue(key, out var holder) && holder == id) names.Remove(key);
    }

    public static string Canonical(string name) => name.StartsWith('/') ? name : "/" + name;

    /// <summary>Makes a new container known (its name already reserved) and writes its record.</summary>
    public void Add(Container container)
    {
        Directory.CreateDirectory(container.Directory);
        Save(container);
        lock (gate) byId[container.Id] = container;
    }

    /// <summary>Forgets a container: its name, its entry, its directory.</summary>
    public void Delete(Container container)
    {
        DeleteDirectory(container);
        Forget(container);
    }

    /// <summary>Removes the container's directory (its record, network files and log) from the disk; it stays known until <see cref="Forget"/>.</summary>
    public void DeleteDirectory(Container container)
    {
        try { Directory.Delete(container.Directory, recursive: true); }
        catch (DirectoryNotFoundException) { }
    }

    /// <summary>
    /// The same, without waiting on the disk for every unlink: the directory is renamed aside ("rm-" and the ID, a name
    /// <see cref="Load"/> never reads as a container and deletes when a crash left it) and its files are deleted afterwards
    /// on the thread pool.
    /// </summary>
    public void DeleteDirectoryInBackground(Container container)
    {
        var aside = Path.Combine(Root, RemovedPrefix + container.Id);
        try { Directory.Move(container.Directory, aside); }
        catch (DirectoryNotFoundException) { return; }
        _ = Task.Run(() =>
        {
            try { Directory.Delete(aside, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // Load removes it at the next start
        });
    }

    private const string RemovedPrefix = "rm-";

    /// <summary>Releases the container's name and entry: lookups no longer find it.</summary>
    public void Forget(Container container)
    {
        lock (gate)
        {
            byId.Remove(container.Id);
            if (names.TryGetValue(container.Record.Name, out var holder) && holder == container.Id) names.Remove(container.Record.Name);
        }
    }

    /// <summary>Told of each record written (a seam: tests count the writes a request makes).</summary>
    internal Action<Container>? RecordWritten { get; set; }

    /// <summary>Writes the record atomically (temp file, then rename over the old one).</summary>
    public void Save(Container container)
    {
        RecordWritten?.Invoke(container);
        byte[] json;
        lock (container.Gate) json = JsonSerializer.SerializeToUtf8Bytes(container.Record, ContainerRecordJsonContext.Default.ContainerRecord);
        var path = Path.Combine(container.Directory, RecordFile);
        var tempName = RecordFile + ".tmp" + Environment.CurrentManagedThreadId;
        var temp = Path.Combine(container.Directory, tempName);
        File.WriteAllBytes(temp, json);
        if (File.Exists(path) && TryExchange(container.Directory, tempName)) return;
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>
    /// Replaces the record by exchanging it with the new one (renameat2 RENAME_EXCHANGE) and unlinking the old one, now under
    /// the temp name: as atomic as a rename over it, but ext4 flushes a file's data before a rename that replaces another
    /// file (auto_da_alloc), on the caller's time — 0.2 to several ms under load on every start and stop; an exchange is not
    /// such a rename. False where the filesystem cannot exchange (then the rename does it).
    /// </summary>
    private static bool TryExchange(string directory, string tempName)
    {
        var sys = Linux.LinuxSyscalls.Instance;
        Microsoft.Win32.SafeHandles.SafeFileHandle dir;
        try
        {
            dir = sys.OpenAt(null, directory, Linux.OpenFlags.O_RDONLY | Linux.OpenFlags.O_DIRECTORY);
        }
        catch (Linux.SyscallException) { return false; }
        using (dir)
        {
            try { sys.RenameAt2(dir, tempName, dir, RecordFile, Linux.FileTypes.RENAME_EXCHANGE); }
            catch (Linux.SyscallException) { return false; }
            // The temp name now holds the old record: never fall back to renaming it over the new one. A failed unlink (or a
            // crash before it) leaves a temp file Load deletes.
            try { sys.UnlinkAt(dir, tempName, directoryEntry: false); } catch (Linux.SyscallException) { }
            return true;
        }
    }

    public IReadOnlyList<Container> All()
    {
        lock (gate) return [.. byId.Values];
    }

    public int Count { get { lock (gate) return byId.Count; } }

    public Container? TryGet(string idOrName) => Find(idOrName, out _);

    /// <summary>Docker's GetContainer: full ID, exact name, unique ID prefix; throws 404 or, for an ambiguous prefix, 400.</summary>
    public Container Get(string idOrName)
        => Find(idOrName, out var error) ?? throw error!;

    private Container? Find(string idOrName, out EngineException? error)
    {
        error = null;
        if (string.IsNullOrEmpty(idOrName)) { error = NotFoundException.Container(idOrName); return null; }
        lock (gate)
        {
            if (byId.TryGetValue(idOrName, out var exact)) return exact;
            if (names.TryGetValue(Canonical(idOrName), out var named) && byId.TryGetValue(named, out var byName)) return byName;
            Container? found = null;
            foreach (var (id, container) in byId)
            {
                if (!id.StartsWith(idOrName, StringComparison.Ordinal)) continue;
                if (found is not null)
                {
                    error = new InvalidParameterException($"Multiple IDs found with provided prefix: {idOrName}");
                    return null;
                }
                found = container;
            }
            if (found is null) error = NotFoundException.Container(idOrName);
            return found;
        }
    }

    /// <summary>Renames under the store's lock: the new name is reserved before the old one is released.</summary>
    public void Rename(Container container, string newName)
    {
        var key = Canonical(newName);
        lock (gate)
        {
            if (names.TryGetValue(key, out var holder) && holder != container.Id)
                throw new ConflictException($"Conflict. The container name \"{key}\" is already in use by container \"{holder}\". You have to remove (or rename) that container to be able to reuse that name.");
            names.Remove(container.Record.Name);
            names[key] = container.Id;
            lock (container.Gate) container.Record.Name = key;
        }
    }

    internal static ContainerState CloneState(ContainerState s) => new()
    {
        Status = s.Status, Running = s.Running, Paused = s.Paused, Restarting = s.Restarting, OOMKilled = s.OOMKilled,
        Dead = s.Dead, Pid = s.Pid, ExitCode = s.ExitCode, Error = s.Error, StartedAt = s.StartedAt, FinishedAt = s.FinishedAt,
        Health = s.Health is null ? null : new Health
        {
            Status = s.Health.Status, FailingStreak = s.Health.FailingStreak,
            Log = s.Health.Log is null ? null : [.. s.Health.Log.Select(l => new HealthcheckResult { Start = l.Start, End = l.End, ExitCode = l.ExitCode, Output = l.Output })],
        },
    };
}
