using Berth.Linux;
using Berth.Oci.Runtime;
using Berth.Runtime.Config;
using Berth.Runtime.Init;
using Berth.Runtime.State;
using Berth.Testing;

namespace Berth.Runtime.Tests;

public class LifecycleUnitTests
{
    [Fact]
    public void ProcStatParsesStateAndStartTimeAfterTheLastParenthesis()
    {
        var stat = "42 (we (ird) name) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615";
        var parsed = ProcStat.Parse(stat);
        Assert.Equal('S', parsed!.Value.State);
        Assert.Equal(987654UL, parsed.Value.StartTime);
    }

    [Fact]
    public void ProcStatReadsTheTaskFlagsAndTellsAnExitingProcess()
    {
        Assert.Equal(4194560U, ProcStat.ParseFlags("42 (a) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10"));
        Assert.Equal(4194564U, ProcStat.ParseFlags("42 (a b)) R 1 42 42 0 -1 4194564 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10"));
        Assert.Null(ProcStat.ParseFlags("42 (a) S 1"));
        var self = ProcStat.Read(Environment.ProcessId)!.Value;
        Assert.False(ProcStat.IsExiting(Environment.ProcessId, self.StartTime)); // this process is not in exit()
    }

    [Fact]
    public void TheConfigIsSavedAtTheEndOfStateJsonAndReadBackWhole()
    {
        using var tmp = new TempDir();
        var store = new StateStore(tmp.Path);
        store.Claim("c2", LinuxSyscalls.Instance);
        var config = """{"ociVersion": "1.1.0", "process": {"args": ["sh", "-c", "echo \"}\""]}, "annotations": {"config": "x"}}"""u8.ToArray();
        store.Save(new ContainerRecord { Id = "c2", Pid = 7, Bundle = "/b", CgroupsPath = "/cg", HasPoststop = true, Config = config });
        var loaded = store.Load("c2");
        Assert.Equal(("c2", 7, "/b", "/cg", true), (loaded.Id, loaded.Pid, loaded.Bundle, loaded.CgroupsPath, loaded.HasPoststop));
        Assert.Equal(config, store.LoadConfig("c2"));
        Assert.Equal(["state.json"], Directory.GetFiles(store.DirectoryOf("c2")).Select(Path.GetFileName));

        // A record of an earlier version: config.json beside it.
        store.Claim("c3", LinuxSyscalls.Instance);
        store.Save(new ContainerRecord { Id = "c3", Pid = 8 });
        File.WriteAllBytes(Path.Combine(store.DirectoryOf("c3"), StateStore.ConfigFile), config);
        Assert.Equal(config, store.LoadConfig("c3"));
        Assert.Equal(8, store.Load("c3").Pid);
    }

    [Fact]
    public void StatusIsDerivedFromTheProcessAndTheFifo()
    {
        using var tmp = new TempDir();
        var store = new StateStore(tmp.Path);
        store.Claim("c1", LinuxSyscalls.Instance);
        var self = ProcStat.Read(Environment.ProcessId)!.Value;
        var record = new ContainerRecord { Id = "c1", Pid = Environment.ProcessId, PidStartTime = self.StartTime };
        store.Save(record);
        File.WriteAllText(store.FifoOf("c1"), "");
        Assert.Equal(ContainerStatus.Created, store.StatusOf(store.Load("c1")));
        File.Delete(store.FifoOf("c1"));
        Assert.Equal(ContainerStatus.Running, store.StatusOf(record));
        File.WriteAllText(Path.Combine(store.DirectoryOf("c1"), StateStore.PausedMarker), "");
        Assert.Equal(ContainerStatus.Paused, store.StatusOf(record));
        // Same pid, different start time: a reused pid is not the container.
        record.PidStartTime++;
        Assert.Equal(ContainerStatus.Stopped, store.StatusOf(record));
        Assert.Equal(0, store.View(record).Pid);
    }

