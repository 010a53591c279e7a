using System.Globalization;

namespace Berth.Shim;

/// <summary>berth-shim's command line: everything it needs to create one container and supervise it.</summary>
public sealed class ShimOptions
{
    public required string ContainerId { get; init; }
    public required string Bundle { get; init; }
    public required string Runtime { get; init; }
    public required string RuntimeRoot { get; init; }
    public required string StateDirectory { get; init; }
    public string? LogPath { get; init; }
    public long LogMaxSize { get; init; }
    public int LogMaxFiles { get; init; }
    public bool Tty { get; init; }
    public bool OpenStdin { get; init; }
    public bool StdinOnce { get; init; }
    /// <summary>Create nothing at start-up: the first Start runs the runtime's `run --detach` (create and start in one).</summary>
    public bool RunOnStart { get; init; }
    /// <summary>
    /// berthd says the runtime is the berth-runtime shipped with this shim (same build, same --root and state format): the
    /// shim runs its delete in-process, through the library it links, instead of starting `RUNTIME delete`.
    /// </summary>
    public bool RuntimeLinked { get; init; }
    /// <summary>
    /// The shim's socket is made by berthd, bound at state-dir/shim.sock and listening, and given as the shim's stdin: berthd
    /// connects and sends its requests (Wait, the attaches, Start) at once, while the shim starts, instead of waiting for
    /// "ready". Nothing is reported on stdout then; errors go to stderr (shim.log).
    /// </summary>
    public bool ListenerOnStdin { get; init; }

    public List<string> ToArguments()
    {
        var args = new List<string>
        {
            "--id", ContainerId, "--bundle", Bundle, "--runtime", Runtime, "--runtime-root", RuntimeRoot, "--state-dir", StateDirectory,
        };
        if (LogPath is not null)
        {
            args.AddRange(["--log", LogPath, "--log-max-size", LogMaxSize.ToString(CultureInfo.InvariantCulture),
                "--log-max-files", LogMaxFiles.ToString(CultureInfo.InvariantCulture)]);
        }
        if (Tty) args.Add("--tty");
        if (OpenStdin) args.Add("--stdin");
        if (StdinOnce) args.Add("--stdin-once");
        if (RunOnStart) args.Add("--run-on-start");
        if (RuntimeLinked) args.Add("--linked-runtime");
        if (ListenerOnStdin) args.Add("--listener-stdin");
        return args;
    }

    /// <summary>Parses the arguments (without the program name); throws <see cref="ArgumentException"/> naming the problem.</summary>
    public static ShimOptions Parse(ReadOnlySpan<string> args)
    {
        string? id = null, bundle = null, runtime = null, root = null, state = null, log = null;
        long maxSize = 0;
        int maxFiles = 1;
        bool tty = false, stdin = false, stdinOnce = false, runOnStart = false, linked = false, listenerOnStdin = false;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--tty": tty = true; continue;
                case "--stdin": stdin = true; continue;
                case "--stdin-once": stdinOnce = true; continue;
                case "--run-on-start": runOnStart = true; continue;
                case "--linked-runtime": linked = true; continue;
                case "--listener-stdin": listenerOnStdin = true; continue;
            }
            if (i + 1 >= args.Length) throw new ArgumentException($"berth-shim: {args[i]} needs a value");
            var value = args[++i];
            switch (args[i - 1])
            {
                case "--id": id = value; break;
                case "--bundle": bundle = value; break;
                case "--runtime": runtime = value; break;
                case "--runtime-root": root = value; break;
                case "--state-dir": state = value; break;
                case "--log": log = value; break;
                case "--log-max-size":
                    if (!long.TryParse(value, CultureInfo.InvariantCulture, out maxSize) || maxSize < 0) throw new ArgumentException($"berth-shim: bad --log-max-size {value}");
                    break;
                case "--log-max-files":
                    if (!int.TryParse(value, CultureInfo.InvariantCulture, out maxFiles) || maxFiles < 0) throw new ArgumentException($"berth-shim: bad --log-max-files {value}");
                    break;
                default: throw new ArgumentException($"berth-shim: unknown flag {args[i - 1]}");
            }
        }
        return new ShimOptions
        {
            ContainerId = id ?? throw new ArgumentException("berth-shim: --id is required"),
            Bundle = bundle ?? throw new ArgumentException("berth-shim: --bundle is required"),
            Runtime = runtime ?? throw new ArgumentException("berth-shim: --runtime is required"),
            RuntimeRoot = root ?? throw new ArgumentException("berth-shim: --runtime-root is required"),
            StateDirectory = state ?? throw new ArgumentException("berth-shim: --state-dir is required"),
            LogPath = log, LogMaxSize = maxSize, LogMaxFiles = maxFiles, Tty = tty, OpenStdin = stdin, StdinOnce = stdinOnce,
            RunOnStart = runOnStart, RuntimeLinked = linked, ListenerOnStdin = listenerOnStdin,
        };
    }
}
