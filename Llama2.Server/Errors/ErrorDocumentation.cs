using Microsoft.AspNetCore.Http.Metadata;

namespace Llama2.Server.Errors;

public static class ErrorDocumentation
{
    /// <summary>Documents error answers of an endpoint (OpenAPI): each status with the API's error body.</summary>
    public static TBuilder ProducesErrors<TBuilder>(this TBuilder endpoint, Type body, params int[] statusCodes)
        where TBuilder : IEndpointConventionBuilder
    {
        foreach (var status in statusCodes)
            endpoint.WithMetadata(new ProducesResponseTypeMetadata(status, body, ["application/json"]));
        return endpoint;
    }
}
