using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Berth.Build.Context;
using Berth.Build.Dockerfile;
using Berth.Oci.Image;
using Berth.Oci.Reference;
using Berth.Oci;

namespace Berth.Build.Execution;

/// <summary>What a build is asked to do (the parameters of POST /build and `berth build`).</summary>
public sealed record BuildOptions
{
    /// <summary>The Dockerfile's path inside the context ("Dockerfile" when null).</summary>
    public string? Dockerfile { get; init; }
    /// <summary>The Dockerfile's text when it does not come from the context (stdin).</summary>
    public string? DockerfileText { get; init; }
    public IReadOnlyList<string> Tags { get; init; } = [];
    /// <summary>--build-arg values; a null value means "declared by the client without a value" and is ignored.</summary>
    public IReadOnlyDictionary<string, string?> BuildArgs { get; init; } = new Dictionary<string, string?>();
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public string? Target { get; init; }
    public bool NoCache { get; init; }
    public bool Pull { get; init; }
    /// <summary>The network RUN steps use unless they say otherwise (default, none, host, or a network name).</summary>
    public string NetworkMode { get; init; } = "default";
    /// <summary>-q: only the image ID is written, after success.</summary>
    public bool Quiet { get; init; }
    public string? Platform { get; init; }
    /// <summary>Where temporary files (unpacked ADD archives) go.</summary>
    public string ScratchDirectory { get; init; } = Path.GetTempPath();
}

/// <summary>A finished build: the image (null when it failed), what was tagged, and how many steps the cache served.</summary>
public sealed record BuildResult(string? ImageId, IReadOnlyList<string> Tags, int Steps, int CacheHits, string? Error, int ErrorCode = 0);

/// <summary>
/// Runs a Dockerfile as Docker's classic builder does — each instruction a step that commits an image
/// (a layer for RUN, COPY, ADD and a new WORKDIR; a config change otherwise), each step looked up in the
/// cache first — and writes Docker's progress stream. Stages the target does not need are skipped;
/// independent stages run in parallel, their output kept in Dockerfile order.
/// </summary>
public sealed class DockerfileBuilder(IBuildBackend backend, IBuildCache cache)
{
    private IBuildBackend Backend { get; } = backend;
    private IBuildCache Cache { get; } = cache;

    private static readonly IReadOnlyList<string> DefaultShell = ["/bin/sh", "-c"];

    public async Task<BuildResult> BuildAsync(BuildContext context, BuildOptions options, Func<BuildMessage, ValueTask> output, CancellationToken cancellationToken)
    {
        var quietBuffer = options.Quiet ? new List<BuildMessage>() : null;
        // Quiet keeps the step lines back (shown only on failure); the image ID's aux line still goes out, as
        // dockerd sends it, so `docker build -q --iidfile` has the ID.
        var sink = quietBuffer is null ? output : message =>
        {
            if (message.Aux is not null) return output(message);
            lock (quietBuffer) quietBuffer.Add(message);
            return ValueTask.CompletedTask;
        };
        var run = new BuildRun(this, context, options, sink, cancellationToken);
        try
        {
            var result = await run.ExecuteAsync();
            if (quietBuffer is not null) await output(BuildMessage.Text(result.ImageId + "\n"));
            return result;
        }
        // A file the step could not read or write is the build's failure too, reported on the stream like the others.
        catch (Exception e) when (e is BuildException or DockerfileException or ShellSyntaxException or InvalidReferenceException or IOException or UnauthorizedAccessException)
        {
            var code = e is BuildException b ? b.Code : 1;
            await run.FlushAsync();
            if (quietBuffer is not null)
                foreach (var m in quietBuffer) await output(m);
            await output(BuildMessage.Failure(e.Message, code));
            return new BuildResult(null, [], run.StepsRun, run.CacheHits, e.Message, code);
        }
    }

    private static string HostPlatform()
    {
        var arch = RuntimeInformation.OSArchitecture switch
        {
            Architecture.X64 => "amd64",
            Architecture.Arm64 => "arm64",
            Architecture.Arm => "arm",
            Architecture.X86 => "386",
            Architecture.S390x => "s390x",
            Architecture.Ppc64le => "ppc64le",
            _ => RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant(),
        };
        return "linux/" + arch;
    }

