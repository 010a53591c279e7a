using System.Security.Cryptography;
using System.Text;
using Berth.Build.Execution;
using Berth.Oci.Content;
using Berth.Oci.Image;

namespace Berth.Build.Tests;

/// <summary>
/// An in-memory-ish backend: every image is a directory snapshot of its whole tree under a temp root;
/// RUN steps are interpreted by a tiny shell (echo, echo > file, cat, mkdir -p, env, true, false, exit N).
/// </summary>
public sealed class FakeBackend : IBuildBackend, IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "berth-build-fake-" + Guid.NewGuid().ToString("N"));
    private readonly Dictionary<string, (BuildImage Image, string Rootfs)> _images = [];
    private readonly Dictionary<string, string> _tags = [];
    private readonly HashSet<string> _pullable = [];
    private int _counter;

    public List<RunRequest> Runs { get; } = [];
    public List<(string? Parent, IReadOnlyList<LayerEntry> Entries)> Layers { get; } = [];
    public List<string> Pulls { get; } = [];
    public IReadOnlyDictionary<string, string> Tags => _tags;

    public FakeBackend() => Directory.CreateDirectory(_root);

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private string NewDir()
    {
        var dir = Path.Combine(_root, (Interlocked.Increment(ref _counter)).ToString());
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Adds a local image named <paramref name="reference"/> ("busybox:latest") with a few files.</summary>
    public string AddImage(string reference, ContainerConfig? config = null, Action<string>? populate = null, bool pullOnly = false)
    {
        var rootfs = NewDir();
        foreach (var dir in new[] { "bin", "etc", "tmp", "usr/local/bin" }) Directory.CreateDirectory(Path.Combine(rootfs, dir));
        File.WriteAllText(Path.Combine(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n");
        File.WriteAllText(Path.Combine(rootfs, "etc/group"), "root:x:0:\napp:x:1001:\nstaff:x:50:\n");
        populate?.Invoke(rootfs);
        var image = Register(new ImageConfig
        {
            Architecture = "amd64", Os = "linux",
            Config = config ?? new ContainerConfig { Env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd = ["sh"] },
            RootFs = new RootFs { DiffIds = [Digest.Sha256(Encoding.UTF8.GetBytes(reference))] },
            History = [new HistoryEntry { CreatedBy = "base " + reference }],
        }, rootfs);
        if (pullOnly) _pullable.Add(reference);
        else _tags[reference] = image.Id;
        if (pullOnly) _tags["(remote)" + reference] = image.Id;
        return image.Id;
    }

    private BuildImage Register(ImageConfig config, string rootfs)
    {
        config.Created ??= DateTimeOffset.UnixEpoch.AddSeconds(Interlocked.Increment(ref _counter));
        var bytes = ImageJson.Serialize(config, ImageJson.Config);
        var image = new BuildImage(Digest.Sha256(bytes).ToString(), config);
        lock (_images) _images[image.Id] = (image, rootfs);
        return image;
    }

    public string RootfsOf(string imageId) => _images[imageId].Rootfs;
    public BuildImage Image(string imageId) => _images[imageId].Image;
    public void Remove(string imageId) { lock (_images) _images.Remove(imageId); }

    private static string Normalize(string reference) => reference.Contains(':') || reference.Contains('@') ? reference : reference + ":latest";

    public async Task<BuildImage> GetImageAsync(string reference, bool pull, string? platform, Func<BuildMessage, ValueTask> progress, CancellationToken cancellationToken)
    {
        var name = Normalize(reference);
        if (_images.ContainsKey(reference)) return _images[reference].Image;
        if ((pull || !_tags.ContainsKey(name)) && _tags.TryGetValue("(remote)" + name, out var remote))
        {
            lock (Pulls) Pulls.Add(name);
            await progress(new BuildMessage { Status = "Pulling from library/" + name.Split(':')[0], Id = name.Split(':')[1] });
            _tags[name] = remote;
            return _images[remote].Image;
        }
        if (_tags.TryGetValue(name, out var id)) return _images[id].Image;
        throw new BuildException($"pull access denied for {reference.Split(':')[0]}, repository does not exist or may require 'docker login': denied: requested access to the resource is denied");
    }

    public Task<BuildImage?> FindImageAsync(string imageId, CancellationToken cancellationToken)
    {
        lock (_images) return Task.FromResult(_images.TryGetValue(imageId, out var i) ? i.Image : null);
    }

    private sealed class View(string path, bool owned) : IRootfsView
    {
        public string Path { get; } = path;
        public ValueTask DisposeAsync()
        {
            if (owned) Directory.Delete(Path, recursive: true);
            return ValueTask.CompletedTask;
        }
    }

    public Task<IRootfsView> OpenRootfsAsync(string? imageId, CancellationToken cancellationToken)
        => Task.FromResult<IRootfsView>(imageId is null ? new View(NewDir(), true) : new View(_images[imageId].Rootfs, false));

    private sealed record Layer(string Snapshot, bool HasChanges) : IBuildLayer;

    private string Snapshot(string? parent)
    {
        var dir = NewDir();
        if (parent is not null) CopyTree(_images[parent].Rootfs, dir);
        return dir;
    }

    private static void CopyTree(string from, string to)
    {
        foreach (var entry in new DirectoryInfo(from).GetFileSystemInfos())
        {
            var target = Path.Combine(to, entry.Name);
            if (entry.LinkTarget is { } link) File.CreateSymbolicLink(target, link);
            else if (entry is DirectoryInfo) { Directory.CreateDirectory(target); CopyTree(entry.FullName, target); }
            else File.Copy(entry.FullName, target);
        }
    }

    public async Task<RunOutcome> RunAsync(RunRequest request, Func<ReadOnlyMemory<byte>, ValueTask> output, CancellationToken cancellationToken)
    {
        lock (Runs) Runs.Add(request);
        await request.Created(request.ContainerId);
        var snapshot = Snapshot(request.ImageId);
        var script = request.Args.Count >= 3 && request.Args[0] == "/bin/sh" && request.Args[1] == "-c" ? request.Args[2] : string.Join(' ', request.Args);
        var (code, text) = MiniShell.Run(script, snapshot, request);
        if (text.Length > 0) await output(Encoding.UTF8.GetBytes(text));
        return new RunOutcome(code, code == 0 ? new Layer(snapshot, true) : null);
    }

    public Task<IBuildLayer> CreateLayerAsync(string? parentImageId, IReadOnlyList<LayerEntry> entries, CancellationToken cancellationToken)
    {
        lock (Layers) Layers.Add((parentImageId, entries));
        var snapshot = Snapshot(parentImageId);
        foreach (var e in entries)
        {
            var path = Path.Combine(snapshot, e.Path.TrimStart('/'));
            switch (e.Kind)
            {
                case LayerEntryKind.Directory:
                    Directory.CreateDirectory(path);
                    break;
                case LayerEntryKind.Symlink:
                    if (File.Exists(path) || new FileInfo(path).LinkTarget is not null) File.Delete(path);
                    File.CreateSymbolicLink(path, e.LinkTarget!);
                    break;
                default:
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    if (e.Data is not null) File.WriteAllBytes(path, e.Data);
                    else File.Copy(e.SourceFile!, path, overwrite: true);
                    File.SetUnixFileMode(path, (UnixFileMode)e.Mode);
                    break;
            }
        }
        return Task.FromResult<IBuildLayer>(new Layer(snapshot, entries.Count > 0));
    }

    public Task<BuildImage> CommitAsync(CommitRequest request, CancellationToken cancellationToken)
    {
        var parent = request.Parent?.Config;
        var layer = request.Layer as Layer;
        var empty = layer is null || !layer.HasChanges;
        var config = new ImageConfig
        {
            Architecture = parent?.Architecture ?? request.Platform?.Split('/')[1] ?? "amd64",
            Os = parent?.Os ?? "linux",
            Author = request.Author,
            Config = request.Config,
            RootFs = new RootFs { DiffIds = [.. parent?.RootFs.DiffIds ?? [], .. empty ? Array.Empty<Digest>() : [Digest.Sha256(RandomNumberGenerator.GetBytes(16))]] },
            History = [.. parent?.History ?? [], new HistoryEntry { CreatedBy = request.CreatedBy, EmptyLayer = empty ? true : null }],
        };
        var rootfs = layer?.Snapshot ?? (request.Parent is null ? NewDir() : _images[request.Parent.Id].Rootfs);
        return Task.FromResult(Register(config, rootfs));
    }

    public Task TagAsync(string imageId, string reference, CancellationToken cancellationToken)
    {
        _tags[reference] = imageId;
        return Task.CompletedTask;
    }
}

/// <summary>Just enough shell for build tests.</summary>
internal static class MiniShell
{
    public static (int Code, string Output) Run(string script, string rootfs, RunRequest request)
    {
        var output = new StringBuilder();
        foreach (var raw in script.Split(["&&", ";", "\n"], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var command = raw;
            string? redirect = null;
            var gt = command.IndexOf('>');
            if (gt >= 0) { redirect = command[(gt + 1)..].Trim(); command = command[..gt].Trim(); }
            var words = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length == 0 || words[0].StartsWith('#')) continue;
            string text;
            switch (words[0])
            {
                case "true": continue;
                case "false": return (1, output.ToString());
                case "exit": return (int.Parse(words[1]), output.ToString());
                case "echo": text = Unquote(string.Join(' ', words.Skip(1))) + "\n"; break;
                case "env": text = string.Join("\n", request.Env) + "\n"; break;
                case "pwd": text = request.WorkingDir + "\n"; break;
                case "cat": text = File.ReadAllText(PathIn(rootfs, request.WorkingDir, words[1])); break;
                case "mkdir":
                    Directory.CreateDirectory(PathIn(rootfs, request.WorkingDir, words[^1]));
                    continue;
                default:
                    output.Append($"sh: {words[0]}: not found\n");
                    return (127, output.ToString());
            }
            if (redirect is not null)
            {
                var path = PathIn(rootfs, request.WorkingDir, redirect);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllText(path, text);
            }
            else output.Append(text);
        }
        return (0, output.ToString());
    }

    private static string Unquote(string s) => s.Length >= 2 && (s[0] == '"' || s[0] == '\'') && s[^1] == s[0] ? s[1..^1] : s;

    private static string PathIn(string rootfs, string workdir, string path)
        => Path.Combine(rootfs, (path.StartsWith('/') ? path : workdir.TrimEnd('/') + "/" + path).TrimStart('/'));
}
