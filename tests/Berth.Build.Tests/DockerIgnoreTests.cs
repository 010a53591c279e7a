using System.Formats.Tar;
using Berth.Build.Context;
using Berth.Build.Execution;
using Berth.Testing;

namespace Berth.Build.Tests;

public sealed class DockerIgnoreTests
{
    [Theory]
    // Plain names match the path and everything below it.
    [InlineData("node_modules", "node_modules", true)]
    [InlineData("node_modules", "node_modules/x/y.js", true)]
    [InlineData("node_modules", "src/node_modules", false)]
    // * and ? stay within one path element, as Go's filepath.Match.
    [InlineData("*.log", "a.log", true)]
    [InlineData("*.log", "dir/a.log", false)]
    [InlineData("*/*.log", "dir/a.log", true)]
    [InlineData("?.txt", "a.txt", true)]
    [InlineData("?.txt", "ab.txt", false)]
    [InlineData("[a-c].txt", "b.txt", true)]
    [InlineData("[^a-c].txt", "b.txt", false)]
    // ** crosses directories.
    [InlineData("**/*.log", "a.log", true)]
    [InlineData("**/*.log", "x/y/z.log", true)]
    [InlineData("**/tmp", "tmp", true)]
    [InlineData("**/tmp", "a/b/tmp", true)]
    [InlineData("docs/**", "docs/a/b", true)]
    [InlineData("docs/**/*.md", "docs/a/b/c.md", true)]
    [InlineData("docs/**/*.md", "docs/c.md", true)]
    [InlineData("**", "anything/at/all", true)]
    // Leading / and ./ are cleaned away; .. collapses.
    [InlineData("/secret.txt", "secret.txt", true)]
    [InlineData("./build", "build/out", true)]
    [InlineData("a/../b", "b", true)]
    // Escapes make metacharacters literal.
    [InlineData("\\*.txt", "*.txt", true)]
    [InlineData("\\*.txt", "a.txt", false)]
    public void Single_pattern(string pattern, string path, bool excluded)
        => Assert.Equal(excluded, DockerIgnore.Parse(pattern).IsExcluded(path));

    [Fact]
    public void Exceptions_are_evaluated_in_order()
    {
        var ignore = DockerIgnore.Parse("# comment\n\n  *.md  \n!README.md\ndocs\n!docs/keep.md\n");
        Assert.True(ignore.IsExcluded("CHANGES.md"));
        Assert.False(ignore.IsExcluded("README.md"));
        Assert.True(ignore.IsExcluded("docs/other.txt"));
        Assert.False(ignore.IsExcluded("docs/keep.md"));
        Assert.False(ignore.IsExcluded("src/main.c"));
        Assert.Equal(["*.md", "!README.md", "docs", "!docs/keep.md"], ignore.Patterns);
    }

    [Fact]
    public void A_later_exclusion_wins_over_an_earlier_exception()
    {
        var ignore = DockerIgnore.Parse("*\n!keep\nkeep/private\n");
        Assert.True(ignore.IsExcluded("other"));
        Assert.False(ignore.IsExcluded("keep/public"));
        Assert.True(ignore.IsExcluded("keep/private/key"));
    }

    [Fact]
    public void A_comment_must_start_the_line()
    {
        var ignore = DockerIgnore.Parse(" #notacomment\n");
        Assert.True(ignore.IsExcluded("#notacomment"));
    }

    [Fact]
    public void Dockerfile_and_dockerignore_are_removed_when_excluded_but_still_read()
    {
        using var dir = new TempDir();
        File.WriteAllText(Path.Combine(dir.Path, "Dockerfile"), "FROM busybox\n");
        File.WriteAllText(Path.Combine(dir.Path, ".dockerignore"), "Dockerfile\n.dockerignore\n");
        using var context = BuildContext.FromDirectory(dir.Path);
        Assert.Equal("FROM busybox\n", context.ReadDockerfile(null));
        Assert.True(context.IsExcluded("Dockerfile"));
        Assert.True(context.IsExcluded(".dockerignore"));
    }

    [Fact]
    public void Missing_or_empty_dockerfile_is_reported_as_docker_does()
    {
        using var dir = new TempDir();
        using var context = BuildContext.FromDirectory(dir.Path);
        Assert.Equal("Cannot locate specified Dockerfile: Dockerfile", Assert.Throws<BuildException>(() => context.ReadDockerfile(null)).Message);
        File.WriteAllText(Path.Combine(dir.Path, "empty.Dockerfile"), "");
        Assert.Equal("the Dockerfile (empty.Dockerfile) cannot be empty", Assert.Throws<BuildException>(() => context.ReadDockerfile("empty.Dockerfile")).Message);
        Assert.Equal("Cannot locate specified Dockerfile: ../../etc/passwd", Assert.Throws<BuildException>(() => context.ReadDockerfile("../../etc/passwd")).Message);
    }

    [Fact]
    public async Task Tar_context_is_extracted_inside_its_root_and_removed_on_dispose()
    {
        using var scratch = new TempDir();
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, leaveOpen: true))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "Dockerfile") { DataStream = new MemoryStream("FROM busybox\n"u8.ToArray()) });
            writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "dir/"));
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "dir/file.txt") { DataStream = new MemoryStream("x"u8.ToArray()) });
            writer.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "up") { LinkName = "../../../../" });
            // Through the symlink, a careless extractor would write outside the root.
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "up/tmp/escaped-berth-test") { DataStream = new MemoryStream("no"u8.ToArray()) });
        }
        tar.Position = 0;
        string root;
        using (var context = await BuildContext.FromTarAsync(tar, scratch.Path, CancellationToken.None))
        {
            root = context.Root;
            Assert.StartsWith(scratch.Path, root);
            Assert.Equal("FROM busybox\n", context.ReadDockerfile(null));
            Assert.Equal("x", File.ReadAllText(Path.Combine(root, "dir/file.txt")));
            Assert.True(File.Exists(Path.Combine(root, "tmp/escaped-berth-test")));
        }
        Assert.False(File.Exists("/tmp/escaped-berth-test"));
        Assert.False(Directory.Exists(root));
    }

    [Fact]
    public async Task Gzip_tar_context_is_accepted()
    {
        using var scratch = new TempDir();
        var gz = new MemoryStream();
        await using (var zip = new System.IO.Compression.GZipStream(gz, System.IO.Compression.CompressionMode.Compress, leaveOpen: true))
        await using (var writer = new TarWriter(zip, leaveOpen: true))
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "Dockerfile") { DataStream = new MemoryStream("FROM scratch\n"u8.ToArray()) });
        gz.Position = 0;
        using var context = await BuildContext.FromTarAsync(gz, scratch.Path, CancellationToken.None);
        Assert.Equal("FROM scratch\n", context.ReadDockerfile(null));
    }
}
