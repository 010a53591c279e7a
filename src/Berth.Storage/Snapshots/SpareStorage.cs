using Berth.Linux;

namespace Berth.Storage.Snapshots;

/// <summary>
/// The storage of the next overlay snapshot, made ahead: snapshots/spare-&lt;random&gt;/ with its empty diff/ and work/.
/// A snapshot's directory is the costliest part of a container's create: snapshots/ is an ext4 top directory (chattr +T),
/// so its mkdir searches every block group for a roomy one (0.4 to 1 ms, more under load), and diff/ and work/ follow.
/// A new snapshot takes the spare by renaming it to its id (a rename in one directory), and the next spare is made on a
/// thread of its own at the lowest CPU priority, behind the requests. A spare left by a daemon that stopped is removed by
/// the repair pass at the next start.
/// </summary>
internal sealed class SpareStorage(ISyscalls sys, string snapshotsDirectory)
{
    public const string Prefix = "spare-";

    private readonly object gate = new(); // Monitor.Wait and Pulse: the maker sleeps until the spare is taken
    private string? ready; // the name of a spare made and not taken
    private string? making; // the name of the spare being made
    private Thread? maker;
    private bool failed;

    private const uint DirectoryMode = 0b111_111_111; // 0777 less the umask, as Directory.CreateDirectory makes them

    public bool Owns(string directoryName)
    {
        lock (gate) return directoryName == ready || directoryName == making;
    }

    /// <summary>Renames the spare to <paramref name="directory"/> (which must not exist) and has the next one made; false when
    /// none is ready (the caller makes the storage itself).</summary>
    public bool TakeAs(string directory)
    {
        string? spare;
        lock (gate)
        {
            spare = ready;
            ready = null;
            if (!failed)
            {
                maker ??= StartMaker();
                Monitor.PulseAll(gate);
            }
        }
        if (spare is null) return false;
        try
        {
            Directory.Move(Path.Combine(snapshotsDirectory, spare), directory);
            return true;
        }
        catch (IOException)
        {
            TryDelete(spare); // gone or damaged: the caller makes the storage
            return false;
        }
    }

    private Thread StartMaker()
    {
        var thread = new Thread(MakeForever, 256 * 1024) { IsBackground = true, Name = "berth-spare-snapshot" };
        thread.Start();
        return thread;
    }

    private void MakeForever()
    {
        try { sys.SetThreadNice(19); }
        catch (SyscallException) { } // then at the normal priority
        while (true)
        {
            var name = Prefix + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
            lock (gate)
            {
                while (ready is not null) Monitor.Wait(gate);
                making = name;
            }
            try
            {
                // One mkdir each, never their parents: a store removed meanwhile is not brought back.
                var dir = Path.Combine(snapshotsDirectory, name);
                sys.MakeDirectory(dir, DirectoryMode);
                sys.MakeDirectory(Path.Combine(dir, "diff"), DirectoryMode);
                sys.MakeDirectory(Path.Combine(dir, "work"), DirectoryMode);
                lock (gate) { ready = name; making = null; }
            }
            catch (SyscallException)
            {
                TryDelete(name);
                lock (gate) { failed = true; making = null; maker = null; }
                return; // a disk that refuses: each snapshot makes its own storage
            }
        }
    }

    private void TryDelete(string name)
    {
        try { Directory.Delete(Path.Combine(snapshotsDirectory, name), recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
