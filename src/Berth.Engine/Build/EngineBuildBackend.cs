using System.Formats.Tar;
using System.Text;
using Berth.Build;
using Berth.Build.Dockerfile;
using Berth.Build.Execution;
using Berth.Engine.Models;
using Berth.Images;
using Berth.Oci.Content;
using Berth.Oci.Image;
using Berth.Storage;

namespace Berth.Engine.Build;

/// <summary>
/// The builder's backend over the engine: images and layers from the image store, RUN steps as
/// containers of the engine (so they get its runtime, mounts and networks), their changes registered
/// as layers; files from COPY/ADD written as a layer tar directly.
/// </summary>
public sealed class EngineBuildBackend(BerthEngine engine) : IBuildBackend
{
    private ImageStore Store => engine.ImageStore;
    private ILayerStore Layers => engine.Storage.Layers;

    public async Task<BuildImage> GetImageAsync(string reference, bool pull, string? platform, Func<BuildMessage, ValueTask> progress, CancellationToken cancellationToken)
    {
        if (!pull && Store.TryResolve(reference, out var id)) return new BuildImage(id.ToString(), Store.GetConfig(id));
        // Absent (or --pull): fetched through the engine's distribution client, its progress lines in the build's stream.
        try
        {
            await foreach (var message in engine.ImageService.PullAsync(reference, null, platform, allTags: false, auth: null, cancellationToken))
            {
                if (message.Error is { } error) throw new BuildException(error);
                await progress(new BuildMessage
                {
                    Status = message.Status,
                    Id = message.Id,
                    Progress = message.Progress,
                    ProgressDetail = message.ProgressDetail is null ? null : new Berth.Build.Execution.ProgressDetail { Current = message.ProgressDetail.Current, Total = message.ProgressDetail.Total },
                });
            }
        }
        catch (EngineException e) when (e is NotFoundException or UnauthorizedException or ForbiddenException)
        {
            throw new BuildException($"pull access denied for {RepositoryOf(reference)}, repository does not exist or may require 'docker login': denied: requested access to the resource is denied");
        }
        catch (EngineException e) { throw new BuildException(e.Message); }
        if (Store.TryResolve(reference, out id)) return new BuildImage(id.ToString(), Store.GetConfig(id));
        throw new BuildException($"pull of {reference} did not produce an image");
    }

    private static string RepositoryOf(string reference)
    {
        var name = reference.Split('@')[0];
        var slash = name.LastIndexOf('/');
        var colon = name.LastIndexOf(':');
        return colon > slash ? name[..colon] : name;
    }

    public Task<BuildImage?> FindImageAsync(string imageId, CancellationToken cancellationToken)
    {
        if (!Digest.TryParse(imageId, out var id) || !Store.Exists(id)) return Task.FromResult<BuildImage?>(null);
        return Task.FromResult<BuildImage?>(new BuildImage(imageId, Store.GetConfig(id)));
    }

    private static string? ChainOf(ImageConfig? config)
        => config is null || config.RootFs.DiffIds.Count == 0 ? null : config.RootFs.ChainId().ToString();

    private sealed class LayerView(ILayerStore layers, ContainerLayer layer) : IRootfsView
    {
        public string Path { get; } = layer.Mount();
        public ValueTask DisposeAsync()
        {
            try { layer.Unmount(); }
            finally { layers.DeleteContainerLayer(layer.Id); }
            return ValueTask.CompletedTask;
        }
    }