    public static string ShortId(string? id)
    {
        if (string.IsNullOrEmpty(id)) return "";
        var hex = id.StartsWith("sha256:", StringComparison.Ordinal) ? id[7..] : id;
        return hex.Length > 12 ? hex[..12] : hex;
    }

    /// <summary>Go's %q of a string slice: ["a" "b"].</summary>
    internal static string GoQuoted(IEnumerable<string> items)
        => "[" + string.Join(" ", items.Select(s => System.Text.Json.JsonSerializer.Serialize(s, BuildJsonContext.Default.String))) + "]";

    /// <summary>Go's %v of a string slice: [a b].</summary>
    internal static string GoList(IEnumerable<string> items) => "[" + string.Join(" ", items) + "]";

    /// <summary>The state of one stage as its instructions run.</summary>
    private sealed class StageState(Stage stage, StageArgs args)
    {
        public Stage Stage { get; } = stage;
        public StageArgs Args { get; } = args;
        public BuildImage? Image { get; set; }
        public ContainerConfig Config { get; set; } = new();
        public bool CmdSet { get; set; }
        public string? Author { get; set; }
        public int Slot { get; init; }
    }

    private sealed class BuildRun
    {
        private readonly DockerfileBuilder _builder;
        private readonly BuildContext _context;
        private readonly BuildOptions _options;
        private readonly CancellationTokenSource _cancel;
        private readonly OrderedOutput _output;
        private readonly ConcurrentDictionary<int, Task<StageState>> _stageTasks = new();
        private readonly Dictionary<int, int> _firstStep = [];
        private readonly string _platform;
        private DockerfilePlan _plan = null!;
        private BuildArgs _args = null!;
        private ShellLex _lex = null!;
        private int _totalSteps;
        private int _cacheHits;
        private int _stepsRun;

        public int CacheHits => _cacheHits;
        public int StepsRun => _stepsRun;

        public BuildRun(DockerfileBuilder builder, BuildContext context, BuildOptions options, Func<BuildMessage, ValueTask> sink, CancellationToken cancellationToken)
        {
            _builder = builder;
            _context = context;
            _options = options;
            _cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            _output = new OrderedOutput(sink);
            _platform = string.IsNullOrEmpty(options.Platform) ? HostPlatform() : options.Platform;
        }

        private IBuildBackend Backend => _builder.Backend;
        private CancellationToken Token => _cancel.Token;

        public Task FlushAsync() => _output.FlushAllAsync();

