using Berth.Engine.Events;
using Berth.Engine.Models;
using Berth.Engine.Supervision;
using Berth.Storage;

namespace Berth.Engine.Containers;

/// <summary>
/// Docker's container operations over the container store, the image store, the layer store and the
/// supervisor. This file: create, inspect, list, rename, prune and the helpers; lifecycle in
/// ContainerService.Lifecycle.cs; stdio, stats and filesystem in ContainerService.Observe.cs.
/// </summary>
public sealed partial class ContainerService : IContainerService, IContainerDirectory, Images.IImageContainers
{
    private readonly ContainerStore store;
    private readonly IContainerImages images;
    private readonly ILayerStore layers;
    private readonly ISupervisor supervisor;
    private readonly IContainerSpecFactory specs;
    private readonly EventBus events;
    private readonly ContainerEngineSettings settings;
    private readonly TimeProvider time;

    public ContainerService(
        ContainerStore store, IContainerImages images, ILayerStore layers, ISupervisor supervisor, IContainerSpecFactory specs,
        EventBus events, ContainerEngineSettings settings)
    {
        this.store = store;
        this.images = images;
        this.layers = layers;
        this.supervisor = supervisor;
        this.specs = specs;
        this.events = events;
        this.settings = settings;
        time = settings.Time;
    }

    public ContainerStore Store => store;
    public INetworkAttacher Networks { get; set; } = NoNetworkAttacher.Instance;
    public IContainerFilesystemService Filesystems { get; set; } = new BuiltInContainerFilesystemService();
    public IContainerLogReader? Logs { get; set; }
    /// <summary>The exec service, told when a container stops (its execs end with it).</summary>
    public Exec.ExecService? Execs { get; set; }

    // ---- create --------------------------------------------------------------------------------

    public Task<ContainerCreateResponse> CreateAsync(string? name, string? platform, ContainerCreateRequest request, CancellationToken cancellationToken)
        => CreateAsync(name, platform, request, networks: null, cancellationToken);

    /// <summary>
    /// Create, with NetworkSettings.Networks as the network room worked them out from the request (null: none yet), so
    /// that the record is written once. An AutoRemove container's writable layer is written without fsync: nothing of it
    /// is to survive a crash (the daemon removes what is left at its next start).
    /// </summary>
    public async Task<ContainerCreateResponse> CreateAsync(string? name, string? platform, ContainerCreateRequest request,
        Dictionary<string, EndpointSettings>? networks, CancellationToken cancellationToken)
    {
        if (!string.IsNullOrEmpty(name) && !NameGenerator.Valid().IsMatch(name))
            throw new InvalidParameterException($"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
        var host = request.HostConfig ??= new HostConfig();
        if (string.IsNullOrEmpty(request.Image)) throw new InvalidParameterException("no image specified");
        var image = images.Resolve(request.Image);
        var warnings = specs.Validate(request, image.Config);
        RestartBackoff.Validate(host.RestartPolicy, host.AutoRemove);
        var runtime = string.IsNullOrEmpty(host.Runtime) ? settings.DefaultRuntime : host.Runtime;
        if (!settings.Runtimes.ContainsKey(runtime)) throw new InvalidParameterException($"unknown or invalid runtime name: {runtime}");
        if (request.StopTimeout is < -1) throw new InvalidParameterException($"invalid stop timeout: {request.StopTimeout}");
        var config = RuntimeSpec.ConfigMerge.Merged(request, image.Config.Config);
        var argv = RuntimeSpec.ConfigMerge.Args(config);
        var (path, args) = (argv[0], argv[1..]);

        var id = store.NewId();
        if (string.IsNullOrEmpty(config.Hostname)) config.Hostname = id[..12];
        host.Runtime = runtime;
        host.RestartPolicy ??= new RestartPolicy { Name = "no" };
        if (string.IsNullOrEmpty(host.RestartPolicy.Name)) host.RestartPolicy.Name = "no";
        host.LogConfig ??= new LogConfig();
        if (string.IsNullOrEmpty(host.LogConfig.Type)) host.LogConfig.Type = "json-file";
        host.LogConfig.Config ??= [];
        var fullName = string.IsNullOrEmpty(name) ? store.ReserveGeneratedName(id) : ContainerStore.Canonical(name);
        if (!string.IsNullOrEmpty(name)) store.ReserveName(fullName, id);

        var directory = Path.Combine(store.Root, id);
        ContainerLayer? layer = null;
        try
        {
            var durability = host.AutoRemove ? Durability.Volatile : Durability.Durable;
            layer = layers.CreateContainerLayer(id, image.ChainId, durability);
            var record = new ContainerRecord
            {
                ID = id,
                Created = DockerTime.Format(time.GetUtcNow()),
                Name = fullName,
                Path = path,
                Args = args,
                Config = config,
                HostConfig = host,
                Image = image.Id,
                Driver = settings.StorageDriver,
                LayerId = id,
                Runtime = runtime,
                LogPath = host.LogConfig.Type == "json-file" ? Path.Combine(directory, id + "-json.log") : "",
                Platform = string.IsNullOrEmpty(image.Config.Os) ? "linux" : image.Config.Os,
                NetworkSettings = new NetworkSettings { Networks = networks ?? [], Ports = [], SandboxKey = "", Bridge = "" },
            };
            if (specs.MountPointsAtCreate(record) is { } mounts) record.Mounts = mounts;
            store.Add(new Container(record, directory));
        }
        catch
        {
            store.ReleaseName(fullName, id);
            if (layer is not null) TryQuietly(() => layers.DeleteContainerLayer(id));
            TryQuietly(() => { if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true); });
            throw;
        }
        Publish(store.Get(id), "create");
        _ = Task.Run(() => PrecreateNetworkFiles(directory));
        return new ContainerCreateResponse { Id = id, Warnings = [.. warnings] };
    }

