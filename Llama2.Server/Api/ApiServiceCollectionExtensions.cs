using System.Text.Json;
using System.Text.Json.Serialization;
using Llama2.Server.Errors;

namespace Llama2.Server.Api;

public static class ApiServiceCollectionExtensions
{
    /// <summary>Request limits, TGI's snake_case JSON, and error bodies for whatever escapes an endpoint.</summary>
    public static IServiceCollection AddApi(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ApiOptions>()
            .Bind(configuration.GetSection(ApiOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            json.SerializerOptions.NumberHandling = JsonNumberHandling.Strict;
        });
        // Bad JSON throws (instead of an empty 400) so that the handler can answer 422 with TGI's error body.
        services.Configure<RouteHandlerOptions>(route => route.ThrowOnBadRequest = true);
        services.AddExceptionHandler<ErrorResponseExceptionHandler>();
        services.AddProblemDetails();
        return services;
    }

    public static IApplicationBuilder UseRequestBodyLimit(this IApplicationBuilder app) =>
        app.UseMiddleware<RequestBodyLimitMiddleware>();
}
