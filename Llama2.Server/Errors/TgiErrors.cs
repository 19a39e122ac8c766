namespace Llama2.Server.Errors;

/// <summary>
/// TGI's answer to an <see cref="ApiError"/>: the <see cref="ErrorResponse"/> body, the status code of its kind
/// (validation 422, overloaded 429, unavailable 503, otherwise 500) unless the error has its own, and Retry-After when
/// the error passes.
/// </summary>
public static class TgiErrors
{
    public static ErrorResponse Body(ApiError error) => new(error.Message, error.Kind switch
    {
        ApiErrorKind.Validation => "validation",
        ApiErrorKind.Overloaded => "overloaded",
        ApiErrorKind.Unavailable => "unavailable",
        ApiErrorKind.Generation => "generation",
        _ => "internal",
    });

    /// <summary>TGI's shape, the server's default for requests under no other API's path.</summary>
    public static ErrorShape Shape { get; } = new(PathString.Empty, StatusCode, Body);

    public static int StatusCode(ApiError error) => error.StatusCode ?? error.Kind switch
    {
        ApiErrorKind.Validation => StatusCodes.Status422UnprocessableEntity,
        ApiErrorKind.Overloaded => StatusCodes.Status429TooManyRequests,
        ApiErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };

    public static JsonHttpResult<ErrorResponse> Result(ApiError error, HttpContext http)
    {
        ErrorShape.SetRetryAfter(http, error);
        return TypedResults.Json(Body(error), statusCode: StatusCode(error));
    }

    /// <summary>Documents error answers of an endpoint (OpenAPI): each status with TGI's error body.</summary>
    public static TBuilder ProducesTgiErrors<TBuilder>(this TBuilder endpoint, params int[] statusCodes) where TBuilder : IEndpointConventionBuilder =>
        endpoint.ProducesErrors(typeof(ErrorResponse), statusCodes);
}
