// berth: the CLI host. All behaviour lives in Berth.Cli.
var cli = new Berth.Cli.BerthCli(new Berth.Cli.DeferredWriter(() => Console.Out), new Berth.Cli.DeferredWriter(() => Console.Error), Environment.GetEnvironmentVariable);
var command = cli.RunAsync(args);
// The main thread sleeps until the command is done. An async Main's GetResult would first spin in sched_yield (Task.Wait's
// spin-then-block), on the 2 cores the daemon, the shim and the container are working on while the CLI waits.
if (!command.IsCompleted) ((IAsyncResult)command).AsyncWaitHandle.WaitOne();
return command.GetAwaiter().GetResult();
