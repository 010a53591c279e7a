using Berth.Engine.Containers;
using Berth.Engine.Models;

namespace Berth.Engine.Tests.Containers;

public sealed class ContainerServiceTests : IDisposable
{
    private readonly EngineHarness h = new();
    public void Dispose() => h.Dispose();
    private static readonly CancellationToken None = CancellationToken.None;

    private static Task<T> Within<T>(Task<T> task) => task.WaitAsync(TimeSpan.FromSeconds(10));

    [Fact]
    public async Task Create_merges_the_image_config_and_inspect_shows_dockers_shape()
    {
        var created = await h.CreateAsync("web", "app", configure: r => r.Labels = new() { ["owner"] = "me" });
        Assert.Matches("^[0-9a-f]{64}$", created.Id);
        var inspect = await h.Service.InspectAsync("web", false, None);
        Assert.Equal("/web", inspect.Name);
        Assert.Equal("/app", inspect.Path);
        Assert.Equal(["--serve"], inspect.Args);
        Assert.Equal("created", inspect.State.Status);
        Assert.False(inspect.State.Running);
        Assert.Equal(DockerTime.Zero, inspect.State.StartedAt);
        Assert.Equal(created.Id[..12], inspect.Config.Hostname);
        Assert.Equal("web", inspect.Config.Labels!["tier"]);
        Assert.Equal("me", inspect.Config.Labels!["owner"]);
        Assert.Equal("SIGINT", inspect.Config.StopSignal);
        Assert.Equal("app", inspect.Config.Image);
        Assert.StartsWith("sha256:", inspect.Image);
        Assert.Equal("no", inspect.HostConfig.RestartPolicy!.Name);
        Assert.Equal("json-file", inspect.HostConfig.LogConfig!.Type);
        Assert.EndsWith(created.Id + "-json.log", inspect.LogPath);
        Assert.Equal(["create"], h.Actions(created.Id));
    }

    [Fact]
    public async Task Create_gives_generated_names_and_refuses_a_name_in_use()
    {
        var first = await h.CreateAsync("taken");
        var error = await Assert.ThrowsAsync<ConflictException>(() => h.CreateAsync("taken"));
        Assert.Equal($"Conflict. The container name \"/taken\" is already in use by container \"{first.Id}\". You have to remove (or rename) that container to be able to reuse that name.", error.Message);
        var generated = await h.Service.InspectAsync((await h.CreateAsync()).Id, false, None);
        Assert.Matches("^/[a-z]+_[a-z]+$", generated.Name);
        Assert.Single(h.Service.Store.All(), c => c.Name == "/taken");
    }

    [Fact]
    public async Task Bad_input_leaves_nothing_behind()
    {
        await Assert.ThrowsAsync<NotFoundException>(() => h.CreateAsync("xx", "nosuch"));
        await Assert.ThrowsAsync<InvalidParameterException>(() => h.CreateAsync("xx", configure: r => r.HostConfig!.Memory = 1));
        await Assert.ThrowsAsync<InvalidParameterException>(() => h.CreateAsync("xx", configure: r => r.HostConfig!.RestartPolicy = new RestartPolicy { Name = "sometimes" }));
        await Assert.ThrowsAsync<InvalidParameterException>(() => h.CreateAsync("xx", configure: r => { r.HostConfig!.AutoRemove = true; r.HostConfig.RestartPolicy = new RestartPolicy { Name = "always" }; }));
        await Assert.ThrowsAsync<InvalidParameterException>(() => h.CreateAsync("bad name!"));
        var empty = new Berth.Oci.Image.ImageConfig { Config = new Berth.Oci.Image.ContainerConfig() };
        h.Images.Add("nocmd:latest", empty);
        var noCommand = await Assert.ThrowsAsync<InvalidParameterException>(() => h.CreateAsync("xx", "nocmd"));
        Assert.Equal("no command specified", noCommand.Message);
        Assert.Empty(h.Service.Store.All());
        Assert.Empty(h.Storage.Layers.ListContainerLayers());
        Assert.Empty(Directory.EnumerateDirectories(h.Service.Store.Root));
        await h.CreateAsync("xx"); // the name was not kept by the failures
    }

