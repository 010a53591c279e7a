using System.Text.Json;
using Berth.Build.Execution;
using Berth.Engine;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Berth.Api;

/// <summary>POST /build: the classic builder (DOCKER_BUILDKIT=0 docker build), a context tar in, JSON progress lines out.</summary>
public sealed partial class DockerApi
{
    private void MapBuild()
    {
        router.Add("POST", "/build", BuildAsync);
        router.Add("POST", "/build/prune", async c =>
        {
            c.Response.StatusCode = 200;
            c.Response.ContentType = "application/json";
            await c.Response.WriteAsync("{\"CachesDeleted\":[],\"SpaceReclaimed\":0}\n", c.Aborted);
        });
    }

    private async Task BuildAsync(ApiCall c)
    {
        if (!string.IsNullOrEmpty(c.Query("remote")))
            throw new InvalidParameterException("remote build contexts are not supported");
        var options = new BuildOptions
        {
            Dockerfile = c.Query("dockerfile"),
            Tags = c.QueryAll("t").Where(t => t.Length > 0).ToList(),
            BuildArgs = JsonMap(c.Query("buildargs"), "buildargs"),
            Labels = JsonMap(c.Query("labels"), "labels").Where(l => l.Value is not null).ToDictionary(l => l.Key, l => l.Value!),
            Target = c.Query("target"),
            NoCache = c.Bool("nocache"),
            Pull = c.Query("pull") is { Length: > 0 } pull && pull != "0" && pull != "false",
            Quiet = c.Bool("q"),
            NetworkMode = c.Query("networkmode") is { Length: > 0 } network ? network : "default",
            Platform = c.Query("platform") is { Length: > 0 } platform ? platform : null,
        };
        var service = engine.Build;
        if (service is Berth.Engine.Build.UnimplementedBuildService) throw new NotImplementedYetException("building images");

        // As dockerd: the response starts with the first line the build writes, so a failure before it (a parse
        // error, an unknown target) is an HTTP error the client shows as "Error response from daemon: …".
        var started = false;
        string? earlyError = null;
        await service.BuildAsync(c.Request.Body, options, async message =>
        {
            if (!started)
            {
                if (message.Error is { } error) { earlyError = error; return; }
                c.Response.StatusCode = 200;
                c.Response.ContentType = "application/json";
                c.Http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
                await c.Response.StartAsync(c.Aborted);
                started = true;
            }
            await c.Response.Body.WriteAsync(message.ToJsonLine(), c.Aborted);
            await c.Response.Body.FlushAsync(c.Aborted);
        }, c.Aborted);
        if (earlyError is not null)
        {
            if (earlyError.StartsWith("Cannot locate specified Dockerfile", StringComparison.Ordinal)) throw new EngineFailureException(earlyError);
            throw new InvalidParameterException(earlyError);
        }
    }

    /// <summary>A query parameter holding a JSON object of strings (buildargs, labels); null values are kept as null.</summary>
    private static Dictionary<string, string?> JsonMap(string? json, string name)
    {
        var map = new Dictionary<string, string?>(StringComparer.Ordinal);
        if (string.IsNullOrEmpty(json)) return map;
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidParameterException($"{name}: not a JSON object");
            foreach (var p in doc.RootElement.EnumerateObject())
                map[p.Name] = p.Value.ValueKind switch
                {
                    JsonValueKind.Null => null,
                    JsonValueKind.String => p.Value.GetString(),
                    _ => throw new InvalidParameterException($"{name}: value of {p.Name} is not a string"),
                };
        }
        catch (JsonException e)
        {
            throw new InvalidParameterException($"{name}: {e.Message}");
        }
        return map;
    }
}
