using System.Text.Json;
using System.Text.Json.Serialization;

namespace Llama2.Server.Api;

public static class ApiServiceCollectionExtensions
{
    /// <summary>
    /// Request limits, snake_case JSON (TGI's and OpenAI's), and error bodies for whatever escapes an endpoint (TGI's
    /// shape unless another API registers an <see cref="ErrorShape"/> for its path).
    /// </summary>
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
        // Bad JSON throws (instead of an empty 400) so that the handler can answer in the API's shape (TGI: 422).
        services.Configure<RouteHandlerOptions>(route => route.ThrowOnBadRequest = true);
        services.AddSingleton<ErrorShapes>();
        services.AddExceptionHandler<ErrorResponseExceptionHandler>();
        services.AddProblemDetails();
        return services;
    }

    public static IApplicationBuilder UseRequestBodyLimit(this IApplicationBuilder app) =>
        app.UseMiddleware<RequestBodyLimitMiddleware>();
}
