using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;
using Berth.Engine;
using Berth.Engine.Models;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Berth.Api;

/// <summary>
/// The Docker Engine API: version negotiation, Docker's headers and error bodies, and every route mapped
/// onto the engine's services. Kestrel-independent: <see cref="HandleAsync"/> serves one HttpContext.
/// </summary>
public sealed partial class DockerApi
{
    // Go's encoder writes a quote in a message as \" and non-ASCII as UTF-8; System.Text.Json's default escapes them
    // (\u0022, \u00E9) as HTML-safe text. Responses are JSON for API clients, never HTML, so only JSON's own escapes are needed.
    private static readonly DockerJsonContext Json = new(new JsonSerializerOptions(DockerJsonContext.Default.Options)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
    private readonly IEngine engine;
    private readonly Router<Func<ApiCall, Task>> router = new();

    /// <summary>Berth's own version, reported in the Server header and by /version.</summary>
    public string ServerVersion { get; }

    public DockerApi(IEngine engine, string serverVersion)
    {
        this.engine = engine;
        ServerVersion = serverVersion;
        MapSystem();
        MapContainers();
        MapExec();
        MapImages();
        MapNetworks();
        MapVolumes();
        MapRegistry();
        MapBuild();
    }

    /// <summary>Every (method, pattern) served, for tests that exercise each route.</summary>
    public IEnumerable<(string Method, string Pattern)> Routes => router.Routes;

    [GeneratedRegex(@"^/v([0-9][0-9.]*)(/.*)$")]
    private static partial Regex VersionPrefix();

    public async Task HandleAsync(HttpContext http)
    {
        var response = http.Response;
        response.Headers["Api-Version"] = ApiVersion.Max.ToString();
        response.Headers.Server = $"Berth/{ServerVersion} (linux)";
        response.Headers["Ostype"] = "linux";

        var path = http.Request.Path.Value ?? "/";
        var version = ApiVersion.Max;
        var prefix = VersionPrefix().Match(path);
        if (prefix.Success)
        {
            var requested = prefix.Groups[1].Value;
            if (ApiVersion.Unsupported(requested) is { } refusal)
            {
                await WriteErrorAsync(http, 400, refusal);
                return;
            }
            ApiVersion.TryParse(requested, out version);
            path = prefix.Groups[2].Value;
        }

        var outcome = router.Match(http.Request.Method, path, out var handler, out var parameters);
        if (outcome != Router<Func<ApiCall, Task>>.Outcome.Found)
        {
            await WriteErrorAsync(http, outcome == Router<Func<ApiCall, Task>>.Outcome.WrongMethod ? 405 : 404,
                outcome == Router<Func<ApiCall, Task>>.Outcome.WrongMethod ? "method not allowed" : "page not found");
            return;
        }

        var call = new ApiCall(http, parameters, version);
        try
        {
            await handler!(call);
        }
        catch (NotModifiedException)
        {
            if (!response.HasStarted) response.StatusCode = StatusCodes.Status304NotModified;
        }
        catch (EngineException e)
        {
            await WriteErrorAsync(http, e.StatusCode, e.Message);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nothing to answer.
        }
        catch (BadHttpRequestException e)
        {
            await WriteErrorAsync(http, e.StatusCode, e.Message);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A fault of the engine, not of the client: Docker's 500 with the reason, never a crash.
            await WriteErrorAsync(http, 500, e.Message);
        }
    }

    private static async Task WriteErrorAsync(HttpContext http, int status, string message)
    {
        if (http.Response.HasStarted) return; // headers are gone; the stream simply ends
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        var json = JsonSerializer.SerializeToUtf8Bytes(new ErrorResponse { Message = message }, Json.ErrorResponse);
        http.Response.ContentLength = json.Length + 1;
        if (HttpMethods.IsHead(http.Request.Method)) return;
        try
        {
            await http.Response.Body.WriteAsync(json);
            await http.Response.Body.WriteAsync("\n"u8.ToArray());
        }
        catch (IOException) { }
        catch (OperationCanceledException) { }
    }

    // ---- system -------------------------------------------------------------------------------

    private void MapSystem()
    {
        router.Add("GET", "/_ping", Ping);
        router.Add("HEAD", "/_ping", Ping);
        router.Add("GET", "/version", async c => await c.WriteJsonAsync(200, await engine.System.VersionAsync(c.Aborted), Json.SystemVersion));
        router.Add("GET", "/info", async c => await c.WriteJsonAsync(200, await engine.System.InfoAsync(c.Aborted), Json.SystemInfo));
        router.Add("GET", "/system/df", async c => await c.WriteJsonAsync(200, await engine.System.DiskUsageAsync(c.Aborted), Json.SystemDiskUsage));
        router.Add("GET", "/events", c => StreamJsonAsync(c,
            engine.System.EventsAsync(new EventsOptions(c.UnixTime("since"), c.UnixTime("until"), c.Filters()), c.Aborted),
            Json.EventMessage, "application/json", progress: false, headersFirst: true));
    }

    private static Task Ping(ApiCall c)
    {
        var headers = c.Response.Headers;
        headers["API-Version"] = ApiVersion.Max.ToString();
        headers["Docker-Experimental"] = "false";
        headers["Builder-Version"] = "1";
        headers["Swarm"] = "inactive";
        headers.CacheControl = "no-cache, no-store, must-revalidate";
        headers.Pragma = "no-cache";
        return c.WriteTextAsync(200, "OK");
    }

    // ---- containers ---------------------------------------------------------------------------

    [GeneratedRegex("^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")]
    private static partial Regex ContainerName();

    private void MapContainers()
    {
        var containers = engine.Containers;
        router.Add("GET", "/containers/json", async c =>
        {
            var list = await containers.ListAsync(new ContainerListOptions(c.Bool("all"), c.Int("limit") ?? -1, c.Bool("size"), c.Filters()), c.Aborted);
            await c.WriteJsonAsync(200, list as List<ContainerSummary> ?? [.. list], Json.ListContainerSummary);
        });
        router.Add("POST", "/containers/create", async c =>
        {
            var name = c.Query("name");
            if (!string.IsNullOrEmpty(name) && !ContainerName().IsMatch(name))
                throw new InvalidParameterException($"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
            var body = await c.ReadJsonAsync(Json.ContainerCreateRequest, eofIsError: true)
                ?? throw new InvalidParameterException("config cannot be empty in order to create a container");
            body.HostConfig ??= new HostConfig();
            if (string.IsNullOrEmpty(body.HostConfig.NetworkMode) || body.HostConfig.NetworkMode == "default") body.HostConfig.NetworkMode = "bridge";
            if (c.Version < new ApiVersion(1, 25)) body.HostConfig.AutoRemove = false;
            var created = await containers.CreateAsync(string.IsNullOrEmpty(name) ? null : name.TrimStart('/'), c.Query("platform"), body, c.Aborted);
            await c.WriteJsonAsync(201, created, Json.ContainerCreateResponse);
        });
        router.Add("GET", "/containers/{id}/json", async c =>
            await c.WriteJsonAsync(200, await containers.InspectAsync(c.Path("id"), c.Bool("size"), c.Aborted), Json.ContainerInspect));
        router.Add("POST", "/containers/{id}/start", async c =>
        {
            await containers.StartAsync(c.Path("id"), c.Aborted);
            await c.NoContentAsync();
        });
        router.Add("POST", "/containers/{id}/stop", async c =>
        {
            await containers.StopAsync(c.Path("id"), c.Int("t"), c.Query("signal"), c.Aborted);
            await c.NoContentAsync();
        });
        router.Add("POST", "/containers/{id}/restart", async c =>
        {
            await containers.RestartAsync(c.Path("id"), c.Int("t"), c.Query("signal"), c.Aborted);
            await c.NoContentAsync();
        });
        router.Add("POST", "/containers/{id}/kill", async c =>
        {
            await containers.KillAsync(c.Path("id"), c.Query("signal"), c.Aborted);
            await c.NoContentAsync();
        });
        router.Add("POST", "/containers/{id}/pause", async c =>
        {
            await containers.PauseAsync(c.Path("id"), c.Aborted);
            await c.NoContentAsync();
        });
        router.Add("POST", "/containers/{id}/unpause", async c =>
        {
            await containers.UnpauseAsync(c.Path("id"), c.Aborted);
            await c.NoContentAsync();
        });
        router.Add("POST", "/containers/{id}/wait", Wait);
        router.Add("DELETE", "/containers/{id}", async c =>
        {
            await containers.RemoveAsync(c.Path("id"), c.Bool("force"), c.Bool("v"), c.Bool("link"), c.Aborted);
            await c.NoContentAsync();
        });
        router.Add("GET", "/containers/{id}/logs", Logs);
        router.Add("POST", "/containers/{id}/attach", Attach);
        router.Add("POST", "/containers/{id}/resize", async c =>
        {
            var (height, width) = Size(c);
            await containers.ResizeAsync(c.Path("id"), height, width, c.Aborted);
            c.Response.StatusCode = 200;
        });
        router.Add("GET", "/containers/{id}/top", async c =>
            await c.WriteJsonAsync(200, await containers.TopAsync(c.Path("id"), c.Query("ps_args"), c.Aborted), Json.ContainerTopResponse));
        router.Add("GET", "/containers/{id}/stats", c =>
        {
            var stream = c.Bool("stream", defaultValue: true);
            var stats = containers.StatsAsync(c.Path("id"), stream, c.Bool("one-shot"), c.Aborted);
            return StreamJsonAsync(c, stats, Json.ContainerStats, "application/json", progress: false);
        });
        router.Add("GET", "/containers/{id}/changes", async c =>
        {
            var changes = await containers.ChangesAsync(c.Path("id"), c.Aborted);
            await c.WriteJsonAsync(200, changes as List<FilesystemChange> ?? [.. changes], Json.ListFilesystemChange);
        });
        router.Add("GET", "/containers/{id}/export", c => TarOutAsync(c, body => containers.ExportAsync(c.Path("id"), body, c.Aborted)));
        router.Add("HEAD", "/containers/{id}/archive", async c =>
        {
            await SetPathStatAsync(c);
            c.Response.StatusCode = 200;
        });
        router.Add("GET", "/containers/{id}/archive", async c =>
        {
            await SetPathStatAsync(c);
            await TarOutAsync(c, body => containers.GetArchiveAsync(c.Path("id"), ArchivePath(c), body, c.Aborted));
        });
        router.Add("PUT", "/containers/{id}/archive", async c =>
        {
            var upload = new ArchiveUpload(ArchivePath(c), c.Bool("noOverwriteDirNonDir"), c.Bool("copyUIDGID"));
            await containers.PutArchiveAsync(c.Path("id"), upload, c.Request.Body, c.Aborted);
            c.Response.StatusCode = 200;
        });
        router.Add("POST", "/containers/{id}/rename", async c =>
        {
            var name = c.Query("name");
            if (string.IsNullOrEmpty(name)) throw new InvalidParameterException("Neither old nor new names may be empty");
            if (!ContainerName().IsMatch(name))
                throw new InvalidParameterException($"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
            await containers.RenameAsync(c.Path("id"), name.TrimStart('/'), c.Aborted);
            await c.NoContentAsync();
        });
        router.Add("POST", "/containers/{id}/update", async c =>
        {
            var update = await c.ReadJsonAsync(Json.ContainerUpdateRequest) ?? new ContainerUpdateRequest();
            await c.WriteJsonAsync(200, await containers.UpdateAsync(c.Path("id"), update, c.Aborted), Json.ContainerUpdateResponse);
        });
        router.Add("POST", "/containers/prune", async c =>
            await c.WriteJsonAsync(200, await containers.PruneAsync(c.Filters(), c.Aborted), Json.ContainerPruneResponse));
    }

    private static (int Height, int Width) Size(ApiCall c)
    {
        var height = c.Int("h") ?? 0;
        var width = c.Int("w") ?? 0;
        if (height < 0 || width < 0) throw new InvalidParameterException("invalid resize: height and width must be positive");
        return (height, width);
    }

    private static string ArchivePath(ApiCall c)
    {
        var path = c.Query("path");
        return string.IsNullOrEmpty(path) ? throw new InvalidParameterException("path must not be empty") : path;
    }

    private async Task SetPathStatAsync(ApiCall c)
    {
        var stat = await engine.Containers.StatPathAsync(c.Path("id"), ArchivePath(c), c.Aborted);
        c.Response.Headers["X-Docker-Container-Path-Stat"] = Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(stat, Json.ContainerPathStat));
    }

    private static async Task TarOutAsync(ApiCall c, Func<Stream, Task> write)
    {
        c.Response.StatusCode = 200;
        c.Response.ContentType = "application/x-tar";
        await write(c.Response.Body);
    }

    private async Task Wait(ApiCall c)
    {
        var condition = c.Query("condition") switch
        {
            null or "" or "not-running" => WaitCondition.NotRunning,
            "next-exit" => WaitCondition.NextExit,
            "removed" => WaitCondition.Removed,
            var other => throw new InvalidParameterException($"invalid condition: \"{other}\""),
        };
        var waiting = await engine.Containers.WaitAsync(c.Path("id"), condition, c.Aborted);
        // As Docker: the status line goes out at once, the body when the condition is met.
        c.Response.StatusCode = 200;
        c.Response.ContentType = "application/json";
        c.Http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await c.Response.StartAsync(c.Aborted);
        await c.Response.Body.FlushAsync(c.Aborted);
        ContainerWaitResponse result;
        try
        {
            result = await waiting.WaitAsync(c.Aborted);
        }
        catch (EngineException e)
        {
            result = new ContainerWaitResponse { StatusCode = -1, Error = new ContainerWaitExitError { Message = e.Message } };
        }
        await c.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(result, Json.ContainerWaitResponse), c.Aborted);
        await c.Response.Body.WriteAsync("\n"u8.ToArray(), c.Aborted);
    }

    private async Task Logs(ApiCall c)
    {
        var stdout = c.Bool("stdout");
        var stderr = c.Bool("stderr");
        if (!stdout && !stderr) throw new InvalidParameterException("Bad parameters: you must choose at least one stream");
        var tailText = c.Query("tail");
        int? tail = null;
        if (!string.IsNullOrEmpty(tailText) && tailText != "all")
        {
            if (!int.TryParse(tailText, out var n)) throw new InvalidParameterException($"invalid value for \"tail\": \"{tailText}\"");
            if (n >= 0) tail = n;
        }
        var options = new LogsOptions(c.Bool("follow"), stdout, stderr, c.UnixTime("since"), c.UnixTime("until"), c.Bool("timestamps"), tail);
        var log = await engine.Containers.LogsAsync(c.Path("id"), options, c.Aborted);
        c.Response.StatusCode = 200;
        c.Response.ContentType = Hijack.ContentType(c.Version, log.Tty);
        c.Http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await c.Response.StartAsync(c.Aborted);
        await foreach (var entry in log.Entries.WithCancellation(c.Aborted))
        {
            var data = entry.Data;
            if (options.Timestamps)
            {
                var stamp = Encoding.ASCII.GetBytes(FixedNano(entry.Time) + " ");
                var joined = new byte[stamp.Length + data.Length];
                stamp.CopyTo(joined, 0);
                data.CopyTo(joined.AsMemory(stamp.Length));
                data = joined;
            }
            await StdFrame.WriteAsync(c.Response.Body, entry.Stream, data, log.Tty, c.Aborted);
            if (options.Follow) await c.Response.Body.FlushAsync(c.Aborted);
        }
    }

    /// <summary>Docker's log timestamps: RFC 3339 with exactly nine fractional digits.</summary>
    public static string FixedNano(DateTimeOffset time)
    {
        var utc = time.UtcDateTime;
        return utc.ToString("yyyy-MM-dd'T'HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) + "." +
               ((utc.Ticks % TimeSpan.TicksPerSecond) * 100).ToString("D9", System.Globalization.CultureInfo.InvariantCulture) + "Z";
    }

    private async Task Attach(ApiCall c)
    {
        var detachKeys = DetachKeyScanner.Parse(c.Query("detachKeys"))
            ?? throw new InvalidParameterException($"Invalid detach keys ({c.Query("detachKeys")}) provided");
        var options = new AttachOptions(c.Bool("stdin"), c.Bool("stdout"), c.Bool("stderr"), c.Bool("stream"), c.Bool("logs"), c.Query("detachKeys"));
        var id = c.Path("id");
        Func<Stream, CancellationToken, Task>? replay = null;
        if (options.Logs && (options.Stdout || options.Stderr))
        {
            // As moby: the log so far goes out first, then (with stream=1) what the container writes from now on.
            var log = await engine.Containers.LogsAsync(id, new LogsOptions(false, options.Stdout, options.Stderr, null, null, false, null), c.Aborted);
            replay = async (output, token) =>
            {
                await foreach (var entry in log.Entries.WithCancellation(token))
                    if (entry.Stream == StdStream.Stdout ? options.Stdout : options.Stderr)
                        await StdFrame.WriteAsync(output, entry.Stream, entry.Data, log.Tty, token);
            };
        }
        var session = options.Stream
            ? await engine.Containers.AttachAsync(id, options, c.Aborted)
            : new ReplayOnlySession((await engine.Containers.InspectAsync(id, false, c.Aborted)).Config?.Tty ?? false);
        await Hijack.RunAsync(c, session, options.Stdin && options.Stream, detachKeys, replay);
    }

    /// <summary>attach with stream=0: nothing live, the connection ends after the replayed log.</summary>
    private sealed class ReplayOnlySession(bool tty) : IStdioSession
    {
        public bool Tty => tty;
        public IAsyncEnumerable<OutputChunk> Output => AsyncEnumerable.Empty<OutputChunk>();
        public ValueTask WriteStdinAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => ValueTask.CompletedTask;
        public ValueTask CloseStdinAsync() => ValueTask.CompletedTask;
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    // ---- exec ---------------------------------------------------------------------------------

    private void MapExec()
    {
        var exec = engine.Exec;
        router.Add("POST", "/containers/{id}/exec", async c =>
        {
            var config = await c.ReadJsonAsync(Json.ExecConfig, eofIsError: true) ?? throw new InvalidParameterException("config cannot be empty");
            if (config.Cmd is null || config.Cmd.Count == 0) throw new InvalidParameterException("No exec command specified");
            if (config.DetachKeys is { Length: > 0 } keys && DetachKeyScanner.Parse(keys) is null)
                throw new InvalidParameterException($"Invalid escape keys ({keys}) provided");
            await c.WriteJsonAsync(201, await exec.CreateAsync(c.Path("id"), config, c.Aborted), Json.IdResponse);
        });
        router.Add("POST", "/exec/{id}/start", async c =>
        {
            var config = await c.ReadJsonAsync(Json.ExecStartConfig) ?? new ExecStartConfig();
            var inspect = await exec.InspectAsync(c.Path("id"), c.Aborted);
            var session = await exec.StartAsync(c.Path("id"), config, c.Aborted);
            if (session is null)
            {
                c.Response.StatusCode = 200;
                return;
            }
            await Hijack.RunAsync(c, session, inspect.OpenStdin, DetachKeyScanner.Parse(inspect.DetachKeys) ?? DetachKeyScanner.Default);
        });
        router.Add("POST", "/exec/{id}/resize", async c =>
        {
            var (height, width) = Size(c);
            await exec.ResizeAsync(c.Path("id"), height, width, c.Aborted);
            c.Response.StatusCode = 200;
        });
        router.Add("GET", "/exec/{id}/json", async c =>
            await c.WriteJsonAsync(200, await exec.InspectAsync(c.Path("id"), c.Aborted), Json.ExecInspect));
    }

    // ---- images -------------------------------------------------------------------------------

    private void MapImages()
    {
        var images = engine.Images;
        router.Add("GET", "/images/json", async c =>
        {
            var list = await images.ListAsync(new ImageListOptions(c.Bool("all"), c.Filters(), c.Bool("shared-size"), c.Bool("digests")), c.Aborted);
            await c.WriteJsonAsync(200, list as List<ImageSummary> ?? [.. list], Json.ListImageSummary);
        });
        router.Add("GET", "/images/{name*}/json", async c =>
            await c.WriteJsonAsync(200, await images.InspectAsync(c.Path("name"), c.Aborted), Json.ImageInspect));
        router.Add("GET", "/images/{name*}/history", async c =>
        {
            var history = await images.HistoryAsync(c.Path("name"), c.Aborted);
            await c.WriteJsonAsync(200, history as List<HistoryResponseItem> ?? [.. history], Json.ListHistoryResponseItem);
        });
        router.Add("POST", "/images/{name*}/tag", async c =>
        {
            var repo = c.Query("repo");
            if (string.IsNullOrEmpty(repo)) throw new InvalidParameterException("repository name must have at least one component");
            await images.TagAsync(c.Path("name"), repo, c.Query("tag"), c.Aborted);
            c.Response.StatusCode = 201;
        });
        router.Add("DELETE", "/images/{name*}", async c =>
        {
            var deleted = await images.RemoveAsync(c.Path("name"), c.Bool("force"), c.Bool("noprune"), c.Aborted);
            await c.WriteJsonAsync(200, deleted as List<ImageDeleteResponseItem> ?? [.. deleted], Json.ListImageDeleteResponseItem);
        });
        router.Add("POST", "/images/prune", async c =>
            await c.WriteJsonAsync(200, await images.PruneAsync(c.Filters(), c.Aborted), Json.ImagePruneResponse));
        router.Add("POST", "/images/load", c =>
            StreamJsonAsync(c, images.LoadAsync(c.Request.Body, c.Bool("quiet"), c.Aborted), Json.JsonMessage, "application/json", progress: true));
        router.Add("GET", "/images/get", c => TarOutAsync(c, body => images.SaveAsync(c.QueryAll("names"), body, c.Aborted)));
        router.Add("GET", "/images/{name*}/get", c => TarOutAsync(c, body => images.SaveAsync([c.Path("name")], body, c.Aborted)));
        router.Add("POST", "/images/create", c =>
        {
            var fromSrc = c.Query("fromSrc");
            if (string.IsNullOrEmpty(fromSrc))
            {
                if (!string.IsNullOrEmpty(c.Query("fromImage"))) return PullAsync(c);
                throw new InvalidParameterException("fromImage or fromSrc is required");
            }
            if (fromSrc != "-") throw new NotImplementedYetException("importing from a URL");
            var options = new ImageImportOptions(c.Query("repo"), c.Query("tag"), c.Query("message"), c.QueryAll("changes"), c.Query("platform"));
            return StreamJsonAsync(c, images.ImportAsync(c.Request.Body, options, c.Aborted), Json.JsonMessage, "application/json", progress: true);
        });
        router.Add("POST", "/commit", async c =>
        {
            var container = c.Query("container");
            if (string.IsNullOrEmpty(container)) throw new InvalidParameterException("container is required");
            var config = await c.ReadJsonAsync(Json.ContainerConfig);
            var options = new CommitOptions(container, c.Query("repo"), c.Query("tag"), c.Query("comment"), c.Query("author"),
                c.Bool("pause", defaultValue: true), c.QueryAll("changes"), config);
            await c.WriteJsonAsync(201, await images.CommitAsync(options, c.Aborted), Json.IdResponse);
        });
    }

    // ---- streams ------------------------------------------------------------------------------

    /// <summary>
    /// Streams JSON values one per line. Errors before the first value become a status code; later ones end a
    /// progress stream with Docker's {"errorDetail":…,"error":…} line, and simply end other streams.
    /// </summary>
    private static async Task StreamJsonAsync<T>(ApiCall c, IAsyncEnumerable<T> values, JsonTypeInfo<T> type, string contentType, bool progress, bool headersFirst = false)
    {
        await using var enumerator = values.GetAsyncEnumerator(c.Aborted);
        async Task StartAsync()
        {
            c.Response.StatusCode = 200;
            c.Response.ContentType = contentType;
            c.Http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            await c.Response.StartAsync(c.Aborted);
            await c.Response.Body.FlushAsync(c.Aborted);
        }
        // A stream that may stay quiet (events) answers at once, as Docker does; the others answer with
        // their first value, so an error before it still gets its status code.
        if (headersFirst) await StartAsync();
        var more = await enumerator.MoveNextAsync();
        if (!headersFirst) await StartAsync();
        var newline = progress ? "\r\n"u8.ToArray() : "\n"u8.ToArray();
        try
        {
            while (more)
            {
                await c.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(enumerator.Current, type), c.Aborted);
                await c.Response.Body.WriteAsync(newline, c.Aborted);
                await c.Response.Body.FlushAsync(c.Aborted);
                more = await enumerator.MoveNextAsync();
            }
        }
        catch (EngineException e) when (progress)
        {
            var error = new JsonMessage { Error = e.Message, ErrorDetail = new ErrorDetail { Message = e.Message } };
            await c.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(error, Json.JsonMessage), c.Aborted);
            await c.Response.Body.WriteAsync(newline, c.Aborted);
        }
    }
}