        public async Task<BuildResult> ExecuteAsync()
        {
            var tags = _options.Tags.Select(t => ImageReference.ParseDockerRef(t).FamiliarString()).ToList();
            var text = _options.DockerfileText ?? _context.ReadDockerfile(_options.Dockerfile);
            _plan = DockerfilePlan.Parse(text);
            _lex = new ShellLex(_plan.EscapeToken);
            _args = new BuildArgs(_options.BuildArgs, _platform);
            var targetIndex = BuildGraph.TargetIndex(_plan, _options.Target);

            foreach (var warning in _plan.Warnings) await _output.WriteAsync(-1, BuildMessage.Text($"[WARNING]: {warning}\n"));

            // Global ARGs: each default sees the ones before it.
            var step = 1;
            var needed = (IReadOnlyList<Stage>)[];
            var labelInstructions = _options.Labels.OrderBy(l => l.Key, StringComparer.Ordinal)
                .Select(l => (Instruction)new LabelInstruction { Line = 0, Text = $"LABEL {l.Key}={l.Value}", Pairs = [new KeyValue(l.Key, l.Value)] }).ToList();
            foreach (var meta in _plan.MetaArgs)
            {
                foreach (var arg in meta.Args)
                    _args.AddMeta(arg.Key, arg.Value is null ? null : _lex.ProcessWord(arg.Value, _args.MetaValues()));
            }
            needed = BuildGraph.NeededStages(_plan, targetIndex, word => _lex.ProcessWord(word, _args.MetaValues()));
            _totalSteps = _plan.MetaArgs.Count + needed.Sum(s => 1 + s.Commands.Count) + labelInstructions.Count;
            foreach (var meta in _plan.MetaArgs)
                await _output.WriteAsync(-1, BuildMessage.Text($"Step {step++}/{_totalSteps} : {meta.Text}\n"));
            _output.SetSlots(needed.Select(s => s.Index));
            foreach (var stage in needed)
            {
                _firstStep[stage.Index] = step;
                step += 1 + stage.Commands.Count;
            }

            foreach (var stage in needed)
            {
                var extra = stage.Index == targetIndex ? labelInstructions : [];
                _stageTasks[stage.Index] = Task.Run(() => RunStageAsync(stage, extra), Token);
            }
            try { await Task.WhenAll(_stageTasks.Values); }
            catch
            {
                // Report the first real failure in Dockerfile order (siblings were cancelled because of it).
                foreach (var stage in needed)
                {
                    var task = _stageTasks[stage.Index];
                    if (task.IsFaulted && task.Exception!.InnerException is not OperationCanceledException)
                        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(task.Exception.InnerException!);
                }
                throw;
            }
            var final = await _stageTasks[targetIndex];
            await _output.FlushAllAsync();

            if (final.Image is null) throw new BuildException("No image was generated. Is your Dockerfile empty?");
            var unused = _args.Unconsumed();
            if (unused.Count > 0)
                await _output.WriteAsync(-1, BuildMessage.Text($"[Warning] One or more build-args {GoList(unused)} were not consumed\n"));
            await _output.WriteAsync(-1, BuildMessage.Text($"Successfully built {ShortId(final.Image.Id)}\n"));
            foreach (var tag in tags)
            {
                await Backend.TagAsync(final.Image.Id, tag, Token);
                await _output.WriteAsync(-1, BuildMessage.Text($"Successfully tagged {tag}\n"));
            }
            return new BuildResult(final.Image.Id, tags, _stepsRun, _cacheHits, null);
        }

        private async Task<StageState> StageResultAsync(Stage stage)
        {
            if (_stageTasks.TryGetValue(stage.Index, out var task)) return await task;
            throw new BuildException($"stage {(stage.Name.Length > 0 ? stage.Name : stage.Index.ToString())} is referenced through a variable whose value is known only inside a stage; name the stage directly");
        }

        private ValueTask Out(StageState state, string text) => _output.WriteAsync(state.Slot, BuildMessage.Text(text));

        private async Task<StageState> RunStageAsync(Stage stage, IReadOnlyList<Instruction> extra)
        {
            var state = new StageState(stage, new StageArgs(_args)) { Slot = stage.Index };
            try
            {
                var step = _firstStep[stage.Index];
                await Out(state, $"Step {step++}/{_totalSteps} : {stage.Text}\n");
                await FromAsync(state);
                await Out(state, $" ---> {ShortId(state.Image?.Id)}\n");
                foreach (var instruction in stage.Commands.Concat(extra))
                {
                    Token.ThrowIfCancellationRequested();
                    await Out(state, $"Step {step++}/{_totalSteps} : {instruction.Text}\n");
                    await DispatchAsync(state, instruction);
                    await Out(state, $" ---> {ShortId(state.Image?.Id)}\n");
                }
                if (state.Image is not null) await _output.WriteAsync(state.Slot, BuildMessage.ImageId(state.Image.Id));
                return state;
            }
            catch
            {
                await _cancel.CancelAsync();
                throw;
            }
            finally
            {
                await _output.CompleteAsync(stage.Index);
            }
        }

