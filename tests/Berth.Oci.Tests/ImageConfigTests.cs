using System.Text;
using Berth.Oci.Content;
using Berth.Oci.Image;

namespace Berth.Oci.Tests;

public class ImageConfigTests
{
    // A config as Docker 20.10 writes it (trimmed), with fields the model does not name.
    private const string DockerConfig = """
    {"architecture":"amd64","config":{"Hostname":"","Env":["PATH=/usr/local/sbin:/usr/bin"],"Cmd":["sh"],"Image":"sha256:x",
     "Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{"b":"2","a":"1"},
     "ExposedPorts":{"80/tcp":{},"53/udp":{}},"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":30000000000,"Retries":3},
     "StopSignal":"SIGTERM","ArgsEscaped":true,"Shell":["/bin/sh","-c"]},
     "container":"3e8e","container_config":{"Cmd":["/bin/sh","-c","#(nop) ","CMD [\"sh\"]"]},
     "created":"2023-05-19T20:19:23.587064876Z","docker_version":"20.10.23","author":"me",
     "history":[{"created":"2023-05-19T20:19:23.434374428Z","created_by":"/bin/sh -c #(nop) ADD file:abc in / "},
                {"created":"2023-05-19T20:19:23.587064876Z","created_by":"/bin/sh -c #(nop)  CMD [\"sh\"]","empty_layer":true}],
     "os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]}}
    """;

    [Fact]
    public void ReadsDockersConfigAndKeepsUnknownFields()
    {
        var c = ImageJson.ParseConfig(Encoding.UTF8.GetBytes(DockerConfig));
        Assert.Equal("amd64", c.Architecture);
        Assert.Equal("linux", c.Os);
        Assert.Equal(new DateTimeOffset(2023, 5, 19, 20, 19, 23, TimeSpan.Zero).AddTicks(5870648), c.Created);
        Assert.Equal(["sh"], c.Config!.Cmd!);
        Assert.Null(c.Config.Entrypoint);
        Assert.Equal(["53/udp", "80/tcp"], c.Config.ExposedPorts!.Keys);
        Assert.Equal(30_000_000_000, c.Config.Healthcheck!.Interval);
        Assert.True(c.Config.ArgsEscaped);
        Assert.Equal(["/bin/sh", "-c"], c.Config.Shell!);
        Assert.True(c.History![1].EmptyLayer);
        Assert.Single(c.RootFs.DiffIds);
        Assert.True(c.Extra!.ContainsKey("docker_version"));
        Assert.True(c.Config.Extra!.ContainsKey("Hostname"));

        var rewritten = Encoding.UTF8.GetString(ImageJson.Serialize(c, ImageJson.Config));
        Assert.Contains("\"docker_version\":\"20.10.23\"", rewritten);
        Assert.Contains("\"Hostname\":\"\"", rewritten);
        Assert.Contains("\"Labels\":{\"a\":\"1\",\"b\":\"2\"}", rewritten); // sorted, as Go writes maps
        Assert.Contains("\"created\":\"2023-05-19T20:19:23.5870648Z\"", rewritten);
        Assert.Contains("\"ExposedPorts\":{\"53/udp\":{},\"80/tcp\":{}}", rewritten);
    }

    [Fact]
    public void RefusesAConfigWithoutLayersRootfs()
    {
        Assert.Throws<FormatException>(() => ImageJson.ParseConfig("""{"os":"linux","rootfs":{"type":"other","diff_ids":[]}}"""u8));
        Assert.Throws<FormatException>(() => ImageJson.ParseConfig("""{"os":"linux","created":"yesterday"}"""u8));
    }

    [Fact]
    public void ChainIdsFollowTheImageSpec()
    {
        var a = Digest.Parse("sha256:" + new string('a', 64));
        var b = Digest.Parse("sha256:" + new string('b', 64));
        Assert.Equal(a, ChainIds.Of([a]));
        var ab = Digest.Sha256(Encoding.ASCII.GetBytes($"{a} {b}"));
        Assert.Equal(ab, ChainIds.Of([a, b]));
        Assert.Equal([a, ab], ChainIds.All([a, b]));
        Assert.True(ChainIds.Of([]).IsEmpty);
    }

    [Fact]
    public void TimesAreWrittenAsGoWritesThem()
    {
        Assert.Equal("2024-01-02T03:04:05Z", Rfc3339TimeConverter.Format(new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero)));
        Assert.Equal("2024-01-02T01:04:05.5Z", Rfc3339TimeConverter.Format(new DateTimeOffset(2024, 1, 2, 3, 4, 5, 500, TimeSpan.FromHours(2))));
        Assert.Equal(new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero), Rfc3339TimeConverter.Parse("2024-01-02T05:04:05+02:00"));
    }

    [Fact]
    public void ContainerConfigClonesDeeply()
    {
        var c = new ContainerConfig { Env = ["A=1"], Labels = new() { ["x"] = "y" } };
        var copy = c.Clone();
        copy.Env!.Add("B=2");
        Assert.Single(c.Env);
        Assert.Equal("y", copy.Labels!["x"]);
    }
}
