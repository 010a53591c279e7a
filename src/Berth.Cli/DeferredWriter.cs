using System.Text;

namespace Berth.Cli;

/// <summary>
/// A writer opened on first use: Console.Out and Console.Error each cost a descriptor dup, the terminal encoding looked
/// up from the locale and a stream writer, on every command, and `run` without output or errors uses neither.
/// </summary>
public sealed class DeferredWriter(Func<TextWriter> open) : TextWriter
{
    private TextWriter? writer;

    private TextWriter Writer => writer ??= open();

    public override Encoding Encoding => Writer.Encoding;
    public override void Write(char value) => Writer.Write(value);
    public override void Write(char[] buffer, int index, int count) => Writer.Write(buffer, index, count);
    public override void Write(ReadOnlySpan<char> buffer) => Writer.Write(buffer);
    public override void Write(string? value) => Writer.Write(value);
    public override void WriteLine() => Writer.WriteLine();
    public override void WriteLine(string? value) => Writer.WriteLine(value);
    public override void WriteLine(ReadOnlySpan<char> buffer) => Writer.WriteLine(buffer);
    public override Task WriteAsync(string? value) => Writer.WriteAsync(value);
    public override Task WriteLineAsync(string? value) => Writer.WriteLineAsync(value);
    public override void Flush() => writer?.Flush();
    public override Task FlushAsync() => writer?.FlushAsync() ?? Task.CompletedTask;
}