        private async Task FromAsync(StageState state)
        {
            var stage = state.Stage;
            var baseName = _lex.ProcessWord(stage.BaseName, _args.MetaValues());
            if (baseName.Length == 0) throw new BuildException($"base name ({stage.BaseName}) should not be blank");
            var platform = stage.Platform.Length > 0 ? _lex.ProcessWord(stage.Platform, _args.MetaValues()) : null;
            if (BuildGraph.Find(_plan, baseName, stage.Index, allowIndex: false) is { } baseStage)
            {
                var source = await StageResultAsync(baseStage);
                state.Image = source.Image;
                state.Author = source.Author;
            }
            else if (!baseName.Equals("scratch", StringComparison.OrdinalIgnoreCase))
                state.Image = await Backend.GetImageAsync(baseName, _options.Pull, platform, m => _output.WriteAsync(state.Slot, m), Token);
            state.Config = state.Image?.Config.Config?.Clone() ?? new ContainerConfig();

            // ONBUILD triggers of the base run now, and are not inherited.
            var triggers = state.Config.OnBuild ?? [];
            state.Config.OnBuild = null;
            if (triggers.Count == 0) return;
            await Out(state, $"# Executing {triggers.Count} build trigger{(triggers.Count > 1 ? "s" : "")}\n");
            foreach (var trigger in triggers)
            {
                var ast = DockerfileParser.Parse(trigger);
                foreach (var node in ast.Instructions)
                {
                    var command = node.Command.ToUpperInvariant();
                    if (command == "ONBUILD") throw new BuildException("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
                    if (command is "MAINTAINER" or "FROM") throw new BuildException($"{command} isn't allowed as an ONBUILD trigger");
                    await DispatchAsync(state, InstructionParser.ParseInstruction(node));
                }
            }
        }

        /// <summary>The variables an instruction's words see: the stage's ENV, then ARGs that ENV does not override.</summary>
        private Dictionary<string, string> Environment(StageState state)
        {
            var env = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (key, value) in state.Args.Values(forCacheKey: false)) env[key] = value;
            foreach (var entry in state.Config.Env ?? [])
            {
                var eq = entry.IndexOf('=');
                if (eq > 0) env[entry[..eq]] = entry[(eq + 1)..];
                else env[entry] = "";
            }
            return env;
        }

        private string Expand(StageState state, string word) => _lex.ProcessWord(word, Environment(state));

        private IReadOnlyList<string> Shell(StageState state) => state.Config.Shell is { Count: > 0 } shell ? shell : DefaultShell;

        private string NopCreatedBy(StageState state, string comment) => string.Join(' ', Shell(state)) + " #(nop)  " + comment;