    /// <summary>
    /// Makes the container's hostname, hosts and resolv.conf, empty, after the create is answered: the start writes them,
    /// and a file that exists is written without allocating an inode on the data root's disk (ext4_new_inode: 0.1-0.3 ms
    /// each under load, on the start's path). Never truncates (a start that came first keeps what it wrote); a container
    /// removed meanwhile has no directory, and then nothing is made.
    /// </summary>
    private static void PrecreateNetworkFiles(string directory)
    {
        if (!OperatingSystem.IsLinux()) return;
        foreach (var name in (ReadOnlySpan<string>)["hostname", "hosts", "resolv.conf"])
        {
            try
            {
                using var _ = new FileStream(Path.Combine(directory, name), new FileStreamOptions
                {
                    Mode = FileMode.OpenOrCreate, Access = FileAccess.Write, BufferSize = 0,
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                });
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return; }
        }
    }

    // ---- inspect and list ----------------------------------------------------------------------

    public Task<ContainerInspect> InspectAsync(string idOrName, bool size, CancellationToken cancellationToken)
    {
        var c = store.Get(idOrName);
        ContainerInspect inspect;
        lock (c.Gate)
        {
            var r = c.Record;
            c.UpdateStatus();
            inspect = new ContainerInspect
            {
                Id = r.ID,
                Created = r.Created,
                Path = r.Path,
                Args = [.. r.Args],
                State = ContainerStore.CloneState(r.State),
                Image = r.Image,
                ResolvConfPath = r.ResolvConfPath,
                HostnamePath = r.HostnamePath,
                HostsPath = r.HostsPath,
                LogPath = r.LogPath,
                Name = r.Name,
                RestartCount = r.RestartCount,
                Driver = r.Driver,
                Platform = r.Platform,
                ExecIDs = c.ExecIds.Count == 0 ? null : [.. c.ExecIds],
                HostConfig = r.HostConfig,
                GraphDriver = GraphDriver(r),
                Mounts = [.. r.Mounts],
                Config = r.Config,
                NetworkSettings = r.NetworkSettings,
            };
        }
        if (size)
        {
            var (rw, rootfs) = Sizes(c);
            inspect.SizeRw = rw;
            inspect.SizeRootFs = rootfs;
        }
        return Task.FromResult(inspect);
    }

