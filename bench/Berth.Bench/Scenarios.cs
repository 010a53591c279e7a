using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Berth.Bench;

/// <summary>Every scenario, in the order they run.</summary>
public static class Scenarios
{
    public static IReadOnlyList<Scenario> All { get; } =
    [
        new RuntimeScenario(), new RunRmScenario(), new ContainersScenario(), new NetworkStartScenario(), new PortThroughputScenario(),
        new ImportScenario(), new CommitScenario(), new BuildScenario(), new PushPullScenario(), new RegistryThroughputScenario(),
    ];
}

/// <summary>OCI runtime: create → start → wait → delete of a busybox bundle running `true`.</summary>
public sealed class RuntimeScenario : Scenario
{
    public override string Key => "runtime";
    public override IReadOnlyList<MetricSpec> Metrics { get; } =
        [new("runtime", "runtime create→start→wait→delete", "ms", Goal: Goal.FractionOf("runc", 3)),
         new("runtime-rss", "runtime peak RSS (largest of create, start, delete)", "MB")];
    protected override (int Quick, int Full) Samples => (30, 150);

    public override IEnumerable<Contender> Contenders(BenchContext context)
    {
        foreach (var runtime in context.Runtimes)
        {
            if (context.Skipped.TryGetValue(runtime.Name, out var skipped)) { yield return Contender.Unavailable(runtime.Name, skipped); continue; }
            if (runtime.NotBuilt) { yield return Contender.NotBuilt(runtime.Name); continue; }
            if (runtime.Unavailable is not null) { yield return Contender.Unavailable(runtime.Name, runtime.Unavailable, runtime.IsBerth); continue; }
            string? bundle = null;
            yield return new Contender
            {
                System = runtime.Name,
                IsBerth = runtime.IsBerth,
                Setup = () => bundle = Bundle.Create(context.Workspace.Dir("bundles", runtime.Name), context.BusyboxRootfs, $"/{context.Workspace.Tag}/{runtime.Name}"),
                // The peak RSS comes from a second, untimed cycle (GNU time, which it needs, adds a fork to each command),
                // after every tenth: each cycle leaves the kernel a network namespace to tear down in the background.
                Measure = i => [runtime.CreateStartWaitDelete(bundle!, context.Id(runtime.Name, i)),
                                i % 10 == 0 ? runtime.PeakRssMegabytes(bundle!, context.Id(runtime.Name, i) + "-rss") : double.NaN],
            };
        }
    }
}

/// <summary>`run --rm IMAGE true` end to end through each engine's CLI.</summary>
public sealed class RunRmScenario : Scenario
{
    public override string Key => "run-rm";
    public override IReadOnlyList<MetricSpec> Metrics { get; } = [new("run-rm", "run --rm true", "ms", Goal: Goal.FractionOf("docker", 10))];
    protected override (int Quick, int Full) Samples => (10, 40);

    public override IEnumerable<Contender> Contenders(BenchContext context)
    {
        string[] run = ["run", "--rm", "--network", "none", Engine.Busybox, "true"];
        foreach (var contender in context.PerEngine(engine => new Contender
                 {
                     System = engine.Name,
                     IsBerth = engine.IsBerth,
                     Measure = _ => [engine.Time([.. run[..4], .. engine.ContainerFlags, .. run[4..]])],
                 }))
        {
            yield return contender;
            if (contender.System == "berth") yield return context.DockerCliOnBerth(contender, berth => () => berth.DoWithDockerCli(run).Milliseconds);
        }
    }
}

/// <summary>50 detached containers: the engine's daemons' RSS, and the PSS its per-container processes
/// (containerd-shim, conmon, Berth's shim) add, divided by the count.</summary>
public sealed class ContainersScenario : Scenario
{
    public override string Key => "containers";
    public override IReadOnlyList<MetricSpec> Metrics { get; } =
    [
        new("containers-start", "50 detached containers: start, per container", "ms"),
        new("containers-daemon-rss", "50 detached containers: daemon RSS", "MB"),
        new("containers-pss", "50 detached containers: PSS per container (shim/conmon)", "MB", Goal: Goal.AtMostValue(1.5, "MB")),
    ];
    protected override (int Quick, int Full) Samples => (1, 2);
    public override bool WarmUp => false;

