namespace Llama2.Server.Errors;

public static class ErrorResponseExtensions
{
    /// <summary>
    /// Every error answer carries TGI's error body: exceptions through <see cref="ErrorResponseExceptionHandler"/>,
    /// and bodiless errors from routing or binding (404, 405, 415, ...) through the status code pages.
    /// </summary>
    public static IApplicationBuilder UseErrorResponses(this IApplicationBuilder app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages(async context =>
        {
            var response = context.HttpContext.Response;
            var message = response.StatusCode switch
            {
                StatusCodes.Status404NotFound => "no such endpoint",
                StatusCodes.Status405MethodNotAllowed => "method not allowed on this endpoint",
                StatusCodes.Status415UnsupportedMediaType => "the request body must be JSON (Content-Type: application/json)",
                var status => $"HTTP {status}",
            };
            var error = new ApiError(response.StatusCode < 500 ? ApiErrorKind.Validation : ApiErrorKind.Internal, message);
            await response.WriteAsJsonAsync(TgiErrors.Body(error), context.HttpContext.RequestAborted);
        });
        return app;
    }
}
