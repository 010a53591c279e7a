using System.Text;
using Berth.Linux;

namespace Berth.Linux.Tests;

public class SignalsForExecTests
{
    [Fact]
    public void The_ignored_mask_is_read_from_the_status_text()
    {
        var status = "Name:\tinit\nSigQ:\t0/95612\nSigPnd:\t0000000000000000\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000001001\nSigCgt:\t0000000180004a02\n";
        Assert.Equal(0x1001UL, LinuxSyscalls.ParseSigIgn(Encoding.ASCII.GetBytes(status)));
    }

    [Fact]
    public void A_status_without_the_line_gives_no_mask()
        => Assert.Null(LinuxSyscalls.ParseSigIgn("Name:\tx\nSigCgt:\t0000000000000000\n"u8));

    [Fact]
    public void This_process_shows_SIGPIPE_ignored_as_the_NET_runtime_sets_it()
    {
        var mask = LinuxSyscalls.ParseSigIgn(File.ReadAllBytes("/proc/self/status"));
        Assert.NotNull(mask);
        Assert.NotEqual(0UL, mask!.Value & (1UL << (13 - 1)));
    }
}