        private async Task DispatchAsync(StageState state, Instruction instruction)
        {
            Interlocked.Increment(ref _stepsRun);
            switch (instruction)
            {
                case EnvInstruction env:
                {
                    // Every word sees the variables as they were before this instruction, as in Docker.
                    var sb = new StringBuilder("ENV");
                    var vars = Environment(state);
                    foreach (var pair in env.Pairs)
                    {
                        var key = _lex.ProcessWord(pair.Key, vars);
                        var value = _lex.ProcessWord(pair.Value, vars);
                        SetEnv(state.Config, key, value);
                        sb.Append(' ').Append(key).Append('=').Append(value);
                    }
                    await CommitAsync(state, NopCreatedBy(state, sb.ToString()), null);
                    break;
                }
                case LabelInstruction label:
                {
                    var sb = new StringBuilder("LABEL");
                    var vars = Environment(state);
                    state.Config.Labels ??= new SortedDictionary<string, string>(StringComparer.Ordinal);
                    foreach (var pair in label.Pairs)
                    {
                        var key = label.Line == 0 ? pair.Key : _lex.ProcessWord(pair.Key, vars);
                        var value = label.Line == 0 ? pair.Value : _lex.ProcessWord(pair.Value, vars);
                        state.Config.Labels[key] = value;
                        sb.Append(' ').Append(key).Append('=').Append(value);
                    }
                    await CommitAsync(state, NopCreatedBy(state, sb.ToString()), null);
                    break;
                }
                case MaintainerInstruction maintainer:
                    state.Author = maintainer.Maintainer;
                    await CommitAsync(state, NopCreatedBy(state, "MAINTAINER " + maintainer.Maintainer), null);
                    break;
                case WorkdirInstruction workdir:
                    await WorkdirAsync(state, Expand(state, workdir.Path));
                    break;
                case UserInstruction user:
                {
                    var value = Expand(state, user.User);
                    state.Config.User = value;
                    await CommitAsync(state, NopCreatedBy(state, "USER " + value), null);
                    break;
                }
                case ExposeInstruction expose:
                {
                    var ports = new SortedSet<string>(StringComparer.Ordinal);
                    foreach (var raw in expose.Ports)
                        foreach (var port in PortSpecs.Parse(Expand(state, raw))) ports.Add(port);
                    state.Config.ExposedPorts ??= new SortedDictionary<string, EmptyObject>(StringComparer.Ordinal);
                    foreach (var port in ports) state.Config.ExposedPorts[port] = EmptyObject.Instance;
                    await CommitAsync(state, NopCreatedBy(state, "EXPOSE " + string.Join(' ', ports)), null);
                    break;
                }
                case VolumeInstruction volume:
                {
                    var volumes = volume.Volumes.Select(v => Expand(state, v)).ToList();
                    state.Config.Volumes ??= new SortedDictionary<string, EmptyObject>(StringComparer.Ordinal);
                    foreach (var v in volumes)
                    {
                        if (v.Trim().Length == 0) throw new BuildException("VOLUME specified can not be an empty string");
                        state.Config.Volumes[v] = EmptyObject.Instance;
                    }
                    await CommitAsync(state, NopCreatedBy(state, "VOLUME " + GoList(volumes)), null);
                    break;
                }
                case StopSignalInstruction stop:
                {
                    var signal = Expand(state, stop.Signal);
                    if (!Signals.IsValid(signal)) throw new BuildException($"Invalid signal: {signal}");
                    state.Config.StopSignal = signal;
                    await CommitAsync(state, NopCreatedBy(state, "STOPSIGNAL " + signal), null);
                    break;
                }
                case ShellInstruction shell:
                    state.Config.Shell = [.. shell.Shell];
                    await CommitAsync(state, NopCreatedBy(state, "SHELL " + GoList(shell.Shell)), null);
                    break;
                case CmdInstruction cmd:
                {
                    var line = CommandLine(state, cmd);
                    state.Config.Cmd = line;
                    state.Config.ArgsEscaped = cmd.PrependShell ? true : null;
                    if (cmd.CommandLine.Count > 0) state.CmdSet = true;
                    await CommitAsync(state, NopCreatedBy(state, "CMD " + GoQuoted(line ?? [])), null);
                    break;
                }
                case EntrypointInstruction entrypoint:
                {
                    var line = CommandLine(state, entrypoint);
                    state.Config.Entrypoint = line is { Count: > 0 } ? line : null;
                    state.Config.ArgsEscaped = entrypoint.PrependShell ? true : null;
                    if (!state.CmdSet) state.Config.Cmd = null;
                    await CommitAsync(state, NopCreatedBy(state, "ENTRYPOINT " + GoQuoted(line ?? [])), null);
                    break;
                }
                case HealthcheckInstruction health:
                {
                    state.Config.Healthcheck = new HealthcheckConfig
                    {
                        Test = [.. health.Test],
                        Interval = health.Interval == 0 ? null : health.Interval,
                        Timeout = health.Timeout == 0 ? null : health.Timeout,
                        StartPeriod = health.StartPeriod == 0 ? null : health.StartPeriod,
                        StartInterval = health.StartInterval == 0 ? null : health.StartInterval,
                        Retries = health.Retries == 0 ? null : health.Retries,
                    };
                    await CommitAsync(state, NopCreatedBy(state, $"HEALTHCHECK &{{{GoQuoted(health.Test)} {health.Interval} {health.Timeout} {health.StartPeriod} {health.StartInterval} {health.Retries}}}"), null);
                    break;
                }
                case ArgInstruction arg:
                {
                    var parts = new List<string>();
                    var vars = Environment(state);
                    foreach (var definition in arg.Args)
                    {
                        var value = definition.Value is null ? null : _lex.ProcessWord(definition.Value, vars);
                        state.Args.Declare(definition.Key, value);
                        parts.Add(value is null ? definition.Key : definition.Key + "=" + value);
                    }
                    await CommitAsync(state, NopCreatedBy(state, "ARG " + string.Join(' ', parts)), null);
                    break;
                }
                case OnbuildInstruction onbuild:
                    state.Config.OnBuild ??= [];
                    state.Config.OnBuild.Add(onbuild.Expression);
                    await CommitAsync(state, NopCreatedBy(state, "ONBUILD " + onbuild.Expression), null);
                    break;
                case RunInstruction runInstruction:
                    await RunAsync(state, runInstruction);
                    break;
                case CopyInstruction copy:
                    await CopyAsync(state, copy);
                    break;
                default:
                    throw new BuildException($"unsupported instruction: {instruction.Text}");
            }
        }