    public override IEnumerable<Contender> Contenders(BenchContext context) => context.PerEngine(engine => new Contender
    {
        System = engine.Name,
        IsBerth = engine.IsBerth,
        Measure = i =>
        {
            var count = context.Mode == Mode.Check ? 3 : 50;
            try
            {
                var clock = Stopwatch.StartNew();
                for (var n = 0; n < count; n++)
                    engine.Do(["run", "-d", "--network", "none", "--name", context.Id($"idle{n}", i), .. engine.ContainerFlags, Engine.Busybox, "sleep", "3600"]);
                var start = clock.Elapsed.TotalMilliseconds / count;
                var shims = engine.ShimPids().ToList();
                // podman has no daemon: its daemon RSS is a true 0, not a missing number.
                return [start, Procfs.RssMegaBytes(engine.DaemonPids()), shims.Count == 0 ? double.NaN : Procfs.PssMegaBytes(shims) / count];
            }
            finally { engine.RemoveAllContainers(); }
        },
    });
}

/// <summary>A user-defined bridge network of the engine's own (never docker0 or 172.17.0.0/16).</summary>
internal static class BenchNetwork
{
    private static int _next;

    /// <summary>Creates the network and returns its name; the subnet is a 10.213.x.0/24 no host route uses.</summary>
    public static string Create(Engine engine, BenchContext context)
    {
        var routes = Shell.Run(["ip", "-4", "route"], check: false).Stdout;
        var offset = Environment.ProcessId % 200 + Interlocked.Increment(ref _next) * 7;
        for (var attempt = 0; attempt < 250; attempt++)
        {
            var octet = (offset + attempt) % 250 + 1;
            var prefix = $"10.213.{octet}.";
            if (routes.Contains(prefix, StringComparison.Ordinal)) continue;
            var name = $"{context.Workspace.Tag}-{engine.Name}-{_next}";
            var bridge = $"bb{Environment.ProcessId % 1000000}{engine.Name[0]}{_next}";
            var result = engine.TryNetwork("create", "--driver", "bridge", "--subnet", prefix + "0/24", "--label", context.Workspace.Tag,
                "-o", "com.docker.network.bridge.name=" + bridge, name);
            if (result.ExitCode == 0) return name;
            var failure = Shell.Failure([engine.Name, "network", "create"], result);
            if (failure is NotBuiltException || !result.Stderr.Contains("overlap", StringComparison.OrdinalIgnoreCase)) throw failure;
        }
        throw new BenchException("no free 10.213.x.0/24 subnet");
    }

    public static string? Unsupported(Engine engine) =>
        engine.Name == "podman" ? "netavark would add rules to the host's shared iptables tables" : null;
}

/// <summary>`run --rm` on a bridge network with a published port: network setup on top of run-rm.</summary>
public sealed class NetworkStartScenario : Scenario
{
    public override string Key => "network";
    public override IReadOnlyList<MetricSpec> Metrics { get; } =
        [new("network-start", "run --rm with a bridge network and a published port", "ms", Goal: Goal.FractionOf("docker", 5))];
    protected override (int Quick, int Full) Samples => (8, 30);

    public override IEnumerable<Contender> Contenders(BenchContext context) => context.PerEngine(engine =>
    {
        string? network = null;
        return new Contender
        {
            System = engine.Name,
            IsBerth = engine.IsBerth,
            Setup = () => network = BenchNetwork.Create(engine, context),
            Measure = _ => [engine.Time(["run", "--rm", "--network", network!, "-p", "127.0.0.1::8080", .. engine.ContainerFlags, Engine.Busybox, "true"])],
            Teardown = () => { if (network is not null) { engine.RemoveAllContainers(); engine.TryNetwork("rm", network); } },
        };
    }, BenchNetwork.Unsupported);
}

