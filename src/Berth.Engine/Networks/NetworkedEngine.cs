using Berth.Engine.Volumes;

namespace Berth.Engine.Networks;

/// <summary>An engine with the network and volume rooms plugged in (and, when given, their container service wrapper):
/// everything else is <paramref name="inner"/>'s.</summary>
public sealed class NetworkedEngine(IEngine inner, INetworkService networks, IVolumeService volumes, IContainerService? containers = null) : IEngine
{
    public IEngine Inner => inner;
    public IContainerService Containers => containers ?? inner.Containers;
    public IExecService Exec => inner.Exec;
    public IImageService Images => inner.Images;
    public ISystemService System => inner.System;
    public INetworkService Networks => networks;
    public IVolumeService Volumes => volumes;
}