    [Fact]
    public async Task Lookup_by_id_name_and_unique_prefix()
    {
        var a = await h.CreateAsync("alpha");
        Assert.Equal(a.Id, h.Service.Store.Get(a.Id).Id);
        Assert.Equal(a.Id, h.Service.Store.Get("alpha").Id);
        Assert.Equal(a.Id, h.Service.Store.Get("/alpha").Id);
        Assert.Equal(a.Id, h.Service.Store.Get(a.Id[..5]).Id);
        var missing = Assert.Throws<NotFoundException>(() => h.Service.Store.Get("nothere"));
        Assert.Equal("No such container: nothere", missing.Message);
        // Ambiguity: make containers until two share a first hex digit.
        var ids = new List<string> { a.Id };
        while (ids.GroupBy(i => i[0]).All(g => g.Count() < 2)) ids.Add((await h.CreateAsync()).Id);
        var shared = ids.GroupBy(i => i[0]).First(g => g.Count() > 1).Key.ToString();
        var ambiguous = Assert.Throws<InvalidParameterException>(() => h.Service.Store.Get(shared));
        Assert.Equal($"Multiple IDs found with provided prefix: {shared}", ambiguous.Message);
    }

    [Fact]
    public async Task State_persists_across_a_reload()
    {
        var a = await h.CreateAsync("keep", configure: r => r.Env = ["A=1"]);
        await h.Service.RenameAsync("keep", "kept", None);
        await h.RestartDaemonAsync();
        var inspect = await h.Service.InspectAsync("kept", false, None);
        Assert.Equal(a.Id, inspect.Id);
        Assert.Contains("A=1", inspect.Config.Env!);
        Assert.Contains("PATH=/bin", inspect.Config.Env!);
        await Assert.ThrowsAsync<NotFoundException>(() => h.Service.InspectAsync("keep", false, None));
    }

    [Fact]
    public async Task Start_runs_through_the_supervisor_and_an_exit_is_recorded()
    {
        var a = await h.CreateAsync("run", cmd: ["echo", "hi"]);
        await h.Service.StartAsync("run", None);
        var fake = h.Supervisor.Last(a.Id);
        Assert.True(fake.Started);
        Assert.True(File.Exists(Path.Combine(fake.Request.BundleDirectory, "config.json")));
        var running = await h.Service.InspectAsync("run", false, None);
        Assert.Equal("running", running.State.Status);
        Assert.Equal(fake.Pid, running.State.Pid);
        await Assert.ThrowsAsync<NotModifiedException>(() => h.Service.StartAsync("run", None));

        var waiting = await h.Service.WaitAsync("run", WaitCondition.NotRunning, None);
        Assert.False(waiting.IsCompleted);
        fake.Exit(3);
        Assert.Equal(3, (await Within(waiting)).StatusCode);
        var exited = await h.Service.InspectAsync("run", false, None);
        Assert.Equal("exited", exited.State.Status);
        Assert.Equal(3, exited.State.ExitCode);
        Assert.Equal(0, exited.State.Pid);
        Assert.NotEqual(DockerTime.Zero, exited.State.FinishedAt);
        Assert.Contains("delete", fake.Calls);
        Assert.Equal(["create", "start", "die"], h.Actions(a.Id));
        var list = await h.Service.ListAsync(new ContainerListOptions(true, -1, false, Filters.None), None);
        Assert.Matches(@"^Exited \(3\) (Less than a second|\d+ seconds?) ago$", list.Single().Status);
    }

    [Fact]
    public async Task Stop_sends_the_stop_signal_then_sigkill_after_the_timeout()
    {
        h.Supervisor.DieOnTerm = false;
        var a = await h.CreateAsync("stubborn");
        await h.Service.StartAsync(a.Id, None);
        await h.Service.StopAsync(a.Id, 1, null, None);
        var fake = h.Supervisor.Last(a.Id);
        Assert.Equal(["signal 15", "signal 9"], fake.Calls.Where(c => c.StartsWith("signal", StringComparison.Ordinal)));
        Assert.Equal(137, (await h.Service.InspectAsync(a.Id, false, None)).State.ExitCode);
        Assert.Equal(["create", "start", "kill", "kill", "die", "stop"], h.Actions(a.Id));
        await Assert.ThrowsAsync<NotModifiedException>(() => h.Service.StopAsync(a.Id, 1, null, None));
    }

