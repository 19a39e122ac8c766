using Serilog;

namespace Llama2.Server.Logging;

public static class LoggingExtensions
{
    /// <summary>
    /// Serilog, configured from the "Serilog" configuration section (appsettings.json, environment, command line), and
    /// what the request log keeps of generations.
    /// </summary>
    public static WebApplicationBuilder AddLogging(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<IGenerationObserver, GenerationLog>();
        builder.Services.AddSerilog((services, logger) => logger
            .ReadFrom.Configuration(builder.Configuration)
            .ReadFrom.Services(services)
            .Enrich.FromLogContext());
        return builder;
    }

    /// <summary>
    /// One line per request: method, path, status, duration, request id, and for generations the token counts,
    /// tok/s and finish reason.
    /// </summary>
    public static IApplicationBuilder UseRequestLogging(this IApplicationBuilder app) =>
        app.UseSerilogRequestLogging(options =>
        {
            options.MessageTemplate =
                "HTTP {RequestMethod} {RequestPath} responded {StatusCode} in {Elapsed:0.0} ms, request {RequestId}{Generation}";
            options.EnrichDiagnosticContext = (context, http) =>
            {
                context.Set("RequestId", http.TraceIdentifier);
                if (GenerationLog.Get(http) is not { } summary)
                {
                    context.Set("Generation", "");
                    return;
                }
                context.Set("PromptTokens", summary.PromptTokens);
                context.Set("GeneratedTokens", summary.GeneratedTokens);
                context.Set("TokensPerSecond", Math.Round(summary.TokensPerSecond, 1));
                context.Set("FinishReason", summary.FinishReason.Name());
                context.Set("Generation",
                    $", prompt {summary.PromptTokens} tokens, generated {summary.GeneratedTokens} tokens, " +
                    $"{summary.TokensPerSecond:0.0} tok/s, finish {summary.FinishReason.Name()}");
            };
        });
}
