namespace Berth.Storage;

/// <summary>Mounts a <see cref="MountSpec"/> (honouring its WorkingDirectory for short relative overlay lowerdirs).</summary>
public static class Mounter
{
    public static void Mount(MountSpec spec, string target) => throw new NotImplementedException(spec + target);
    public static void Unmount(string target) => throw new NotImplementedException(target);
}
