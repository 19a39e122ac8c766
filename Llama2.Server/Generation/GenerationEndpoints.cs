using System.Globalization;
using Llama2.Engine.Generation;
using Llama2.Engine.Scheduling;
using Llama2.Server.Api;
using Llama2.Server.Errors;
using Llama2.Server.Metrics;
using Llama2.Server.Model;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Llama2.Server.Generation;

public static class GenerationEndpoints
{
    /// <summary>POST /generate and POST /generate_stream, TGI's text-generation API.</summary>
    public static IEndpointRouteBuilder MapGeneration(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("").WithTags("Generation");

        group.MapPost("/generate", Generate)
            .WithName("Generate")
            .WithSummary("Generate text for a prompt")
            .WithDescription("TGI's /generate. Answers one JSON object, or streams Server-Sent Events as /generate_stream " +
                "when `stream` is true or the request accepts `text/event-stream`. Response headers give token counts " +
                "and timings (x-generated-tokens, x-prompt-tokens, x-time-per-token, x-inference-time, x-queue-time, " +
                "x-tokens-per-second).")
            .Accepts<GenerateRequest>("application/json")
            .ProducesGenerationErrors()
            .AddOpenApiOperationTransformer(OpenApi.Examples.GenerateRequest);

        group.MapPost("/generate_stream", GenerateStream)
            .WithName("GenerateStream")
            .WithSummary("Generate text for a prompt, streamed token by token")
            .WithDescription("TGI's /generate_stream: Server-Sent Events, one `data:` event per token " +
                "(`{\"index\",\"token\":{\"id\",\"text\",\"logprob\",\"special\"},\"generated_text\":null,\"details\":null}`); " +
                "the last event carries `generated_text` and `details`. An error after the stream started is an event " +
                "`{\"error\",\"error_type\"}`. Idle streams get `: keep-alive` comment lines.")
            .Accepts<GenerateRequest>("application/json")
            .ProducesGenerationErrors()
            .AddOpenApiOperationTransformer(OpenApi.Examples.GenerateRequest);

        return routes;
    }

    /// <summary>The error answers of both generation endpoints, all with TGI's error body.</summary>
    static RouteHandlerBuilder ProducesGenerationErrors(this RouteHandlerBuilder endpoint) => endpoint
        .Produces<ErrorResponse>(StatusCodes.Status413PayloadTooLarge)
        .Produces<ErrorResponse>(StatusCodes.Status415UnsupportedMediaType)
        .Produces<ErrorResponse>(StatusCodes.Status422UnprocessableEntity)
        .Produces<ErrorResponse>(StatusCodes.Status429TooManyRequests)
        .Produces<ErrorResponse>(StatusCodes.Status500InternalServerError)
        .Produces<ErrorResponse>(StatusCodes.Status503ServiceUnavailable);

    static async Task<Results<Ok<GenerateResponse>, TokenStreamResult, JsonHttpResult<ErrorResponse>, EmptyHttpResult>> Generate(
        GenerateRequest body, HttpContext http, ModelHost host, IOptions<ModelOptions> model, IOptions<ApiOptions> api)
    {
        bool stream = body.Stream || http.Request.Headers.Accept.Any(a => a?.Contains("text/event-stream", StringComparison.OrdinalIgnoreCase) == true);
        if (!TryStart(body, http, host, model.Value, api.Value, out var generation, out var scheduled, out var error)) return error;
        if (stream) return new TokenStreamResult(generation, scheduled, TimeSpan.FromSeconds(api.Value.StreamHeartbeatSeconds));

        using var metrics = GenerationMetrics.Start(http, generation, scheduled);
        var tokens = new List<TokenInfo>();
        GenerationSummary? summary = null;
        try
        {
            await foreach (var token in scheduled.Tokens.ReadAllAsync(http.RequestAborted))
            {
                metrics.OnToken(token);
                tokens.Add(token.ToTokenInfo());
                summary ??= token.Summary;
            }
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            return TypedResults.Empty; // nobody is listening any more
        }
        catch (ArgumentException e)
        {
            return ApiErrors.Validation(e.Message);
        }
        catch (OperationCanceledException)
        {
            return ApiErrors.NotReady(http); // the server is shutting down
        }
        if (summary is null) return ApiErrors.Generation("generation ended without a result");

        GenerationLog.Record(http, summary);
        WriteTimingHeaders(http.Response, summary, scheduled);
        var details = generation.Details
            ? new GenerationDetails(summary.FinishReason.ToTgi(), summary.GeneratedTokens, generation.Seed,
                generation.DecoderInputDetails ? Prefill(generation, host) : [], tokens, summary.PromptTokens,
                Math.Round(summary.TokensPerSecond, 2), summary.TimeToFirstToken.TotalMilliseconds, scheduled.QueueTime.TotalMilliseconds)
            : null;
        var text = generation.ReturnFullText ? generation.Inputs + summary.GeneratedText : summary.GeneratedText;
        return TypedResults.Ok(new GenerateResponse(text, details));
    }

