using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Berth.Linux;
using Berth.Runtime.Init;
using Berth.Runtime.Lifecycle;
using Berth.Runtime.State;

namespace Berth.Runtime.Cli;

/// <summary>berth-runtime's verbs, dispatched from the parsed command line. Errors become one line on stderr (and in
/// --log), exit status 1, as runc does.</summary>
public static class RuntimeCli
{
    public const string Version = "0.1.0";

    public static int Run(string[] args)
    {
        // The init process: the fast path, no parsing beyond the descriptor number.
        if (args.Length == 2 && args[0] == "init" && int.TryParse(args[1], out var initFd))
            return InitProcess.Run(LinuxSyscalls.Instance, initFd);

        CommandLine line;
        try { line = CommandLineParser.Parse(args); }
        catch (RuntimeException e) { RuntimeLog.Error(e.Message); return 1; }
        RuntimeLog.Configure(line.LogPath, line.LogFormat, line.Debug);
        foreach (var ignored in line.Ignored) RuntimeLog.Warn($"{ignored} is accepted for runc compatibility and ignored");
        if (line.ShowVersion) { Console.Out.Write($"berth-runtime version {Version}\nspec: 1.1.0\n"); return 0; }
        if (line.Verb is null || line.ShowHelp) { Console.Out.Write(Usage); return line.Verb is null && !line.ShowHelp ? 1 : 0; }
        try
        {
            return Dispatch(line, LinuxSyscalls.Instance);
        }
        catch (RuntimeException e) { RuntimeLog.Error(e.Message); return 1; }
        catch (SyscallException e) { RuntimeLog.Error(e.Message); return 1; }
        catch (IOException e) { RuntimeLog.Error(e.Message); return 1; }
        catch (UnauthorizedAccessException e) { RuntimeLog.Error(e.Message); return 1; }
        catch (Exception e) when (e is Linux.Cgroups.CgroupException or Seccomp.SeccompConfigException or JsonException or FormatException)
        {
            RuntimeLog.Error(e.Message);
            return 1;
        }
    }

    public static int Dispatch(CommandLine line, ISyscalls sys)
    {
        var store = new StateStore(line.Root);
        var ops = new ContainerOperations(sys, store);
        switch (line.Verb)
        {
            case "create":
                new ContainerCreator(sys, store).Create(Id(line), CreateOptionsOf(line));
                return 0;
            case "run":
                return RunVerb(line, sys, store, ops);
            case "start":
                ops.Start(Id(line));
                return 0;
            case "state":
                Console.Out.Write(JsonSerializer.Serialize(store.View(store.Load(Id(line))), RuntimeStateJsonContext.Default.ContainerStateView) + "\n");
                return 0;
            case "kill":
            {
                var id = Id(line, maxArgs: 2);
                var signal = line.Arguments.Count > 1 ? Signals.Parse(line.Arguments[1]) : 15;
                ops.Kill(id, signal, line.Has("all"));
                return 0;
            }
            case "delete":
                ops.Delete(Id(line), line.Has("force"));
                return 0;
            case "pause":
                ops.Pause(Id(line));
                return 0;
            case "resume":
                ops.Resume(Id(line));
                return 0;
            case "list":
                List(line, store);
                return 0;
            case "spec":
                SpecVerb.Write(line.Value("bundle") ?? ".", line.Has("rootless"));
                return 0;
            case "features":
                Console.Out.Write(Features.Json);
                return 0;
            case "exec":
                return new ContainerExecutor(sys, store).Exec(line);
            case "ps":
                new CgroupVerbs(store, sys).Ps(line);
                return 0;
            case "events":
                new CgroupVerbs(store, sys).Events(line);
                return 0;
            case "update":
                new CgroupVerbs(store, sys).Update(line);
                return 0;
            case "init":
                throw new RuntimeException("init is internal to berth-runtime");
            default:
                throw new RuntimeException($"{line.Verb}: not implemented yet");
        }
    }