    [Fact]
    public void ClaimingAnIdTwiceFails()
    {
        using var tmp = new TempDir();
        var store = new StateStore(tmp.Path);
        store.Claim("dup", LinuxSyscalls.Instance);
        Assert.Contains("exists", Assert.Throws<RuntimeException>(() => store.Claim("dup", LinuxSyscalls.Instance)).Message);
    }

    [Fact]
    public void LoadingAMissingContainerSaysSo()
    {
        using var tmp = new TempDir();
        Assert.Equal("container does not exist", Assert.Throws<RuntimeException>(() => new StateStore(tmp.Path).Load("nope")).Message);
    }

    private static (TempDir Dir, string Bundle) Bundle(string json)
    {
        var tmp = new TempDir();
        Directory.CreateDirectory(tmp.Combine("rootfs"));
        File.WriteAllText(tmp.Combine("config.json"), json);
        return (tmp, tmp.Path);
    }

    private const string Good = """
        {"ociVersion": "1.1.0", "root": {"path": "rootfs"}, "process": {"args": ["sh"], "cwd": "/"},
         "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}}
        """;

    [Fact]
    public void AGoodConfigLoads()
    {
        var (dir, bundle) = Bundle(Good);
        using (dir) Assert.Equal(["sh"], SpecLoader.Load(bundle).Spec.Process!.Args!);
    }

    [Theory]
    [InlineData("{\"ociVersion\": \"1.1.0\", \"root\": {\"path\": \"rootfs\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\"", "malformed")]
    [InlineData("{\"ociVersion\": \"1.1.0\", \"root\": {\"path\": \"rootfs\"}, \"process\": {\"args\": \"sh\", \"cwd\": \"/\"}}", "process.args")]
    [InlineData("{\"ociVersion\": \"1.1.0\", \"root\": {\"path\": \"nothere\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\"}}", "root.path")]
    [InlineData("{\"ociVersion\": \"1.1.0\", \"root\": {\"path\": \"rootfs\"}, \"process\": {\"args\": [], \"cwd\": \"/\"}}", "process.args")]
    [InlineData("{\"ociVersion\": \"1.1.0\", \"root\": {\"path\": \"rootfs\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\"}, \"linux\": {\"namespaces\": [{\"type\": \"bogus\"}]}}", "linux.namespaces[0].type")]
    [InlineData("{\"ociVersion\": \"1.1.0\", \"root\": {\"path\": \"rootfs\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\"}, \"mounts\": [{\"destination\": \"/../../etc\", \"type\": \"tmpfs\"}]}", "mounts[0].destination")]
    [InlineData("{\"ociVersion\": \"1.1.0\", \"root\": {\"path\": \"rootfs\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\"}, \"hostname\": \"h\"}", "hostname")]
    [InlineData("{\"ociVersion\": \"1.1.0\", \"root\": {\"path\": \"rootfs\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\"}, \"linux\": {\"namespaces\": [{\"type\": \"user\"}]}}", "uidMappings")]
    [InlineData("{\"ociVersion\": \"1.1.0\", \"root\": {\"path\": \"rootfs\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"relative\"}}", "process.cwd")]
    public void BadConfigsFailNamingTheField(string json, string field)
    {
        var (dir, bundle) = Bundle(json);
        using (dir)
        {
            var e = Assert.Throws<RuntimeException>(() => SpecLoader.Load(bundle));
            Assert.Contains(field, e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
    }

    [Fact]
    public void ExecutableLookupUsesThePathOfTheProcessEnv()
    {
        var exists = new HashSet<string> { "/opt/bin/tool", "/usr/bin/sh" };
        var process = new Process { Args = ["tool"], Env = ["PATH=/nothing:/opt/bin"], Cwd = "/" };
        Assert.Equal("/opt/bin/tool", ExecutableLookup.Find(process, exists.Contains));
        Assert.Equal("/usr/bin/sh", ExecutableLookup.Find(new Process { Args = ["sh"], Cwd = "/" }, exists.Contains));
        var e = Assert.Throws<RuntimeException>(() => ExecutableLookup.Find(new Process { Args = ["nope"], Cwd = "/" }, exists.Contains));
        Assert.Contains("executable file not found", e.Message);
    }
}
