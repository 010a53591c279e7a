using Berth.Engine.Containers;

namespace Berth.Engine.Supervision;

/// <summary>The engine's <see cref="IContainerLogReader"/> over <see cref="JsonFileLogs"/> (berthd: <c>Logs = new JsonFileLogReader()</c>).</summary>
public sealed class JsonFileLogReader : IContainerLogReader
{
    public IAsyncEnumerable<OutputChunk> ReadAsync(string logPath, LogsOptions options, Task runEnded, CancellationToken cancellationToken)
        => JsonFileLogs.ReadAsync(logPath, options, runEnded, cancellationToken);
}
