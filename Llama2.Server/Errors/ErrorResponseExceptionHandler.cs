using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;

namespace Llama2.Server.Errors;

/// <summary>
/// Turns exceptions that escape an endpoint into error bodies in the shape of the request's API (<see cref="ErrorShapes"/>):
/// unreadable JSON is a validation error (TGI answers 422, OpenAI 400), other bad requests keep their status, and
/// anything else is a 500 whose details stay in the log.
/// </summary>
public sealed class ErrorResponseExceptionHandler(ErrorShapes shapes, ILogger<ErrorResponseExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is OperationCanceledException && http.RequestAborted.IsCancellationRequested) return true;

        var error = exception switch
        {
            BadHttpRequestException { InnerException: JsonException json } => ApiError.Invalid(Describe(json), Param(json)),
            BadHttpRequestException bad => ApiError.Invalid(Describe(bad)) with { StatusCode = bad.StatusCode },
            _ => ApiError.InternalError,
        };
        if (error.Kind == ApiErrorKind.Internal) logger.LogError(exception, "Unhandled error on {Method} {Path}", http.Request.Method, http.Request.Path);
        if (http.Response.HasStarted) return true;

        await shapes.WriteAsync(http, error, cancellationToken);
        return true;
    }

    static string Describe(JsonException json) =>
        $"Failed to deserialize the JSON body into the target type: invalid JSON or value at {json.Path ?? "$"}" +
        (json.LineNumber is { } line ? $" (line {line + 1}, byte {json.BytePositionInLine + 1})" : "");

    /// <summary>The parameter at fault: the JSON path without its root (<c>$.parameters.top_p</c> → parameters.top_p).</summary>
    static string? Param(JsonException json) => json.Path is { Length: > 2 } path && path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : null;

    static string Describe(BadHttpRequestException bad) => bad.StatusCode switch
    {
        StatusCodes.Status415UnsupportedMediaType => "the request body must be JSON (Content-Type: application/json)",
        StatusCodes.Status413PayloadTooLarge => "the request body is too large",
        _ when bad.Message.Contains("no body was provided", StringComparison.Ordinal) => "the request body must be a JSON object",
        _ => "bad request: " + bad.Message,
    };
}
