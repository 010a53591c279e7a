using Berth.Engine.Supervision;

namespace Berth.Engine.Containers;

/// <summary>The shim room's json-file reader as the container service reads logs: a follow ends when the run does.</summary>
public sealed class JsonFileLogReader : IContainerLogReader
{
    public static readonly JsonFileLogReader Instance = new();

    public IAsyncEnumerable<OutputChunk> ReadAsync(string logPath, LogsOptions options, Task runEnded, CancellationToken cancellationToken)
        => JsonFileLogs.ReadAsync(logPath, options, runEnded, cancellationToken);
}
