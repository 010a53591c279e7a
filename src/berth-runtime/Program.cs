// Placeholder host: the runtime issue fills this in (runc-compatible verbs over Berth.Runtime).
Console.Error.WriteLine("berth-runtime: not built yet");
return 1;