        private List<string>? CommandLine(StageState state, CommandLineInstruction instruction)
        {
            if (!instruction.PrependShell) return instruction.CommandLine.Count == 0 && instruction is EntrypointInstruction ? null : [.. instruction.CommandLine];
            return instruction.CommandLine.Count == 0 ? null : [.. Shell(state), .. instruction.CommandLine];
        }

        private static void SetEnv(ContainerConfig config, string key, string value)
        {
            config.Env ??= [];
            var entry = key + "=" + value;
            for (var i = 0; i < config.Env.Count; i++)
            {
                var existing = config.Env[i];
                var eq = existing.IndexOf('=');
                if ((eq < 0 ? existing : existing[..eq]) == key) { config.Env[i] = entry; return; }
            }
            config.Env.Add(entry);
        }

        /// <summary>Looks the step up in the cache; on a miss makes its layer (if any) and commits it.</summary>
        private async Task CommitAsync(StageState state, string createdBy, Func<Task<IBuildLayer?>>? makeLayer)
        {
            var configJson = ImageJson.Serialize(state.Config, ImageJsonContext.Default.ContainerConfig);
            var key = CacheKeys.Of(state.Image?.Id, createdBy + "\n" + state.Author, configJson);
            if (await ProbeAsync(state, key)) return;
            var layer = makeLayer is null ? null : await makeLayer();
            var image = await Backend.CommitAsync(new CommitRequest(state.Image, state.Config.Clone(), createdBy, layer)
            {
                Author = state.Author,
                Platform = state.Stage.Platform.Length > 0 ? _lex.ProcessWord(state.Stage.Platform, _args.MetaValues()) : _platform,
            }, Token);
            _builder.Cache.Put(key, image.Id);
            state.Image = image;
        }

        private async Task<bool> ProbeAsync(StageState state, string key)
        {
            if (_options.NoCache || _builder.Cache.Get(key) is not { } cachedId) return false;
            if (await Backend.FindImageAsync(cachedId, Token) is not { } cached) return false;
            await Out(state, " ---> Using cache\n");
            Interlocked.Increment(ref _cacheHits);
            state.Image = cached;
            return true;
        }

        private async Task WorkdirAsync(StageState state, string path)
        {
            var current = state.Config.WorkingDir is { Length: > 0 } w ? w : "/";
            var absolute = SlashPath.Clean(path.StartsWith('/') ? path : current + "/" + path);
            state.Config.WorkingDir = absolute;
            await CommitAsync(state, NopCreatedBy(state, "WORKDIR " + absolute), async () =>
            {
                await using var rootfs = await Backend.OpenRootfsAsync(state.Image?.Id, Token);
                if (Directory.Exists(ScopedPath.Resolve(rootfs.Path, absolute.TrimStart('/')))) return null;
                var entries = new List<LayerEntry>();
                var now = DateTimeOffset.UtcNow;
                for (var dir = absolute; dir != "/"; dir = FileCopier.ParentPath(dir))
                {
                    var existing = ScopedPath.Resolve(rootfs.Path, dir.TrimStart('/'));
                    if (Directory.Exists(existing))
                    {
                        var (uid, gid) = FileOwner.Get(existing);
                        entries.Add(new LayerEntry(dir, LayerEntryKind.Directory, (int)new DirectoryInfo(existing).UnixFileMode, uid, gid, new DirectoryInfo(existing).LastWriteTimeUtc));
                    }
                    else entries.Add(new LayerEntry(dir, LayerEntryKind.Directory, 0x1ED, 0, 0, now));
                }
                entries.Reverse();
                return await Backend.CreateLayerAsync(state.Image?.Id, entries, Token);
            });
        }

