using Berth.Oci.Image;

namespace Berth.Images.Tests;

public class ConfigChangesTests
{
    private static ContainerConfig Apply(params string[] changes) => ConfigChanges.Apply(null, changes);

    [Fact]
    public void CmdAndEntrypointTakeJsonAndShellForms()
    {
        Assert.Equal(["sh", "-c", "echo hi"], Apply("""CMD ["sh", "-c", "echo hi"]""").Cmd!);
        Assert.Equal(["/bin/sh", "-c", "echo $HOME && ls"], Apply("CMD echo $HOME && ls").Cmd!);
        Assert.Equal(["/bin/sh", "-c", "[not json"], Apply("CMD [not json").Cmd!);
        Assert.Empty(Apply("CMD []").Cmd!);
        Assert.Equal(["/bin/bash", "-lc", "run"], Apply("""SHELL ["/bin/bash", "-lc"]""", "ENTRYPOINT run").Entrypoint!);
    }

    [Fact]
    public void EntrypointResetsAnInheritedCmdUnlessCmdIsSetToo()
    {
        var parent = new ContainerConfig { Cmd = ["sh"] };
        Assert.Null(ConfigChanges.Apply(parent, ["""ENTRYPOINT ["top"]"""]).Cmd);
        var both = ConfigChanges.Apply(parent, ["""CMD ["-b"]""", """ENTRYPOINT ["top"]"""]);
        Assert.Equal(["-b"], both.Cmd!);
        Assert.Equal(["sh"], parent.Cmd); // the input is not changed
    }

    [Fact]
    // As in a Dockerfile, one ENV line expands with the environment from before it (C sees the old A).
    public void EnvInBothFormsReplacesAndExpands()
    {
        var parent = new ContainerConfig { Env = ["PATH=/bin", "A=old"] };
        var c = ConfigChanges.Apply(parent, ["ENV A=1 B=\"two words\" C=${A}x D='$A'", "ENV LEGACY some value here", "ENV PATH=$PATH:/opt/bin"]);
        Assert.Equal(["PATH=/bin:/opt/bin", "A=1", "B=two words", "C=oldx", "D=$A", "LEGACY=some value here"], c.Env!);
        Assert.Equal(["E=default"], Apply("ENV E=${UNSET:-default}").Env!);
        Assert.Equal(["E=a\\ b".Replace("\\", "")], Apply("ENV E=a\\ b").Env!);
    }

    [Fact]
    public void LabelsExposeVolumesWorkdirUser()
    {
        var c = Apply("LABEL a=1 \"b c\"=\"d e\"", "EXPOSE 80 53/udp 8000-8002/tcp", "VOLUME [\"/data\", \"/logs\"]", "VOLUME /cache /tmp/x",
            "WORKDIR /app", "WORKDIR sub/../src", "USER nobody:nogroup", "STOPSIGNAL SIGINT", "ONBUILD run make");
        Assert.Equal("1", c.Labels!["a"]);
        Assert.Equal("d e", c.Labels["b c"]);
        Assert.Equal(["53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp"], c.ExposedPorts!.Keys);
        Assert.Equal(["/cache", "/data", "/logs", "/tmp/x"], c.Volumes!.Keys);
        Assert.Equal("/app/src", c.WorkingDir);
        Assert.Equal("nobody:nogroup", c.User);
        Assert.Equal("SIGINT", c.StopSignal);
        Assert.Equal(["RUN make"], c.OnBuild!);
    }

    [Fact]
    public void Healthcheck()
    {
        var h = Apply("HEALTHCHECK --interval=30s --timeout=1m30s --retries=3 --start-period=500ms CMD curl -f http://localhost/").Healthcheck!;
        Assert.Equal(["CMD-SHELL", "curl -f http://localhost/"], h.Test!);
        Assert.Equal(30_000_000_000, h.Interval);
        Assert.Equal(90_000_000_000, h.Timeout);
        Assert.Equal(500_000_000, h.StartPeriod);
        Assert.Equal(3, h.Retries);
        Assert.Equal(["CMD", "true"], Apply("""HEALTHCHECK CMD ["true"]""").Healthcheck!.Test!);
        Assert.Equal(["NONE"], Apply("HEALTHCHECK NONE").Healthcheck!.Test!);
    }

    [Theory]
    [InlineData("RUN echo", "run is not a valid change command")]
    [InlineData("FROM busybox", "from is not a valid change command")]
    [InlineData("EXPOSE 99999", "invalid containerPort: 99999")]
    [InlineData("EXPOSE 80/xyz", "invalid proto: xyz")]
    [InlineData("ENV", "ENV requires at least one argument")]
    [InlineData("ENV =x", "ENV names can not be blank")]
    [InlineData("WORKDIR a b", "WORKDIR requires exactly one argument")]
    [InlineData("SHELL /bin/sh", "SHELL requires the arguments to be in JSON form")]
    [InlineData("ENV A=\"open", "ENV: unexpected end of statement while looking for matching double-quote")]
    [InlineData("HEALTHCHECK --interval=abc CMD true", "HEALTHCHECK --interval: invalid duration \"abc\"")]
    [InlineData("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger")]
    public void RefusesWithOneClearLine(string change, string message)
    {
        var e = Assert.Throws<ChangeException>(() => Apply(change));
        Assert.Equal(message, e.Message);
    }
}
