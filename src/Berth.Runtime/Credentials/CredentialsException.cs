namespace Berth.Runtime.Credentials;

/// <summary>The process could not be given the configured identity or limits; one line naming the field.</summary>
public sealed class CredentialsException(string message, Exception? inner = null) : Exception(message, inner);
