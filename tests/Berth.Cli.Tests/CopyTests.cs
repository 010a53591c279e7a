using System.Formats.Tar;
using Berth.Testing;

namespace Berth.Cli.Tests;

public sealed class CopyTests
{
    private static async Task<MemoryStream> ArchiveAsync(params (string Name, TarEntryType Type, string Content)[] entries)
    {
        var buffer = new MemoryStream();
        await using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
            foreach (var (name, type, content) in entries)
            {
                var entry = new PaxTarEntry(type, name);
                if (type == TarEntryType.SymbolicLink) entry.LinkName = content;
                if (type == TarEntryType.RegularFile) entry.DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content));
                await writer.WriteEntryAsync(entry);
            }
        buffer.Position = 0;
        return buffer;
    }

    [Fact]
    public async Task Extraction_renames_the_top_entry()
    {
        using var dir = new TempDir();
        var archive = await ArchiveAsync(("d/", TarEntryType.Directory, ""), ("d/f", TarEntryType.RegularFile, "hi"), ("d/l", TarEntryType.SymbolicLink, "f"));
        await BerthCli.ExtractAsync(archive, dir.Path, ("d", "copy"));
        Assert.Equal("hi", File.ReadAllText(dir.Combine("copy/f")));
        Assert.Equal("f", new FileInfo(dir.Combine("copy/l")).LinkTarget);
    }

    [Fact]
    public async Task Extraction_never_writes_through_a_symlink_or_above_its_root()
    {
        using var dir = new TempDir();
        var outside = dir.Combine("outside");
        Directory.CreateDirectory(outside);
        var root = dir.Combine("root");
        Directory.CreateDirectory(root);
        var planted = await ArchiveAsync(("escape", TarEntryType.SymbolicLink, outside), ("escape/pwned", TarEntryType.RegularFile, "x"));
        await Assert.ThrowsAnyAsync<Exception>(() => BerthCli.ExtractAsync(planted, root, null));
        Assert.False(File.Exists(Path.Combine(outside, "pwned")));
        var climbing = await ArchiveAsync(("../pwned", TarEntryType.RegularFile, "x"));
        await Assert.ThrowsAnyAsync<Exception>(() => BerthCli.ExtractAsync(climbing, root, null));
        Assert.False(File.Exists(dir.Combine("pwned")));
    }
}
