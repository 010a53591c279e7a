using System.Text.RegularExpressions;
using Berth.Testing;

namespace Berth.EndToEnd.Tests;

/// <summary>
/// `berth build` on a Debian base: bookworm minbase from scripts/make-debian-rootfs (debootstrap, needs the
/// debootstrap package and a Debian mirror the first time; cached under /var/cache/berth-bench after that),
/// imported into a private berthd as debian:bookworm.
/// </summary>
public sealed class BuildDebianTests(BerthDaemon daemon) : IClassFixture<BerthDaemon>
{
    private async Task ImportDebianAsync()
    {
        var rootfs = daemon.TempPath("debian-rootfs");
        try
        {
            BusyboxRootfs.Run(Path.Combine(Repo.Root, "scripts", "make-debian-rootfs"), rootfs);
            var import = await Programs.RunAsync("sh", ["-c", $"tar -C {Programs.Quote(rootfs)} -c . | {Programs.Quote(daemon.BerthPath)} import - debian:bookworm"],
                daemon.Environment(), timeout: TimeSpan.FromMinutes(5));
            Assert.True(import.Code == 0, import.ToString());
        }
        finally { BusyboxRootfs.Run("rm", "-rf", "--one-file-system", rootfs); }
    }

    [RootFact]
    public async Task Builds_on_debian_with_users_packages_and_the_cache()
    {
        await ImportDebianAsync();
        var context = new BuildContextDir(daemon.TempPath("debian-ctx"),
            ("Dockerfile", """
                FROM debian:bookworm AS tools
                RUN dpkg-query -W -f='${Version}' coreutils > /coreutils-version

                FROM debian:bookworm
                ENV LANG=C.UTF-8
                RUN useradd --uid 1234 --create-home app
                WORKDIR /home/app
                COPY --chown=app:app greeting.txt ./
                COPY --from=tools /coreutils-version /etc/
                USER app
                CMD ["sh", "-c", "id -un; cat greeting.txt; stat -c '%U:%G %a' greeting.txt"]
                """),
            ("greeting.txt", "hello from debian\n"));
        var tag = daemon.Tag + "-debian";
        var cold = await daemon.BerthOkAsync("build", "-t", tag, context.Path);
        Assert.Contains("Successfully tagged " + tag, cold);
        Assert.Equal("app\nhello from debian\napp:app 644\n", await daemon.BerthOkAsync("run", "--rm", tag));
        Assert.Matches(@"^\d+\.\d+", await daemon.BerthOkAsync("run", "--rm", tag, "cat", "/etc/coreutils-version"));
        Assert.Equal("1234:1234\n", await daemon.BerthOkAsync("run", "--rm", tag, "stat", "-c", "%u:%g", "/home/app"));

        var warm = await daemon.BerthOkAsync("build", "-t", tag, context.Path);
        Assert.Equal(8, Regex.Count(warm, " ---> Using cache\n"));
    }
}