/// <summary>Bytes from a container to the host through a port published on 127.0.0.1: an HTTP GET of a
/// 256 MB file from busybox httpd in the container.</summary>
public sealed class PortThroughputScenario : Scenario
{
    public override string Key => "throughput";
    public override IReadOnlyList<MetricSpec> Metrics { get; } =
        [new("port-throughput", "throughput through a published port (HTTP GET of 256 MB)", "MB/s", HigherIsBetter: true, Goal: Goal.AtLeastAs("docker"))];
    protected override (int Quick, int Full) Samples => (3, 10);

    public override IEnumerable<Contender> Contenders(BenchContext context) => context.PerEngine(engine =>
    {
        string? network = null;
        var port = 0;
        var megabytes = context.Mode == Mode.Check ? 1 : 256;
        var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        return new Contender
        {
            System = engine.Name,
            IsBerth = engine.IsBerth,
            Setup = () =>
            {
                network = BenchNetwork.Create(engine, context);
                port = FreePort();
                engine.Do(["run", "-d", "--network", network, "-p", $"127.0.0.1:{port}:8080", "--name", context.Id("server", 0), .. engine.ContainerFlags,
                    Engine.Busybox, "sh", "-c", $"dd if=/dev/zero of=/tmp/data bs=1M count={megabytes} 2>/dev/null && exec httpd -f -p 8080 -h /tmp"]);
            },
            Measure = _ => [Receive(http, $"http://127.0.0.1:{port}/data", megabytes)],
            Teardown = () =>
            {
                http.Dispose();
                if (network is not null) { engine.RemoveAllContainers(); engine.TryNetwork("rm", network); }
            },
        };
    }, BenchNetwork.Unsupported);

