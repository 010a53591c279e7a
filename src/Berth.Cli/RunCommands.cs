using System.Text.Json;
using Berth.Engine.Models;

namespace Berth.Cli;

/// <summary>create, run, start, attach, exec: the commands that make containers and hold their streams.</summary>
public sealed partial class BerthCli
{
    private async Task<string> CreateAsync(FlagSet flags, string command)
    {
        ContainerCreateRequest request;
        try
        {
            request = RunOptions.Build(flags, environment, path =>
            {
                try { return File.ReadAllLines(path); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new InvalidOptionException($"open {path}: {(e is FileNotFoundException or DirectoryNotFoundException ? "no such file or directory" : e.Message)}");
                }
            });
        }
        catch (FormatException e) { throw new InvalidOptionException(e.Message); }
        if (request.Tty && terminal.Size(1) is { } size) request.HostConfig!.ConsoleSize = [size.Rows, size.Columns];
        var pull = flags.Get("pull") ?? "missing";
        if (pull is not ("always" or "missing" or "never"))
            throw new InvalidOptionException($"invalid pull option: '{pull}': must be one of \"always\", \"missing\" or \"never\"");

        var cidFile = flags.Get("cidfile");
        if (cidFile is not null)
        {
            try { using (new FileStream(cidFile, FileMode.CreateNew, FileAccess.Write)) { } }
            catch (IOException) when (File.Exists(cidFile))
            {
                throw new InvalidOptionException($"container ID file found, make sure the other container isn't running or delete {cidFile}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new InvalidOptionException($"failed to create the container ID file: {e.Message}"); }
        }
        var created = false;
        try
        {
            if (pull == "always") await PullAsync(request.Image!, command);
            var path = "/containers/create" + Query(("name", flags.Get("name")), ("platform", flags.Get("platform")));
            ContainerCreateResponse response;
            try
            {
                response = await Client.PostAsync(path, DaemonClient.JsonBody(CliWriteJsonContext.CreateRequestBody(request)), CliJsonAnswers.CreateResponse);
            }
            catch (DaemonException e) when (e.Status == 404 && e.Message.StartsWith("No such image", StringComparison.Ordinal) && pull == "missing")
            {
                stderr.WriteLine($"Unable to find image '{FullReference(request.Image!)}' locally");
                await PullAsync(request.Image!, command);
                response = await Client.PostAsync(path, DaemonClient.JsonBody(CliWriteJsonContext.CreateRequestBody(request)), CliJsonAnswers.CreateResponse);
            }
            foreach (var warning in response.Warnings ?? []) stderr.WriteLine($"WARNING: {warning}");
            if (cidFile is not null) await File.WriteAllTextAsync(cidFile, response.Id);
            created = true;
            return response.Id;
        }
        catch (DaemonException e) when (command == "run")
        {
            throw new CliExit(125, $"berth: Error response from daemon: {e.Message}\n\nRun 'berth run --help' for more information");
        }
        finally
        {
            if (!created && cidFile is not null) File.Delete(cidFile);
        }
    }

    /// <summary>docker's familiar name with its tag made explicit ("busybox" → "busybox:latest").</summary>
    public static string FullReference(string image)
    {
        if (image.Contains('@')) return image;
        var colon = image.LastIndexOf(':');
        return colon > image.LastIndexOf('/') ? image : image + ":latest";
    }

    /// <summary>Pulls an image for run/create, its progress on stderr as docker prints it there.</summary>
    private async Task PullAsync(string image, string command)
    {
        var reference = FullReference(image);
        string from = reference, tag = "";
        if (!reference.Contains('@'))
        {
            var colon = reference.LastIndexOf(':');
            (from, tag) = (reference[..colon], reference[(colon + 1)..]);
        }
        using var response = await Client.SendAsync(HttpMethod.Post, "/images/create" + Query(("fromImage", from), ("tag", tag.Length > 0 ? tag : null)), stream: true);
        await foreach (var message in DaemonClient.ReadMessagesAsync(response))
        {
            if (message.Error is { } error) throw new DaemonException(500, error);
            if (message.Status is { } status && message.Progress is null) stderr.WriteLine(message.Id is { } id ? $"{id}: {status}" : status);
        }
        _ = command;
    }

    private async Task<int> CreateCommand(IReadOnlyList<string> args)
    {
        var flags = RunOptions.Flags("create").Parse(args);
        CheckArgumentCount(flags.Positionals.Count, 1, int.MaxValue);
        stdout.WriteLine(await CreateAsync(flags, "create"));
        return 0;
    }

    /// <summary>docker's exit code for a start failure: 127 command not found, 126 not executable, else 125.</summary>
    public static int StartFailureCode(string message)
    {
        if (message.Contains("executable file not found", StringComparison.Ordinal) || message.Contains("no such file or directory", StringComparison.Ordinal)) return 127;
        if (message.Contains("permission denied", StringComparison.Ordinal) || message.Contains("cannot execute", StringComparison.Ordinal)) return 126;
        return 125;
    }

    private byte[] DetachKeysOf(string? text)
    {
        if (text is null) return DetachKeys.Default;
        try { return DetachKeys.Parse(text); }
        catch (FormatException e) { throw new InvalidOptionException(e.Message); }
    }

    private async Task<int> RunCommand(IReadOnlyList<string> args)
    {
        var flags = RunOptions.Flags("run").Parse(args);
        CheckArgumentCount(flags.Positionals.Count, 1, int.MaxValue);
        var detached = flags.GetBool("detach");
        var attachStreams = new HashSet<string>();
        foreach (var stream in flags.GetAll("attach")) attachStreams.Add(stream.ToLowerInvariant());
        if (detached && attachStreams.Count > 0) throw new CliExit(1, "conflicting options: cannot specify both --attach and --detach");
        var tty = flags.GetBool("tty");
        var interactive = flags.GetBool("interactive") || attachStreams.Contains("stdin");
        if (!detached && interactive && tty && !terminal.IsTerminal(0)) throw new CliExit(1, "the input device is not a TTY");
        var detachKeys = DetachKeysOf(flags.Get("detach-keys"));
        var autoRemove = flags.GetBool("rm");
        var id = await CreateAsync(flags, "run");
        if (detached)
        {
            await StartOrExit(id);
            stdout.WriteLine(id);
            return 0;
        }
        var attachOut = attachStreams.Count == 0 || attachStreams.Contains("stdout");
        var attachErr = attachStreams.Count == 0 || attachStreams.Contains("stderr");
        // As docker: attach, and have the wait registered (its headers come back at once), then start, so that no
        // output and no exit is missed. The two are independent: they go side by side, one round trip for both.
        var (attach, waitAnswer) = await Client.AttachAndWaitAsync(
            $"/containers/{id}/attach?stream=1{(attachOut ? "&stdout=1" : "")}{(attachErr ? "&stderr=1" : "")}{(interactive ? "&stdin=1" : "")}",
            $"/containers/{id}/wait?condition={(autoRemove ? "removed" : "next-exit")}");
        using var wait = waitAnswer;
        try
        {
            await StartOrExit(id);
        }
        catch
        {
            await attach.DisposeAsync();
            throw;
        }
        var sigProxy = !flags.Has("sig-proxy") || flags.GetBool("sig-proxy");
        var options = new SessionOptions
        {
            Tty = tty, Stdin = interactive, ResizePath = $"/containers/{id}/resize", DetachKeys = detachKeys, SignalTarget = sigProxy ? id : null,
        };
        var userDetached = await StreamAsync(attach, options);
        await attach.DisposeAsync();
        if (userDetached) return 0;
        // Read asynchronously: the answer comes when the container is gone, and a synchronous read would park a thread-pool
        // thread in a blocking wait that spins first, beside the container.
        var result = CliJsonAnswers.WaitResponse(await UnixHttp.BodyAsync(wait));
        if (result.Error?.Message is { Length: > 0 } error) stderr.WriteLine(error);
        return (int)result.StatusCode;
    }

    private async Task StartOrExit(string id)
    {
        try
        {
            await Client.PostAsync($"/containers/{id}/start");
        }
        catch (DaemonException e)
        {
            throw new CliExit(StartFailureCode(e.Message), $"berth: Error response from daemon: {e.Message}\n\nRun 'berth run --help' for more information");
        }
    }

    private async Task<int> StartCommand(IReadOnlyList<string> args)
    {
        Func<FlagSet, FlagSet> define = f => f.Bool("attach", 'a').Bool("interactive", 'i').String("detach-keys").String("checkpoint").String("checkpoint-dir");
        var flags = Parse("start", args, define, minArgs: 1);
        if (flags.GetBool("attach") || flags.GetBool("interactive"))
        {
            if (flags.Positionals.Count > 1) throw new CliExit(1, "you cannot start and attach multiple containers at once");
            var inspect = await Client.GetAsync($"/containers/{Esc(flags.Positionals[0])}/json", Json.ContainerInspect);
            var interactive = flags.GetBool("interactive") && inspect.Config.OpenStdin;
            if (interactive && inspect.Config.Tty && !terminal.IsTerminal(0)) throw new CliExit(1, "the input device is not a TTY");
            var attach = await Client.HijackAsync($"/containers/{inspect.Id}/attach?stream=1&stdout=1&stderr=1{(interactive ? "&stdin=1" : "")}");
            using var wait = await Client.SendAsync(HttpMethod.Post, $"/containers/{inspect.Id}/wait?condition=next-exit", stream: true);
            try
            {
                await Client.PostAsync($"/containers/{inspect.Id}/start");
            }
            catch (DaemonException e)
            {
                await attach.DisposeAsync();
                throw new CliExit(StartFailureCode(e.Message) == 125 ? 1 : StartFailureCode(e.Message), $"Error response from daemon: {e.Message}");
            }
            var detached = await StreamAsync(attach, new SessionOptions
            {
                Tty = inspect.Config.Tty, Stdin = interactive, ResizePath = $"/containers/{inspect.Id}/resize",
                DetachKeys = DetachKeysOf(flags.Get("detach-keys")), SignalTarget = inspect.Id,
            });
            await attach.DisposeAsync();
            if (detached) return 0;
            return (int)CliJsonAnswers.WaitResponse(await UnixHttp.BodyAsync(wait)).StatusCode;
        }
        return await ForEach(args, "start", define, (_, id) => Client.PostAsync($"/containers/{Esc(id)}/start"));
    }

    private async Task<int> AttachCommand(IReadOnlyList<string> args)
    {
        var flags = Parse("attach", args, f => f.Bool("no-stdin").String("detach-keys").Bool("sig-proxy"), minArgs: 1, maxArgs: 1);
        var inspect = await Client.GetAsync($"/containers/{Esc(flags.Positionals[0])}/json", Json.ContainerInspect);
        if (!inspect.State.Running) throw new CliExit(1, "You cannot attach to a stopped container, start it first");
        if (inspect.State.Paused) throw new CliExit(1, "You cannot attach to a paused container, unpause it first");
        var stdin = !flags.GetBool("no-stdin") && inspect.Config.OpenStdin;
        if (stdin && inspect.Config.Tty && !terminal.IsTerminal(0)) throw new CliExit(1, "the input device is not a TTY");
        var detachKeys = DetachKeysOf(flags.Get("detach-keys"));
        // As docker: the wait is registered before the stream, so the exit code is the container's even when the
        // stream ends before the daemon has recorded the exit.
        using var wait = await Client.SendAsync(HttpMethod.Post, $"/containers/{inspect.Id}/wait", stream: true);
        var attach = await Client.HijackAsync($"/containers/{inspect.Id}/attach?stream=1&stdout=1&stderr=1{(stdin ? "&stdin=1" : "")}{(flags.Get("detach-keys") is { } k ? "&detachKeys=" + Esc(k) : "")}");
        var sigProxy = !flags.Has("sig-proxy") || flags.GetBool("sig-proxy");
        var detached = await StreamAsync(attach, new SessionOptions
        {
            Tty = inspect.Config.Tty, Stdin = stdin, ResizePath = $"/containers/{inspect.Id}/resize", DetachKeys = detachKeys,
            SignalTarget = sigProxy ? inspect.Id : null,
        });
        await attach.DisposeAsync();
        if (detached) return 0;
        return (int)CliJsonAnswers.WaitResponse(await UnixHttp.BodyAsync(wait)).StatusCode;
    }

    private async Task<int> ExecCommand(IReadOnlyList<string> args)
    {
        var flags = new FlagSet("exec", interspersed: false).Bool("help").Bool("detach", 'd').Bool("interactive", 'i').Bool("tty", 't').List("env", 'e').List("env-file")
            .String("user", 'u').String("workdir", 'w').Bool("privileged").String("detach-keys").Parse(args);
        CheckArgumentCount(flags.Positionals.Count, 2, int.MaxValue);
        var detach = flags.GetBool("detach");
        var tty = flags.GetBool("tty");
        var interactive = flags.GetBool("interactive") && !detach;
        if (interactive && tty && !terminal.IsTerminal(0)) throw new CliExit(1, "the input device is not a TTY");
        var env = new List<string>();
        foreach (var file in flags.GetAll("env-file"))
        {
            try { env.AddRange(File.ReadAllLines(file).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'))); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CliExit(1, $"open {file}: no such file or directory"); }
        }
        env.AddRange(flags.GetAll("env"));
        var config = new ExecConfig
        {
            AttachStdin = interactive,
            AttachStdout = !detach,
            AttachStderr = !detach,
            Tty = tty,
            Env = env.Count > 0 ? env : null,
            User = flags.Get("user"),
            WorkingDir = flags.Get("workdir"),
            Privileged = flags.GetBool("privileged"),
            DetachKeys = flags.Get("detach-keys"),
            Cmd = flags.Positionals.Skip(1).ToList(),
            ConsoleSize = tty && terminal.Size(1) is { } size ? [size.Rows, size.Columns] : null,
        };
        var container = flags.Positionals[0];
        var created = await Client.PostAsync($"/containers/{Esc(container)}/exec", DaemonClient.JsonBody(config, Json.ExecConfig), Json.IdResponse);
        var start = new ExecStartConfig { Detach = detach, Tty = tty };
        if (detach)
        {
            await Client.PostAsync($"/exec/{created.Id}/start", DaemonClient.JsonBody(start, Json.ExecStartConfig));
            return 0;
        }
        var connection = await Client.HijackAsync($"/exec/{created.Id}/start", JsonSerializer.Serialize(start, Json.ExecStartConfig));
        var detached = await StreamAsync(connection, new SessionOptions
        {
            Tty = tty, Stdin = interactive, ResizePath = $"/exec/{created.Id}/resize", DetachKeys = DetachKeysOf(flags.Get("detach-keys")),
        });
        await connection.DisposeAsync();
        if (detached) return 0;
        var inspect = await Client.GetAsync($"/exec/{created.Id}/json", Json.ExecInspect);
        return inspect.ExitCode ?? 0;
    }
}
