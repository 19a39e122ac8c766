using System.Text.Json.Nodes;

namespace Llama2.Server.OpenApi;

public static class RequestExamples
{
    /// <summary>Shows <paramref name="json"/> as the example request body in the OpenAPI document and Swagger UI.</summary>
    public static RouteHandlerBuilder WithRequestExample(this RouteHandlerBuilder endpoint, string json) =>
        endpoint.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            if (operation.RequestBody?.Content?.TryGetValue("application/json", out var media) == true)
                media.Example = JsonNode.Parse(json);
            return Task.CompletedTask;
        });
}
