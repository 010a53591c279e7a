using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime.Terminal;

/// <summary>process.terminal: a pty made inside the container (its devpts), the master sent over --console-socket
/// with SCM_RIGHTS as runc does, the slave made the process's stdio and controlling terminal.</summary>
public static class ConsoleSetup
{
    public static void Attach(ISyscalls sys, int consoleSocket, Box? size, string ptmx = "/dev/ptmx")
    {
        if (consoleSocket < 0) throw new RuntimeException("process.terminal is set but no --console-socket was given");
        var (master, slave) = sys.OpenPseudoTerminal(ptmx);
        try
        {
            if (size is { Height: > 0 } or { Width: > 0 }) sys.SetWindowSize(master, (ushort)size.Height, (ushort)size.Width);
            sys.SendDescriptor(consoleSocket, master, "/dev/ptmx");
        }
        finally
        {
            sys.CloseFd(master);
            sys.CloseFd(consoleSocket);
        }
        sys.StartSession();
        sys.DuplicateTo(slave, 0);
        sys.DuplicateTo(slave, 1);
        sys.DuplicateTo(slave, 2);
        sys.MakeControllingTerminal(0);
        if (slave > 2) sys.CloseFd(slave);
    }
}