    private sealed class EmptyView : IRootfsView
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("berth-build-scratch-").FullName;
        public ValueTask DisposeAsync()
        {
            Directory.Delete(Path, recursive: true);
            return ValueTask.CompletedTask;
        }
    }

    public Task<IRootfsView> OpenRootfsAsync(string? imageId, CancellationToken cancellationToken)
    {
        if (imageId is null) return Task.FromResult<IRootfsView>(new EmptyView());
        var config = Store.GetConfig(Digest.Parse(imageId));
        var chain = ChainOf(config);
        if (chain is null) return Task.FromResult<IRootfsView>(new EmptyView());
        var layer = Layers.CreateContainerLayer("build-view-" + Guid.NewGuid().ToString("N"), chain);
        try { return Task.FromResult<IRootfsView>(new LayerView(Layers, layer)); }
        catch
        {
            Layers.DeleteContainerLayer(layer.Id);
            throw;
        }
    }

    private sealed record EngineLayer(Layer? Registered, bool HasChanges) : IBuildLayer;

    public async Task<RunOutcome> RunAsync(RunRequest request, Func<ReadOnlyMemory<byte>, ValueTask> output, CancellationToken cancellationToken)
    {
        var containers = engine.Containers;
        var create = new ContainerCreateRequest
        {
            Image = request.ImageId ?? throw new BuildException("Please provide a source image with `from` prior to run"),
            Cmd = [.. request.Args],
            Entrypoint = [],
            Env = [.. request.Env],
            User = request.User.Length > 0 ? request.User : null,
            WorkingDir = request.WorkingDir,
            AttachStdout = true,
            AttachStderr = true,
            Labels = new Dictionary<string, string> { ["berth.build"] = "true" },
            HostConfig = new HostConfig
            {
                NetworkMode = request.Network == "default" ? null : request.Network,
                Mounts = Mounts(request.Mounts),
            },
        };
        var created = await containers.CreateAsync(null, null, create, cancellationToken);
        var id = created.Id;
        try
        {
            await request.Created(id);
            var waiting = await containers.WaitAsync(id, WaitCondition.NextExit, cancellationToken);
            await using var session = await containers.AttachAsync(id, new AttachOptions(false, true, true, true, false, null), cancellationToken);
            await containers.StartAsync(id, cancellationToken);
            await foreach (var chunk in session.Output.WithCancellation(cancellationToken))
                await output(chunk.Data);
            var exit = await waiting;
            var code = (int)exit.StatusCode;
            if (code != 0) return new RunOutcome(code, null);
            return new RunOutcome(0, RegisterContainerDiff(id, request.ImageId, cancellationToken));
        }
        finally
        {
            try { await containers.RemoveAsync(id, force: true, removeVolumes: true, removeLink: false, CancellationToken.None); }
            catch (EngineException) { }
        }
    }

    private List<Mount>? Mounts(IReadOnlyList<ResolvedMount> mounts)
    {
        if (mounts.Count == 0) return null;
        var result = new List<Mount>();
        foreach (var m in mounts)
        {
            switch (m.Mount.Type)
            {
                case MountType.Bind:
                    result.Add(new Mount { Type = "bind", Source = m.HostSource, Target = m.Mount.Target, ReadOnly = m.Mount.ReadOnly });
                    break;
                case MountType.Cache:
                {
                    // A cache mount is a directory kept under the data root, per id (the target when no id).
                    var key = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(m.Mount.CacheId.Length > 0 ? m.Mount.CacheId : m.Mount.Target)));
                    var dir = Path.Combine(engine.Options.DataRoot, "builder", "cache-mounts", key);
                    Directory.CreateDirectory(dir);
                    result.Add(new Mount { Type = "bind", Source = dir, Target = m.Mount.Target, ReadOnly = m.Mount.ReadOnly });
                    break;
                }
                case MountType.Tmpfs:
                    result.Add(new Mount { Type = "tmpfs", Target = m.Mount.Target, TmpfsOptions = m.Mount.SizeLimit > 0 ? new TmpfsOptions { SizeBytes = m.Mount.SizeLimit } : null });
                    break;
                default:
                    throw new BuildException($"{RunMount.TypeName(m.Mount.Type)} mounts are not supported by this builder");
            }
        }
        return result;
    }

    private EngineLayer RegisterContainerDiff(string containerId, string imageId, CancellationToken cancellationToken)
    {
        var container = Layers.GetContainerLayer(containerId) ?? throw new BuildException($"the filesystem of container {containerId} is missing");
        var temp = Path.Combine(engine.Options.DataRoot, "builder", "tmp", "diff-" + Guid.NewGuid().ToString("N") + ".tar");
        Directory.CreateDirectory(Path.GetDirectoryName(temp)!);
        try
        {
            using (var file = File.Create(temp)) container.WriteDiff(file);
            return Register(temp, container.ParentChainId, cancellationToken);
        }
        finally { File.Delete(temp); }
    }

    private EngineLayer Register(string tarPath, string? parentChain, CancellationToken cancellationToken)
    {
        Layer layer;
        using (var input = File.OpenRead(tarPath))
            layer = Layers.Register(input, Compression.None, parentChain, null, cancellationToken);
        return new EngineLayer(layer, layer.DiffId != ChainIds.EmptyTar);
    }

    public Task<IBuildLayer> CreateLayerAsync(string? parentImageId, IReadOnlyList<LayerEntry> entries, CancellationToken cancellationToken)
    {
        var parentChain = parentImageId is null ? null : ChainOf(Store.GetConfig(Digest.Parse(parentImageId)));
        var temp = Path.Combine(engine.Options.DataRoot, "builder", "tmp", "files-" + Guid.NewGuid().ToString("N") + ".tar");
        Directory.CreateDirectory(Path.GetDirectoryName(temp)!);
        try
        {
            using (var file = File.Create(temp))
            using (var writer = new TarWriter(file, TarEntryFormat.Pax, leaveOpen: true))
            {
                foreach (var e in entries)
                {
                    var name = e.Path.TrimStart('/');
                    if (name.Length == 0) continue;
                    PaxTarEntry entry = e.Kind switch
                    {
                        LayerEntryKind.Directory => new PaxTarEntry(TarEntryType.Directory, name + "/"),
                        LayerEntryKind.Symlink => new PaxTarEntry(TarEntryType.SymbolicLink, name) { LinkName = e.LinkTarget! },
                        _ => new PaxTarEntry(TarEntryType.RegularFile, name),
                    };
                    entry.Mode = (UnixFileMode)(e.Mode & 0xFFF);
                    entry.Uid = e.Uid;
                    entry.Gid = e.Gid;
                    entry.ModificationTime = e.ModTime;
                    using var data = e.Kind != LayerEntryKind.File ? null : e.Data is not null ? new MemoryStream(e.Data) : (Stream)File.OpenRead(e.SourceFile!);
                    if (data is not null) entry.DataStream = data;
                    writer.WriteEntry(entry);
                }
            }
            return Task.FromResult<IBuildLayer>(Register(temp, parentChain, cancellationToken));
        }
        finally { File.Delete(temp); }
    }

    public Task<BuildImage> CommitAsync(CommitRequest request, CancellationToken cancellationToken)
    {
        ImageConfig config;
        Digest? parentId = null;
        if (request.Parent is not null)
        {
            parentId = Digest.Parse(request.Parent.Id);
            config = ImageJson.ParseConfig(Store.GetConfigBytes(parentId.Value)); // a private copy
        }
        else
        {
            var platform = (request.Platform ?? Platforms.Host.ToString()).Split('/');
            config = new ImageConfig { Os = platform[0], Architecture = platform.Length > 1 ? platform[1] : Platforms.Host.Architecture, Variant = platform.Length > 2 ? platform[2] : null };
        }
        var layer = request.Layer as EngineLayer;
        var now = DateTimeOffset.UtcNow;
        config.History ??= [];
        config.History.Add(new HistoryEntry { Created = now, CreatedBy = request.CreatedBy, Author = request.Author, EmptyLayer = layer is { HasChanges: true } ? null : true });
        if (layer is { HasChanges: true, Registered: { } registered }) config.RootFs.DiffIds.Add(registered.DiffId);
        config.Created = now;
        config.Author = request.Author;
        config.Config = request.Config;
        config.Extra?.Remove("container");
        config.Extra?.Remove("container_config");
        config.Extra?.Remove("id");
        config.Extra?.Remove("parent");
        var id = Store.Create(ImageJson.Serialize(config, ImageJson.Config), parentId);
        if (layer is { HasChanges: false, Registered: { } empty })
        {
            // An empty diff was registered only to learn it is empty; drop it unless something uses it.
            if (!Store.LayerRoots().Contains(empty.ChainId))
                try { Layers.Delete(empty.ChainId); } catch (StorageException) { }
        }
        return Task.FromResult(new BuildImage(id.ToString(), config));
    }

    public Task TagAsync(string imageId, string reference, CancellationToken cancellationToken)
    {
        Store.Tag(Digest.Parse(imageId), reference);
        return Task.CompletedTask;
    }
}
