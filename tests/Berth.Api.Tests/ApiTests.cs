using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Berth.Api.Tests;

public sealed class ApiTests(ApiServerFixture server) : IClassFixture<ApiServerFixture>
{
    private HttpClient Client => server.Client;

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response)
        => JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    [Fact]
    public async Task Ping_answers_OK_with_Docker_headers_for_GET_and_HEAD()
    {
        foreach (var method in new[] { HttpMethod.Get, HttpMethod.Head })
        {
            using var response = await Client.SendAsync(new HttpRequestMessage(method, "/_ping"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("1.47", response.Headers.GetValues("API-Version").Single());
            Assert.Equal("false", response.Headers.GetValues("Docker-Experimental").Single());
            Assert.Equal("linux", response.Headers.GetValues("Ostype").Single());
            Assert.Equal("1", response.Headers.GetValues("Builder-Version").Single());
            Assert.Contains("no-cache", response.Headers.CacheControl!.ToString());
            Assert.Equal("no-cache", response.Headers.Pragma.ToString());
            Assert.StartsWith("Berth/", response.Headers.Server.ToString());
            Assert.Equal(method == HttpMethod.Get ? "OK" : "", await response.Content.ReadAsStringAsync());
        }
    }

    [Theory]
    [InlineData("/version")]
    [InlineData("/v1.41/version")]
    [InlineData("/v1.44/version")]
    [InlineData("/v1.47/version")]
    [InlineData("/v1.24/version")]
    public async Task Supported_versions_and_no_prefix_are_served(string path)
    {
        using var response = await Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("1.47", response.Headers.GetValues("Api-Version").Single());
        var json = await JsonAsync(response);
        Assert.Equal("1.47", json.GetProperty("ApiVersion").GetString());
        Assert.Equal("0.1.0-test", json.GetProperty("Version").GetString());
        Assert.Equal("Engine", json.GetProperty("Components")[0].GetProperty("Name").GetString());
    }

    [Theory]
    [InlineData("/v1.99/version", "client version 1.99 is too new. Maximum supported API version is 1.47")]
    [InlineData("/v1.48/info", "client version 1.48 is too new. Maximum supported API version is 1.47")]
    [InlineData("/v1.12/version", "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version")]
    public async Task Unsupported_versions_get_Dockers_400(string path, string message)
    {
        using var response = await Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(message, (await JsonAsync(response)).GetProperty("message").GetString());
    }

    [Fact]
    public async Task Unknown_routes_are_404_page_not_found()
    {
        using var response = await Client.GetAsync("/v1.47/nothing/here");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("page not found", (await JsonAsync(response)).GetProperty("message").GetString());
    }

    [Fact]
    public async Task Errors_carry_Dockers_status_codes_and_message_bodies()
    {
        using (var missing = await Client.GetAsync("/v1.47/containers/nope/json"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            Assert.Equal("application/json", missing.Content.Headers.ContentType!.MediaType);
            Assert.Equal("No such container: nope", (await JsonAsync(missing)).GetProperty("message").GetString());
        }
        using (var started = await Client.PostAsync("/v1.47/containers/web/start", null))
        {
            Assert.Equal(HttpStatusCode.NotModified, started.StatusCode);
            Assert.Equal("", await started.Content.ReadAsStringAsync());
        }
        using (var running = await Client.DeleteAsync("/v1.47/containers/web"))
        {
            Assert.Equal(HttpStatusCode.Conflict, running.StatusCode);
            Assert.Contains("container is running", (await JsonAsync(running)).GetProperty("message").GetString());
        }
        using (var removed = await Client.DeleteAsync("/v1.47/containers/web?force=1"))
            Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        using (var unimplemented = await Client.PostAsync("/v1.47/containers/web/pause", null))
        {
            Assert.Equal(HttpStatusCode.NotImplemented, unimplemented.StatusCode);
            Assert.EndsWith("not implemented yet", (await JsonAsync(unimplemented)).GetProperty("message").GetString());
        }
        using (var noImage = await Client.GetAsync("/v1.47/images/nosuch:tag/json"))
            Assert.Equal("No such image: nosuch:tag", (await JsonAsync(noImage)).GetProperty("message").GetString());
    }

    [Fact]
    public async Task Create_reads_the_body_and_validates_name_and_JSON()
    {
        var body = """{"Image":"busybox","Cmd":["true"],"HostConfig":{"Memory":1048576,"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}},"ExposedPorts":{"80/tcp":{}}}""";
        using (var created = await Client.PostAsync("/v1.47/containers/create?name=fresh", new StringContent(body, Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            var json = await JsonAsync(created);
            Assert.Equal(FakeContainers.WebId, json.GetProperty("Id").GetString());
            Assert.Equal(JsonValueKind.Array, json.GetProperty("Warnings").ValueKind);
        }
        var request = server.Containers.LastCreate!;
        Assert.Equal("busybox", request.Image);
        Assert.Equal(1048576, request.HostConfig!.Memory);
        Assert.Equal("8080", request.HostConfig.PortBindings!["80/tcp"]![0].HostPort);
        Assert.Equal(3, request.HostConfig.RestartPolicy!.MaximumRetryCount);
        Assert.Equal("bridge", request.HostConfig.NetworkMode);
        Assert.True(request.ExposedPorts!.ContainsKey("80/tcp"));

        using (var badName = await Client.PostAsync("/v1.47/containers/create?name=bad%20name", new StringContent(body, Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, badName.StatusCode);
            Assert.Equal("Invalid container name (bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", (await JsonAsync(badName)).GetProperty("message").GetString());
        }
        using (var inUse = await Client.PostAsync("/v1.47/containers/create?name=web", new StringContent(body, Encoding.UTF8, "application/json")))
            Assert.Equal(HttpStatusCode.Conflict, inUse.StatusCode);
        using (var empty = await Client.PostAsync("/v1.47/containers/create", new StringContent("", Encoding.UTF8, "application/json")))
            Assert.Equal("invalid JSON: got EOF while reading request body", (await JsonAsync(empty)).GetProperty("message").GetString());
        using (var text = await Client.PostAsync("/v1.47/containers/create", new StringContent(body, Encoding.UTF8, "text/plain")))
            Assert.Equal("unsupported Content-Type header (text/plain; charset=utf-8): must be 'application/json'", (await JsonAsync(text)).GetProperty("message").GetString());
    }

    [Fact]
    public async Task Query_parameters_reach_the_engine()
    {
        using (var list = await Client.GetAsync("/v1.47/containers/json?all=1&filters=" + Uri.EscapeDataString("""{"status":["running"],"label":{"a=b":true}}""")))
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        Assert.Contains("list all=True filters=status=running;label=a=b", server.Containers.Calls);
        using (var stop = await Client.PostAsync("/v1.47/containers/4f1c/stop?t=3&signal=SIGINT", null))
            Assert.Equal(HttpStatusCode.NoContent, stop.StatusCode);
        Assert.Contains("stop 4f1c t=3 signal=SIGINT", server.Containers.Calls);
        using var badFilter = await Client.GetAsync("/v1.47/containers/json?filters=%7Bnope");
        Assert.Equal(HttpStatusCode.BadRequest, badFilter.StatusCode);
        using var badInt = await Client.PostAsync("/v1.47/containers/web/stop?t=abc", null);
        Assert.Equal(HttpStatusCode.BadRequest, badInt.StatusCode);
    }

    [Fact]
    public async Task Logs_are_multiplexed_without_a_TTY_and_raw_with_one()
    {
        using (var framed = await Client.GetAsync("/v1.47/containers/web/logs?stdout=1&stderr=1&timestamps=1"))
        {
            Assert.Equal("application/vnd.docker.multiplexed-stream", framed.Content.Headers.ContentType!.MediaType);
            var bytes = await framed.Content.ReadAsByteArrayAsync();
            Assert.Equal(1, bytes[0]);
            var size = (bytes[4] << 24) | (bytes[5] << 16) | (bytes[6] << 8) | bytes[7];
            Assert.Equal("2026-11-30T12:00:00.000000000Z hello\n", Encoding.UTF8.GetString(bytes, 8, size));
            Assert.Equal(2, bytes[8 + size]);
        }
        using (var raw = await Client.GetAsync("/v1.47/containers/tty/logs?stdout=1&stderr=1"))
        {
            Assert.Equal("application/vnd.docker.raw-stream", raw.Content.Headers.ContentType!.MediaType);
            Assert.Equal("hello\noops\n", await raw.Content.ReadAsStringAsync());
        }
        using (var old = await Client.GetAsync("/v1.41/containers/web/logs?stdout=1"))
            Assert.Equal("application/vnd.docker.raw-stream", old.Content.Headers.ContentType!.MediaType);
        using var none = await Client.GetAsync("/v1.47/containers/web/logs");
        Assert.Equal("Bad parameters: you must choose at least one stream", (await JsonAsync(none)).GetProperty("message").GetString());
    }

    [Fact]
    public async Task Attach_upgrades_to_tcp_and_frames_stdout_and_stderr()
    {
        using var socket = await server.RawAsync(
            "POST /v1.47/containers/web/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n");
        var (status, headers) = await RawHttp.ReadHeadAsync(socket);
        Assert.Equal(101, status);
        Assert.Equal("tcp", headers["Upgrade"]);
        Assert.Equal("Upgrade", headers["Connection"]);
        Assert.Equal("application/vnd.docker.multiplexed-stream", headers["Content-Type"]);
        await socket.SendAsync("ping\n"u8.ToArray());
        Assert.Equal((1, "ping\n"), await RawHttp.ReadFrameAsync(socket));
        socket.Shutdown(SocketShutdown.Send); // stdin closed: the echo says bye on stderr and ends
        Assert.Equal((2, "bye\n"), await RawHttp.ReadFrameAsync(socket));
        Assert.Equal(0, await socket.ReceiveAsync(new byte[1]));
    }

    [Fact]
    public async Task A_hijack_request_with_a_body_still_switches_protocols()
    {
        // The docker CLI's exec start sends its options as JSON with "Upgrade: tcp"; Kestrel upgrades only
        // bodiless requests, so the API writes the 101 itself. Stdin may follow the head at once.
        using var socket = await server.RawAsync(
            "POST /v1.47/containers/web/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n" +
            "Content-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"Detach\":false}early\n");
        var (status, headers) = await RawHttp.ReadHeadAsync(socket);
        Assert.Equal(101, status);
        Assert.Equal("tcp", headers["Upgrade"]);
        Assert.Equal("Upgrade", headers["Connection"]);
        Assert.Equal("application/vnd.docker.multiplexed-stream", headers["Content-Type"]);
        Assert.Equal("1.47", headers["Api-Version"]);
        Assert.Equal((1, "early\n"), await RawHttp.ReadFrameAsync(socket));
        await socket.SendAsync("ping\n"u8.ToArray());
        Assert.Equal((1, "ping\n"), await RawHttp.ReadFrameAsync(socket));
        socket.Shutdown(SocketShutdown.Send);
        Assert.Equal((2, "bye\n"), await RawHttp.ReadFrameAsync(socket));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.Equal(0, await socket.ReceiveAsync(new byte[1], timeout.Token)); // nothing of Kestrel's after the stream
        using var alive = await Client.GetAsync("/_ping");
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
    }

    [Fact]
    public async Task Without_a_TTY_the_detach_keys_are_data()
    {
        using var socket = await server.RawAsync(
            "POST /v1.47/containers/web/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
        Assert.Equal(101, (await RawHttp.ReadHeadAsync(socket)).Status);
        await socket.SendAsync(new byte[] { 0x10, 0x11, (byte)'z' });
        var header = await RawHttp.ReadExactlyAsync(socket, 8);
        var body = await RawHttp.ReadExactlyAsync(socket, header[7]);
        Assert.Equal(new byte[] { 0x10, 0x11, (byte)'z' }, body);
    }

    [Fact]
    public async Task Attach_with_logs_replays_the_log_first_and_stream_0_ends_after_it()
    {
        using var socket = await server.RawAsync(
            "POST /v1.47/containers/web/attach?logs=1&stream=0&stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
        var (status, _) = await RawHttp.ReadHeadAsync(socket);
        Assert.Equal(101, status);
        Assert.Equal((1, "hello\n"), await RawHttp.ReadFrameAsync(socket));
        Assert.Equal((2, "oops\n"), await RawHttp.ReadFrameAsync(socket));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.Equal(0, await socket.ReceiveAsync(new byte[1], timeout.Token));

        using var live = await server.RawAsync(
            "POST /v1.47/containers/web/attach?logs=1&stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
        Assert.Equal(101, (await RawHttp.ReadHeadAsync(live)).Status);
        Assert.Equal((1, "hello\n"), await RawHttp.ReadFrameAsync(live)); // stdout only: the stderr line is not replayed
        await live.SendAsync("now\n"u8.ToArray());
        Assert.Equal((1, "now\n"), await RawHttp.ReadFrameAsync(live));
    }

    [Fact]
    public async Task Attach_with_a_TTY_is_raw_and_detaches_on_ctrl_p_ctrl_q()
    {
        using var socket = await server.RawAsync(
            "POST /v1.47/containers/tty/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
        var (status, headers) = await RawHttp.ReadHeadAsync(socket);
        Assert.Equal(101, status);
        Assert.Equal("application/vnd.docker.raw-stream", headers["Content-Type"]);
        await socket.SendAsync("ab"u8.ToArray());
        Assert.Equal("ab", Encoding.ASCII.GetString(await RawHttp.ReadExactlyAsync(socket, 2)));
        // Ctrl-P then 'x' is not the sequence: both pass; Ctrl-P Ctrl-Q detaches and 'y' is never sent.
        await socket.SendAsync(new byte[] { 0x10, (byte)'x' });
        Assert.Equal(new byte[] { 0x10, (byte)'x' }, await RawHttp.ReadExactlyAsync(socket, 2));
        await socket.SendAsync(new byte[] { 0x10, 0x11, (byte)'y' });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.Equal(0, await socket.ReceiveAsync(new byte[8], timeout.Token));
    }

    [Fact]
    public async Task Attach_without_upgrade_answers_200_and_streams_the_output()
    {
        using var socket = await server.RawAsync(
            "POST /v1.41/containers/web/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: docker\r\nContent-Length: 3\r\n\r\nhi\n");
        var (status, headers) = await RawHttp.ReadHeadAsync(socket);
        Assert.Equal(200, status);
        Assert.Equal("application/vnd.docker.raw-stream", headers["Content-Type"]);
        // The echo ends when the request body (stdin) ends; the body is chunked around the raw stream.
        var body = new StringBuilder();
        while (!body.ToString().EndsWith("0\r\n\r\n", StringComparison.Ordinal))
            body.Append(Encoding.ASCII.GetString(await RawHttp.ReadExactlyAsync(socket, 1)));
        Assert.Contains("hi\n", body.ToString());
    }

    [Fact]
    public async Task Wait_sends_headers_at_once_and_the_body_when_the_container_exits()
    {
        using var response = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1.47/containers/web/wait?condition=next-exit"), HttpCompletionOption.ResponseHeadersRead)
            .WaitAsync(TimeSpan.FromSeconds(10));
        // Headers arrived before the container exited.
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("wait NextExit", server.Containers.Calls);
        var body = response.Content.ReadAsStringAsync();
        await Task.Delay(50);
        Assert.False(body.IsCompleted);
        server.Containers.WaitResult.SetResult(new Berth.Engine.Models.ContainerWaitResponse { StatusCode = 3 });
        Assert.Equal("""{"StatusCode":3}""", (await body).Trim());
        using var bad = await Client.PostAsync("/v1.47/containers/web/wait?condition=sometime", null);
        Assert.Equal("invalid condition: \"sometime\"", (await JsonAsync(bad)).GetProperty("message").GetString());
    }

    [Fact]
    public async Task Error_bodies_escape_as_Go_does_not_as_HTML()
    {
        // dockerd's body for this error is {"message":"invalid condition: \"sometime\""} (Go writes \", not \u0022).
        using var bad = await Client.PostAsync("/v1.47/containers/web/wait?condition=so'me<time>é", null);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("{\"message\":\"invalid condition: \\\"so'me<time>é\\\"\"}\n", await bad.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Stats_stream_and_one_shot()
    {
        using (var once = await Client.GetAsync("/v1.47/containers/web/stats?stream=false"))
        {
            var json = await JsonAsync(once);
            Assert.Equal(1024UL, json.GetProperty("memory_stats").GetProperty("usage").GetUInt64());
            Assert.True(json.TryGetProperty("cpu_stats", out _));
            Assert.True(json.TryGetProperty("precpu_stats", out _));
        }
        using var stream = await Client.GetAsync("/v1.47/containers/web/stats");
        var lines = (await stream.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        using var missing = await Client.GetAsync("/v1.47/containers/nope/stats?stream=0");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Archive_HEAD_returns_the_path_stat_header()
    {
        using var response = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/v1.47/containers/web/archive?path=/etc/hostname"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var stat = JsonDocument.Parse(Convert.FromBase64String(response.Headers.GetValues("X-Docker-Container-Path-Stat").Single())).RootElement;
        Assert.Equal("hostname", stat.GetProperty("name").GetString());
        Assert.Equal(13, stat.GetProperty("size").GetInt64());
        Assert.Equal(420, stat.GetProperty("mode").GetInt32());
        Assert.Equal("", stat.GetProperty("linkTarget").GetString());
        using var missing = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/v1.47/containers/web/archive?path=/nope"));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Progress_streams_end_with_an_errorDetail_line()
    {
        using var response = await Client.PostAsync("/v1.47/images/load?quiet=0", new ByteArrayContent(new byte[5000]));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var lines = (await response.Content.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("Loaded 5000 bytes\n", JsonDocument.Parse(lines[0]).RootElement.GetProperty("stream").GetString());
        var error = JsonDocument.Parse(lines[1]).RootElement;
        Assert.Equal("not a docker archive", error.GetProperty("error").GetString());
        Assert.Equal("not a docker archive", error.GetProperty("errorDetail").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Image_names_with_slashes_and_tags_are_routed()
    {
        using var response = await Client.GetAsync("/v1.47/images/library/busybox:latest/json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("library/busybox:latest", (await JsonAsync(response)).GetProperty("RepoTags")[0].GetString());
    }

    [Fact]
    public async Task A_huge_header_is_refused_cleanly_and_the_server_lives_on()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/_ping");
        request.Headers.Add("X-Huge", new string('a', 200_000));
        using (var response = await Client.SendAsync(request))
            Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
        using var after = await Client.GetAsync("/_ping");
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    [Fact]
    public async Task Malformed_bodies_to_every_route_never_give_a_500()
    {
        var bodies = new[] { "{not json", "[1,2", "\"just a string\"", "{\"HostConfig\": 12}", "{\"Cmd\": {\"a\": 1}}", "\u0000\u0001garbage" };
        var checkedRoutes = 0;
        var timedOut = new List<string>();
        foreach (var (method, pattern) in server.Api.Routes)
        {
            var path = pattern.Replace("{id}", "web").Replace("{name*}", "busybox");
            foreach (var body in bodies)
            {
                var request = new HttpRequestMessage(new HttpMethod(method), "/v1.47" + path + "?stream=0&stdout=1&path=/etc/hostname&container=web&fromSrc=-&repo=x");
                if (method is not ("GET" or "HEAD")) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                HttpResponseMessage response;
                try
                {
                    response = await Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                }
                catch (TaskCanceledException)
                {
                    timedOut.Add($"{method} {path}");
                    continue;
                }
                using (response)
                {
                    if ((int)response.StatusCode >= 500 && response.StatusCode != HttpStatusCode.NotImplemented)
                        Assert.Fail($"{method} {path} with {body}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                    if (response.StatusCode == HttpStatusCode.BadRequest)
                        Assert.True((await JsonAsync(response)).TryGetProperty("message", out _));
                }
            }
            checkedRoutes++;
        }
        Assert.True(checkedRoutes >= 45, $"only {checkedRoutes} routes");
        Assert.Empty(timedOut); // every route answers (streams at least send their headers)
        using var alive = await Client.GetAsync("/_ping");
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
    }

    [Theory]
    [InlineData("POST", "/containers/create")]
    [InlineData("POST", "/containers/web/exec")]
    [InlineData("POST", "/containers/web/update")]
    [InlineData("POST", "/exec/abc/start")]
    [InlineData("POST", "/commit?container=web")]
    public async Task Malformed_JSON_bodies_are_400_invalid_JSON(string method, string path)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), "/v1.47" + path) { Content = new StringContent("{\"Image\": [", Encoding.UTF8, "application/json") };
        using var response = await Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.StartsWith("invalid JSON", (await JsonAsync(response)).GetProperty("message").GetString());
    }
}
