using System.Formats.Tar;
using Berth.Engine.Filesystem;
using Berth.Engine.Tests.Images;
using Berth.Testing;

namespace Berth.Engine.Tests.Filesystem;

/// <summary>docker cp's archives name owners as dockerd's do (uname/gname from the host's accounts: `tar tv` shows root/root).</summary>
public sealed class ArchiveOwnerNamesTests
{
    [Fact]
    public void Account_files_are_read_as_getpwuid_reads_them()
    {
        using var dir = new TempDir();
        var passwd = dir.Combine("passwd");
        File.WriteAllText(passwd, "root:x:0:0:root:/root:/bin/sh\n# a comment\n\nbad line\ntoor:x:0:0::/:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nodd:x:-1:0::/:\n");
        var group = dir.Combine("group");
        File.WriteAllText(group, "root:x:0:\nstaff:x:50:app\n");
        var names = new HostAccountNames(passwd, group);
        Assert.Equal(("root", "app", ""), (names.User(0), names.User(1000), names.User(4242)));
        Assert.Equal(("root", "staff", ""), (names.Group(0), names.Group(50), names.Group(1000)));
        Assert.Equal("", new HostAccountNames(dir.Combine("missing"), dir.Combine("missing")).User(0));
    }

    [RootFact]
    public async Task Copied_out_entries_carry_the_owners_names()
    {
        using var c = await ContainerHarness.CreateAsync();
        c.Change(root =>
        {
            File.WriteAllText(Path.Combine(root, "tmp", "mine"), "x");
            BusyboxRootfs.Run("chown", "4242:4242", Path.Combine(root, "tmp", "mine"));
        });
        var entries = new List<(string, string, string)>();
        using (var reader = new TarReader(new MemoryStream(await c.GetAsync("/tmp"))))
            while (reader.GetNextEntry() is PosixTarEntry e) entries.Add((e.Name, e.UserName, e.GroupName));
        Assert.Equal([("tmp/", "root", "root"), ("tmp/mine", "", "")], entries);
    }
}
