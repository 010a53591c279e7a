namespace Berth.Runtime;

/// <summary>An error the runtime reports to its caller as one line (stderr, and the --log file).</summary>
public sealed class RuntimeException(string message, Exception? inner = null) : Exception(message, inner);