        private async Task RunAsync(StageState state, RunInstruction run)
        {
            if (state.Image is null && state.Stage.BaseName.Equals("scratch", StringComparison.OrdinalIgnoreCase) && run.PrependShell)
            {
                // Nothing to run a shell from: the backend reports the missing file as Docker would.
            }
            var args = RunArguments(state, run);
            var buildEnv = state.Args.Values(forCacheKey: false).Where(a => !HasEnv(state.Config, a.Key)).ToList();
            var keyEnv = state.Args.Values(forCacheKey: true).Where(a => !HasEnv(state.Config, a.Key)).Select(a => a.Key + "=" + a.Value).Order(StringComparer.Ordinal).ToList();
            var command = string.Join(' ', args);
            var createdBy = keyEnv.Count > 0 ? $"|{keyEnv.Count} {string.Join(' ', keyEnv)} {command}" : command;
            var network = run.Network != "default" ? run.Network : _options.NetworkMode;
            var mounts = new List<ResolvedMount>();
            var views = new List<IRootfsView>();
            try
            {
                await CommitAsync(state, createdBy + MountsKey(run, network), async () =>
                {
                    foreach (var raw in run.Mounts)
                    {
                        var mount = RunMount.Parse(raw, word => Expand(state, word));
                        string? host = null;
                        if (mount.Type == MountType.Bind)
                        {
                            var root = _context.Root;
                            if (mount.From.Length > 0)
                            {
                                var image = await SourceImageAsync(state, mount.From);
                                var view = await Backend.OpenRootfsAsync(image?.Id, Token);
                                views.Add(view);
                                root = view.Path;
                            }
                            host = ScopedPath.Resolve(root, mount.Source.TrimStart('/'));
                        }
                        mounts.Add(new ResolvedMount(mount, host));
                    }
                    var containerId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
                    var env = (state.Config.Env ?? []).Concat(buildEnv.Select(a => a.Key + "=" + a.Value)).ToList();
                    var outcome = await Backend.RunAsync(new RunRequest
                    {
                        ContainerId = containerId,
                        ImageId = state.Image?.Id,
                        Args = args,
                        Env = env,
                        User = state.Config.User ?? "",
                        WorkingDir = state.Config.WorkingDir is { Length: > 0 } wd ? wd : "/",
                        Network = network,
                        Mounts = mounts,
                        Created = id =>
                        {
                            containerId = id;
                            return Out(state, $" ---> Running in {ShortId(id)}\n");
                        },
                    }, chunk => _output.WriteAsync(state.Slot, BuildMessage.Text(Encoding.UTF8.GetString(chunk.Span))), Token);
                    if (outcome.ExitCode != 0)
                        throw new BuildException($"The command '{command}' returned a non-zero code: {outcome.ExitCode}", outcome.ExitCode);
                    await Out(state, $"Removing intermediate container {ShortId(containerId)}\n");
                    return outcome.Layer;
                });
            }
            finally
            {
                foreach (var view in views) await view.DisposeAsync();
            }
        }

        private static string MountsKey(RunInstruction run, string network)
            => (run.Mounts.Count > 0 ? " mounts=" + string.Join(';', run.Mounts) : "") + (network != "default" ? " network=" + network : "");

        private static bool HasEnv(ContainerConfig config, string key)
            => config.Env?.Any(e => e == key || e.StartsWith(key + "=", StringComparison.Ordinal)) == true;