    private GraphDriverData GraphDriver(ContainerRecord r)
    {
        var data = new GraphDriverData { Name = r.Driver };
        try
        {
            if (layers.GetContainerLayer(r.LayerId)?.Mounts() is [{ Type: "overlay" } overlay])
            {
                string Resolve(string p) => Path.IsPathRooted(p) || overlay.WorkingDirectory is null ? p : Path.GetFullPath(Path.Combine(overlay.WorkingDirectory, p));
                foreach (var option in overlay.Options)
                {
                    var eq = option.IndexOf('=');
                    if (eq < 0) continue;
                    var (key, value) = (option[..eq], option[(eq + 1)..]);
                    switch (key)
                    {
                        case "lowerdir": data.Data["LowerDir"] = string.Join(':', value.Split(':').Select(Resolve)); break;
                        case "upperdir":
                            data.Data["UpperDir"] = Resolve(value);
                            data.Data["MergedDir"] = Path.Combine(Path.GetDirectoryName(Resolve(value))!, "merged");
                            break;
                        case "workdir": data.Data["WorkDir"] = Resolve(value); break;
                    }
                }
            }
        }
        catch (StorageException) { }
        return data;
    }

    /// <summary>SizeRw (the writable layer's bytes) and SizeRootFs (that plus the image).</summary>
    private (long Rw, long RootFs) Sizes(Container c)
    {
        long rw = 0;
        try { rw = SnapshotUsage?.Invoke("container-" + c.Record.LayerId) ?? 0; }
        catch (StorageException) { }
        catch (IOException) { }
        long image = 0;
        try { image = string.IsNullOrEmpty(c.Record.Image) ? 0 : images.Size(c.Record.Image); }
        catch (EngineException) { }
        return (rw, rw + image);
    }

    /// <summary>Bytes used by a snapshot (the storage root's snapshotter); null in tests without storage.</summary>
    public Func<string, long>? SnapshotUsage { get; set; }

    public Task<IReadOnlyList<ContainerSummary>> ListAsync(ContainerListOptions options, CancellationToken cancellationToken)
    {
        var filter = ContainerFilter.Parse(options.Filters, store, images);
        var all = options.All || filter.ImpliesAll || options.Limit > 0;
        var now = time.GetUtcNow();
        var result = new List<ContainerSummary>();
        foreach (var c in store.All().OrderByDescending(c => DockerTime.Parse(c.Record.Created)))
        {
            ContainerSummary summary;
            lock (c.Gate)
            {
                c.UpdateStatus();
                if (!all && !c.State.Running) continue;
                if (!filter.Matches(c)) continue;
                summary = Summarize(c, now);
            }
            if (options.Size)
            {
                var (rw, rootfs) = Sizes(c);
                summary.SizeRw = rw;
                summary.SizeRootFs = rootfs;
            }
            result.Add(summary);
            if (options.Limit > 0 && result.Count >= options.Limit) break;
        }
        return Task.FromResult<IReadOnlyList<ContainerSummary>>(result);
    }

    private static ContainerSummary Summarize(Container c, DateTimeOffset now)
    {
        var r = c.Record;
        var command = r.Args.Count == 0 ? r.Path : r.Path + " " + string.Join(' ', r.Args.Select(a => a.Contains(' ') ? $"'{a}'" : a));
        return new ContainerSummary
        {
            Id = r.ID,
            Names = [r.Name],
            Image = string.IsNullOrEmpty(r.Config.Image) ? r.Image : r.Config.Image,
            ImageID = r.Image,
            Command = command,
            Created = (DockerTime.Parse(r.Created) ?? now).ToUnixTimeSeconds(),
            Ports = Ports(r),
            Labels = r.Config.Labels is null ? [] : new(r.Config.Labels),
            State = r.State.Status,
            Status = Container.HumanStatus(r.State, c.RemovalInProgress, now),
            HostConfig = new SummaryHostConfig { NetworkMode = r.HostConfig.NetworkMode, Annotations = r.HostConfig.Annotations },
            NetworkSettings = new SummaryNetworkSettings { Networks = r.NetworkSettings.Networks ?? [] },
            Mounts = [.. r.Mounts],
        };
    }

