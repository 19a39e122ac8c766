using System.Globalization;

namespace Llama2.Server.Errors;

/// <summary>
/// How one API answers an <see cref="ApiError"/>: its status code and its body, for the requests under
/// <see cref="PathPrefix"/>. Errors that arise before an endpoint runs (unreadable JSON,
/// an unknown route, a body too large) are answered in the shape of the API whose path the request is under
/// (<see cref="ErrorShapes"/>).
/// </summary>
/// <param name="PathPrefix">The API's path, e.g. <c>/v1</c>.</param>
/// <param name="StatusCode">The status an error gets.</param>
/// <param name="Body">The JSON body an error gets.</param>
public sealed record ErrorShape(PathString PathPrefix, Func<ApiError, int> StatusCode, Func<ApiError, object> Body)
{
    /// <summary>Sets Retry-After for an error that passes.</summary>
    public static void SetRetryAfter(HttpContext http, ApiError error)
    {
        if (error.RetryAfterSeconds is { } seconds) http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// The error shapes other APIs register (as <see cref="ErrorShape"/> services); a request gets the one of the longest
/// path prefix it is under, else TGI's (<see cref="TgiErrors.Shape"/>).
/// </summary>
public sealed class ErrorShapes(IEnumerable<ErrorShape> shapes)
{
    readonly ErrorShape[] _shapes = [.. shapes.OrderByDescending(s => s.PathPrefix.Value?.Length ?? 0)];

    public ErrorShape For(HttpContext http) =>
        _shapes.FirstOrDefault(s => s.PathPrefix.HasValue && http.Request.Path.StartsWithSegments(s.PathPrefix)) ?? TgiErrors.Shape;

    /// <summary>Answers <paramref name="error"/> in the request's API's shape (status, Retry-After, JSON body).</summary>
    public Task WriteAsync(HttpContext http, ApiError error, CancellationToken cancellationToken)
    {
        var shape = For(http);
        http.Response.StatusCode = shape.StatusCode(error);
        ErrorShape.SetRetryAfter(http, error);
        var body = shape.Body(error);
        return http.Response.WriteAsJsonAsync(body, body.GetType(), cancellationToken);
    }
}
