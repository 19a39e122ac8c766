namespace Llama2.Server.Errors;

public static class ErrorResponseExtensions
{
    /// <summary>
    /// Every error answer carries an error body in its API's shape (<see cref="ErrorShapes"/>): exceptions through
    /// <see cref="ErrorResponseExceptionHandler"/>, and bodiless errors from routing or binding (404, 405, 415, ...)
    /// through the status code pages.
    /// </summary>
    public static IApplicationBuilder UseErrorResponses(this IApplicationBuilder app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages(async context =>
        {
            var http = context.HttpContext;
            var response = http.Response;
            var message = response.StatusCode switch
            {
                StatusCodes.Status404NotFound => $"no such endpoint: {http.Request.Method} {http.Request.Path}",
                StatusCodes.Status405MethodNotAllowed => "method not allowed on this endpoint",
                StatusCodes.Status415UnsupportedMediaType => "the request body must be JSON (Content-Type: application/json)",
                var status => $"HTTP {status}",
            };
            var error = new ApiError(response.StatusCode < 500 ? ApiErrorKind.Validation : ApiErrorKind.Internal, message)
            {
                StatusCode = response.StatusCode,
            };
            await http.RequestServices.GetRequiredService<ErrorShapes>().WriteAsync(http, error, http.RequestAborted);
        });
        return app;
    }
}
