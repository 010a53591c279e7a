// berth-runtime: a thin host over Berth.Runtime's command line (runc-compatible verbs).
return Berth.Runtime.Cli.RuntimeCli.Run(args);
