using System.Buffers.Binary;
using System.Diagnostics;
using Berth.Testing;

namespace Berth.Runtime.Tests;

/// <summary>berth-runtime's code and read-only data are linked to fill whole 2 MiB pages (berth-runtime.csproj,
/// hugepage-segments.ld), so the kernel can map each with one entry. A segment that starts or ends inside a 2 MiB page,
/// or a page the runtime makes writable inside one, and the kernel falls back to 4 KiB pages without a word.</summary>
public class HugePageLayoutTests
{
    private const long TwoMiB = 2 << 20;
    private const uint Load = 1, Executable = 1, Writable = 2, Readable = 4;

    [Fact]
    public void The_runtimes_code_and_read_only_data_start_and_end_on_2MiB_boundaries()
    {
        var segments = LoadSegments(LifecycleHarness.Binary);
        var code = Assert.Single(segments, s => (s.Flags & Executable) != 0);
        // The read-only data: the largest segment that is neither code nor writable (the first one holds the ELF headers).
        var readOnly = segments.Where(s => s.Flags == Readable).MaxBy(s => s.MemorySize);
        Assert.NotNull(readOnly);
        foreach (var (name, s) in new[] { ("code", code), ("read-only data", readOnly) })
        {
            Assert.True(s.Address % TwoMiB == 0 && s.Offset % TwoMiB == 0 && s.MemorySize % TwoMiB == 0,
                $"berth-runtime's {name} segment is at 0x{s.Address:x} (file offset 0x{s.Offset:x}), 0x{s.MemorySize:x} bytes: not whole 2 MiB pages");
        }
    }

    [Fact]
    public void The_security_cookie_the_runtime_writes_at_start_is_outside_the_2MiB_segments()
    {
        var symbolFile = Path.Combine(Repo.Root, "src", "berth-runtime", "bin", "Release", "net10.0", "linux-x64", "native", "berth-runtime.dbg");
        Assert.True(File.Exists(symbolFile), $"{symbolFile} is missing: publish berth-runtime first (scripts/build)");
        var cookie = SymbolAddress(symbolFile, "__security_cookie");
        foreach (var s in LoadSegments(LifecycleHarness.Binary).Where(s => s.MemorySize >= TwoMiB && (s.Flags & Writable) == 0))
            Assert.False(cookie >= s.Address && cookie < s.Address + s.MemorySize,
                $"__security_cookie (0x{cookie:x}) is inside the segment at 0x{s.Address:x}: its mprotect at start splits that mapping");
    }

    private sealed record Segment(uint Flags, long Offset, long Address, long MemorySize);

    private static List<Segment> LoadSegments(string elf)
    {
        var bytes = File.ReadAllBytes(elf);
        Assert.True(bytes.AsSpan(0, 4).SequenceEqual("\u007fELF"u8) && bytes[4] == 2, $"{elf} is not a 64-bit ELF file");
        var tableOffset = (int)BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(0x20));
        var entrySize = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(0x36));
        var count = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(0x38));
        var segments = new List<Segment>();
        for (var i = 0; i < count; i++)
        {
            var entry = bytes.AsSpan(tableOffset + i * entrySize, entrySize);
            if (BinaryPrimitives.ReadUInt32LittleEndian(entry) != Load) continue;
            segments.Add(new Segment(BinaryPrimitives.ReadUInt32LittleEndian(entry[4..]), BinaryPrimitives.ReadInt64LittleEndian(entry[8..]),
                BinaryPrimitives.ReadInt64LittleEndian(entry[16..]), BinaryPrimitives.ReadInt64LittleEndian(entry[40..])));
        }
        return segments;
    }

    private static long SymbolAddress(string elf, string symbol)
    {
        using var nm = Process.Start(new ProcessStartInfo("nm", ["--defined-only", elf]) { RedirectStandardOutput = true })!;
        long? address = null;
        while (nm.StandardOutput.ReadLine() is { } line)
        {
            var parts = line.Split(' ', 3);
            if (parts.Length == 3 && parts[2] == symbol) address = Convert.ToInt64(parts[0], 16);
        }
        nm.WaitForExit();
        Assert.Equal(0, nm.ExitCode);
        Assert.True(address.HasValue, $"{symbol} is not in {elf}");
        return address.Value;
    }
}
