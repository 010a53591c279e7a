using Berth.Engine;
using Berth.Engine.Images;

namespace Berth.Api;

/// <summary>The registry routes: pull (POST /images/create?fromImage), push, auth and search, through <see cref="IImageRegistry"/>.</summary>
public sealed partial class DockerApi
{
    private static AuthConfig? RegistryAuth(ApiCall c) => AuthConfig.FromHeader(c.Request.Headers["X-Registry-Auth"].FirstOrDefault());

    private IImageRegistry Registry => engine.Images as IImageRegistry ?? throw new NotImplementedYetException("registry access");

    private void MapRegistry()
    {
        router.Add("POST", "/images/{name*}/push", c =>
            StreamJsonAsync(c, Registry.PushAsync(c.Path("name"), c.Query("tag"), RegistryAuth(c), c.Aborted), Json.JsonMessage, "application/json", progress: true));
        router.Add("POST", "/auth", async c =>
        {
            var auth = await c.ReadJsonAsync(RegistryJsonContext.Default.AuthConfig, eofIsError: true)
                ?? throw new InvalidParameterException("an auth config is required");
            await c.WriteJsonAsync(200, await Registry.LoginAsync(auth, c.Aborted), RegistryJsonContext.Default.AuthResponse);
        });
        router.Add("GET", "/images/search", async c =>
        {
            var term = c.Query("term");
            if (string.IsNullOrEmpty(term)) throw new InvalidParameterException("term is required");
            var results = await Registry.SearchAsync(term, c.Int("limit"), c.Filters(), RegistryAuth(c), c.Aborted);
            await c.WriteJsonAsync(200, results as List<ImageSearchResponseItem> ?? [.. results], RegistryJsonContext.Default.ListImageSearchResponseItem);
        });
    }

    /// <summary>POST /images/create?fromImage=NAME[&amp;tag=TAG][&amp;platform=P]: docker pull (no tag and no tag in the name: every tag, as -a).</summary>
    private Task PullAsync(ApiCall c)
    {
        var image = c.Query("fromImage")!;
        var tag = c.Query("tag");
        // The docker CLI sends fromImage=busybox&tag=latest, or tag="" for pull -a.
        var allTags = tag is not null && tag.Length == 0 && !image.Contains('@') && !HasTag(image);
        return StreamJsonAsync(c, Registry.PullAsync(image, tag, c.Query("platform"), allTags, RegistryAuth(c), c.Aborted), Json.JsonMessage, "application/json", progress: true);
    }

    private static bool HasTag(string image)
    {
        var slash = image.LastIndexOf('/');
        return image.IndexOf(':', slash + 1) >= 0;
    }
}
