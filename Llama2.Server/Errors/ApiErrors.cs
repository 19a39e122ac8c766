using Microsoft.AspNetCore.Http.HttpResults;

namespace Llama2.Server.Errors;

/// <summary>The error results the endpoints return, all with TGI's <see cref="ErrorResponse"/> body.</summary>
public static class ApiErrors
{
    public static JsonHttpResult<ErrorResponse> Validation(string message) =>
        TypedResults.Json(new ErrorResponse(message, ErrorTypes.Validation), statusCode: StatusCodes.Status422UnprocessableEntity);

    public static JsonHttpResult<ErrorResponse> Overloaded(HttpContext http, int retryAfterSeconds)
    {
        http.Response.Headers.RetryAfter = retryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return TypedResults.Json(new ErrorResponse("Model is overloaded: the request queue is full, retry later", ErrorTypes.Overloaded),
            statusCode: StatusCodes.Status429TooManyRequests);
    }

    public static JsonHttpResult<ErrorResponse> NotReady(HttpContext http)
    {
        http.Response.Headers.RetryAfter = "1";
        return TypedResults.Json(new ErrorResponse("the model is not loaded yet", ErrorTypes.Unavailable),
            statusCode: StatusCodes.Status503ServiceUnavailable);
    }

    public static JsonHttpResult<ErrorResponse> Generation(string message) =>
        TypedResults.Json(new ErrorResponse(message, ErrorTypes.Generation), statusCode: StatusCodes.Status500InternalServerError);
}
