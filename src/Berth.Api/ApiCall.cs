using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Berth.Engine;
using Microsoft.AspNetCore.Http;

namespace Berth.Api;

/// <summary>One request as a route handler sees it: path parameters, the negotiated version, query and body helpers.</summary>
public sealed class ApiCall(HttpContext http, Dictionary<string, string> parameters, ApiVersion version)
{
    public HttpContext Http { get; } = http;
    public ApiVersion Version { get; } = version;
    public CancellationToken Aborted => Http.RequestAborted;
    public HttpRequest Request => Http.Request;
    public HttpResponse Response => Http.Response;

    public string Path(string name) => parameters[name];

    public string? Query(string name) => Request.Query.TryGetValue(name, out var v) && v.Count > 0 ? v[^1] : null;

    public IReadOnlyList<string> QueryAll(string name)
        => Request.Query.TryGetValue(name, out var v) ? v.Where(s => s is not null).Select(s => s!).ToList() : [];

    /// <summary>Docker's BoolValue: anything but "", "0", "no", "false", "none" (any case) is true.</summary>
    public bool Bool(string name, bool defaultValue = false)
    {
        var value = Query(name);
        if (value is null) return defaultValue;
        return value.Trim().ToLowerInvariant() is not ("" or "0" or "no" or "false" or "none");
    }

    public int? Int(string name)
    {
        var value = Query(name);
        if (string.IsNullOrEmpty(value)) return null;
        return int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new InvalidParameterException($"strconv.Atoi: parsing \"{value}\": invalid syntax");
    }

    /// <summary>A time as Docker's clients send it: unix seconds with an optional fraction ("1700000000.123456789").</summary>
    public DateTimeOffset? UnixTime(string name)
    {
        var value = Query(name);
        if (string.IsNullOrEmpty(value) || value == "0") return null;
        var dot = value.IndexOf('.');
        var secondsText = dot < 0 ? value : value[..dot];
        if (!long.TryParse(secondsText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var seconds))
            throw new InvalidParameterException($"invalid value for {name}: {value}");
        long nanos = 0;
        if (dot >= 0)
        {
            var fraction = value[(dot + 1)..];
            if (fraction.Length is 0 or > 9 || !long.TryParse(fraction.PadRight(9, '0'), NumberStyles.None, CultureInfo.InvariantCulture, out nanos))
                throw new InvalidParameterException($"invalid value for {name}: {value}");
        }
        return DateTimeOffset.FromUnixTimeSeconds(seconds).AddTicks(nanos / 100);
    }

    /// <summary>The JSON-encoded filters parameter: {"name":["a","b"]} or the older {"name":{"a":true}}.</summary>
    public Filters Filters(string name = "filters") => ParseFilters(Query(name));

    public static Filters ParseFilters(string? json)
    {
        if (string.IsNullOrEmpty(json)) return Engine.Filters.None;
        var values = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidParameterException("invalid filter: filters must be a JSON object");
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                var list = new List<string>();
                switch (property.Value.ValueKind)
                {
                    case JsonValueKind.Array:
                        foreach (var item in property.Value.EnumerateArray())
                            list.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw new InvalidParameterException($"invalid filter '{property.Name}'"));
                        break;
                    case JsonValueKind.Object:
                        foreach (var item in property.Value.EnumerateObject())
                            if (item.Value.ValueKind == JsonValueKind.True) list.Add(item.Name);
                        break;
                    default:
                        throw new InvalidParameterException($"invalid filter '{property.Name}'");
                }
                values[property.Name] = list;
            }
        }
        catch (JsonException e)
        {
            throw new InvalidParameterException("invalid filter: " + e.Message, e);
        }
        return new Filters(values);
    }

    /// <summary>Docker's CheckForJSON: no Content-Type, or application/json.</summary>
    public void RequireJsonContentType()
    {
        var contentType = Request.ContentType;
        if (string.IsNullOrEmpty(contentType)) return;
        var mediaType = contentType.Split(';')[0].Trim();
        if (!mediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
            throw new InvalidParameterException($"unsupported Content-Type header ({contentType}): must be 'application/json'");
    }

    /// <summary>Reads a JSON body as Docker's ReadJSON does: an empty body gives null; bad JSON is a 400.</summary>
    public async Task<T?> ReadJsonAsync<T>(JsonTypeInfo<T> type, bool eofIsError = false) where T : class
    {
        RequireJsonContentType();
        var body = await ReadBodyAsync();
        if (body.Length == 0 || body.AsSpan().Trim(" \t\r\n"u8).Length == 0)
            return eofIsError ? throw new InvalidParameterException("invalid JSON: got EOF while reading request body") : null;
        try
        {
            return JsonSerializer.Deserialize(body, type);
        }
        catch (JsonException e)
        {
            throw new InvalidParameterException("invalid JSON: " + e.Message, e);
        }
    }

    private async Task<byte[]> ReadBodyAsync()
    {
        using var buffer = new MemoryStream();
        await Request.Body.CopyToAsync(buffer, Aborted);
        return buffer.ToArray();
    }

    public async Task WriteJsonAsync<T>(int status, T value, JsonTypeInfo<T> type)
    {
        Response.StatusCode = status;
        Response.ContentType = "application/json";
        // The body with its trailing newline in one write: one send with the headers, not a second one for the newline.
        var json = JsonSerializer.SerializeToUtf8Bytes(value, type);
        var body = new byte[json.Length + 1];
        json.CopyTo(body, 0);
        body[^1] = (byte)'\n';
        Response.ContentLength = body.Length;
        await Response.Body.WriteAsync(body, Aborted);
    }

    public Task NoContentAsync()
    {
        Response.StatusCode = StatusCodes.Status204NoContent;
        return Task.CompletedTask;
    }

    public async Task WriteTextAsync(int status, string text, string contentType = "text/plain; charset=utf-8")
    {
        Response.StatusCode = status;
        Response.ContentType = contentType;
        var bytes = Encoding.UTF8.GetBytes(text);
        Response.ContentLength = bytes.Length;
        if (!HttpMethods.IsHead(Request.Method)) await Response.Body.WriteAsync(bytes, Aborted);
    }
}
