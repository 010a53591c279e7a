namespace Berth.Build;

/// <summary>A build failure with the message Docker prints and its code (a failing RUN's exit code).</summary>
public sealed class BuildException(string message, int code = 1) : Exception(message)
{
    public int Code { get; } = code;
}
