using System.Diagnostics;
using Berth.Api;
using Berth.Engine;
using Berth.Engine.Images;
using Berth.Testing;

namespace Berth.Distribution.Tests;

/// <summary>
/// The docker CLI against Berth's Engine API (an ImageService over a temp store, served on a unix socket)
/// does login, push and pull with berth-registry's token auth: the API's /auth, /images/{name}/push and
/// /images/create?fromImage routes, X-Registry-Auth, and progress the CLI can draw.
/// </summary>
public sealed class EngineApiTests
{
    private const string Docker = "/usr/local/bin/docker";

    private static (int Code, string Out) Run(string socket, string config, params string[] args)
    {
        var psi = new ProcessStartInfo(Docker) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-H");
        psi.ArgumentList.Add("unix://" + socket);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOCKER_CONFIG"] = config;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        if (!p.WaitForExit(120_000)) { p.Kill(); throw new TimeoutException("docker " + string.Join(' ', args)); }
        return (p.ExitCode, stdout.Result + stderr);
    }

    [RootFact]
    public async Task Docker_cli_logs_in_pushes_and_pulls_through_the_engine_api()
    {
        if (!File.Exists(Docker)) Assert.Fail("the docker CLI is not installed");
        await using var registry = await TestRegistry.StartAsync((c, dir) =>
        {
            c.TokenAuth = true;
            c.TokenService = "berth-engine-test";
            c.TokenHtpasswd = dir.Combine("htpasswd");
            TestRegistry.WriteHtpasswd(c.TokenHtpasswd, ("alice", "secret"));
        });
        using var store = new TestStore();
        var image = $"{registry.Host}/app/busybox:latest";
        var id = store.ImportBusybox(image);
        var service = new ImageService(store.Images);
        var api = new DockerApi(new CompositeEngine(images: service), "0.1.0");
        var socket = store.Temp.Combine("berth.sock");
        var options = new ApiServerOptions();
        options.Hosts.Add("unix://" + socket);
        await using var server = await ApiServer.StartAsync(api, options);
        var config = store.Temp.Combine("docker-config");

        var wrong = Run(socket, config, "login", "-u", "alice", "-p", "nope", registry.Host);
        Assert.NotEqual(0, wrong.Code);
        Assert.Contains("incorrect username or password", wrong.Out);
        var login = Run(socket, config, "login", "-u", "alice", "-p", "secret", registry.Host);
        Assert.True(login.Code == 0, login.Out);
        Assert.Contains("Login Succeeded", login.Out);

        var push = Run(socket, config, "push", image);
        Assert.True(push.Code == 0, push.Out);
        Assert.Contains("The push refers to repository", push.Out);
        Assert.Contains("latest: digest: sha256:", push.Out);

        Assert.Equal(0, Run(socket, config, "rmi", image).Code);
        Assert.False(store.Images.TryResolve(image, out _));
        var pull = Run(socket, config, "pull", image);
        Assert.True(pull.Code == 0, pull.Out);
        Assert.Contains("Pull complete", pull.Out);
        Assert.Contains($"Status: Downloaded newer image for {image}", pull.Out);
        Assert.Equal(id, store.Images.Resolve(image));

        var missing = Run(socket, config, "pull", $"{registry.Host}/app/nothing:1");
        Assert.NotEqual(0, missing.Code);
        Assert.Contains("not found", missing.Out);

        var search = Run(socket, config, "search", $"{registry.Host}/busy");
        Assert.True(search.Code == 0, search.Out);
        Assert.Contains($"{registry.Host}/app/busybox", search.Out);
    }

    [RootFact]
    public async Task Berth_cli_login_push_pull_search_logout()
    {
        await using var registry = await TestRegistry.StartAsync((c, dir) =>
        {
            c.TokenAuth = true;
            c.TokenService = "berth-cli-test";
            c.TokenHtpasswd = dir.Combine("htpasswd");
            TestRegistry.WriteHtpasswd(c.TokenHtpasswd, ("alice", "secret"));
        });
        using var store = new TestStore();
        var image = $"{registry.Host}/cli/busybox:v1";
        var id = store.ImportBusybox(image);
        var api = new DockerApi(new CompositeEngine(images: new ImageService(store.Images)), "0.1.0");
        var socket = store.Temp.Combine("berth.sock");
        var options = new ApiServerOptions();
        options.Hosts.Add("unix://" + socket);
        await using var server = await ApiServer.StartAsync(api, options);
        var config = store.Temp.Combine("berth-config");
        async Task<(int Code, string Out, string Err)> Berth(params string[] args)
        {
            var output = new StringWriter();
            var errors = new StringWriter();
            var cli = new Berth.Cli.BerthCli(output, errors, name => name switch { "BERTH_CONFIG" => config, "BERTH_HOST" => "unix://" + socket, _ => null });
            var code = await cli.RunAsync(args);
            return (code, output.ToString(), errors.ToString());
        }

        var denied = await Berth("push", image);
        Assert.Equal(1, denied.Code);
        Assert.Contains("authentication required", denied.Err);
        var login = await Berth("login", "-u", "alice", "-p", "secret", registry.Host);
        Assert.True(login.Code == 0, login.Err);
        Assert.Contains("Login Succeeded", login.Out);
        Assert.Contains("alice", System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(
            System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(config, "config.json"))).RootElement.GetProperty("auths").GetProperty(registry.Host).GetProperty("auth").GetString()!)));
        var push = await Berth("push", image);
        Assert.True(push.Code == 0, push.Err);
        Assert.Contains("v1: digest: sha256:", push.Out);
        Assert.Contains(": Pushed", push.Out);
        store.Images.Untag(image);
        var pull = await Berth("pull", image);
        Assert.True(pull.Code == 0, pull.Err);
        Assert.Contains($"Status: Downloaded newer image for {image}", pull.Out);
        Assert.EndsWith(image + "\n", pull.Out);
        Assert.Equal(id, store.Images.Resolve(image));
        var search = await Berth("search", $"{registry.Host}/cli");
        Assert.Contains($"{registry.Host}/cli/busybox", search.Out);
        Assert.StartsWith("NAME", search.Out);
        var logout = await Berth("logout", registry.Host);
        Assert.Contains($"Removing login credentials for {registry.Host}", logout.Out);
        var again = await Berth("logout", registry.Host);
        Assert.Contains("Not logged in", again.Out);
    }
}
