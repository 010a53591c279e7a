namespace Berth.Engine;

/// <summary>
/// An error the engine reports to a client, in Docker's classes (moby's errdefs). The API maps each class
/// to its HTTP status code and the message to the body {"message": …}.
/// </summary>
public abstract class EngineException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The HTTP status code Docker uses for this class of error.</summary>
    public abstract int StatusCode { get; }
}

/// <summary>404, e.g. "No such container: X", "No such image: X".</summary>
public sealed class NotFoundException(string message) : EngineException(message)
{
    public override int StatusCode => 404;
    public static NotFoundException Container(string idOrName) => new($"No such container: {idOrName}");
    public static NotFoundException Image(string reference) => new($"No such image: {reference}");
    public static NotFoundException Exec(string id) => new($"No such exec instance: {id}");
}

/// <summary>409, e.g. a name in use, removing a running container without force.</summary>
public sealed class ConflictException(string message) : EngineException(message)
{
    public override int StatusCode => 409;
}

/// <summary>400: a bad parameter or body.</summary>
public sealed class InvalidParameterException(string message, Exception? inner = null) : EngineException(message, inner)
{
    public override int StatusCode => 400;
}

/// <summary>304: start of a started container, stop of a stopped one. The body is empty.</summary>
public sealed class NotModifiedException(string message = "") : EngineException(message)
{
    public override int StatusCode => 304;
}

/// <summary>403: the operation is not allowed (e.g. writing to a read-only path with docker cp).</summary>
public sealed class ForbiddenException(string message) : EngineException(message)
{
    public override int StatusCode => 403;
}

/// <summary>401.</summary>
public sealed class UnauthorizedException(string message) : EngineException(message)
{
    public override int StatusCode => 401;
}

/// <summary>503: the engine cannot serve this now.</summary>
public sealed class UnavailableException(string message) : EngineException(message)
{
    public override int StatusCode => 503;
}

/// <summary>501: a route the engine does not implement yet.</summary>
public sealed class NotImplementedYetException(string feature) : EngineException($"{feature} is not implemented yet")
{
    public override int StatusCode => 501;
}

/// <summary>500: a failure of the engine itself (not of the client's input).</summary>
public sealed class EngineFailureException(string message, Exception? inner = null) : EngineException(message, inner)
{
    public override int StatusCode => 500;
}
