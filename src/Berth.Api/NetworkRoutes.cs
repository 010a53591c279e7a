using Berth.Engine;
using Berth.Engine.Models;

namespace Berth.Api;

/// <summary>The /networks routes (docker network ls/inspect/create/rm/prune/connect/disconnect).</summary>
public sealed partial class DockerApi
{
    private static readonly NetworkJsonContext NetworkJson = NetworkJsonContext.Default;

    private void MapNetworks()
    {
        router.Add("GET", "/networks", async c =>
        {
            var list = await engine.Networks.ListAsync(c.Filters(), c.Aborted);
            await c.WriteJsonAsync(200, list as List<NetworkResource> ?? [.. list], NetworkJson.ListNetworkResource);
        });
        router.Add("GET", "/networks/{id}", async c =>
            await c.WriteJsonAsync(200, await engine.Networks.InspectAsync(c.Path("id"), c.Aborted), NetworkJson.NetworkResource));
        router.Add("DELETE", "/networks/{id}", async c =>
        {
            await engine.Networks.RemoveAsync(c.Path("id"), c.Aborted);
            await c.NoContentAsync();
        });
        router.Add("POST", "/networks/create", async c =>
        {
            var body = await c.ReadJsonAsync(NetworkJson.NetworkCreateRequest, eofIsError: true) ?? throw new InvalidParameterException("network config cannot be empty");
            await c.WriteJsonAsync(201, await engine.Networks.CreateAsync(body, c.Aborted), NetworkJson.NetworkCreateResponse);
        });
        router.Add("POST", "/networks/{id}/connect", async c =>
        {
            var body = await c.ReadJsonAsync(NetworkJson.NetworkConnectRequest, eofIsError: true) ?? throw new InvalidParameterException("connect request cannot be empty");
            await engine.Networks.ConnectAsync(c.Path("id"), body, c.Aborted);
            c.Response.StatusCode = 200;
        });
        router.Add("POST", "/networks/{id}/disconnect", async c =>
        {
            var body = await c.ReadJsonAsync(NetworkJson.NetworkDisconnectRequest, eofIsError: true) ?? throw new InvalidParameterException("disconnect request cannot be empty");
            await engine.Networks.DisconnectAsync(c.Path("id"), body, c.Aborted);
            c.Response.StatusCode = 200;
        });
        router.Add("POST", "/networks/prune", async c =>
            await c.WriteJsonAsync(200, await engine.Networks.PruneAsync(c.Filters(), c.Aborted), NetworkJson.NetworkPruneResponse));
    }
}