    [Fact]
    public async Task A_kill_event_comes_before_the_die_it_causes()
    {
        h.Supervisor.SignalReturnsLate = true; // each death is handled before the signal call returns
        var killed = await h.CreateAsync("killed");
        await h.Service.StartAsync(killed.Id, None);
        await h.Service.KillAsync(killed.Id, null, None);
        var stopped = await h.CreateAsync("stopped");
        await h.Service.StartAsync(stopped.Id, None);
        await h.Service.StopAsync(stopped.Id, 10, null, None);
        var removed = await h.CreateAsync("removed");
        await h.Service.StartAsync(removed.Id, None);
        await h.Service.RemoveAsync(removed.Id, force: true, removeVolumes: false, removeLink: false, None);
        Assert.Equal(["create", "start", "kill", "die"], h.Actions(killed.Id));
        Assert.Equal(["create", "start", "kill", "die", "stop"], h.Actions(stopped.Id));
        Assert.Equal(["create", "start", "kill", "die", "destroy"], h.Actions(removed.Id));
    }

    [Fact]
    public async Task Stop_uses_the_containers_stop_signal()
    {
        var a = await h.CreateAsync("app", "app");
        await h.Service.StartAsync(a.Id, None);
        h.Supervisor.DieOnTerm = false;
        var stopping = h.Service.StopAsync(a.Id, 30, null, None);
        var fake = h.Supervisor.Last(a.Id);
        await Task.Delay(50);
        Assert.Contains("signal 2", fake.Calls);
        fake.Exit(0);
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.DoesNotContain("signal 9", fake.Calls);
    }

    [Fact]
    public async Task Kill_parses_signal_names_and_numbers()
    {
        var a = await h.CreateAsync("kz");
        await Assert.ThrowsAsync<ConflictException>(() => h.Service.KillAsync(a.Id, null, None));
        await h.Service.StartAsync(a.Id, None);
        var bad = await Assert.ThrowsAsync<InvalidParameterException>(() => h.Service.KillAsync(a.Id, "SIGNOPE", None));
        Assert.Equal("Invalid signal: SIGNOPE", bad.Message);
        await h.Service.KillAsync(a.Id, "usr1", None);
        await h.Service.KillAsync(a.Id, "SIGHUP", None);
        await h.Service.KillAsync(a.Id, "12", None);
        await h.Service.KillAsync(a.Id, null, None);
        Assert.Equal(["signal 10", "signal 1", "signal 12", "signal 9"], h.Supervisor.Last(a.Id).Calls.Where(c => c.StartsWith("signal", StringComparison.Ordinal)));
        Assert.Equal("exited", (await h.Service.InspectAsync(a.Id, false, None)).State.Status);
    }

    [Fact]
    public async Task Remove_refuses_a_running_container_without_force_and_cleans_everything_with_it()
    {
        var a = await h.CreateAsync("gone");
        await h.Service.StartAsync(a.Id, None);
        var refused = await Assert.ThrowsAsync<ConflictException>(() => h.Service.RemoveAsync("gone", false, false, false, None));
        Assert.Equal("cannot remove container \"/gone\": container is running: stop the container before removing or force remove", refused.Message);
        var removed = await h.Service.WaitAsync("gone", WaitCondition.Removed, None);
        await h.Service.RemoveAsync("gone", true, false, false, None);
        Assert.Equal(137, (await Within(removed)).StatusCode);
        Assert.Empty(h.Service.Store.All());
        Assert.Empty(h.Storage.Layers.ListContainerLayers());
        Assert.False(Directory.Exists(Path.Combine(h.Service.Store.Root, a.Id)));
        Assert.Equal("destroy", h.Actions(a.Id).Last());
        await Assert.ThrowsAsync<NotFoundException>(() => h.CreateAsync("gone").ContinueWith(_ => h.Service.InspectAsync("nothing", false, None)).Unwrap());
    }

