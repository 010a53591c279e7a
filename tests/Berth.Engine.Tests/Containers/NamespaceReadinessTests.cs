using Berth.Engine.Containers;
using Berth.Engine.Models;

namespace Berth.Engine.Tests.Containers;

/// <summary>A network namespace still being made (--network none makes it on a thread of its own) is awaited only
/// where the runtime needs it: before the shim's start when the runtime first runs there, else before the create.</summary>
public sealed class NamespaceReadinessTests
{
    private sealed class PendingNamespace(Task ready) : INetworkAttacher
    {
        public Task<NetworkAttachment> AttachAsync(ContainerRecord container, CancellationToken cancellationToken)
            => Task.FromResult(new NetworkAttachment("/run/netns/pending") { Ready = ready });
        public Task DetachAsync(ContainerRecord container, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_namespace_is_awaited_just_before_the_runtime_first_needs_it(bool runtimeRunsAtStart)
    {
        using var h = new EngineHarness();
        h.Supervisor.RuntimeRunsAtStart = runtimeRunsAtStart;
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Service.Networks = new PendingNamespace(ready.Task);
        var created = await h.CreateAsync("pending-ns");

        var start = h.Service.StartAsync(created.Id, CancellationToken.None);
        await Task.Delay(200);
        Assert.False(start.IsCompleted);
        lock (h.Supervisor.Created)
        {
            // Shim started meanwhile only when the runtime waits for the start; never a start before the namespace.
            Assert.Equal(runtimeRunsAtStart ? 1 : 0, h.Supervisor.Created.Count);
            Assert.All(h.Supervisor.Created, c => Assert.False(c.Started));
        }

        ready.SetResult();
        await start.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(h.Supervisor.Last(created.Id).Started);
    }
}
