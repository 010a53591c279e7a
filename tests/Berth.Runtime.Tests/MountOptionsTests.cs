using Berth.Linux;
using Berth.Runtime.Rootfs;

namespace Berth.Runtime.Tests;

public class MountOptionsTests
{
    [Theory]
    [InlineData("acl", MountFlags.PosixAcl)]
    [InlineData("bind", MountFlags.Bind)]
    [InlineData("defaults", MountFlags.None)]
    [InlineData("dirsync", MountFlags.DirSync)]
    [InlineData("iversion", MountFlags.IVersion)]
    [InlineData("lazytime", MountFlags.LazyTime)]
    [InlineData("mand", MountFlags.MandatoryLock)]
    [InlineData("noatime", MountFlags.NoAtime)]
    [InlineData("nodev", MountFlags.NoDev)]
    [InlineData("nodiratime", MountFlags.NoDirAtime)]
    [InlineData("noexec", MountFlags.NoExec)]
    [InlineData("nosuid", MountFlags.NoSuid)]
    [InlineData("nosymfollow", MountFlags.NoSymFollow)]
    [InlineData("rbind", MountFlags.Bind | MountFlags.Recursive)]
    [InlineData("relatime", MountFlags.RelAtime)]
    [InlineData("remount", MountFlags.Remount)]
    [InlineData("ro", MountFlags.ReadOnly)]
    [InlineData("silent", MountFlags.Silent)]
    [InlineData("strictatime", MountFlags.StrictAtime)]
    [InlineData("sync", MountFlags.Synchronous)]
    public void Setting_option_sets_its_flag_and_nothing_else(string option, MountFlags expected)
    {
        var parsed = MountOptions.Parse([option]);
        Assert.Equal(expected, parsed.Flags);
        Assert.Null(parsed.Data);
        Assert.Empty(parsed.Propagation);
    }

    [Theory]
    [InlineData("async", "sync", MountFlags.Synchronous)]
    [InlineData("atime", "noatime", MountFlags.NoAtime)]
    [InlineData("dev", "nodev", MountFlags.NoDev)]
    [InlineData("diratime", "nodiratime", MountFlags.NoDirAtime)]
    [InlineData("exec", "noexec", MountFlags.NoExec)]
    [InlineData("loud", "silent", MountFlags.Silent)]
    [InlineData("noacl", "acl", MountFlags.PosixAcl)]
    [InlineData("noiversion", "iversion", MountFlags.IVersion)]
    [InlineData("nolazytime", "lazytime", MountFlags.LazyTime)]
    [InlineData("nomand", "mand", MountFlags.MandatoryLock)]
    [InlineData("norelatime", "relatime", MountFlags.RelAtime)]
    [InlineData("nostrictatime", "strictatime", MountFlags.StrictAtime)]
    [InlineData("rw", "ro", MountFlags.ReadOnly)]
    [InlineData("suid", "nosuid", MountFlags.NoSuid)]
    [InlineData("symfollow", "nosymfollow", MountFlags.NoSymFollow)]
    public void Clearing_option_undoes_an_earlier_setting_and_is_remembered(string clearing, string setting, MountFlags flag)
    {
        var parsed = MountOptions.Parse([setting, clearing]);
        Assert.Equal(MountFlags.None, parsed.Flags & flag);
        Assert.Equal(flag, parsed.ClearedFlags);

        var reversed = MountOptions.Parse([clearing, setting]);
        Assert.Equal(flag, reversed.Flags);
        Assert.Equal(MountFlags.None, reversed.ClearedFlags);
    }

    [Theory]
    [InlineData("private", MountFlags.Private)]
    [InlineData("rprivate", MountFlags.Private | MountFlags.Recursive)]
    [InlineData("shared", MountFlags.Shared)]
    [InlineData("rshared", MountFlags.Shared | MountFlags.Recursive)]
    [InlineData("slave", MountFlags.Slave)]
    [InlineData("rslave", MountFlags.Slave | MountFlags.Recursive)]
    [InlineData("unbindable", MountFlags.Unbindable)]
    [InlineData("runbindable", MountFlags.Unbindable | MountFlags.Recursive)]
    public void Propagation_options_become_separate_calls_not_flags(string option, MountFlags expected)
    {
        var parsed = MountOptions.Parse(["rbind", option, "ro"]);
        Assert.Equal([expected], parsed.Propagation);
        Assert.Equal(MountFlags.Bind | MountFlags.Recursive | MountFlags.ReadOnly, parsed.Flags);
        Assert.Equal(expected, MountOptions.ParsePropagation(option));
    }

