using System.Diagnostics;
using System.Net;
using Berth.Api;
using Berth.Engine.Networks;
using Berth.Engine.Volumes;
using Berth.Linux.Netlink;
using Berth.Network;
using Berth.Testing;
using Microsoft.AspNetCore.Builder;

namespace Berth.Engine.Tests.Networks;

/// <summary>The docker CLI against the /networks and /volumes routes over a real NetworkManager and VolumeStore.</summary>
public sealed class NetworkApiTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private readonly string _id = Guid.NewGuid().ToString("N")[..6];
    private NetworkManager? _manager;
    private WebApplication? _app;
    private string Socket => _dir.Combine("api.sock");
    private string Table => "berth-e" + _id;

    public async Task InitializeAsync()
    {
        if (!Berth.Linux.Host.IsRoot) return;
        _manager = new NetworkManager(new NetworkManagerOptions
        {
            StateDirectory = _dir.Combine("network"), TableName = Table, DefaultBridge = "none",
            AddressPools = [new AddressPool(FreeSubnet(), 24)], UpstreamResolvers = [],
        });
        _manager.Initialize();
        var engine = new NetworkedEngine(new CompositeEngine(), new NetworkService(_manager), new VolumeService(new VolumeStore(_dir.Combine("volumes"))));
        var options = new ApiServerOptions();
        options.Hosts.Add("unix://" + Socket);
        _app = await ApiServer.StartAsync(new DockerApi(engine, "0.1.0-test"), options);
    }

    public async Task DisposeAsync()
    {
        if (_app is not null) { await _app.StopAsync(); await _app.DisposeAsync(); }
        _manager?.Shutdown(keepContainersRunning: false);
        _manager?.Dispose();
        _dir.Dispose();
    }

    [RootFact]
    public void Docker_cli_creates_lists_inspects_and_removes_a_network()
    {
        var subnet = FreeSubnet();
        var name = "web" + _id;
        var bridge = "bt" + _id;
        var id = Docker("network", "create", "--subnet", subnet.ToString(), "--label", "tier=front", "-o", $"com.docker.network.bridge.name={bridge}", name).Trim();
        Assert.Equal(64, id.Length);
        try
        {
            Assert.Contains(name, Docker("network", "ls", "--filter", "label=tier=front", "--format", "{{.Name}} {{.Driver}}"));
            Assert.DoesNotContain(name, Docker("network", "ls", "--filter", "type=builtin", "--format", "{{.Name}}"));
            Assert.Equal($"{subnet} {IpMath.FromNumber(IpMath.ToNumber(subnet.BaseAddress) + 1, false)} false",
                Docker("network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.Internal}}", name).Trim());
            using (var host = new RouteNetlink()) Assert.NotNull(host.GetLink(bridge));
            var duplicate = DockerFails("network", "create", "--subnet", subnet.ToString(), "other" + _id);
            Assert.Contains("Pool overlaps", duplicate);
            Assert.Contains("already exists", DockerFails("network", "create", name));
        }
        finally { Docker("network", "rm", name); }
        Assert.Contains("not found", DockerFails("network", "inspect", name));
        using (var host = new RouteNetlink()) Assert.Null(host.GetLink(bridge));
    }

    [RootFact]
    public void Docker_cli_creates_lists_inspects_and_removes_a_volume()
    {
        var name = "data" + _id;
        Assert.Equal(name, Docker("volume", "create", "--label", "keep=1", name).Trim());
        Assert.Contains(name, Docker("volume", "ls", "--filter", "label=keep", "--format", "{{.Name}}"));
        var mountpoint = Docker("volume", "inspect", "--format", "{{.Mountpoint}}", name).Trim();
        Assert.True(Directory.Exists(mountpoint));
        Assert.Contains("invalid characters", DockerFails("volume", "create", "bad/name"));
        Docker("volume", "rm", name);
        Assert.False(Directory.Exists(mountpoint));
        Assert.Contains("no such volume", DockerFails("volume", "inspect", name));
    }

    private IPNetwork FreeSubnet()
    {
        using var host = new RouteNetlink();
        var taken = SubnetPicker.HostNetworks(host.ListRoutes(), host.ListAddresses());
        while (true)
        {
            var candidate = IPNetwork.Parse($"10.{Random.Shared.Next(200, 255)}.{Random.Shared.Next(0, 256)}.0/24");
            if (!taken.Any(t => IpMath.Overlaps(t, candidate))) return candidate;
        }
    }

    private string Docker(params string[] args)
    {
        var (code, stdout, stderr) = RunDocker(args);
        if (code != 0) throw new InvalidOperationException($"docker {string.Join(' ', args)} exited {code}: {stderr}");
        return stdout;
    }

    private string DockerFails(params string[] args)
    {
        var (code, _, stderr) = RunDocker(args);
        Assert.NotEqual(0, code);
        return stderr;
    }

    private (int Code, string Stdout, string Stderr) RunDocker(string[] args)
    {
        var psi = new ProcessStartInfo("docker") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-H");
        psi.ArgumentList.Add("unix://" + Socket);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOCKER_CONFIG"] = _dir.Combine("docker-config");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr);
    }
}