    static Results<TokenStreamResult, JsonHttpResult<ErrorResponse>> GenerateStream(
        GenerateRequest body, HttpContext http, ModelHost host, IOptions<ModelOptions> model, IOptions<ApiOptions> api)
    {
        if (!TryStart(body, http, host, model.Value, api.Value, out var generation, out var scheduled, out var error)) return error;
        return new TokenStreamResult(generation, scheduled, TimeSpan.FromSeconds(api.Value.StreamHeartbeatSeconds));
    }

    /// <summary>Validates the request and queues it; the client's disconnect token goes with it to the token loop.</summary>
    static bool TryStart(GenerateRequest body, HttpContext http, ModelHost host, ModelOptions model, ApiOptions api,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ValidatedGeneration? generation,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ScheduledGeneration? scheduled,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out JsonHttpResult<ErrorResponse>? error)
    {
        generation = null;
        scheduled = null;
        error = null;
        if (!host.TryGetModel(out var loaded))
        {
            error = ApiErrors.NotReady(http);
            return false;
        }
        if (!new GenerationValidator(model, api).TryValidate(body, loaded, out generation, out var problem))
        {
            error = ApiErrors.Validation(problem);
            return false;
        }
        if (!loaded.Scheduler.TrySubmit(generation.Request, http.RequestAborted, out scheduled))
        {
            error = ApiErrors.Overloaded(http, api.RetryAfterSeconds);
            return false;
        }
        return true;
    }

    static List<PrefillToken> Prefill(ValidatedGeneration generation, ModelHost host)
    {
        host.TryGetModel(out var loaded);
        var tokenizer = loaded!.Model.Tokenizer;
        var prefill = new List<PrefillToken>(generation.PromptIds.Length);
        int previous = 0;
        foreach (int id in generation.PromptIds)
        {
            var text = tokenizer.IsSpecial(id) ? "" : System.Text.Encoding.UTF8.GetString(tokenizer.Decode(previous, id));
            prefill.Add(new PrefillToken(id, text, null));
            previous = id;
        }
        return prefill;
    }

    static void WriteTimingHeaders(HttpResponse response, GenerationSummary summary, ScheduledGeneration scheduled)
    {
        var headers = response.Headers;
        var inv = CultureInfo.InvariantCulture;
        double inferenceMs = summary.TotalTime.TotalMilliseconds;
        headers["x-generated-tokens"] = summary.GeneratedTokens.ToString(inv);
        headers["x-prompt-tokens"] = summary.PromptTokens.ToString(inv);
        headers["x-inference-time"] = ((long)inferenceMs).ToString(inv);
        headers["x-time-per-token"] = ((long)(inferenceMs / Math.Max(1, summary.GeneratedTokens))).ToString(inv);
        headers["x-queue-time"] = ((long)scheduled.QueueTime.TotalMilliseconds).ToString(inv);
        headers["x-tokens-per-second"] = summary.TokensPerSecond.ToString("0.##", inv);
    }
}
