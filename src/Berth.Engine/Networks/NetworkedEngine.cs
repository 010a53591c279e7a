using Berth.Engine.Volumes;

namespace Berth.Engine.Networks;

/// <summary>An engine with the network and volume rooms plugged in: everything else is <paramref name="inner"/>'s.</summary>
public sealed class NetworkedEngine(IEngine inner, INetworkService networks, IVolumeService volumes) : IEngine
{
    public IEngine Inner => inner;
    public IContainerService Containers => inner.Containers;
    public IExecService Exec => inner.Exec;
    public IImageService Images => inner.Images;
    public ISystemService System => inner.System;
    public INetworkService Networks => networks;
    public IVolumeService Volumes => volumes;
}