    [Fact]
    public async Task AutoRemove_removes_the_container_after_it_exits()
    {
        var a = await h.CreateAsync("rm", configure: r => r.HostConfig!.AutoRemove = true);
        var removed = await h.Service.WaitAsync(a.Id, WaitCondition.Removed, None);
        await h.Service.StartAsync(a.Id, None);
        h.Supervisor.Last(a.Id).Exit(0);
        Assert.Equal(0, (await Within(removed)).StatusCode);
        Assert.Null(h.Service.Store.TryGet(a.Id));
        Assert.Equal(["create", "start", "die", "destroy"], h.Actions(a.Id));
    }

    [Fact]
    public async Task Create_writes_the_record_once_with_the_networks_the_network_room_gave()
    {
        var writes = new List<string>();
        h.Service.Store.RecordWritten = c => { lock (writes) writes.Add(c.Id); };
        var request = new ContainerCreateRequest { Image = "busybox", HostConfig = new HostConfig { NetworkMode = "none" } };
        var created = await h.Service.CreateAsync("once", null, request, new() { ["none"] = new EndpointSettings { NetworkID = "n1" } }, None);
        Assert.Equal([created.Id], writes);
        // What was written is the whole record, networks included: a daemon restart reads them back.
        await h.RestartDaemonAsync();
        var inspect = await h.Service.InspectAsync("once", false, None);
        Assert.Equal("n1", inspect.NetworkSettings.Networks!["none"].NetworkID);
    }

    [Fact]
    public async Task A_record_written_again_replaces_the_old_one_and_leaves_no_temp_file()
    {
        var a = await h.CreateAsync("saved");
        var directory = Path.Combine(h.Service.Store.Root, a.Id);
        await h.Service.StartAsync(a.Id, None); // writes the record over the one create wrote
        Assert.Contains("\"Running\":true", File.ReadAllText(Path.Combine(directory, ContainerStore.RecordFile)));
        h.Service.Store.Save(h.Service.Store.Get(a.Id));
        Assert.Equal([ContainerStore.RecordFile], Directory.EnumerateFiles(directory, ContainerStore.RecordFile + "*").Select(Path.GetFileName));
        await h.RestartDaemonAsync();
        Assert.Equal(a.Id, h.Service.Store.Get("saved").Id);
    }

    [Fact]
    public async Task An_autoremove_containers_layer_is_volatile_and_an_ordinary_ones_durable()
    {
        var rm = await h.CreateAsync("rm", configure: r => r.HostConfig!.AutoRemove = true);
        var kept = await h.CreateAsync("kept");
        Assert.Equal(Berth.Storage.Durability.Volatile, h.Layers.Created[rm.Id]);
        Assert.Equal(Berth.Storage.Durability.Durable, h.Layers.Created[kept.Id]);
    }

    [Fact]
    public async Task AutoRemove_deletes_the_storage_beside_the_runtimes_delete_and_releases_the_name_after_it()
    {
        var a = await h.CreateAsync("rm", configure: r => r.HostConfig!.AutoRemove = true);
        var removed = await h.Service.WaitAsync(a.Id, WaitCondition.Removed, None);
        var writes = 0;
        await h.Service.StartAsync(a.Id, None);
        h.Service.Store.RecordWritten = _ => Interlocked.Increment(ref writes);
        var fake = h.Supervisor.Last(a.Id);
        fake.HoldDelete = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        fake.Exit(0);
        var directory = Path.Combine(h.Service.Store.Root, a.Id);
        // While the runtime's delete runs, the layer and the directory go; the name and the record stay.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while ((Directory.Exists(directory) || h.Storage.Layers.GetContainerLayer(a.Id) is not null) && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.False(Directory.Exists(directory));
        Assert.Null(h.Storage.Layers.GetContainerLayer(a.Id));
        Assert.Equal(a.Id, h.Service.Store.Get("rm").Id);
        Assert.False(removed.IsCompleted);
        var conflict = await Assert.ThrowsAsync<ConflictException>(() => h.Service.RemoveAsync("rm", true, false, false, None));
        Assert.Contains("already in progress", conflict.Message);

        fake.HoldDelete.SetResult();
        Assert.Equal(0, (await Within(removed)).StatusCode);
        Assert.Null(h.Service.Store.TryGet("rm"));
        Assert.Equal(0, writes); // a record about to be removed is not written again
        Assert.Equal(["create", "start", "die", "destroy"], h.Actions(a.Id));
        await h.CreateAsync("rm"); // the name is free again
    }

