namespace Berth.Network;

/// <summary>
/// Work the caller need not wait for. Closing a netfilter netlink socket waits in the kernel for the release of
/// earlier nftables transactions (an RCU grace period, 15–30 ms here), and an rtnetlink socket's close can take
/// milliseconds too: these closes are off the container's start path.
/// </summary>
internal static class Background
{
    public static void Dispose(IDisposable? disposable)
    {
        if (disposable is null) return;
        ThreadPool.UnsafeQueueUserWorkItem(static d =>
        {
            try { d.Dispose(); }
            catch (Exception e) when (e is IOException or InvalidOperationException or Linux.SyscallException) { } // nothing left to undo
        }, disposable, preferLocal: false);
    }
}
