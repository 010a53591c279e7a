using Berth.Engine;
using Berth.Engine.Models;

namespace Berth.Api;

/// <summary>The /volumes routes (docker volume create/ls/inspect/rm/prune).</summary>
public sealed partial class DockerApi
{
    private static readonly VolumeJsonContext VolumeJson = VolumeJsonContext.Default;

    private void MapVolumes()
    {
        router.Add("GET", "/volumes", async c =>
            await c.WriteJsonAsync(200, await engine.Volumes.ListAsync(c.Filters(), c.Aborted), VolumeJson.VolumeListResponse));
        router.Add("POST", "/volumes/create", async c =>
        {
            var body = await c.ReadJsonAsync(VolumeJson.VolumeCreateRequest) ?? new VolumeCreateRequest();
            await c.WriteJsonAsync(201, await engine.Volumes.CreateAsync(body, c.Aborted), VolumeJson.Volume);
        });
        router.Add("GET", "/volumes/{name}", async c =>
            await c.WriteJsonAsync(200, await engine.Volumes.InspectAsync(c.Path("name"), c.Aborted), VolumeJson.Volume));
        router.Add("DELETE", "/volumes/{name}", async c =>
        {
            await engine.Volumes.RemoveAsync(c.Path("name"), c.Bool("force"), c.Aborted);
            await c.NoContentAsync();
        });
        router.Add("POST", "/volumes/prune", async c =>
            await c.WriteJsonAsync(200, await engine.Volumes.PruneAsync(c.Filters(), c.Aborted), VolumeJson.VolumePruneResponse));
    }
}
