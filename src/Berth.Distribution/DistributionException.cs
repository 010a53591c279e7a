using System.Net;
using System.Text.Json;

namespace Berth.Distribution;

/// <summary>A failure talking to a registry; the message is one line, as Docker words it where it has words for it.</summary>
public class DistributionException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The registry's error code (MANIFEST_UNKNOWN, UNAUTHORIZED…) when it sent one.</summary>
    public string? Code { get; init; }
    public HttpStatusCode? Status { get; init; }

    public bool IsNotFound => Status == HttpStatusCode.NotFound || Code is "MANIFEST_UNKNOWN" or "NAME_UNKNOWN" or "BLOB_UNKNOWN";
    public bool IsUnauthorized => Status is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden;

    /// <summary>Reads a registry's error body ({"errors":[{"code","message","detail"}]}) into an exception.</summary>
    internal static async Task<DistributionException> FromResponseAsync(HttpResponseMessage response, string what, CancellationToken ct)
    {
        string? code = null, message = null;
        try
        {
            var body = await response.Content.ReadAsByteArrayAsync(ct);
            if (body.Length > 0 && body.Length < 1 << 20)
            {
                using var doc = JsonDocument.Parse(body);
                if (doc.RootElement.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array && errors.GetArrayLength() > 0)
                {
                    var e = errors[0];
                    code = e.TryGetProperty("code", out var c) ? c.GetString() : null;
                    message = e.TryGetProperty("message", out var m) ? m.GetString() : null;
                }
            }
        }
        catch (JsonException) { }
        var status = (int)response.StatusCode;
        var text = response.StatusCode switch
        {
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => $"{what}: {(message ?? "unauthorized")}: authentication required",
            HttpStatusCode.NotFound => $"{what}: {(message ?? "not found")}",
            _ => $"{what}: {(code is null ? "" : code + ": ")}{message ?? response.ReasonPhrase} (HTTP {status})",
        };
        return new DistributionException(text) { Code = code, Status = response.StatusCode };
    }
}
