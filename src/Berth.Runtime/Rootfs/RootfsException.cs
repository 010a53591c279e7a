namespace Berth.Runtime.Rootfs;

/// <summary>The container's file system could not be set up as configured; the message is one line that
/// names the config field (e.g. <c>mounts[2].destination</c>) and the reason.</summary>
public sealed class RootfsException(string message, Exception? inner = null) : Exception(message, inner);
