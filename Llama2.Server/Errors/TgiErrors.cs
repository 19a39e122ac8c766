using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Metadata;

namespace Llama2.Server.Errors;

/// <summary>
/// TGI's answer to an <see cref="ApiError"/>: the <see cref="ErrorResponse"/> body, the status code of its kind
/// (validation 422, overloaded 429, unavailable 503, otherwise 500) and Retry-After when the error passes.
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

    public static int StatusCode(ApiError error) => error.Kind switch
    {
        ApiErrorKind.Validation => StatusCodes.Status422UnprocessableEntity,
        ApiErrorKind.Overloaded => StatusCodes.Status429TooManyRequests,
        ApiErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };

    public static JsonHttpResult<ErrorResponse> Result(ApiError error, HttpContext http)
    {
        if (error.RetryAfterSeconds is { } seconds) http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return TypedResults.Json(Body(error), statusCode: StatusCode(error));
    }

    /// <summary>Documents error answers of an endpoint (OpenAPI): each status with TGI's error body.</summary>
    public static TBuilder ProducesTgiErrors<TBuilder>(this TBuilder endpoint, params int[] statusCodes) where TBuilder : IEndpointConventionBuilder
    {
        foreach (var status in statusCodes)
            endpoint.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(ErrorResponse), ["application/json"]));
        return endpoint;
    }
}
