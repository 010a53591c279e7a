using System.Runtime.CompilerServices;
using Berth.Engine.Supervision;

namespace Berth.Engine.Containers;

/// <summary>
/// An attach made before the container runs (`docker run` attaches, then starts): it is connected to the
/// shim's stdio when the container is created, before its process starts, so no output is lost. When the
/// container never starts (removed, failed), its output simply ends.
/// </summary>
internal sealed class PendingAttach(AttachOptions options, bool tty, Action<PendingAttach> forget) : IStdioSession
{
    private readonly TaskCompletionSource<IStdioSession?> inner = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public AttachOptions Options => options;
    public bool Tty => tty;

    /// <summary>Connects to the supervised container (call after create, before start).</summary>
    public async Task ConnectAsync(ISupervisedContainer container, CancellationToken cancellationToken)
    {
        try { inner.TrySetResult(await container.AttachAsync(options, cancellationToken)); }
        catch (Exception e) when (e is EngineException or IOException or OperationCanceledException) { inner.TrySetResult(null); }
    }

    /// <summary>The container will not run: the client sees its output end.</summary>
    public void Abandon() => inner.TrySetResult(null);

    public IAsyncEnumerable<OutputChunk> Output => ReadAsync();

    private async IAsyncEnumerable<OutputChunk> ReadAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var session = await inner.Task.WaitAsync(cancellationToken);
        if (session is null) yield break;
        await foreach (var chunk in session.Output.WithCancellation(cancellationToken)) yield return chunk;
    }

    public async ValueTask WriteStdinAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var session = await inner.Task.WaitAsync(cancellationToken);
        if (session is not null) await session.WriteStdinAsync(data, cancellationToken);
    }

    public async ValueTask CloseStdinAsync()
    {
        var session = await inner.Task;
        if (session is not null) await session.CloseStdinAsync();
    }

    public async ValueTask DisposeAsync()
    {
        forget(this);
        inner.TrySetResult(null);
        var session = await inner.Task;
        if (session is not null) await session.DisposeAsync();
    }
}
