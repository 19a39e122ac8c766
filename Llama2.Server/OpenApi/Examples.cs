using System.Text.Json.Nodes;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Llama2.Server.OpenApi;

/// <summary>Request examples shown in the OpenAPI document and Swagger UI.</summary>
public static class Examples
{
    public static Task GenerateRequest(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken) =>
        SetRequestExample(operation, """
            {"inputs": "Once upon a time", "parameters": {"max_new_tokens": 32, "temperature": 0.8, "top_p": 0.9, "seed": 42, "stop": ["\n\n"], "details": true}}
            """);

    public static Task TokenizeRequest(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken) =>
        SetRequestExample(operation, """{"inputs": "Once upon a time"}""");

    static Task SetRequestExample(OpenApiOperation operation, string json)
    {
        if (operation.RequestBody?.Content?.TryGetValue("application/json", out var media) == true)
            media.Example = JsonNode.Parse(json);
        return Task.CompletedTask;
    }
}