    private static List<Port> Ports(ContainerRecord r)
    {
        var ports = new List<Port>();
        var source = r.NetworkSettings.Ports;
        if (source is null || source.Count == 0)
        {
            foreach (var exposed in r.Config.ExposedPorts?.Keys ?? (IEnumerable<string>)[])
                if (ParsePort(exposed) is { } p) ports.Add(new Port { PrivatePort = p.Number, Type = p.Proto });
            return ports;
        }
        foreach (var (key, bindings) in source)
        {
            if (ParsePort(key) is not { } p) continue;
            if (bindings is not { Count: > 0 }) { ports.Add(new Port { PrivatePort = p.Number, Type = p.Proto }); continue; }
            foreach (var b in bindings)
                ports.Add(new Port { IP = b.HostIp, PrivatePort = p.Number, PublicPort = int.TryParse(b.HostPort, out var hp) ? hp : null, Type = p.Proto });
        }
        return ports;
    }

    private static (int Number, string Proto)? ParsePort(string text)
    {
        var slash = text.IndexOf('/');
        var (number, proto) = slash < 0 ? (text, "tcp") : (text[..slash], text[(slash + 1)..]);
        return int.TryParse(number, out var n) ? (n, proto) : null;
    }

    // ---- rename, prune -------------------------------------------------------------------------

    public Task RenameAsync(string idOrName, string newName, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(newName)) throw new InvalidParameterException("Neither old nor new names may be empty");
        if (!NameGenerator.Valid().IsMatch(newName))
            throw new InvalidParameterException($"Invalid container name ({newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
        var c = store.Get(idOrName);
        var oldName = c.Name;
        if (oldName == ContainerStore.Canonical(newName))
            throw new InvalidParameterException("Renaming a container with the same name as its current name");
        store.Rename(c, newName);
        store.Save(c);
        Publish(c, "rename", new() { ["oldName"] = oldName });
        return Task.CompletedTask;
    }

