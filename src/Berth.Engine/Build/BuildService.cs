using System.Runtime.CompilerServices;
using Berth.Build.Context;
using Berth.Build.Execution;

namespace Berth.Engine.Build;

/// <summary>`docker build` with the classic builder: a context tar in, Docker's JSON progress lines out.</summary>
public interface IBuildService
{
    /// <summary>Builds; failures of the build itself are written to <paramref name="output"/> as an error line, not thrown.</summary>
    Task<BuildResult> BuildAsync(Stream contextTar, BuildOptions options, Func<BuildMessage, ValueTask> output, CancellationToken cancellationToken);
}

public sealed class UnimplementedBuildService : IBuildService
{
    public static readonly UnimplementedBuildService Instance = new();
    public Task<BuildResult> BuildAsync(Stream contextTar, BuildOptions options, Func<BuildMessage, ValueTask> output, CancellationToken cancellationToken)
        => throw new NotImplementedYetException("building images");
}

/// <summary>The builder over the engine: context extracted under the data root, RUN steps in the engine's containers, a cache that survives restarts.</summary>
public sealed class EngineBuildService(BerthEngine engine) : IBuildService
{
    private readonly EngineBuildBackend _backend = new(engine);
    private readonly DirectoryBuildCache _cache = new(Path.Combine(engine.Options.DataRoot, "builder", "cache"));

    public async Task<BuildResult> BuildAsync(Stream contextTar, BuildOptions options, Func<BuildMessage, ValueTask> output, CancellationToken cancellationToken)
    {
        var scratch = Path.Combine(engine.Options.DataRoot, "builder", "tmp");
        BuildContext context;
        try
        {
            context = await BuildContext.FromTarAsync(contextTar, scratch, cancellationToken);
        }
        catch (Exception e) when (e is Berth.Build.BuildException or InvalidDataException or FormatException or EndOfStreamException)
        {
            var message = $"unable to prepare context: {e.Message}";
            await output(BuildMessage.Failure(message, 1));
            return new BuildResult(null, [], 0, 0, message, 1);
        }
        using (context)
            return await new DockerfileBuilder(_backend, _cache).BuildAsync(context, options with { ScratchDirectory = scratch }, output, cancellationToken);
    }
}

/// <summary>The build service of an engine: the real one for <see cref="BerthEngine"/>, 501 for others.</summary>
public static class BuildServices
{
    private static readonly ConditionalWeakTable<IEngine, IBuildService> Services = new();

    public static IBuildService For(IEngine engine) => engine switch
    {
        BerthEngine berth => Services.GetValue(engine, _ => new EngineBuildService(berth)),
        Networks.NetworkedEngine networked => For(networked.Inner),
        _ => UnimplementedBuildService.Instance,
    };
}
