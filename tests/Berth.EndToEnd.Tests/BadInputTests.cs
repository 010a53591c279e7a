using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Berth.Api;
using Berth.Engine;
using Berth.Testing;

namespace Berth.EndToEnd.Tests;

/// <summary>Bad input through the CLI and raw HTTP: Docker's codes and messages, the daemon survives, nothing half-made.</summary>
public sealed class BadInputTests(BerthDaemon daemon) : IClassFixture<BerthDaemon>
{
    private HttpClient Http() => daemon.Http();

    private async Task<int> ContainerCountAsync() => (await daemon.BerthOkAsync("ps", "-aq")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;

    [RootFact]
    public async Task Bad_flag_values_fail_as_dockers_and_create_nothing()
    {
        var memory = await daemon.BerthAsync("run", "--memory", "abc", "busybox", "true");
        Assert.Equal(125, memory.Code);
        Assert.StartsWith("invalid argument \"abc\" for \"-m, --memory\" flag: invalid size: 'abc'\n", memory.Err);
        var port = await daemon.BerthAsync("run", "-p", "99999:80", "busybox", "true");
        Assert.Equal((125, "berth: invalid hostPort: 99999\n\nRun 'berth run --help' for more information\n"), (port.Code, port.Err));
        // The docker CLI says the same to berthd.
        Assert.Equal(125, (await daemon.DockerAsync("run", "--memory", "abc", "busybox", "true")).Code);
    }

    [RootFact]
    public async Task Unknown_image_name_in_use_and_removing_a_running_container()
    {
        await daemon.BusyboxAsync();
        var before = await ContainerCountAsync();
        var unknown = await daemon.BerthAsync("run", "--pull", "never", "no-such-image-" + daemon.Tag);
        Assert.Equal(125, unknown.Code);
        Assert.StartsWith($"berth: Error response from daemon: No such image: no-such-image-{daemon.Tag}:latest", unknown.Err);
        Assert.Equal(before, await ContainerCountAsync());

        var name = daemon.Tag + "-taken";
        var id = (await daemon.BerthOkAsync("run", "-d", "--name", name, "busybox", "sleep", "300")).Trim();
        var inUse = await daemon.BerthAsync("run", "--name", name, "busybox", "true");
        Assert.Equal(125, inUse.Code);
        Assert.Contains($"Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.", inUse.Err);
        var running = await daemon.BerthAsync("rm", name);
        Assert.Equal(1, running.Code);
        Assert.Equal($"Error response from daemon: cannot remove container \"/{name}\": container is running: stop the container before removing or force remove\n", running.Err);
        await daemon.BerthOkAsync("rm", "-f", name);
        Assert.Equal(before, await ContainerCountAsync());
        var memory = await daemon.BerthAsync("run", "--memory", "abc", "busybox", "true");
        Assert.Equal(125, memory.Code);
        Assert.Equal(before, await ContainerCountAsync());
    }

    [RootFact]
    public async Task The_docker_cli_sees_dockers_errors_and_nothing_is_left_behind()
    {
        await daemon.BusyboxAsync();
        var before = await ContainerCountAsync();
        var unknown = await daemon.DockerAsync("run", "--pull", "never", "no-such-image-" + daemon.Tag);
        Assert.Equal(125, unknown.Code);
        Assert.StartsWith($"docker: Error response from daemon: No such image: no-such-image-{daemon.Tag}:latest", unknown.Err);
        var port = await daemon.DockerAsync("run", "-p", "99999:80", "busybox", "true");
        Assert.Equal(125, port.Code);
        Assert.Contains("invalid hostPort: 99999", port.Err);

        var name = daemon.Tag + "-dtaken";
        var id = (await daemon.DockerOkAsync("run", "-d", "--name", name, "busybox", "sleep", "300")).Trim();
        try
        {
            var inUse = await daemon.DockerAsync("run", "--name", name, "busybox", "true");
            Assert.Equal(125, inUse.Code);
            Assert.Contains($"Conflict. The container name \"/{name}\" is already in use by container \"{id}\"", inUse.Err);
            var running = await daemon.DockerAsync("rm", name);
            Assert.Equal(1, running.Code);
            Assert.Contains($"Error response from daemon: cannot remove container \"/{name}\": container is running: stop the container before removing or force remove", running.Err);
        }
        finally { await daemon.DockerAsync("rm", "-f", name); }
        Assert.Equal(before, await ContainerCountAsync());

        // What the CLI checks itself, the API checks too: Docker's 400 and no container made.
        using var http = Http();
        foreach (var (body, message) in new[]
        {
            ("{\"Image\":\"busybox\",\"HostConfig\":{\"PortBindings\":{\"80/tcp\":[{\"HostPort\":\"99999\"}]}}}", "invalid port specification: \"99999\""),
            ("{\"Image\":\"busybox\",\"HostConfig\":{\"Memory\":1000}}", "Minimum memory limit allowed is 6MB"),
            ("{\"Image\":\"no-such-image-" + daemon.Tag + "\"}", "No such image: no-such-image-" + daemon.Tag + ":latest"),
        })
        {
            using var response = await http.PostAsync("/v1.47/containers/create", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(message.StartsWith("No such", StringComparison.Ordinal) ? HttpStatusCode.NotFound : HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal(message, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("message").GetString());
        }
        Assert.Equal(before, await ContainerCountAsync());
    }

    [RootFact]
    public async Task Unknown_api_versions_and_huge_headers_are_refused_and_the_daemon_lives()
    {
        using var http = Http();
        using (var tooNew = await http.GetAsync("/v9.99/version"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, tooNew.StatusCode);
            Assert.Equal("client version 9.99 is too new. Maximum supported API version is 1.47",
                JsonDocument.Parse(await tooNew.Content.ReadAsStringAsync()).RootElement.GetProperty("message").GetString());
        }
        using (var tooOld = await http.GetAsync("/v1.0/version"))
            Assert.Equal(HttpStatusCode.BadRequest, tooOld.StatusCode);
        var huge = new HttpRequestMessage(HttpMethod.Get, "/_ping");
        huge.Headers.Add("X-Huge", new string('a', 200_000));
        using (var response = await http.SendAsync(huge))
            Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
        using var alive = await http.GetAsync("/_ping");
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
    }

    [RootFact]
    public async Task Malformed_bodies_to_every_route_never_crash_berthd_or_leave_containers()
    {
        await daemon.BusyboxAsync();
        var target = (await daemon.BerthOkAsync("create", "--name", daemon.Tag + "-target", "busybox", "sleep", "300")).Trim();
        var before = await ContainerCountAsync();
        var routes = new DockerApi(new CompositeEngine(), "routes").Routes.ToList();
        var bodies = new[] { "{not json", "[1,2", "\"just a string\"", "{\"HostConfig\": 12}", "{\"Cmd\": {\"a\": 1}}", "\u0000\u0001garbage" };
        var failures = new List<string>();
        using var http = Http();
        foreach (var (method, pattern) in routes)
        {
            if (method is "GET" or "HEAD" or "DELETE") continue; // no body to get wrong
            if (pattern.EndsWith("/prune", StringComparison.Ordinal)) continue; // takes no body, and would remove the stopped target
            // Calls that would start, stop or hold the target get a name that does not exist.
            var holdsOrChanges = pattern.EndsWith("/attach", StringComparison.Ordinal) || pattern.EndsWith("/wait", StringComparison.Ordinal)
                || pattern.EndsWith("/start", StringComparison.Ordinal) || pattern.EndsWith("/restart", StringComparison.Ordinal)
                || pattern.EndsWith("/stop", StringComparison.Ordinal) || pattern.EndsWith("/kill", StringComparison.Ordinal) || pattern.EndsWith("/pause", StringComparison.Ordinal);
            var path = pattern.Replace("{id}", holdsOrChanges ? "no-such-" + daemon.Tag : target).Replace("{name*}", "busybox").Replace("{name}", "busybox");
            foreach (var body in bodies)
            {
                using var request = new HttpRequestMessage(new HttpMethod(method), "/v1.47" + path + "?path=/tmp&container=" + target + "&fromSrc=-&repo=" + daemon.Tag + "-x")
                {
                    Content = new StringContent(body, Encoding.UTF8, "application/json"),
                };
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                    if ((int)response.StatusCode >= 500 && response.StatusCode != HttpStatusCode.NotImplemented)
                        failures.Add($"{method} {path} with {body}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                }
                catch (TaskCanceledException) { failures.Add($"{method} {path}: no answer"); }
            }
        }
        Assert.Empty(failures);
        using var alive = await http.GetAsync("/_ping");
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        Assert.Equal(before, await ContainerCountAsync());
        await daemon.BerthOkAsync("rm", "-f", target);
    }
}

/// <summary>Raw HTTP to a test's berthd over its unix socket.</summary>
internal static class DaemonHttp
{
    public static HttpClient Http(this BerthDaemon daemon) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, token) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(daemon.Socket), token);
            return new NetworkStream(socket, ownsSocket: true);
        },
    }) { BaseAddress = new Uri("http://berthd") };
}
