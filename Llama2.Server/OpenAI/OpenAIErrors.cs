namespace Llama2.Server.OpenAI;

/// <summary>OpenAI's error body: <c>{"error": {"message", "type", "param", "code"}}</c>.</summary>
public sealed record OpenAIErrorResponse(OpenAIError Error);

/// <summary>One error, as OpenAI words it.</summary>
/// <param name="Message">What went wrong, in words the client can act on.</param>
/// <param name="Type">invalid_request_error | rate_limit_error | service_unavailable_error | server_error</param>
/// <param name="Param">The request parameter at fault, or null.</param>
/// <param name="Code">A finer code for some errors (unknown_url, method_not_allowed, request_too_large,
/// unsupported_media_type, server_is_overloaded, model_not_loaded, model_not_found), or null.</param>
public sealed record OpenAIError(string Message, string Type, string? Param, string? Code);

/// <summary>
/// OpenAI's answer to an <see cref="ApiError"/>, for every request under /v1 (its <see cref="Shape"/>): bad requests
/// 400 <c>invalid_request_error</c> (404, 405, 413 and 415 keep their status), a full queue 429 with Retry-After, the
/// model loading (or the server stopping) 503, failures 500.
/// </summary>
public static class OpenAIErrors
{
    public static readonly PathString PathPrefix = "/v1";

    public static ErrorShape Shape { get; } = new(PathPrefix, StatusCode, Body);

    public static int StatusCode(ApiError error) => error.StatusCode ?? error.Kind switch
    {
        ApiErrorKind.Validation => StatusCodes.Status400BadRequest,
        ApiErrorKind.Overloaded => StatusCodes.Status429TooManyRequests,
        ApiErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };

    public static OpenAIErrorResponse Body(ApiError error) => new(new OpenAIError(error.Message, Type(error), error.Param, Code(error)));

    static string Type(ApiError error) => error.Kind switch
    {
        ApiErrorKind.Validation => "invalid_request_error",
        ApiErrorKind.Overloaded => "rate_limit_error",
        ApiErrorKind.Unavailable => "service_unavailable_error",
        _ => "server_error",
    };

    static string? Code(ApiError error) => error.StatusCode switch
    {
        StatusCodes.Status404NotFound => error.Param == "model" ? "model_not_found" : "unknown_url",
        StatusCodes.Status405MethodNotAllowed => "method_not_allowed",
        StatusCodes.Status413PayloadTooLarge => "request_too_large",
        StatusCodes.Status415UnsupportedMediaType => "unsupported_media_type",
        _ => error.Kind switch
        {
            ApiErrorKind.Overloaded => "server_is_overloaded",
            ApiErrorKind.Unavailable => "model_not_loaded",
            _ => null,
        },
    };

    public static JsonHttpResult<OpenAIErrorResponse> Result(ApiError error, HttpContext http)
    {
        ErrorShape.SetRetryAfter(http, error);
        return TypedResults.Json(Body(error), statusCode: StatusCode(error));
    }

    /// <summary>Documents error answers of an endpoint (OpenAPI): each status with OpenAI's error body.</summary>
    public static TBuilder ProducesOpenAIErrors<TBuilder>(this TBuilder endpoint, params int[] statusCodes) where TBuilder : IEndpointConventionBuilder =>
        endpoint.ProducesErrors(typeof(OpenAIErrorResponse), statusCodes);
}