        /// <summary>The command a RUN executes; heredocs as BuildKit turns them into a shell command.</summary>
        private List<string> RunArguments(StageState state, RunInstruction run)
        {
            var line = run.CommandLine.ToList();
            if (run.Files.Count > 0 && run.PrependShell && line.Count == 1)
            {
                if (DockerfileParser.ParseHeredoc(line[0]) is not null)
                    line = [run.Files[0].EffectiveContent];
                else
                {
                    var sb = new StringBuilder(line[0]);
                    foreach (var file in run.Files) sb.Append('\n').Append(file.Content).Append(file.Name);
                    line = [sb.ToString()];
                }
            }
            return run.PrependShell ? [.. Shell(state), .. line] : line;
        }

        /// <summary>The image a --from names: an earlier stage (name or index) or an image reference.</summary>
        private async Task<BuildImage?> SourceImageAsync(StageState state, string from)
        {
            if (BuildGraph.Find(_plan, from, state.Stage.Index, allowIndex: true) is { } stage)
                return (await StageResultAsync(stage)).Image;
            return await Backend.GetImageAsync(from, _options.Pull, null, m => _output.WriteAsync(state.Slot, m), Token);
        }

        private async Task CopyAsync(StageState state, CopyInstruction copy)
        {
            var name = copy.Name;
            var sources = copy.Sources.Select(s => Expand(state, s)).ToList();
            var destinationText = Expand(state, copy.Destination);
            var chown = copy.Chown.Length > 0 ? Expand(state, copy.Chown) : "";
            var chmodText = copy.Chmod.Length > 0 ? Expand(state, copy.Chmod) : "";
            int? chmod = null;
            if (chmodText.Length > 0)
            {
                try { chmod = Convert.ToInt32(chmodText, 8); }
                catch (Exception e) when (e is FormatException or OverflowException or ArgumentException) { throw new BuildException($"invalid chmod parameter: {chmodText}"); }
                if (chmod > 0xFFF) throw new BuildException($"invalid chmod parameter: {chmodText}");
            }
            if (copy.IsAdd && sources.Any(s => s.Contains("://", StringComparison.Ordinal)))
                throw new BuildException($"{name} failed: remote sources are not supported by this builder");
            var inline = copy.Contents.Select(c => c.Expand ? c with { Data = Expand(state, c.Data) } : c).ToList();

            IRootfsView? sourceView = null;
            try
            {
                SourceTree tree;
                var fromText = copy.From.Length > 0 ? Expand(state, copy.From) : "";
                if (fromText.Length > 0)
                {
                    var image = await SourceImageAsync(state, fromText);
                    sourceView = await Backend.OpenRootfsAsync(image?.Id, Token);
                    tree = new SourceTree(sourceView.Path, null);
                }
                else tree = new SourceTree(_context.Root, _context);

                var resolved = FileCopier.Resolve(tree, sources, name);
                var hash = FileCopier.HashSources(tree, resolved, inline);
                var workdir = state.Config.WorkingDir is { Length: > 0 } w ? w : "/";
                var (destination, isDirectory) = FileCopier.Destination(workdir, destinationText);
                var flags = (fromText.Length > 0 ? $"--from={fromText} " : "") + (chown.Length > 0 ? $"--chown={chown} " : "") + (chmodText.Length > 0 ? $"--chmod={chmodText} " : "");
                var createdBy = string.Join(' ', Shell(state)) + $" #(nop) {name} {flags}{hash} in {destinationText} ";
                await CommitAsync(state, createdBy, async () =>
                {
                    await using var rootfs = await Backend.OpenRootfsAsync(state.Image?.Id, Token);
                    var owner = chown.Length > 0 ? Ownership.Resolve(chown, rootfs.Path) : (0, 0);
                    var scratch = Path.Combine(_options.ScratchDirectory, "berth-build-" + Guid.NewGuid().ToString("N"));
                    try
                    {
                        var entries = FileCopier.Plan(tree, resolved, inline, destination, isDirectory, rootfs.Path, owner, chmod, copy.IsAdd && fromText.Length == 0, scratch, name);
                        return await Backend.CreateLayerAsync(state.Image?.Id, entries, Token);
                    }
                    finally
                    {
                        if (Directory.Exists(scratch)) Directory.Delete(scratch, recursive: true);
                    }
                });
            }
            finally
            {
                if (sourceView is not null) await sourceView.DisposeAsync();
            }
        }
    }
}
