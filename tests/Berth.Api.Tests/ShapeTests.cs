using System.Text.Json;

namespace Berth.Api.Tests;

/// <summary>
/// Every field Berth writes must be one swagger (moby api/swagger.yaml, API 1.47) defines for that object;
/// the property lists below are swagger's.
/// </summary>
public sealed class ShapeTests(ApiServerFixture server) : IClassFixture<ApiServerFixture>
{
    private static readonly Dictionary<string, string[]> Swagger = new()
    {
        ["ContainerSummary"] = ["Id", "Names", "Image", "ImageID", "Command", "Created", "Ports", "SizeRw", "SizeRootFs", "Labels", "State", "Status", "HostConfig", "NetworkSettings", "Mounts"],
        ["ContainerInspect"] = ["Id", "Created", "Path", "Args", "State", "Image", "ResolvConfPath", "HostnamePath", "HostsPath", "LogPath", "Name", "RestartCount", "Driver", "Platform", "MountLabel", "ProcessLabel", "AppArmorProfile", "ExecIDs", "HostConfig", "GraphDriver", "SizeRw", "SizeRootFs", "Mounts", "Config", "NetworkSettings"],
        ["ContainerState"] = ["Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid", "ExitCode", "Error", "StartedAt", "FinishedAt", "Health"],
        ["ContainerConfig"] = ["Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck", "ArgsEscaped", "Image", "Volumes", "WorkingDir", "Entrypoint", "NetworkDisabled", "MacAddress", "OnBuild", "Labels", "StopSignal", "StopTimeout", "Shell"],
        ["HostConfig"] = ["CpuShares", "Memory", "CgroupParent", "BlkioWeight", "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuPeriod", "CpuQuota", "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems", "Devices", "DeviceCgroupRules", "DeviceRequests", "KernelMemoryTCP", "MemoryReservation", "MemorySwap", "MemorySwappiness", "NanoCpus", "OomKillDisable", "Init", "PidsLimit", "Ulimits", "CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth", "Binds", "ContainerIDFile", "LogConfig", "NetworkMode", "PortBindings", "RestartPolicy", "AutoRemove", "VolumeDriver", "VolumesFrom", "Mounts", "ConsoleSize", "Annotations", "CapAdd", "CapDrop", "CgroupnsMode", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts", "GroupAdd", "IpcMode", "Cgroup", "Links", "OomScoreAdj", "PidMode", "Privileged", "PublishAllPorts", "ReadonlyRootfs", "SecurityOpt", "StorageOpt", "Tmpfs", "UTSMode", "UsernsMode", "ShmSize", "Sysctls", "Runtime", "Isolation", "MaskedPaths", "ReadonlyPaths"],
        ["ImageSummary"] = ["Id", "ParentId", "RepoTags", "RepoDigests", "Created", "Size", "SharedSize", "VirtualSize", "Labels", "Containers", "Manifests"],
        ["ImageInspect"] = ["Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "DockerVersion", "Author", "Config", "Architecture", "Variant", "Os", "OsVersion", "Size", "VirtualSize", "GraphDriver", "RootFS", "Metadata"],
        ["SystemInfo"] = ["ID", "Containers", "ContainersRunning", "ContainersPaused", "ContainersStopped", "Images", "Driver", "DriverStatus", "DockerRootDir", "Plugins", "MemoryLimit", "SwapLimit", "KernelMemoryTCP", "CpuCfsPeriod", "CpuCfsQuota", "CPUShares", "CPUSet", "PidsLimit", "OomKillDisable", "IPv4Forwarding", "BridgeNfIptables", "BridgeNfIp6tables", "Debug", "NFd", "NGoroutines", "SystemTime", "LoggingDriver", "CgroupDriver", "CgroupVersion", "NEventsListener", "KernelVersion", "OperatingSystem", "OSVersion", "OSType", "Architecture", "NCPU", "MemTotal", "IndexServerAddress", "RegistryConfig", "GenericResources", "HttpProxy", "HttpsProxy", "NoProxy", "Name", "Labels", "ExperimentalBuild", "ServerVersion", "Runtimes", "DefaultRuntime", "Swarm", "LiveRestoreEnabled", "Isolation", "InitBinary", "ContainerdCommit", "RuncCommit", "InitCommit", "SecurityOptions", "ProductLicense", "DefaultAddressPools", "Warnings", "CDISpecDirs", "Containerd"],
        ["SystemVersion"] = ["Platform", "Components", "Version", "ApiVersion", "MinAPIVersion", "GitCommit", "GoVersion", "Os", "Arch", "KernelVersion", "Experimental", "BuildTime"],
        ["NetworkSettings"] = ["Bridge", "SandboxID", "HairpinMode", "LinkLocalIPv6Address", "LinkLocalIPv6PrefixLen", "Ports", "SandboxKey", "SecondaryIPAddresses", "SecondaryIPv6Addresses", "EndpointID", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPAddress", "IPPrefixLen", "IPv6Gateway", "MacAddress", "Networks"],
        ["EndpointSettings"] = ["IPAMConfig", "Links", "MacAddress", "Aliases", "DriverOpts", "NetworkID", "EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "IPv6Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "DNSNames"],
        ["Health"] = ["Status", "FailingStreak", "Log"],
    };

    private static void AssertSubset(string definition, JsonElement value)
    {
        Assert.Equal(JsonValueKind.Object, value.ValueKind);
        foreach (var property in value.EnumerateObject())
            Assert.True(Swagger[definition].Contains(property.Name), $"{definition} has no field {property.Name} in swagger");
    }

    private async Task<JsonElement> GetAsync(string path)
    {
        using var response = await server.Client.GetAsync("/v1.47" + path);
        response.EnsureSuccessStatusCode();
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    [Fact]
    public async Task Container_inspect_fields_are_swaggers()
    {
        var inspect = await GetAsync("/containers/web/json");
        AssertSubset("ContainerInspect", inspect);
        AssertSubset("ContainerState", inspect.GetProperty("State"));
        AssertSubset("Health", inspect.GetProperty("State").GetProperty("Health"));
        AssertSubset("ContainerConfig", inspect.GetProperty("Config"));
        AssertSubset("HostConfig", inspect.GetProperty("HostConfig"));
        AssertSubset("NetworkSettings", inspect.GetProperty("NetworkSettings"));
        AssertSubset("EndpointSettings", inspect.GetProperty("NetworkSettings").GetProperty("Networks").GetProperty("bridge"));
        // What clients rely on is always there.
        foreach (var field in new[] { "Id", "Created", "Path", "Args", "State", "Image", "Name", "RestartCount", "HostConfig", "Mounts", "Config", "NetworkSettings" })
            Assert.True(inspect.TryGetProperty(field, out _), field);
        foreach (var field in new[] { "Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid", "ExitCode", "Error", "StartedAt", "FinishedAt" })
            Assert.True(inspect.GetProperty("State").TryGetProperty(field, out _), field);
        Assert.Equal("/web", inspect.GetProperty("Name").GetString());
        Assert.Equal("2026-11-30T12:00:00.1234567Z", inspect.GetProperty("Created").GetString());
        Assert.Equal("0001-01-01T00:00:00Z", inspect.GetProperty("State").GetProperty("FinishedAt").GetString());
    }

    [Fact]
    public async Task Container_list_fields_are_swaggers()
    {
        var list = await GetAsync("/containers/json");
        var first = list[0];
        AssertSubset("ContainerSummary", first);
        foreach (var field in new[] { "Id", "Names", "Image", "ImageID", "Command", "Created", "Ports", "Labels", "State", "Status", "HostConfig", "NetworkSettings", "Mounts" })
            Assert.True(first.TryGetProperty(field, out _), field);
        Assert.Equal(8080, first.GetProperty("Ports")[0].GetProperty("PublicPort").GetInt32());
    }

    [Fact]
    public async Task Image_fields_are_swaggers()
    {
        AssertSubset("ImageSummary", (await GetAsync("/images/json"))[0]);
        var inspect = await GetAsync("/images/busybox/json");
        AssertSubset("ImageInspect", inspect);
        AssertSubset("ContainerConfig", inspect.GetProperty("Config"));
        var history = await GetAsync("/images/busybox/history");
        foreach (var field in new[] { "Id", "Created", "CreatedBy", "Tags", "Size", "Comment" })
            Assert.True(history[0].TryGetProperty(field, out _), field);
    }

    [Fact]
    public async Task System_fields_are_swaggers()
    {
        var info = await GetAsync("/info");
        AssertSubset("SystemInfo", info);
        Assert.Equal("TEST-DAEMON-ID", info.GetProperty("ID").GetString());
        Assert.Equal("0.1.0-test", info.GetProperty("ServerVersion").GetString());
        Assert.True(info.GetProperty("LiveRestoreEnabled").GetBoolean());
        Assert.Equal(Environment.ProcessorCount, info.GetProperty("NCPU").GetInt32());
        var version = await GetAsync("/version");
        AssertSubset("SystemVersion", version);
        Assert.Equal("1.24", version.GetProperty("MinAPIVersion").GetString());
    }

    [Fact]
    public async Task Top_and_prune_shapes()
    {
        var top = await GetAsync("/containers/web/top");
        Assert.Equal("PID", top.GetProperty("Titles")[0].GetString());
        Assert.Equal("4242", top.GetProperty("Processes")[0][0].GetString());
    }
}
