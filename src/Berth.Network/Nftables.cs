using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Berth.Network;

/// <summary>
/// Runs nftables command text (the `nft -f` language) as one atomic transaction. Berth generates text rather than
/// `nft -j` JSON: the rules read as an administrator would write them, the generator is unit-tested on plain
/// strings, and a whole table is replaced in one transaction. The text goes to libnftables in-process (no `nft`
/// process per change, which would cost milliseconds per container), or to `nft -f -` where the library is missing.
/// </summary>
public interface INftables
{
    /// <summary>Runs the commands; throws <see cref="NftablesException"/> with nft's error text when they are refused.</summary>
    void Run(string commands);
    /// <summary>Runs a listing command and returns its output (e.g. "list tables").</summary>
    string List(string command);
}

public sealed class NftablesException(string message) : Exception(message);

public static class Nftables
{
    /// <summary>libnftables when it loads, else the nft program.</summary>
    public static INftables Open()
    {
        try { return new LibNftables(); }
        catch (DllNotFoundException) { return new NftProgram(); }
        catch (EntryPointNotFoundException) { return new NftProgram(); }
    }
}

/// <summary>libnftables.so.1: the library nft itself is a thin shell around.</summary>
public sealed partial class LibNftables : INftables, IDisposable
{
    private readonly Lock _lock = new();
    private nint _context;

    public LibNftables()
    {
        _context = nft_ctx_new(0);
        if (_context == 0) throw new DllNotFoundException("nft_ctx_new failed");
        nft_ctx_buffer_output(_context);
        nft_ctx_buffer_error(_context);
    }

    public void Run(string commands) => Execute(commands);
    public string List(string command) => Execute(command);

    private string Execute(string commands)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_context == 0, this);
            var rc = nft_run_cmd_from_buffer(_context, commands);
            var output = Marshal.PtrToStringUTF8(nft_ctx_get_output_buffer(_context)) ?? "";
            var error = Marshal.PtrToStringUTF8(nft_ctx_get_error_buffer(_context)) ?? "";
            if (rc != 0) throw new NftablesException("nftables: " + (error.Length > 0 ? error.Trim() : "refused the ruleset"));
            return output;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_context != 0) nft_ctx_free(_context);
            _context = 0;
        }
    }

    private const string Lib = "libnftables.so.1";
    [LibraryImport(Lib)] private static partial nint nft_ctx_new(uint flags);
    [LibraryImport(Lib)] private static partial void nft_ctx_free(nint ctx);
    [LibraryImport(Lib)] private static partial int nft_ctx_buffer_output(nint ctx);
    [LibraryImport(Lib)] private static partial int nft_ctx_buffer_error(nint ctx);
    [LibraryImport(Lib)] private static partial nint nft_ctx_get_output_buffer(nint ctx);
    [LibraryImport(Lib)] private static partial nint nft_ctx_get_error_buffer(nint ctx);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] private static partial int nft_run_cmd_from_buffer(nint ctx, string buffer);
}

/// <summary>The nft program, fed on stdin.</summary>
public sealed class NftProgram : INftables
{
    public void Run(string commands) => Execute(["-f", "-"], commands);
    public string List(string command) => Execute(command.Split(' ', StringSplitOptions.RemoveEmptyEntries), null);

    private static string Execute(string[] args, string? input)
    {
        var psi = new ProcessStartInfo("nft") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new NftablesException("nft could not be started");
        if (input is not null) p.StandardInput.Write(input);
        p.StandardInput.Close();
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new NftablesException("nftables: " + error.Trim());
        return output.Result;
    }
}
