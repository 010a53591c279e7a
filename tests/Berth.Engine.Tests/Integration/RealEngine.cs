using System.Formats.Tar;
using System.Text;
using Berth.Engine.Containers;
using Berth.Engine.Models;
using Berth.Engine.RuntimeSpec;
using Berth.Engine.Supervision;
using Berth.Images;
using Berth.Testing;

namespace Berth.Engine.Tests.Integration;

/// <summary>
/// The real engine (berth-shim, berth-runtime, overlay2) over a temp data root and exec root, with busybox
/// imported. Disposing stops what runs, unmounts, and removes the roots.
/// </summary>
internal sealed class RealEngine : IAsyncDisposable
{
    private static readonly Lazy<byte[]> BusyboxTar = new(() =>
    {
        using var rootfs = new TempDir();
        BusyboxRootfs.CopyTo(rootfs.Combine("rootfs"));
        using var tar = new MemoryStream();
        TarFile.CreateFromDirectory(rootfs.Combine("rootfs"), tar, includeBaseDirectory: false);
        return tar.ToArray();
    });

    static RealEngine() => SharedCgroupParent.RemoveWhenEmptyAtExit();

    public TempDir Temp { get; } = new();
    public string DataRoot => Temp.Combine("data");
    public string ExecRoot => Temp.Combine("exec");
    public BerthEngine Engine { get; private set; } = null!;
    public ContainerService Containers => Engine.ContainerService;

    public static async Task<RealEngine> StartAsync(bool liveRestore = false)
    {
        var e = new RealEngine();
        e.Engine = await e.OpenAsync(liveRestore);
        new ImageCreation(e.Engine.ImageStore).Import(new MemoryStream(BusyboxTar.Value), new ImportOptions { Reference = "busybox:latest" });
        return e;
    }

    public Task<BerthEngine> OpenAsync(bool liveRestore) => BerthEngine.OpenAsync(new BerthEngineOptions
    {
        DataRoot = DataRoot,
        ExecRoot = ExecRoot,
        Runtimes = new Dictionary<string, string> { ["berth"] = Path.Combine(Repo.Bin, "berth-runtime") },
        LiveRestore = liveRestore,
        ExecStateOnTmpfs = true,
        Supervisor = new ShimSupervisor(Path.Combine(Repo.Bin, "berth-shim")),
        Specs = new ContainerSpecFactory(DaemonDefaults.Standard),
        Logs = JsonFileLogReader.Instance,
    });

    /// <summary>A daemon restart: the engine is disposed (live restore keeps containers) and opened again over the same roots.</summary>
    public async Task RestartAsync(bool liveRestore)
    {
        await Engine.DisposeAsync();
        Engine = await OpenAsync(liveRestore);
    }

    public async Task<string> CreateAsync(string[] cmd, Action<ContainerCreateRequest>? configure = null)
    {
        var request = new ContainerCreateRequest { Image = "busybox", Cmd = [.. cmd], HostConfig = new HostConfig { NetworkMode = "none" } };
        configure?.Invoke(request);
        return (await Containers.CreateAsync("t" + Guid.NewGuid().ToString("N")[..12], null, request, CancellationToken.None)).Id;
    }

    public async Task<string> LogsAsync(string id)
    {
        var log = await Containers.LogsAsync(id, new LogsOptions(false, true, true, null, null, false, null), CancellationToken.None);
        var text = new StringBuilder();
        await foreach (var chunk in log.Entries) text.Append(Encoding.UTF8.GetString(chunk.Data.Span));
        return text.ToString();
    }

    public async Task<ContainerState> StateAsync(string id) => (await Containers.InspectAsync(id, false, CancellationToken.None)).State;

    public async ValueTask DisposeAsync()
    {
        try
        {
            foreach (var c in Containers.Store.All())
            {
                try { await Containers.RemoveAsync(c.Id, true, true, false, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20)); }
                catch (Exception) { }
            }
            await Engine.DisposeAsync();
        }
        finally
        {
            // Whatever is still mounted under the roots (a failed test) goes before the directories do.
            foreach (var line in File.ReadAllLines("/proc/self/mountinfo").Reverse())
            {
                var mountPoint = line.Split(' ')[4];
                if (mountPoint.StartsWith(Temp.Path, StringComparison.Ordinal)) Storage.Mounter.Unmount(mountPoint);
            }
            Temp.Dispose();
        }
    }

    /// <summary>Mounts under the roots other than the engine's tmpfs mounts for exec state (they stay, as /run does).</summary>
    public bool HasMountsLeft() => File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')).Any(f => f[4].StartsWith(Temp.Path, StringComparison.Ordinal)
        && !(f.SkipWhile(x => x != "-").Skip(1).FirstOrDefault() == "tmpfs" && Path.GetDirectoryName(f[4]) == ExecRoot));

    /// <summary>The filesystem type mounted at <paramref name="path"/>, or null when it is no mount point.</summary>
    public static string? MountType(string path) => File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' '))
        .LastOrDefault(f => f[4] == path)?.SkipWhile(x => x != "-").Skip(1).FirstOrDefault();
}
