using Berth.Build.Dockerfile;

namespace Berth.Build.Tests;

/// <summary>Malformed Dockerfiles give Docker's message and the line it concerns.</summary>
public sealed class ParseErrorTests
{
    [Theory]
    [InlineData("FROM busybox\nFOO bar\n", 2, "dockerfile parse error on line 2: unknown instruction: FOO")]
    [InlineData("FROM busybox\n\n  fooBar baz\n", 3, "dockerfile parse error on line 3: unknown instruction: FOOBAR")]
    [InlineData("", 0, "file with no instructions")]
    [InlineData("# only a comment\n\n", 2, "file with no instructions")]
    [InlineData("RUN echo hi\n", 1, "no build stage in current context")]
    [InlineData("ARG A\nENV B=1\nFROM busybox\n", 2, "no build stage in current context")]
    [InlineData("FROM busybox\nENV ONLYNAME\n", 2, "ENV must have two arguments")]
    [InlineData("FROM busybox\nENV A=1 B\n", 2, "Syntax error - can't find = in \"B\". Must be of the form: name=value")]
    [InlineData("FROM busybox\nCMD [\"a\", 1]\n", 2, "when using JSON array syntax, arrays must be comprised of strings only")]
    [InlineData("FROM busybox\nCOPY onlyone\n", 2, "dockerfile parse error on line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined")]
    [InlineData("FROM busybox\nADD x\n", 2, "dockerfile parse error on line 2: ADD requires at least two arguments, but only one was provided. Destination could not be determined")]
    [InlineData("FROM busybox\nCOPY --frm=x a b\n", 2, "dockerfile parse error on line 2: unknown flag: --frm")]
    [InlineData("FROM busybox\nCOPY --from a b\n", 2, "dockerfile parse error on line 2: missing a value on flag: --from")]
    [InlineData("FROM busybox\nCOPY --link=maybe a b\n", 2, "dockerfile parse error on line 2: expecting boolean value for flag --link, not: maybe")]
    [InlineData("FROM busybox\nCOPY --chown=1 --chown=2 a b\n", 2, "dockerfile parse error on line 2: duplicate flag specified: --chown")]
    [InlineData("FROM busybox\nRUN --network=bridge true\n", 2, "dockerfile parse error on line 2: invalid network mode \"bridge\"")]
    [InlineData("FROM busybox\nRUN --mount=type=nfs,target=/x true\n", 2, "dockerfile parse error on line 2: unsupported mount type \"nfs\"")]
    [InlineData("FROM busybox\nRUN --mount=type=bind,target=/x,size=1m true\n", 2, "dockerfile parse error on line 2: unexpected key 'size' for mount type 'bind'")]
    [InlineData("FROM busybox\nRUN --mount=type=tmpfs,target=/x,mode=0700 true\n", 2, "dockerfile parse error on line 2: mode not allowed for \"tmpfs\" type mounts")]
    [InlineData("FROM busybox\nRUN --mount=type=secret,from=x,id=y true\n", 2, "dockerfile parse error on line 2: secret mount should not have a from")]
    [InlineData("FROM busybox\nRUN --mount=type=cache,target=/c,bogus=1 true\n", 2, "dockerfile parse error on line 2: unexpected key 'bogus' in 'bogus=1'")]
    [InlineData("FROM busybox AS 1stage\n", 1, "dockerfile parse error on line 1: invalid name for build stage: \"1stage\", name can't start with a number or contain symbols")]
    [InlineData("FROM busybox AS\n", 1, "dockerfile parse error on line 1: FROM requires either one or three arguments")]
    [InlineData("FROM busybox\nONBUILD ONBUILD RUN x\n", 2, "dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    [InlineData("FROM busybox\nONBUILD FROM alpine\n", 2, "dockerfile parse error on line 2: FROM isn't allowed as an ONBUILD trigger")]
    [InlineData("FROM busybox\nONBUILD MAINTAINER me\n", 2, "dockerfile parse error on line 2: MAINTAINER isn't allowed as an ONBUILD trigger")]
    [InlineData("FROM busybox\nSHELL /bin/bash -c\n", 2, "dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form")]
    [InlineData("FROM busybox\nSHELL []\n", 2, "dockerfile parse error on line 2: SHELL requires at least one argument")]
    [InlineData("FROM busybox\nWORKDIR\n", 2, "dockerfile parse error on line 2: WORKDIR requires exactly one argument")]
    [InlineData("FROM busybox\nUSER\n", 2, "dockerfile parse error on line 2: USER requires exactly one argument")]
    [InlineData("FROM busybox\nEXPOSE\n", 2, "dockerfile parse error on line 2: EXPOSE requires at least one argument")]
    [InlineData("FROM busybox\nVOLUME []\n", 2, "dockerfile parse error on line 2: VOLUME requires at least one argument")]
    [InlineData("FROM busybox\nVOLUME [\"\"]\n", 2, "dockerfile parse error on line 2: VOLUME specified can not be an empty string")]
    [InlineData("FROM busybox\nARG =x\n", 2, "dockerfile parse error on line 2: ARG names can not be blank")]
    [InlineData("FROM busybox\nARG\n", 2, "dockerfile parse error on line 2: ARG requires at least one argument")]
    [InlineData("FROM busybox\nSTOPSIGNAL\n", 2, "dockerfile parse error on line 2: STOPSIGNAL requires exactly one argument")]
    [InlineData("FROM busybox\nHEALTHCHECK CMD\n", 2, "dockerfile parse error on line 2: Missing command after HEALTHCHECK CMD")]
    [InlineData("FROM busybox\nHEALTHCHECK NONE x\n", 2, "dockerfile parse error on line 2: HEALTHCHECK NONE takes no arguments")]
    [InlineData("FROM busybox\nHEALTHCHECK PING x\n", 2, "dockerfile parse error on line 2: Unknown type \"PING\" in HEALTHCHECK (try CMD)")]
    [InlineData("FROM busybox\nHEALTHCHECK --interval=1us CMD x\n", 2, "dockerfile parse error on line 2: Interval \"interval\" cannot be less than 1ms")]
    [InlineData("FROM busybox\nHEALTHCHECK --retries=-1 CMD x\n", 2, "dockerfile parse error on line 2: --retries cannot be negative (-1)")]
    [InlineData("FROM busybox\nHEALTHCHECK --timeout=5 CMD x\n", 2, "dockerfile parse error on line 2: time: missing unit in duration \"5\"")]
    [InlineData("FROM busybox\nCOPY a <<EOF\nx\nEOF\n", 2, "dockerfile parse error on line 2: COPY cannot accept a heredoc as a destination")]
    [InlineData("FROM busybox\nRUN <<EOF\necho never ends\n", 2, "unterminated heredoc")]
    [InlineData("# escape=x\nFROM busybox\n", 1, "invalid escape token 'x' does not match ` or \\")]
    [InlineData("# escape=\\\n# escape=`\nFROM busybox\n", 2, "only one escape parser directive can be used")]
    public void Reports_docker_message_and_line(string dockerfile, int line, string message)
    {
        var error = Assert.Throws<DockerfileException>(() => DockerfilePlan.Parse(dockerfile));
        Assert.Equal(message, error.Message);
        Assert.Equal(line, error.Line);
    }

    [Fact]
    public void Byte_order_mark_and_crlf_are_accepted()
    {
        var plan = DockerfilePlan.Parse("\uFEFFFROM busybox\r\nRUN echo a \\\r\n  b\r\n");
        var run = Assert.IsType<RunInstruction>(Assert.Single(plan.Stages[0].Commands));
        Assert.Equal(["echo a   b"], run.CommandLine);
        Assert.Equal(2, run.Line);
    }

    [Fact]
    public void Heredoc_body_lines_count_toward_later_line_numbers()
    {
        var plan = DockerfilePlan.Parse("FROM busybox\nRUN <<EOF\na\nb\nEOF\nFOO\n".Replace("FOO\n", "RUN x\n"));
        Assert.Equal(6, plan.Stages[0].Commands[1].Line);
        var error = Assert.Throws<DockerfileException>(() => DockerfilePlan.Parse("FROM busybox\nRUN <<EOF\na\nEOF\nBOGUS\n"));
        Assert.Equal("dockerfile parse error on line 5: unknown instruction: BOGUS", error.Message);
    }
}
