using Llama2.Server.Model;

namespace Llama2.Server.Health;

/// <summary>Readiness: whether the model is loaded.</summary>
/// <param name="Status">downloading | loading | ready | failed</param>
/// <param name="Detail">While downloading: "downloading 42% of stories15M.bin (25.1 of 60.8 MB)".</param>
public sealed record HealthResponse(string Status, [property: System.Text.Json.Serialization.JsonIgnore(
    Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Detail = null);

public static class HealthEndpoints
{
    /// <summary>GET /health: 200 once the model is loaded, 503 before (or if loading failed).</summary>
    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder routes)
    {
        routes.MapGroup("").WithTags("Health")
            .MapGet("/health", Health)
            .WithName("Health")
            .WithSummary("Readiness")
            .WithDescription("200 `{\"status\":\"ready\"}` once the model is loaded and requests are served; " +
                "503 `{\"status\":\"downloading\",\"detail\":\"downloading 42% of stories15M.bin (…)\"}` while a first " +
                "start fetches the model, `{\"status\":\"loading\"}` while it loads, `{\"status\":\"failed\"}` if it could not be loaded.")
            .Produces<HealthResponse>(StatusCodes.Status503ServiceUnavailable);
        return routes;
    }

    static Results<Ok<HealthResponse>, JsonHttpResult<HealthResponse>> Health(ModelHost host) => host.State switch
    {
        ModelState.Ready => TypedResults.Ok(new HealthResponse("ready")),
        var state => TypedResults.Json(new HealthResponse(state.ToString().ToLowerInvariant(), host.Detail),
            statusCode: StatusCodes.Status503ServiceUnavailable),
    };
}