    public async Task<ContainerPruneResponse> PruneAsync(Filters filters, CancellationToken cancellationToken)
    {
        foreach (var key in filters.Values.Keys)
            if (key is not ("until" or "label" or "label!")) throw new InvalidParameterException($"invalid filter '{key}'");
        DateTimeOffset? until = filters.Get("until") is [var u, ..] ? PruneUntil(u) : null;
        var deleted = new List<string>();
        long reclaimed = 0;
        foreach (var c in store.All())
        {
            bool candidate;
            lock (c.Gate)
            {
                candidate = !c.State.Running && !c.RemovalInProgress
                    && (until is null || DockerTime.Parse(c.Record.Created) < until)
                    && LabelsMatch(c.Record.Config.Labels, filters.Get("label"), filters.Get("label!"));
            }
            if (!candidate) continue;
            var (rw, _) = Sizes(c);
            try
            {
                await RemoveAsync(c.Id, force: false, removeVolumes: false, removeLink: false, cancellationToken);
                deleted.Add(c.Id);
                reclaimed += rw;
            }
            catch (EngineException) { } // started or removed meanwhile
        }
        Publish("container", "prune", "", new() { ["reclaimed"] = reclaimed.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        return new ContainerPruneResponse { ContainersDeleted = deleted, SpaceReclaimed = reclaimed };
    }

    private DateTimeOffset PruneUntil(string text)
    {
        if (long.TryParse(text, out var unix)) return DateTimeOffset.FromUnixTimeSeconds(unix);
        if (DockerTime.Parse(text) is { } t) return t;
        if (TryGoDuration(text, out var ago)) return time.GetUtcNow() - ago;
        throw new InvalidParameterException($"failed to parse value as time or duration: \"{text}\"");
    }

    /// <summary>Go durations as filters take them: "10m", "1h30m", "24h", "1.5h".</summary>
    internal static bool TryGoDuration(string text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        var i = 0;
        if (text.Length == 0) return false;
        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.')) i++;
            if (start == i || !double.TryParse(text.AsSpan(start, i - start), System.Globalization.CultureInfo.InvariantCulture, out var value)) return false;
            var unitStart = i;
            while (i < text.Length && !char.IsAsciiDigit(text[i]) && text[i] != '.') i++;
            var unit = text[unitStart..i];
            duration += unit switch
            {
                "h" => TimeSpan.FromHours(value),
                "m" => TimeSpan.FromMinutes(value),
                "s" => TimeSpan.FromSeconds(value),
                "ms" => TimeSpan.FromMilliseconds(value),
                "us" or "µs" => TimeSpan.FromMicroseconds(value),
                "ns" => TimeSpan.FromTicks((long)(value / 100)),
                _ => TimeSpan.MinValue,
            };
            if (duration < TimeSpan.Zero) return false;
        }
        return true;
    }

    internal static bool LabelsMatch(IReadOnlyDictionary<string, string>? labels, IReadOnlyList<string> required, IReadOnlyList<string> excluded)
    {
        static bool Has(IReadOnlyDictionary<string, string>? labels, string filter)
        {
            var eq = filter.IndexOf('=');
            return eq < 0 ? labels?.ContainsKey(filter) == true : labels?.TryGetValue(filter[..eq], out var v) == true && v == filter[(eq + 1)..];
        }
        return required.All(f => Has(labels, f)) && !excluded.Any(f => Has(labels, f));
    }

    // ---- the directory other rooms use ---------------------------------------------------------

    public ContainerFilesystem Filesystem(string idOrName)
    {
        var c = store.Get(idOrName);
        var layer = layers.GetContainerLayer(c.Record.LayerId) ?? throw new EngineFailureException($"the filesystem of container {c.Id} is missing");
        lock (c.Gate)
        {
            // The mounts recorded at create name no anonymous volume yet (they get their names at the first start): until
            // then cp finds the volumes from the HostConfig, making them as the start would.
            var started = c.State.StartedAt != DockerTime.Zero;
            return new ContainerFilesystem(c.Id, c.Name, layer, c.State.Running ? c.RootfsPath : null, c.State.Running, c.State.Paused,
                c.Record.Image, c.Record.Config, c.Record.HostConfig, started ? [.. c.Record.Mounts] : null);
        }
    }

    public IReadOnlyList<Images.ImageUse> ImageUses()
    {
        var uses = new List<Images.ImageUse>();
        foreach (var c in store.All())
            lock (c.Gate)
                if (Oci.Content.Digest.TryParse(c.Record.Image, out var image)) uses.Add(new Images.ImageUse(c.Id, image, c.State.Running));
        return uses;
    }

    public Images.CommitSource GetCommitSource(string idOrName)
    {
        var c = store.Get(idOrName);
        var layer = layers.GetContainerLayer(c.Record.LayerId) ?? throw new EngineFailureException($"the filesystem of container {c.Id} is missing");
        lock (c.Gate)
            return new Images.CommitSource(c.Id, Oci.Content.Digest.TryParse(c.Record.Image, out var image) ? image : null, layer,
                RuntimeSpec.ConfigMerge.Copy(c.Record.Config), c.State.Running, c.State.Paused);
    }

    Task Images.IImageContainers.PauseAsync(string containerId, CancellationToken cancellationToken) => PauseAsync(containerId, cancellationToken);
    Task Images.IImageContainers.UnpauseAsync(string containerId, CancellationToken cancellationToken) => UnpauseAsync(containerId, cancellationToken);

    // ---- events ----------------------------------------------------------------------------------

    /// <summary>Publishes a container event with Docker's attributes: the labels, image and name (and any extra).</summary>
    internal void Publish(Container c, string action, Dictionary<string, string>? extra = null)
    {
        Dictionary<string, string> attributes;
        lock (c.Gate)
        {
            attributes = c.Record.Config.Labels is null ? [] : new(c.Record.Config.Labels);
            attributes["image"] = string.IsNullOrEmpty(c.Record.Config.Image) ? c.Record.Image : c.Record.Config.Image;
            attributes["name"] = c.Name.TrimStart('/');
        }
        if (extra is not null) foreach (var (k, v) in extra) attributes[k] = v;
        events.Publish("container", action, c.Id, attributes);
    }

    private void Publish(string type, string action, string actorId, Dictionary<string, string> attributes)
        => events.Publish(type, action, actorId, attributes);

    private static void TryQuietly(Action action)
    {
        try { action(); }
        catch (Exception e) when (e is IOException or StorageException or UnauthorizedAccessException or Linux.SyscallException) { }
    }
}
