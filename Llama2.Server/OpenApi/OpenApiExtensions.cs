using Microsoft.OpenApi;

namespace Llama2.Server.OpenApi;

public static class OpenApiExtensions
{
    public static IServiceCollection AddApiDocumentation(this IServiceCollection services) =>
        services.AddOpenApi(options => options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "Llama2 for .NET",
                Version = "v1",
                Description = "Text generation with Llama 2 architecture models (llama2.c checkpoints), " +
                    "compatible with Hugging Face Text Generation Inference's /generate, /generate_stream, /info and /tokenize, " +
                    "and with OpenAI's /v1/chat/completions, /v1/completions and /v1/models.",
            };
            return Task.CompletedTask;
        }));

    /// <summary>/openapi/v1.json and Swagger UI at /swagger.</summary>
    public static WebApplication MapApiDocumentation(this WebApplication app)
    {
        app.MapOpenApi();
        app.UseSwaggerUI(ui =>
        {
            ui.SwaggerEndpoint("/openapi/v1.json", "Llama2 for .NET v1");
            ui.RoutePrefix = "swagger";
        });
        return app;
    }
}