    [Fact]
    public async Task Attach_before_start_receives_the_output_from_the_beginning()
    {
        var a = await h.CreateAsync("att");
        var session = await h.Service.AttachAsync(a.Id, new AttachOptions(false, true, true, true, false, null), None);
        await h.Service.StartAsync(a.Id, None);
        var fake = h.Supervisor.Last(a.Id);
        fake.Output.Writer.TryWrite(new OutputChunk(StdStream.Stdout, "hi\n"u8.ToArray()));
        fake.Exit(0);
        var text = new List<string>();
        await foreach (var chunk in session.Output) text.Add(System.Text.Encoding.UTF8.GetString(chunk.Data.Span));
        Assert.Equal(["hi\n"], text);
        Assert.True(fake.Calls.IndexOf("attach") < fake.Calls.IndexOf("start"));
    }

    [Fact]
    public async Task Failed_start_records_the_error_and_maps_a_missing_executable_to_127()
    {
        var a = await h.CreateAsync("broken", cmd: ["nosuch"]);
        h.Supervisor.FailCreate = "exec: \"nosuch\": executable file not found in $PATH";
        var error = await Assert.ThrowsAsync<InvalidParameterException>(() => h.Service.StartAsync(a.Id, None));
        Assert.Contains("executable file not found", error.Message);
        var inspect = await h.Service.InspectAsync(a.Id, false, None);
        Assert.Equal(127, inspect.State.ExitCode);
        Assert.Contains("executable file not found", inspect.State.Error);
        Assert.False(inspect.State.Running);
    }

    [Fact]
    public async Task Pause_and_unpause_follow_dockers_rules()
    {
        var a = await h.CreateAsync("pz");
        await Assert.ThrowsAsync<ConflictException>(() => h.Service.PauseAsync(a.Id, None));
        await h.Service.StartAsync(a.Id, None);
        await h.Service.PauseAsync(a.Id, None);
        Assert.Equal("paused", (await h.Service.InspectAsync(a.Id, false, None)).State.Status);
        var again = await Assert.ThrowsAsync<ConflictException>(() => h.Service.PauseAsync(a.Id, None));
        Assert.Equal($"Container {a.Id} is already paused", again.Message);
        await Assert.ThrowsAsync<ConflictException>(() => h.Service.StartAsync(a.Id, None));
        await h.Service.UnpauseAsync(a.Id, None);
        Assert.Equal("running", (await h.Service.InspectAsync(a.Id, false, None)).State.Status);
        Assert.Equal(["pause", "resume"], h.Supervisor.Last(a.Id).Calls.Where(c => c is "pause" or "resume"));
    }

