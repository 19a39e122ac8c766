using Microsoft.OpenApi;

namespace Llama2.Server.OpenApi;

public static class EventStreamResponses
{
    /// <summary>
    /// Documents the endpoint's 200 answer as a <c>text/event-stream</c> of <typeparamref name="TEvent"/> events, beside
    /// a JSON answer it may also give (OpenAPI keeps one response type per status, so a stream cannot be declared with
    /// Produces next to the JSON answer).
    /// </summary>
    public static RouteHandlerBuilder ProducesEventStream<TEvent>(this RouteHandlerBuilder endpoint) =>
        endpoint.AddOpenApiOperationTransformer(async (operation, context, cancellationToken) =>
        {
            var schema = await context.GetOrCreateSchemaAsync(typeof(TEvent), null, cancellationToken);
            operation.Responses ??= [];
            if (!operation.Responses.TryGetValue("200", out var ok))
                operation.Responses["200"] = ok = new OpenApiResponse { Description = "OK" };
            if (ok is OpenApiResponse response)
            {
                response.Content ??= new Dictionary<string, OpenApiMediaType>();
                response.Content["text/event-stream"] = new OpenApiMediaType { Schema = schema };
            }
        });
}
