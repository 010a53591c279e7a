using System.Formats.Tar;
using System.Text;
using Berth.Engine.Images;
using Berth.Engine.Models;
using Berth.Images;
using Berth.Oci.Content;
using Berth.Storage;
using Berth.Testing;

namespace Berth.Engine.Tests.Images;

/// <summary>Containers as the image service sees them, set by the test.</summary>
internal sealed class FakeImageContainers : IImageContainers
{
    public List<ImageUse> Uses { get; } = [];
    public Dictionary<string, CommitSource> Commits { get; } = [];
    public List<string> Calls { get; } = [];

    public IReadOnlyList<ImageUse> ImageUses() => [.. Uses];

    public CommitSource GetCommitSource(string idOrName)
        => Commits.TryGetValue(idOrName, out var source) ? source : throw NotFoundException.Container(idOrName);

    public Task PauseAsync(string containerId, CancellationToken cancellationToken)
    {
        Calls.Add("pause " + containerId);
        return Task.CompletedTask;
    }

    public Task UnpauseAsync(string containerId, CancellationToken cancellationToken)
    {
        Calls.Add("unpause " + containerId);
        return Task.CompletedTask;
    }
}

/// <summary>An image service over a real storage root (overlay2 or vfs) in a temp directory; removes container layers and the directory on dispose.</summary>
internal sealed class ImageHarness : IDisposable
{
    public TempDir Temp { get; } = new();
    public StorageRoot Storage { get; }
    public ImageStore Store { get; }
    public FakeImageContainers Containers { get; } = new();
    public List<EventMessage> Events { get; } = [];
    public ImageService Service { get; }

    public ImageHarness(string driver = "overlay2")
    {
        Storage = StorageRoot.Open(Temp.Combine("data"), driver);
        Store = ImageStore.Open(Temp.Combine("data", "images"), Storage);
        Service = new ImageService(Store, Containers, e => { lock (Events) Events.Add(e); });
    }

    public List<(string Action, string Id, string Name)> EventList()
    {
        lock (Events) return [.. Events.Select(e => (e.Action, e.Actor.ID, e.Actor.Attributes.GetValueOrDefault("name") ?? ""))];
    }

    public async Task<List<JsonMessage>> ImportAsync(byte[] tar, string? repo = null, string? tag = null, IReadOnlyList<string>? changes = null, string? message = null)
    {
        var messages = new List<JsonMessage>();
        using var body = new MemoryStream(tar);
        await foreach (var m in Service.ImportAsync(body, new ImageImportOptions(repo, tag, message, changes ?? [], null), CancellationToken.None))
            messages.Add(m);
        return messages;
    }

    public async Task<Digest> ImportIdAsync(byte[] tar, string? repo = null, string? tag = null, IReadOnlyList<string>? changes = null)
        => Digest.Parse((await ImportAsync(tar, repo, tag, changes)).Single().Status!);

    public async Task<List<string>> LoadAsync(byte[] tar)
    {
        var lines = new List<string>();
        using var body = new MemoryStream(tar);
        await foreach (var m in Service.LoadAsync(body, quiet: true, CancellationToken.None)) lines.Add(m.Stream!);
        return lines;
    }

    public async Task<byte[]> SaveAsync(params string[] names)
    {
        using var output = new MemoryStream();
        await Service.SaveAsync(names, output, CancellationToken.None);
        return output.ToArray();
    }

    public void Dispose()
    {
        foreach (var c in Storage.Layers.ListContainerLayers().ToList())
            try { Storage.Layers.DeleteContainerLayer(c.Id); } catch (StorageException) { }
        Temp.Dispose();
    }
}

internal static class TestTars
{
    /// <summary>A small rootfs tar: directories for every parent, files with the given text, root-owned.</summary>
    public static byte[] Files(params (string Path, string Content)[] files)
    {
        using var output = new MemoryStream();
        using (var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
        {
            var dirs = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (path, content) in files)
            {
                var parts = path.Split('/');
                for (var i = 1; i < parts.Length; i++)
                {
                    var dir = string.Join('/', parts[..i]) + "/";
                    if (dirs.Add(dir))
                        writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, dir) { Mode = (UnixFileMode)0x1ED, ModificationTime = DateTimeOffset.UnixEpoch.AddDays(1) });
                }
                var entry = new PaxTarEntry(TarEntryType.RegularFile, path)
                {
                    Mode = (UnixFileMode)0x1A4,
                    ModificationTime = DateTimeOffset.UnixEpoch.AddDays(1),
                    DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)),
                };
                writer.WriteEntry(entry);
            }
        }
        return output.ToArray();
    }

    /// <summary>The busybox rootfs (scripts/make-busybox-rootfs) as a tar made by the system's tar.</summary>
    public static byte[] Busybox(TempDir temp)
    {
        var rootfs = temp.Combine("busybox-rootfs");
        BusyboxRootfs.CopyTo(rootfs);
        var tar = temp.Combine("busybox.tar");
        BusyboxRootfs.Run("tar", "-C", rootfs, "--numeric-owner", "-cf", tar, ".");
        var bytes = File.ReadAllBytes(tar);
        File.Delete(tar);
        Directory.Delete(rootfs, recursive: true);
        return bytes;
    }

    /// <summary>Names of the entries of a tar.</summary>
    public static List<string> Names(byte[] tar)
    {
        var names = new List<string>();
        using var reader = new TarReader(new MemoryStream(tar));
        while (reader.GetNextEntry() is { } entry) names.Add(entry.Name);
        return names;
    }
}
