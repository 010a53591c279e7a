// berth: the CLI host. All behaviour lives in Berth.Cli.
var cli = new Berth.Cli.BerthCli(Console.Out, Console.Error, Environment.GetEnvironmentVariable);
return await cli.RunAsync(args);