    [Fact]
    public async Task On_failure_restarts_with_backoff_up_to_its_count()
    {
        var a = await h.CreateAsync("flaky", configure: r => r.HostConfig!.RestartPolicy = new RestartPolicy { Name = "on-failure", MaximumRetryCount = 2 });
        await h.Service.StartAsync(a.Id, None);
        var gone = await h.Service.WaitAsync(a.Id, WaitCondition.NotRunning, None);
        for (var run = 0; run < 3; run++)
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (h.Supervisor.Created.Count(c => c.ContainerId == a.Id) <= run || !h.Supervisor.Last(a.Id).Started)
            {
                Assert.True(DateTime.UtcNow < deadline, $"run {run} never started");
                await Task.Delay(20);
            }
            h.Supervisor.Last(a.Id).Exit(1);
        }
        Assert.Equal(1, (await Within(gone)).StatusCode);
        var inspect = await h.Service.InspectAsync(a.Id, false, None);
        Assert.Equal(2, inspect.RestartCount);
        Assert.Equal("exited", inspect.State.Status);
        Assert.Equal(3, h.Supervisor.Created.Count(c => c.ContainerId == a.Id));
    }

    [Fact]
    public async Task Stop_cancels_the_restart_policy()
    {
        var a = await h.CreateAsync("always", configure: r => r.HostConfig!.RestartPolicy = new RestartPolicy { Name = "always" });
        await h.Service.StartAsync(a.Id, None);
        await h.Service.StopAsync(a.Id, 1, null, None);
        await Task.Delay(300);
        Assert.Single(h.Supervisor.Created, c => c.ContainerId == a.Id);
        Assert.Equal("exited", (await h.Service.InspectAsync(a.Id, false, None)).State.Status);
    }

    [Fact]
    public async Task Live_restore_reattaches_and_a_dead_shim_gives_its_recorded_exit()
    {
        h.LiveRestore = true;
        var live = await h.CreateAsync("live");
        var dead = await h.CreateAsync("dead");
        await h.RestartDaemonAsync(); // the harness now opens with live restore
        await h.Service.StartAsync("live", None);
        await h.Service.StartAsync("dead", None);
        var deadFake = h.Supervisor.Last(dead.Id);
        await h.Service.ShutdownAsync(None);
        // The dead container's shim went away while the daemon was down, leaving its exit.
        lock (h.Supervisor.Created) h.Supervisor.Live.Remove(dead.Id);
        h.Supervisor.RecordedExits[dead.Id] = new Supervision.ProcessExit(42, DateTimeOffset.UtcNow, true);
        Assert.DoesNotContain(h.Supervisor.Last(live.Id).Calls, c => c.StartsWith("signal", StringComparison.Ordinal));
        (h.Service, h.Exec) = h.Open();
        await h.Service.RestoreAsync(None);

        var liveState = (await h.Service.InspectAsync("live", false, None)).State;
        Assert.Equal("running", liveState.Status);
        Assert.Contains("reattach", h.Supervisor.Last(live.Id).Calls);
        var deadState = (await h.Service.InspectAsync("dead", false, None)).State;
        Assert.Equal("exited", deadState.Status);
        Assert.Equal(42, deadState.ExitCode);
        Assert.True(deadState.OOMKilled);
        Assert.Same(deadFake, h.Supervisor.Last(dead.Id));
        // Still under control: stop works on the reattached one.
        await h.Service.StopAsync("live", 1, null, None);
        Assert.Equal("exited", (await h.Service.InspectAsync("live", false, None)).State.Status);
    }

    [Fact]
    public async Task Without_live_restore_shutdown_stops_containers()
    {
        var a = await h.CreateAsync("stopme", configure: r => r.HostConfig!.RestartPolicy = new RestartPolicy { Name = "unless-stopped" });
        await h.Service.StartAsync(a.Id, None);
        await h.Service.ShutdownAsync(None);
        Assert.Contains("signal 15", h.Supervisor.Last(a.Id).Calls);
        (h.Service, h.Exec) = h.Open();
        await h.Service.RestoreAsync(None);
        // unless-stopped: the daemon's stop was not the user's, so it comes back.
        Assert.Equal(2, h.Supervisor.Created.Count(c => c.ContainerId == a.Id));
        Assert.Equal("running", (await h.Service.InspectAsync(a.Id, false, None)).State.Status);
        await h.Service.RemoveAsync(a.Id, true, false, false, None);
    }

    [Fact]
    public async Task List_filters_as_docker_ps()
    {
        var web = await h.CreateAsync("web1", "app");
        var job = await h.CreateAsync("job1", configure: r => r.Labels = new() { ["kind"] = "batch" });
        await h.Service.StartAsync(web.Id, None);
        await h.Service.StartAsync(job.Id, None);
        h.Supervisor.Last(job.Id).Exit(2);
        await (await h.Service.WaitAsync(job.Id, WaitCondition.NotRunning, None));
        var created = await h.CreateAsync("idle");

        async Task<List<string>> Names(bool all, params (string, string)[] filters)
        {
            var values = filters.GroupBy(f => f.Item1).ToDictionary(g => g.Key, g => g.Select(f => f.Item2).ToList());
            var list = await h.Service.ListAsync(new ContainerListOptions(all, -1, false, new Filters(values)), None);
            return [.. list.Select(s => s.Names[0])];
        }
        Assert.Equal(["/web1"], await Names(false));
        Assert.Equal(["/idle", "/job1", "/web1"], await Names(true));
        Assert.Equal(["/job1"], await Names(false, ("status", "exited")));
        Assert.Equal(["/idle"], await Names(false, ("status", "created")));
        Assert.Equal(["/job1"], await Names(true, ("exited", "2")));
        Assert.Empty(await Names(true, ("exited", "0")));
        Assert.Equal(["/job1"], await Names(true, ("label", "kind=batch")));
        Assert.Equal(["/web1"], await Names(true, ("label", "tier")));
        Assert.Equal(["/web1"], await Names(true, ("ancestor", "app")));
        Assert.Equal(["/job1", "/web1"], await Names(true, ("name", "1$")));
        Assert.Equal(["/web1"], await Names(true, ("id", web.Id[..10])));
        Assert.Equal(["/web1"], await Names(true, ("before", "job1")));
        Assert.Equal(["/idle"], await Names(true, ("since", "job1")));
        Assert.Equal(["/idle", "/job1", "/web1"], await Names(true, ("health", "none")));
        var bad = await Assert.ThrowsAsync<InvalidParameterException>(() => Names(true, ("colour", "red")));
        Assert.Equal("invalid filter 'colour'", bad.Message);
        await Assert.ThrowsAsync<InvalidParameterException>(() => Names(true, ("status", "asleep")));
        var limited = await h.Service.ListAsync(new ContainerListOptions(false, 1, false, Filters.None), None);
        Assert.Equal("/idle", limited.Single().Names[0]);
        var summary = (await h.Service.ListAsync(new ContainerListOptions(false, -1, false, Filters.None), None)).Single();
        Assert.Equal("/app --serve", summary.Command);
        Assert.Equal("running", summary.State);
        Assert.StartsWith("Up ", summary.Status);
        await h.Service.RemoveAsync(web.Id, true, false, false, None);
        _ = created;
    }

    [Fact]
    public async Task Rename_and_update()
    {
        var a = await h.CreateAsync("old");
        await h.CreateAsync("other");
        await Assert.ThrowsAsync<ConflictException>(() => h.Service.RenameAsync("old", "other", None));
        await h.Service.RenameAsync("old", "new", None);
        Assert.Equal("/new", (await h.Service.InspectAsync(a.Id, false, None)).Name);
        Assert.Contains("rename", h.Actions(a.Id));
        await h.Service.StartAsync(a.Id, None);
        await h.Service.UpdateAsync(a.Id, new ContainerUpdateRequest { Memory = 64 << 20, RestartPolicy = new RestartPolicy { Name = "always" } }, None);
        var inspect = await h.Service.InspectAsync(a.Id, false, None);
        Assert.Equal(64 << 20, inspect.HostConfig.Memory);
        Assert.Equal("always", inspect.HostConfig.RestartPolicy!.Name);
        Assert.Contains($"update memory={64 << 20}", h.Supervisor.Last(a.Id).Calls);
        await h.Service.RemoveAsync(a.Id, true, false, false, None);
    }

    [Fact]
    public async Task Prune_removes_stopped_containers_only()
    {
        var run = await h.CreateAsync("running");
        await h.Service.StartAsync(run.Id, None);
        var stopped = await h.CreateAsync("stopped");
        var pruned = await h.Service.PruneAsync(Filters.None, None);
        Assert.Equal([stopped.Id], pruned.ContainersDeleted);
        Assert.NotNull(h.Service.Store.TryGet(run.Id));
        await h.Service.RemoveAsync(run.Id, true, false, false, None);
    }

    [Fact]
    public async Task Exec_runs_in_the_container_with_its_environment_and_reports_its_exit()
    {
        var a = await h.CreateAsync("ex", configure: r => r.Env = ["A=1"]);
        await Assert.ThrowsAsync<ConflictException>(() => h.Exec.CreateAsync(a.Id, new ExecConfig { Cmd = ["true"] }, None));
        await h.Service.StartAsync(a.Id, None);
        var fake = h.Supervisor.Last(a.Id);
        fake.ExecBehaviour = p => (p.Args![0] == "false" ? 1 : 0, "out\n");
        var id = (await h.Exec.CreateAsync("ex", new ExecConfig { Cmd = ["false"], Env = ["A=2", "B=3"], AttachStdout = true }, None)).Id;
        var session = await h.Exec.StartAsync(id, new ExecStartConfig(), None);
        Assert.NotNull(session);
        await foreach (var _ in session!.Output) { }
        var deadline = DateTime.UtcNow.AddSeconds(5);
        ExecInspect inspect;
        while ((inspect = await h.Exec.InspectAsync(id, None)).Running || inspect.ExitCode is null)
        {
            Assert.True(DateTime.UtcNow < deadline);
            await Task.Delay(10);
        }
        Assert.Equal(1, inspect.ExitCode);
        Assert.Equal("false", inspect.ProcessConfig.Entrypoint);
        var env = fake.Execs.Single().Env!;
        Assert.Contains("A=2", env);
        Assert.Contains("B=3", env);
        Assert.DoesNotContain("A=1", env);
        await Assert.ThrowsAsync<ConflictException>(() => h.Exec.StartAsync(id, new ExecStartConfig(), None));
        await Assert.ThrowsAsync<NotFoundException>(() => h.Exec.InspectAsync("nope", None));
        var actions = h.Actions(a.Id);
        Assert.Contains("exec_create: false", actions);
        Assert.Contains("exec_start: false", actions);
        Assert.Contains("exec_die", actions);
        await h.Service.RemoveAsync(a.Id, true, false, false, None);
    }

    [Fact]
    public async Task Health_checks_run_through_exec_and_report_status_events()
    {
        var a = await h.CreateAsync("hc", configure: r => r.Healthcheck = new HealthConfig { Test = ["CMD-SHELL", "probe"], Interval = 20_000_000, Retries = 2 });
        await h.Service.StartAsync(a.Id, None);
        var fake = h.Supervisor.Last(a.Id);
        var healthy = true;
        fake.ExecBehaviour = _ => (healthy ? 0 : 1, healthy ? "ok" : "bad");
        Assert.Equal("starting", (await h.Service.InspectAsync(a.Id, false, None)).State.Health!.Status);
        async Task WaitFor(string status)
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while ((await h.Service.InspectAsync(a.Id, false, None)).State.Health!.Status != status)
            {
                Assert.True(DateTime.UtcNow < deadline, "never " + status);
                await Task.Delay(10);
            }
        }
        await WaitFor("healthy");
        healthy = false;
        await WaitFor("unhealthy");
        var health = (await h.Service.InspectAsync(a.Id, false, None)).State.Health!;
        Assert.InRange(health.Log!.Count, 1, 5);
        Assert.Equal("bad", health.Log[^1].Output);
        Assert.Equal(["/bin/sh", "-c", "probe"], fake.Execs[0].Args);
        // The event follows the state change: wait for it rather than race it.
        var eventDeadline = DateTime.UtcNow.AddSeconds(10);
        while (!h.Actions(a.Id).Contains("health_status: unhealthy") && DateTime.UtcNow < eventDeadline) await Task.Delay(10);
        var actions = h.Actions(a.Id);
        Assert.Contains("health_status: healthy", actions);
        Assert.Contains("health_status: unhealthy", actions);
        var list = await h.Service.ListAsync(new ContainerListOptions(false, -1, false, new Filters(new Dictionary<string, List<string>> { ["health"] = ["unhealthy"] })), None);
        Assert.EndsWith("(unhealthy)", list.Single().Status);
        await h.Service.RemoveAsync(a.Id, true, false, false, None);
    }
}
