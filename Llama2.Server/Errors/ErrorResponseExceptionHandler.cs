using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;

namespace Llama2.Server.Errors;

/// <summary>
/// Turns exceptions that escape an endpoint into TGI error bodies: unreadable JSON is a 422 validation error (as
/// TGI answers), other bad requests keep their status, and anything else is a 500 whose details stay in the log.
/// </summary>
public sealed class ErrorResponseExceptionHandler(ILogger<ErrorResponseExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is OperationCanceledException && http.RequestAborted.IsCancellationRequested) return true;

        var (status, error) = exception switch
        {
            BadHttpRequestException { InnerException: JsonException json } =>
                (StatusCodes.Status422UnprocessableEntity, ApiError.Invalid(Describe(json))),
            BadHttpRequestException bad => (bad.StatusCode, ApiError.Invalid(Describe(bad))),
            _ => (StatusCodes.Status500InternalServerError, ApiError.InternalError),
        };
        if (status >= 500) logger.LogError(exception, "Unhandled error on {Method} {Path}", http.Request.Method, http.Request.Path);
        if (http.Response.HasStarted) return true;

        http.Response.StatusCode = status;
        await http.Response.WriteAsJsonAsync(TgiErrors.Body(error), cancellationToken);
        return true;
    }

    static string Describe(JsonException json) =>
        $"Failed to deserialize the JSON body into the target type: invalid JSON or value at {json.Path ?? "$"}" +
        (json.LineNumber is { } line ? $" (line {line + 1}, byte {json.BytePositionInLine + 1})" : "");

    static string Describe(BadHttpRequestException bad) => bad.StatusCode switch
    {
        StatusCodes.Status415UnsupportedMediaType => "the request body must be JSON (Content-Type: application/json)",
        StatusCodes.Status413PayloadTooLarge => "the request body is too large",
        _ when bad.Message.Contains("no body was provided", StringComparison.Ordinal) => "the request body must be a JSON object",
        _ => "bad request: " + bad.Message,
    };
}