    [Fact]
    public void Unknown_options_become_the_data_string_in_order()
    {
        var parsed = MountOptions.Parse(["nosuid", "size=65536k", "strictatime", "mode=755", "uid=5"]);
        Assert.Equal("size=65536k,mode=755,uid=5", parsed.Data);
        Assert.Equal(MountFlags.NoSuid | MountFlags.StrictAtime, parsed.Flags);
    }

    [Fact]
    public void Runc_default_devpts_options()
    {
        var parsed = MountOptions.Parse(["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]);
        Assert.Equal(MountFlags.NoSuid | MountFlags.NoExec, parsed.Flags);
        Assert.Equal("newinstance,ptmxmode=0666,mode=0620,gid=5", parsed.Data);
    }

    [Theory]
    [InlineData("rro", MountAttributes.ReadOnly, MountAttributes.None)]
    [InlineData("rrw", MountAttributes.None, MountAttributes.ReadOnly)]
    [InlineData("rnosuid", MountAttributes.NoSuid, MountAttributes.None)]
    [InlineData("rsuid", MountAttributes.None, MountAttributes.NoSuid)]
    [InlineData("rnodev", MountAttributes.NoDev, MountAttributes.None)]
    [InlineData("rdev", MountAttributes.None, MountAttributes.NoDev)]
    [InlineData("rnoexec", MountAttributes.NoExec, MountAttributes.None)]
    [InlineData("rexec", MountAttributes.None, MountAttributes.NoExec)]
    [InlineData("rnodiratime", MountAttributes.NoDirAtime, MountAttributes.None)]
    [InlineData("rdiratime", MountAttributes.None, MountAttributes.NoDirAtime)]
    [InlineData("rnosymfollow", MountAttributes.NoSymFollow, MountAttributes.None)]
    [InlineData("rsymfollow", MountAttributes.None, MountAttributes.NoSymFollow)]
    [InlineData("rnoatime", MountAttributes.NoAtime, MountAttributes.AtimeMask)]
    [InlineData("rstrictatime", MountAttributes.StrictAtime, MountAttributes.AtimeMask)]
    [InlineData("rrelatime", MountAttributes.None, MountAttributes.AtimeMask)]
    public void Recursive_attributes_go_to_mount_setattr(string option, MountAttributes set, MountAttributes clear)
    {
        var parsed = MountOptions.Parse(["rbind", option]);
        Assert.Equal(set, parsed.RecursiveSet);
        Assert.Equal(clear, parsed.RecursiveClear);
        Assert.Equal(MountFlags.Bind | MountFlags.Recursive, parsed.Flags);
        Assert.Null(parsed.Data);
    }

    [Fact]
    public void Tmpcopyup_is_an_extension_not_data()
    {
        var parsed = MountOptions.Parse(["tmpcopyup", "size=1m"]);
        Assert.Equal(["tmpcopyup"], parsed.Extensions);
        Assert.Equal("size=1m", parsed.Data);
    }

    [Fact]
    public void No_options_is_empty()
    {
        Assert.Same(MountOptions.Empty, MountOptions.Parse(null));
        Assert.Equal(MountFlags.None, MountOptions.Parse([]).Flags);
        Assert.Null(MountOptions.Parse(["", ""]).Data);
    }

    [Fact]
    public void Unknown_propagation_name_is_null()
        => Assert.Null(MountOptions.ParsePropagation("sideways"));

    [Fact]
    public void Parse_means_what_the_tables_features_reports_say()
    {
        foreach (var (name, (clear, flag)) in MountOptions.Tables.FlagTable)
        {
            var parsed = MountOptions.Parse([name]);
            Assert.Equal(clear ? MountFlags.None : flag, parsed.Flags);
            Assert.Equal(clear ? flag : MountFlags.None, parsed.ClearedFlags);
            Assert.Null(parsed.Data);
        }
        foreach (var (name, flags) in MountOptions.Tables.PropagationTable)
            Assert.Equal([flags], MountOptions.Parse([name]).Propagation);
        foreach (var (name, (clear, attribute)) in MountOptions.Tables.RecursiveTable)
        {
            var parsed = MountOptions.Parse([name]);
            Assert.Equal(clear ? MountAttributes.None : attribute, parsed.RecursiveSet);
            Assert.Equal(clear ? attribute : MountAttributes.None, parsed.RecursiveClear);
        }
        foreach (var (name, atime) in MountOptions.Tables.RecursiveAtimeTable)
            Assert.Equal((atime, MountAttributes.AtimeMask), (MountOptions.Parse([name]).RecursiveSet, MountOptions.Parse([name]).RecursiveClear));
        foreach (var name in MountOptions.Tables.KnownExtensions)
            Assert.Equal([name], MountOptions.Parse([name]).Extensions);
        Assert.Equal("size=1k", MountOptions.Parse(["size=1k"]).Data);
    }
}