    /// <summary>MB/s of one GET; until the server answers (it writes its file first) the request is retried.</summary>
    private static double Receive(HttpClient http, string url, int megabytes)
    {
        var buffer = new byte[1 << 16];
        for (var attempt = 0; attempt < 300; attempt++)
        {
            var clock = Stopwatch.StartNew();
            try
            {
                using var response = http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead).GetAwaiter().GetResult();
                if (response.IsSuccessStatusCode)
                {
                    using var body = response.Content.ReadAsStream();
                    long received = 0;
                    int read;
                    while ((read = body.Read(buffer, 0, buffer.Length)) > 0) received += read;
                    if (received != megabytes << 20) throw new BenchException($"received {received} of {megabytes << 20} bytes");
                    return received / (1024.0 * 1024.0) / clock.Elapsed.TotalSeconds;
                }
            }
            catch (HttpRequestException) { }
            catch (IOException) { }
            Thread.Sleep(100); // the server is still writing its file; it has no readiness signal to wait on
        }
        throw new BenchException($"no answer from {url}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>`import` of the Debian minbase rootfs tarball.</summary>
public sealed class ImportScenario : Scenario
{
    public override string Key => "import";
    public override IReadOnlyList<MetricSpec> Metrics { get; } = [new("import", "import of the Debian base", "ms", Goal: Goal.FractionOf("docker", 2))];
    protected override (int Quick, int Full) Samples => (2, 5);
    public override bool WarmUp => false;

    public override IEnumerable<Contender> Contenders(BenchContext context) => context.PerEngine(engine => new Contender
    {
        System = engine.Name,
        IsBerth = engine.IsBerth,
        Setup = () => _ = context.BaseTar,
        Measure = i =>
        {
            var image = $"localhost/bench-import:{context.Id("i", i)}";
            try { return [engine.Time("import", context.BaseTar, image)]; }
            finally { engine.Try("rmi", image); }
        },
    });
}

/// <summary>`commit` of a container that changed 10 000 files.</summary>
public sealed class CommitScenario : Scenario
{
    public override string Key => "commit";
    public override IReadOnlyList<MetricSpec> Metrics { get; } = [new("commit", "commit of 10 000 changed files", "ms", Goal: Goal.FractionOf("docker", 2))];
    // One quick sample: each takes a container writing 10 000 files first, and --quick must stay under 5 minutes.
    protected override (int Quick, int Full) Samples => (1, 5);
    public override bool WarmUp => false;

    public override IEnumerable<Contender> Contenders(BenchContext context) => context.PerEngine(engine => new Contender
    {
        System = engine.Name,
        IsBerth = engine.IsBerth,
        Measure = i =>
        {
            var files = context.Mode == Mode.Check ? 100 : 10000;
            var name = context.Id("commit", i);
            var image = $"localhost/bench-commit:{name}";
            try
            {
                engine.Do(["run", "--name", name, "--network", "none", .. engine.ContainerFlags, Engine.Busybox, "sh", "-c",
                    $"mkdir /changed && cd /changed && seq 1 {files} | xargs touch"]);
                return [engine.Time("commit", name, image)];
            }
            finally
            {
                engine.Try("rm", "-f", name);
                engine.Try("rmi", image);
            }
        },
    });
}

/// <summary>A six-step Dockerfile on the Debian base, built with no cache and then fully cached.</summary>
public sealed class BuildScenario : Scenario
{
    public override string Key => "build";
    public override IReadOnlyList<MetricSpec> Metrics { get; } =
    [
        new("build-cold", "build, cold (6 steps)", "ms", Goal: Goal.FractionOf("docker", 2)),
        new("build-cached", "build, fully cached", "ms", Goal: Goal.AtMostValue(30, "ms")),
    ];
    protected override (int Quick, int Full) Samples => (2, 5);

    public override IEnumerable<Contender> Contenders(BenchContext context) => context.PerEngine(engine =>
    {
        var directory = context.Workspace.Dir("build-context", engine.Name);
        const string Image = "localhost/bench-build:latest";
        string[] Build(bool cache) => ["build", .. cache ? Array.Empty<string>() : ["--no-cache"], "--network", "none", .. engine.BuildFlags, "-t", Image, directory];
        return new Contender
        {
            System = engine.Name,
            IsBerth = engine.IsBerth,
            Setup = () =>
            {
                context.EnsureBase(engine);
                File.WriteAllText(Path.Combine(directory, "data.txt"), string.Concat(Enumerable.Range(0, 1000).Select(n => $"line {n}\n")));
                File.WriteAllText(Path.Combine(directory, "Dockerfile"), $"""
                    FROM {context.BaseImage}
                    ENV BENCH=1
                    WORKDIR /app
                    COPY data.txt /app/data.txt
                    RUN echo built > /app/built.txt
                    RUN mkdir -p /app/files && cd /app/files && i=0 && while [ $i -lt 200 ]; do echo $i > f$i; i=$((i+1)); done
                    CMD ["cat", "/app/built.txt"]

                    """);
            },
            Measure = _ => [engine.Time(Build(cache: false)), engine.Time(Build(cache: true))],
            Teardown = () =>
            {
                engine.Try("rmi", "-f", Image);
                engine.Try("image", "prune", "-f");
            },
        };
    });
}

/// <summary>push and pull of the Debian base through a local registry, fresh storage for each sample so every push
/// uploads and every pull downloads: Berth to berth-registry, the peers to distribution (Debian's docker-registry),
/// and Berth to distribution as a variant that separates client from server.</summary>
public sealed class PushPullScenario : Scenario
{
    public override string Key => "push-pull";
    public override IReadOnlyList<MetricSpec> Metrics { get; } =
    [
        new("push", "push of the Debian base to a local registry", "ms", Goal: Goal.FractionOf("docker", 2)),
        new("pull", "pull of the Debian base from a local registry", "ms", Goal: Goal.FractionOf("docker", 2)),
    ];
    protected override (int Quick, int Full) Samples => (2, 5);
    public override bool WarmUp => false;

    public const string Distribution = "/usr/bin/docker-registry";

    public override IEnumerable<Contender> Contenders(BenchContext context)
    {
        var berthRegistry = Path.Combine(context.Bin, "berth-registry");
        foreach (var contender in context.PerEngine(engine => engine.IsBerth
                     ? Make(context, engine, engine.Name, new Registry("berth-registry-for-berth", true, berthRegistry, context.Workspace))
                     : Make(context, engine, engine.Name, new Registry("distribution-for-" + engine.Name, false, Distribution, context.Workspace))))
        {
            yield return contender;
            if (contender.System != "berth") continue;
            const string variant = "berth → distribution";
            if (context.Skipped.TryGetValue("distribution", out var skipped)) yield return Contender.Unavailable(variant, skipped, isBerth: true);
            else if (contender.State != CellState.Measured) yield return new Contender { System = variant, IsBerth = true, State = contender.State, Reason = contender.Reason };
            else yield return Make(context, context.Engines.First(e => e.IsBerth), variant, new Registry("distribution-for-berth", false, Distribution, context.Workspace));
        }
    }

    private static Contender Make(BenchContext context, Engine engine, string system, Registry registry)
    {
        string[] tls = engine.Name == "podman" ? ["--tls-verify=false"] : [];
        return new Contender
        {
            System = system,
            IsBerth = engine.IsBerth,
            Setup = () =>
            {
                if (registry.NotBuilt) throw new NotBuiltException("berth-registry");
                if (registry.Unavailable is not null) throw new BenchException(registry.Unavailable);
                context.EnsureBase(engine);
            },
            Measure = _ =>
            {
                registry.StartFresh();
                var remote = $"{registry.Address}/bench/base:latest";
                engine.Do("tag", context.BaseImage, remote);
                var push = engine.Time(["push", .. tls, remote]);
                // Remove every local name of the image, so the pull really downloads the layer.
                engine.Do("rmi", remote, context.BaseImage);
                var pull = engine.Time(["pull", .. tls, remote]);
                engine.Do("tag", remote, context.BaseImage);
                engine.Do("rmi", remote);
                return [push, pull];
            },
            Teardown = registry.Dispose,
        };
    }
}

/// <summary>What a registry serves under concurrent clients: manifest GETs and small-blob GETs per second (16
/// clients), and MB/s of a large blob (4 clients), berth-registry against distribution.</summary>
public sealed class RegistryThroughputScenario : Scenario
{
    public override string Key => "registry";
    public override IReadOnlyList<MetricSpec> Metrics { get; } =
    [
        new("registry-manifests", "registry manifest GETs, 16 concurrent clients", "req/s", HigherIsBetter: true, Goal: Goal.AtLeastAs("distribution")),
        new("registry-throughput", "registry blob GETs (4 KB), 16 concurrent clients", "req/s", HigherIsBetter: true, Goal: Goal.AtLeastAs("distribution")),
        new("registry-blob-mbps", "registry blob GETs (16 MB), 4 concurrent clients", "MB/s", HigherIsBetter: true, Goal: Goal.AtLeastAs("distribution")),
    ];
    protected override (int Quick, int Full) Samples => (3, 5);

    private const int LargeBlobBytes = 16 << 20;

    public override IEnumerable<Contender> Contenders(BenchContext context)
    {
        var candidates = new[] { ("berth-registry", true, Path.Combine(context.Bin, "berth-registry")), ("distribution", false, PushPullScenario.Distribution) };
        foreach (var (name, isBerth, binary) in candidates)
        {
            if (!isBerth && context.Skipped.TryGetValue(name, out var skipped)) { yield return Contender.Unavailable(name, skipped); continue; }
            var registry = new Registry(name, isBerth, binary, context.Workspace);
            if (registry.NotBuilt) { yield return Contender.NotBuilt(name); continue; }
            if (registry.Unavailable is not null) { yield return Contender.Unavailable(name, registry.Unavailable, isBerth); continue; }
            (string Manifest, string Small, string Large)? urls = null;
            var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { Timeout = TimeSpan.FromSeconds(30) };
            var seconds = context.Mode switch { Mode.Check => 0.3, Mode.Quick => 2.0, _ => 4.0 };
            yield return new Contender
            {
                System = name,
                IsBerth = isBerth,
                Setup = () =>
                {
                    registry.StartFresh();
                    urls = Populate(http, registry.Address, context.Mode == Mode.Check ? 1 << 20 : LargeBlobBytes);
                },
                Measure = _ =>
                {
                    var (manifest, small, large) = urls!.Value;
                    var manifests = Load(http, manifest, 16, seconds, RegistryApi.ManifestAccept).PerSecond;
                    var blobs = Load(http, small, 16, seconds).PerSecond;
                    var (_, bytes, elapsed) = Load(http, large, 4, seconds);
                    return [manifests, blobs, bytes / (1024.0 * 1024.0) / elapsed];
                },
                Teardown = () => { http.Dispose(); registry.Dispose(); },
            };
        }
    }

    /// <summary>Uploads a config, a small and a large blob and a manifest naming them; returns the URLs to GET.</summary>
    private static (string Manifest, string Small, string Large) Populate(HttpClient http, string address, int largeBytes)
    {
        var config = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}"u8.ToArray();
        var small = RandomNumberGenerator.GetBytes(4096);
        var large = RandomNumberGenerator.GetBytes(largeBytes);
        var configDigest = RegistryApi.Upload(http, address, "bench/blob", config);
        var smallDigest = RegistryApi.Upload(http, address, "bench/blob", small);
        var largeDigest = RegistryApi.Upload(http, address, "bench/blob", large);
        var manifest = $$"""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{configDigest}}","size":{{config.Length}}},
             "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{{smallDigest}}","size":{{small.Length}}},
                       {"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{{largeDigest}}","size":{{large.Length}}}]}
            """;
        var manifestUrl = $"http://{address}/v2/bench/blob/manifests/latest";
        using var put = new HttpRequestMessage(HttpMethod.Put, manifestUrl) { Content = new StringContent(manifest) };
        put.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/vnd.oci.image.manifest.v1+json");
        using var response = http.Send(put);
        if (response.StatusCode != HttpStatusCode.Created) throw new BenchException($"manifest PUT: HTTP {(int)response.StatusCode}");
        return (manifestUrl, $"http://{address}/v2/bench/blob/blobs/{smallDigest}", $"http://{address}/v2/bench/blob/blobs/{largeDigest}");
    }

    /// <summary><paramref name="clients"/> loops of GET for <paramref name="seconds"/>: requests per second, bytes, elapsed seconds.</summary>
    private static (double PerSecond, long Bytes, double Seconds) Load(HttpClient http, string url, int clients, double seconds, string? accept = null)
    {
        var until = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        var clock = Stopwatch.StartNew();
        long done = 0, bytes = 0;
        var workers = Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            var buffer = new byte[1 << 16];
            while (Stopwatch.GetTimestamp() < until)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                if (accept is not null) request.Headers.TryAddWithoutValidation("Accept", accept);
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode) throw new BenchException($"GET {new Uri(url).AbsolutePath}: HTTP {(int)response.StatusCode}");
                await using var body = await response.Content.ReadAsStreamAsync().ConfigureAwait(false);
                long received = 0;
                int read;
                while ((read = await body.ReadAsync(buffer).ConfigureAwait(false)) > 0) received += read;
                Interlocked.Add(ref bytes, received);
                Interlocked.Increment(ref done);
            }
        })).ToArray();
        try { Task.WaitAll(workers); }
        catch (AggregateException e) { throw e.InnerException is BenchException b ? b : new BenchException(e.InnerException?.Message ?? e.Message); }
        var elapsed = clock.Elapsed.TotalSeconds;
        return (done / elapsed, bytes, elapsed);
    }
}

/// <summary>The few Registry HTTP API v2 calls the bench makes itself.</summary>
internal static class RegistryApi
{
    public const string ManifestAccept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

    /// <summary>Uploads a blob in one chunk (POST, then PUT with the digest) and returns its digest.</summary>
    public static string Upload(HttpClient http, string address, string repository, byte[] blob)
    {
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(blob));
        using var start = http.PostAsync($"http://{address}/v2/{repository}/blobs/uploads/", null).GetAwaiter().GetResult();
        if (start.StatusCode != HttpStatusCode.Accepted || start.Headers.Location is null) throw new BenchException($"upload start: HTTP {(int)start.StatusCode}");
        var location = start.Headers.Location.IsAbsoluteUri ? start.Headers.Location.ToString() : $"http://{address}{start.Headers.Location}";
        using var put = http.PutAsync(location + (location.Contains('?') ? "&" : "?") + "digest=" + digest, new ByteArrayContent(blob)).GetAwaiter().GetResult();
        if (put.StatusCode != HttpStatusCode.Created) throw new BenchException($"upload: HTTP {(int)put.StatusCode}");
        return digest;
    }
}
