using Berth.Engine.Models;
using Berth.Oci.Content;
using Berth.Storage;

namespace Berth.Engine.Images;

/// <summary>A container's use of an image, as the image service needs to know it (rmi conflicts, counts, df).</summary>
public readonly record struct ImageUse(string ContainerId, Digest ImageId, bool Running);

/// <summary>
/// What a commit needs of a container. <see cref="Config"/> is the container's config as created (image
/// defaults merged in); <see cref="ImageId"/> null means the container has an empty rootfs (FROM scratch).
/// </summary>
public sealed record CommitSource(string Id, Digest? ImageId, ContainerLayer Layer, ContainerConfig Config, bool Running, bool Paused);

/// <summary>
/// The container side of the engine as the image service sees it. The engine's container code implements it;
/// the image service never holds a container lock itself.
/// </summary>
public interface IImageContainers
{
    /// <summary>Every container and the image it was created from (running ones marked).</summary>
    IReadOnlyList<ImageUse> ImageUses();

    /// <summary>
    /// The container to commit, by ID, ID prefix or name; throws <see cref="NotFoundException"/> ("No such
    /// container: X") when there is none.
    /// </summary>
    CommitSource GetCommitSource(string idOrName);

    /// <summary>Freezes a running container for the duration of a commit (docker commit --pause, the default).</summary>
    Task PauseAsync(string containerId, CancellationToken cancellationToken);
    Task UnpauseAsync(string containerId, CancellationToken cancellationToken);
}

/// <summary>No containers at all: the image service alone (tests, tools).</summary>
public sealed class NoImageContainers : IImageContainers
{
    public static readonly NoImageContainers Instance = new();
    public IReadOnlyList<ImageUse> ImageUses() => [];
    public CommitSource GetCommitSource(string idOrName) => throw NotFoundException.Container(idOrName);
    public Task PauseAsync(string containerId, CancellationToken cancellationToken) => Task.CompletedTask;
    public Task UnpauseAsync(string containerId, CancellationToken cancellationToken) => Task.CompletedTask;
}
