using Microsoft.AspNetCore.Http.Features;

namespace Llama2.Server.Api;

/// <summary>
/// Caps request bodies at <see cref="ApiOptions.MaxRequestBodyBytes"/>: a declared length over it is refused at once
/// with 413 (in the shape of the request's API); a chunked body is cut off by the server's own limit while it is read.
/// </summary>
public sealed class RequestBodyLimitMiddleware(RequestDelegate next, IOptions<ApiOptions> options, ErrorShapes errors)
{
    readonly long _limit = options.Value.MaxRequestBodyBytes;

    public async Task InvokeAsync(HttpContext http)
    {
        if (http.Request.ContentLength > _limit)
        {
            var error = ApiError.Invalid($"the request body is {http.Request.ContentLength} bytes; the limit is {_limit}")
                with { StatusCode = StatusCodes.Status413PayloadTooLarge };
            await errors.WriteAsync(http, error, http.RequestAborted);
            return;
        }
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
            feature.MaxRequestBodySize = _limit;
        await next(http);
    }
}