    private static int RunVerb(CommandLine line, ISyscalls sys, StateStore store, ContainerOperations ops)
    {
        var options = CreateOptionsOf(line);
        options.ForegroundTerminal = !line.Has("detach");
        options.StartAtOnce = true;
        var record = new ContainerCreator(sys, store).Create(Id(line), options);
        using var relay = options.ConsoleMaster >= 0 ? Terminal.TerminalRelay.Start(sys, options.ConsoleMaster) : null;
        if (!options.StartAtOnce) // hooks: the usual start, with poststart
        {
            try { ops.Start(record.Id); }
            catch
            {
                ops.KillAndWait(record);
                ops.Destroy(record);
                throw;
            }
        }
        if (line.Has("detach")) return 0;
        // Forward the signals a user sends to `run` to the container, as runc does.
        var forwarded = new List<PosixSignalRegistration>();
        foreach (var s in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT })
        {
            forwarded.Add(PosixSignalRegistration.Create(s, context =>
            {
                context.Cancel = true;
                sys.SendSignal(record.Pid, SignalNumber(context.Signal));
            }));
        }
        int status;
        try { sys.WaitForChild(record.Pid, out status); }
        finally { foreach (var r in forwarded) r.Dispose(); }
        relay?.Finish();
        if (!line.Has("keep")) ops.Destroy(record);
        return WaitStatus.ShellCode(status);
    }

    private static int SignalNumber(PosixSignal s) => s switch
    {
        PosixSignal.SIGINT => 2, PosixSignal.SIGTERM => 15, PosixSignal.SIGHUP => 1, PosixSignal.SIGQUIT => 3, _ => 15,
    };

    private static CreateOptions CreateOptionsOf(CommandLine line) => new()
    {
        Bundle = line.Value("bundle") ?? ".", ConsoleSocket = line.Value("console-socket"), PidFile = line.Value("pid-file"),
        NoPivot = line.Has("no-pivot"), PreserveFds = PreservedFds.ParseFlag(line.Value("preserve-fds")),
    };

    private static string Id(CommandLine line, int maxArgs = 1)
    {
        if (line.Arguments.Count == 0) throw new RuntimeException($"{line.Verb}: container id cannot be empty");
        if (line.Arguments.Count > maxArgs) throw new RuntimeException($"{line.Verb}: expected {(maxArgs == 1 ? "1 argument" : $"at most {maxArgs} arguments")}, got {line.Arguments.Count}");
        return ContainerId.Validate(line.Arguments[0]);
    }

    private static void List(CommandLine line, StateStore store)
    {
        var views = new List<ContainerStateView>();
        foreach (var id in store.Ids())
        {
            try { views.Add(store.View(store.Load(id))); } catch (RuntimeException) { }
        }
        if (line.Has("quiet")) { foreach (var v in views) Console.Out.Write(v.Id + "\n"); return; }
        var format = line.Value("format") ?? "table";
        if (format == "json") { Console.Out.Write(JsonSerializer.Serialize(views, RuntimeStateJsonContext.Default.ListContainerStateView) + "\n"); return; }
        if (format != "table") throw new RuntimeException($"invalid format option: {format}");
        var rows = new List<string[]> { new[] { "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER" } };
        foreach (var v in views) rows.Add([v.Id, v.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), v.Status, v.Bundle, v.Created, v.Owner]);
        Console.Out.Write(Table(rows));
    }

    /// <summary>Go's tabwriter with runc's settings (minwidth 12, padding 3): all columns but the last padded.</summary>
    public static string Table(List<string[]> rows)
    {
        var columns = rows[0].Length;
        var widths = new int[columns];
        foreach (var r in rows) for (var c = 0; c < columns - 1; c++) widths[c] = Math.Max(widths[c], Math.Max(12, r[c].Length + 3));
        var text = new StringBuilder();
        foreach (var r in rows)
        {
            for (var c = 0; c < columns - 1; c++) text.Append(r[c].PadRight(widths[c]));
            text.Append(r[^1]).Append('\n');
        }
        return text.ToString();
    }

    public const string Usage = """
        berth-runtime: an OCI container runtime, command-line compatible with runc

        usage: berth-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND [ARGS]

        commands:
          create [--bundle DIR] [--pid-file F] [--console-socket SOCK] [--no-pivot] ID
          start ID                  state ID                  delete [--force] ID
          kill [--all] ID [SIGNAL]  run [--bundle DIR] [-d] ID
          exec [-p process.json | ARGS...] [-t] [-e K=V] [--cwd DIR] [-u UID[:GID]] [-d] ID
          list [-f table|json] [-q] ps [-f table|json] ID     pause ID    resume ID
          events [--stats] ID       update [-r resources.json|-] ID    spec [--rootless]    features

        """;
}
